import type { Job, Worker } from 'bullmq';
import type { BridgeContext } from '../context';
import { outcomeFor, type ReferralOutcome } from '../mappings/referral-to-outcome';
import { startBridgeWorker } from './bridge-worker';
import { QUEUE, type OutcomeJob } from './topology';

/**
 * Writes one status change back to the police RMS; the outbox entry is cleared only on success.
 * `committed` is the write-back as its status change committed it (the first attempt, in the
 * process that made the change); without it, a retry reads the change back from the store.
 */
export async function reportOutcome(
  ctx: BridgeContext,
  referralId: string,
  seq: number,
  correlationId: string,
  committed?: ReferralOutcome,
): Promise<'reported' | 'nothing-to-report'> {
  let outcome = committed;
  if (!outcome) {
    const [meta, entry] = await Promise.all([ctx.referrals.get(referralId), ctx.referrals.timelineEntry(referralId, seq)]);
    if (!meta || !entry) {
      await ctx.referrals.ackOutcome(referralId, seq);
      return 'nothing-to-report';
    }
    outcome = outcomeFor(meta, entry);
  }
  await ctx.partners.policeOutcomes.post(outcome, { correlationId });
  await ctx.referrals.ackOutcome(referralId, seq);
  return 'reported';
}

export function processOutcome(ctx: BridgeContext, job: Job<OutcomeJob>): Promise<string> {
  return reportOutcome(ctx, job.data.referralId, job.data.seq, job.data.correlationId);
}

export function startOutcomeWorker(ctx: BridgeContext): Worker<OutcomeJob> {
  return startBridgeWorker<OutcomeJob>(ctx, {
    queue: QUEUE.policeOutcomes,
    process: (job) => processOutcome(ctx, job),
    describe: (job) => ({ referralId: job.data.referralId, correlationId: job.data.correlationId }),
  });
}
