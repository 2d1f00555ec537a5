import type { Job, Worker } from 'bullmq';
import type { Infra } from '../../infra';
import { outcomeFor, type ReferralOutcome } from '../../mappings/referral-to-write-back';
import { startBridgeWorker, type WorkerDeps } from '../../queues/bridge-worker';
import { QUEUE, type OutcomeJob } from '../../queues/topology';

/** The RMS client, the store the outcome is read from, and a worker's needs. */
export type WriteBackDeps = WorkerDeps & Pick<Infra, 'partners' | 'referrals'>;

/**
 * Writes one status change back to the police RMS, read back from the store (a queued retry);
 * the outbox entry is cleared only on success.
 */
async function reportOutcome(
  ctx: WriteBackDeps,
  referralId: string,
  seq: number,
  correlationId: string,
): Promise<'reported' | 'nothing-to-report'> {
  const [meta, entry] = await Promise.all([ctx.referrals.get(referralId), ctx.referrals.timelineEntry(referralId, seq)]);
  if (!meta || !entry) {
    await ctx.referrals.ackOutcome(referralId, seq);
    return 'nothing-to-report';
  }
  await sendOutcome(ctx, outcomeFor(meta, entry), correlationId);
  return 'reported';
}

/** POSTs a write-back as it stands (the first attempt sends it as its commit recorded it), then clears its outbox entry. */
export async function sendOutcome(ctx: WriteBackDeps, outcome: ReferralOutcome, correlationId: string): Promise<void> {
  await ctx.partners.policeOutcomes.post(outcome, { correlationId });
  await ctx.referrals.ackOutcome(outcome.referralId, outcome.seq);
}

export function processOutcome(ctx: WriteBackDeps, job: Job<OutcomeJob>): Promise<string> {
  return reportOutcome(ctx, job.data.referralId, job.data.seq, job.data.correlationId);
}

export function startOutcomeWorker(ctx: WriteBackDeps): Worker<OutcomeJob> {
  return startBridgeWorker<OutcomeJob>(ctx, {
    queue: QUEUE.policeOutcomes,
    process: (job) => processOutcome(ctx, job),
    describe: (job) => ({ referralId: job.data.referralId, correlationId: job.data.correlationId }),
  });
}
