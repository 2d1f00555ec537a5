import type { JobQueues } from '../delivery/delivery-jobs';

/** Each committed status change is written back to the police once (outbox entry `{id}|{seq}`). */
export async function enqueueWriteBack(ctx: JobQueues, referralId: string, seq: number, correlationId: string, delayMs = 0): Promise<void> {
  await ctx.queues.policeWriteBacks.add(
    'outcome',
    { referralId, seq, correlationId },
    { jobId: `${referralId}-s${seq}`, ...(delayMs > 0 ? { delay: delayMs } : {}) },
  );
}

/**
 * A write-back the outbox still holds, looked at again: a job that vanished (a crash between
 * commit and enqueue) or finished without the RMS acknowledging it is queued afresh; one still
 * queued or retrying is left alone; one in the dead-letter queue waits for an operator, because
 * re-adding it every minute would be the retry storm the dead-letter queue exists to stop.
 */
export type WriteBackRequeue = 'requeued' | 'in-queue' | 'dead-lettered';

export async function requeueWriteBack(ctx: JobQueues, referralId: string, seq: number, correlationId: string): Promise<WriteBackRequeue> {
  const job = await ctx.queues.policeWriteBacks.getJob(`${referralId}-s${seq}`);
  if (!job) {
    await enqueueWriteBack(ctx, referralId, seq, correlationId);
    return 'requeued';
  }
  const state = await job.getState();
  if (state === 'completed' && job.returnvalue === 'dead-lettered') return 'dead-lettered';
  if (state !== 'completed' && state !== 'failed') return 'in-queue';
  // BullMQ keeps finished jobs for a day and ignores a new one under the same id: take a new id.
  await ctx.queues.policeWriteBacks.add('outcome', { referralId, seq, correlationId }, { jobId: `${referralId}-s${seq}-r${Date.now()}` });
  return 'requeued';
}
