import type { Job, Worker } from 'bullmq';
import type { Infra } from '../../infra';
import { writeBackFor, type WriteBack } from '../../mappings/referral-to-write-back';
import { startBridgeWorker, type WorkerDeps } from '../../queues/bridge-worker';
import { QUEUE, type WriteBackJob } from '../../queues/topology';

/** The RMS client, the store the outcome is read from, and a worker's needs. */
export type WriteBackDeps = WorkerDeps & Pick<Infra, 'partners' | 'referrals'>;

/**
 * Writes one status change back to the police RMS, read back from the store (a queued retry);
 * the outbox entry is cleared only on success.
 */
async function reportWriteBack(
  ctx: WriteBackDeps,
  referralId: string,
  seq: number,
  correlationId: string,
): Promise<'reported' | 'nothing-to-report'> {
  const [meta, entry] = await Promise.all([ctx.referrals.get(referralId), ctx.referrals.timelineEntry(referralId, seq)]);
  if (!meta || !entry) {
    await ctx.referrals.ackWriteBack(referralId, seq);
    return 'nothing-to-report';
  }
  await sendWriteBack(ctx, writeBackFor(meta, entry), correlationId);
  return 'reported';
}

/** POSTs a write-back as it stands (the first attempt sends it as its commit recorded it), then clears its outbox entry. */
export async function sendWriteBack(ctx: WriteBackDeps, outcome: WriteBack, correlationId: string): Promise<void> {
  await ctx.partners.policeWriteBacks.post(outcome, { correlationId });
  await ctx.referrals.ackWriteBack(outcome.referralId, outcome.seq);
}

export function processWriteBack(ctx: WriteBackDeps, job: Job<WriteBackJob>): Promise<string> {
  return reportWriteBack(ctx, job.data.referralId, job.data.seq, job.data.correlationId);
}

export function startWriteBackWorker(ctx: WriteBackDeps): Worker<WriteBackJob> {
  return startBridgeWorker<WriteBackJob>(ctx, {
    queue: QUEUE.policeWriteBacks,
    process: (job) => processWriteBack(ctx, job),
    describe: (job) => ({ referralId: job.data.referralId, correlationId: job.data.correlationId }),
  });
}
