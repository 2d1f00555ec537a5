import type { BridgeContext } from '../../context';
import { nhsUpdateFromTask } from '../../mappings/fhir-status';
import { requeueDelivery } from '../delivery/delivery-jobs';
import { requeueWriteBack } from '../write-back/write-back-jobs';
import { deliverySweepAfterMs } from '../delivery/first-deliveries';
import { writeBackSweepAfterMs } from '../write-back/write-backs';
import { pollCharityUpdates, type CharityPollSummary } from './charity-poll';
import { applyNhsUpdate } from './nhs-updates';

/**
 * Pulls partner status for every referral the partners hold, and re-queues police write-backs
 * still pending in the outbox (the crash-safety net for status changes). Deeper reconciliation
 * (orphans, stuck referrals, SLA) builds on this in src/reconcile.
 */
export interface PollSummary {
  checked: number;
  changed: number;
  errors: number;
  writeBacksRequeued: number;
  /** QUEUED referrals found with no delivery job (their process died mid-attempt) and queued. */
  deliveriesRequeued: number;
  /** The charity is polled in bulk by `updatedSince`; undefined when that round failed. */
  charity?: CharityPollSummary;
}

const POLL_CONCURRENCY = 8;

export async function pollPartnerStatuses(ctx: BridgeContext): Promise<PollSummary> {
  const summary: PollSummary = { checked: 0, changed: 0, errors: 0, writeBacksRequeued: 0, deliveriesRequeued: 0 };
  const work: (() => Promise<void>)[] = [];
  // In BaRS mode the trust pushes status to POST /fhir/$process-message; there is nothing to poll.
  if (ctx.config.nhs.mode === 'fhir-rest') {
    for (const id of await ctx.referrals.activeIds('NHS')) work.push(() => pollOne(ctx, id, summary));
  }
  await runLimited(work, POLL_CONCURRENCY);
  try {
    summary.charity = await pollCharityUpdates(ctx);
    summary.changed += summary.charity.applied;
  } catch (err) {
    summary.errors++;
    ctx.logger.warn({ partner: 'CHARITY', err: (err as Error).message }, 'charity status poll failed; will try again next round');
  }

  // The safety net of first delivery attempts: a referral QUEUED with no attempt or job left.
  // A page per poll, each poll going on from the last, so every entry is looked at in turn.
  for (const id of await ctx.referrals.sweepQueued(deliverySweepAfterMs(ctx.config))) {
    if ((await requeueDelivery(ctx, id)) === 'requeued') summary.deliveriesRequeued++;
  }
  for (const pending of await ctx.referrals.sweepOutbox(writeBackSweepAfterMs(ctx.config))) {
    const meta = await ctx.referrals.get(pending.referralId);
    if ((await requeueWriteBack(ctx, pending.referralId, pending.seq, meta?.correlationId ?? pending.referralId)) === 'requeued')
      summary.writeBacksRequeued++;
  }
  return summary;
}

async function pollOne(ctx: BridgeContext, id: string, summary: PollSummary): Promise<void> {
  const meta = await ctx.referrals.get(id);
  if (!meta) return;
  const log = ctx.logger.child({ correlationId: meta.correlationId, referralId: id, partner: 'NHS' });
  summary.checked++;
  try {
    const task = await ctx.partners.nhs.getTaskStatus(id, { correlationId: meta.correlationId });
    const update = task?.taskStatus ? nhsUpdateFromTask(task.taskStatus) : undefined;
    if (!update?.to) {
      log.warn({ partnerStatus: task?.taskStatus ?? 'missing' }, 'partner has no usable status for a referral it should hold');
      return;
    }
    if ((await applyNhsUpdate(ctx, id, update, 'nhs-poll')) === 'applied') summary.changed++;
  } catch (err) {
    summary.errors++;
    log.warn({ err: (err as Error).message }, 'status poll failed; will try again next round');
  }
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]!();
  });
  await Promise.all(lanes);
}
