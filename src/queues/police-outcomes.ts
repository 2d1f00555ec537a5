import { Worker, type Job } from 'bullmq';
import type { BridgeContext } from '../context';
import type { ReferralOutcome } from '../mappings/referral-to-outcome';
import { partnerBackoff } from './backoff';
import { deadLetter, judgeFailure } from './dead-letter';
import { QUEUE, type OutcomeJob } from './topology';

/** Writes one status change back to the police RMS; the outbox entry is cleared only on success. */
export async function processOutcome(ctx: BridgeContext, job: Job<OutcomeJob>): Promise<string> {
  const { referralId, seq } = job.data;
  const meta = await ctx.referrals.get(referralId);
  const entry = await ctx.referrals.timelineEntry(referralId, seq);
  if (!meta || !entry) {
    await ctx.referrals.ackOutcome(referralId, seq);
    return 'nothing-to-report';
  }
  const outcome: ReferralOutcome = {
    crimeReference: meta.crimeReference,
    referralId,
    partner: meta.partner,
    partnerReference: meta.partnerRef,
    status: entry.status,
    statusAt: entry.at,
    detail: entry.detail,
    seq,
  };
  await ctx.partners.policeOutcomes.post(outcome, { correlationId: job.data.correlationId });
  await ctx.referrals.ackOutcome(referralId, seq);
  return 'reported';
}

export function startOutcomeWorker(ctx: BridgeContext): Worker<OutcomeJob> {
  const worker = new Worker<OutcomeJob>(
    QUEUE.policeOutcomes,
    async (job) => {
      try {
        return await processOutcome(ctx, job);
      } catch (err) {
        const verdict = judgeFailure(job, err);
        if (!verdict.final) throw err;
        await deadLetter(ctx.queues, QUEUE.policeOutcomes, job, verdict, { referralId: job.data.referralId, correlationId: job.data.correlationId });
        ctx.logger.error(
          { correlationId: job.data.correlationId, referralId: job.data.referralId, seq: job.data.seq, alert: verdict.kind === 'auth', reason: verdict.reason },
          'police write-back dead-lettered',
        );
        return 'dead-lettered';
      }
    },
    {
      connection: ctx.redis,
      prefix: ctx.config.redis.prefix,
      concurrency: ctx.config.delivery.concurrency,
      settings: { backoffStrategy: partnerBackoff(ctx.config.delivery.backoffMs) },
    },
  );
  worker.on('error', (err) => ctx.logger.error({ err: err.message }, 'outcome worker error'));
  return worker;
}
