import { Worker, type Job } from 'bullmq';
import type { Infra } from '../infra';
import type { BridgeMetrics } from '../observability/metrics';
import { partnerBackoff } from './backoff';
import { deadLetter, judgeFailure, type FailureVerdict } from './dead-letter';
import type { DeadLetterJob, QueueName } from './topology';

/**
 * A worker with the bridge's failure policy: transient errors are retried (BullMQ backoff,
 * honouring Retry-After); permanent and credential errors, and transient ones out of attempts,
 * are written to the dead-letter queue and the job completes, so nothing sits lost in `failed`.
 */
export type JobIds = Pick<DeadLetterJob, 'referralId' | 'crimeReference' | 'correlationId'>;

/**
 * How many times a job may be cut off by its worker process dying (SIGKILL, OOM, a host lost)
 * and still be retried. BullMQ's default is 1: the second such death failed the job outright.
 */
export const MAX_STALLED_COUNT = 5;

export interface BridgeWorkerSpec<T> {
  queue: QueueName;
  process(job: Job<T>): Promise<unknown>;
  /** Identifiers for the dead letter and the log lines: never personal data. */
  describe(job: Job<T>): JobIds | Promise<JobIds>;
  /** Runs once the dead letter is written (e.g. mark the referral FAILED). */
  afterDeadLetter?(job: Job<T>, verdict: FailureVerdict): Promise<void>;
  concurrency?: number;
}

/** What a worker needs: its queue's connection, the dead-letter queue, the cipher for partner text, metrics. */
export type WorkerDeps = Pick<Infra, 'cipher' | 'config' | 'logger' | 'queueRedis' | 'queues' | 'redisErrors'> & { metrics: BridgeMetrics };

export function startBridgeWorker<T>(ctx: WorkerDeps, spec: BridgeWorkerSpec<T>): Worker<T> {
  const worker = new Worker<T>(
    spec.queue,
    async (job) => {
      try {
        return await spec.process(job);
      } catch (err) {
        const verdict = judgeFailure(job, err);
        const ids = await spec.describe(job);
        const log = ctx.logger.child({ ...ids, queue: spec.queue, jobId: job.id });
        if (!verdict.final) {
          // A retried failure can still need people now (a partner's certificate): say so at the first attempt.
          log.warn(
            { attempt: job.attemptsMade + 1, kind: verdict.kind, reason: verdict.reason, ...(verdict.alert ? { alert: true } : {}) },
            'attempt failed; will retry',
          );
          ctx.metrics.countRetry(spec.queue, verdict.partner, verdict.kind);
          throw err;
        }
        await deadLetter(ctx.queues, spec.queue, job, verdict, ids, ctx.cipher);
        ctx.metrics.countDeadLetter(spec.queue, verdict.partner, verdict.kind);
        await spec.afterDeadLetter?.(job, verdict);
        // Credentials refused or a conflict: operators must act; retrying would only hammer the partner.
        log.error({ alert: verdict.alert, kind: verdict.kind, reason: verdict.reason, jobName: job.name }, 'dead-lettered');
        return 'dead-lettered';
      }
    },
    {
      connection: ctx.queueRedis,
      prefix: ctx.config.redis.prefix,
      concurrency: spec.concurrency ?? ctx.config.delivery.concurrency,
      maxStalledCount: MAX_STALLED_COUNT,
      settings: { backoffStrategy: partnerBackoff(ctx.config.delivery.backoffMs) },
    },
  );
  // A worker's 'error' is its (blocking) Redis connection failing: one line every few seconds, not one per reconnect.
  worker.on('error', (err) => ctx.redisErrors.report('workers', err));
  // A job that stalled more than MAX_STALLED_COUNT times is failed by BullMQ itself, without the
  // processor above ever running: dead-letter it here, or it would sit in `failed` unseen (a
  // delivery left QUEUED for ever, an intake record never applied).
  worker.on('failed', (job, err) => {
    if (!job || err?.name !== 'UnrecoverableError') return;
    const verdict: FailureVerdict = {
      kind: 'transient',
      alert: true,
      final: true,
      partner: 'BRIDGE',
      reason: `${err.message}: its worker process stopped while running it, too many times`,
    };
    void (async () => {
      const ids = await spec.describe(job);
      await deadLetter(ctx.queues, spec.queue, job, verdict, ids, ctx.cipher);
      ctx.metrics.countDeadLetter(spec.queue, verdict.partner, verdict.kind);
      await spec.afterDeadLetter?.(job, verdict);
      ctx.logger.error(
        { ...ids, queue: spec.queue, jobId: job.id, alert: true, kind: verdict.kind, reason: verdict.reason, jobName: job.name },
        'dead-lettered',
      );
    })().catch((e: unknown) =>
      ctx.logger.error(
        { err: (e as Error).message, queue: spec.queue, jobId: job.id, alert: true },
        'a job BullMQ failed could not be dead-lettered',
      ),
    );
  });
  return worker;
}
