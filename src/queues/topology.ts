import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BridgeConfig } from '../config';

/** Queue names, job payloads and default options: the one place that says how work flows. */
export const QUEUE = {
  intake: 'intake',
  nhsDelivery: 'nhs-delivery',
  charityDelivery: 'charity-delivery',
  // The queue's Redis name is kept, so write-backs queued before the rename are still worked.
  policeWriteBacks: 'police-outcomes',
  reconcile: 'reconcile',
  deadLetter: 'dead-letter',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

/** A police record version; the record itself is sealed (personal data at rest is encrypted). */
export interface IntakeJob {
  sealed: string;
  crimeReference: string;
  recordVersion: number;
  force: string;
  correlationId: string;
  source: 'pull' | 'push' | 'redrive' | 'release';
}

/**
 * Records of a bulk document (more than PAGE_JOB_RECORDS), applied PAGE_JOB_RECORDS to a job: a job per record cost more in Redis than the
 * record's own work (its add and finish scripts ran ~35 commands, a third of Redis's per referral).
 * Each entry is the record job it replaces, sealed under that job's id; one that fails is split
 * out as that record job, with the record job's retries and dead letter.
 */
export const PAGE_JOB_RECORDS = 50;

export interface IntakePageJob {
  page: IntakeJob[];
}

export type IntakeQueueJob = IntakeJob | IntakePageJob;

export function isIntakePage(data: IntakeQueueJob): data is IntakePageJob {
  return Array.isArray((data as Partial<IntakePageJob>).page);
}

export interface DeliveryJob {
  referralId: string;
  correlationId: string;
  /** `resend`: the trust asked for the message again (BaRS transient-error); status unchanged. */
  action: 'deliver' | 'cancel' | 'resend';
  cancelReason?: 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN';
}

export interface WriteBackJob {
  referralId: string;
  seq: number;
  correlationId: string;
}

export interface ReconcileJob {
  kind: 'status-poll' | 'reconcile';
}

export interface DeadLetterJob {
  queue: QueueName;
  jobId: string;
  jobName: string;
  data: unknown;
  partner: 'POLICE' | 'NHS' | 'CHARITY' | 'BRIDGE';
  errorKind: 'transient' | 'permanent' | 'auth';
  /** Structured and in clear: never the partner's own words. */
  reason: string;
  /** The partner's own words about the failure, sealed (DataCipher, deadLetterTextAad); removed after RETENTION_DAYS. */
  partnerText?: string;
  partnerTextExpired?: true;
  attempts: number;
  failedAt: string;
  correlationId?: string;
  referralId?: string;
  crimeReference?: string;
}

export interface BridgeQueues {
  intake: Queue<IntakeQueueJob>;
  nhsDelivery: Queue<DeliveryJob>;
  charityDelivery: Queue<DeliveryJob>;
  policeWriteBacks: Queue<WriteBackJob>;
  reconcile: Queue<ReconcileJob>;
  deadLetter: Queue<DeadLetterJob>;
  all(): Queue[];
  close(): Promise<void>;
}

/** Custom backoff type: exponential with jitter, never sooner than a partner's Retry-After. */
export const PARTNER_BACKOFF = 'partner';

export function defaultJobOptions(config: BridgeConfig, queue: QueueName): JobsOptions {
  // Completed jobs are kept a day (a write-back's result tells the outbox sweep it was
  // dead-lettered) and then pruned, so Redis does not grow without bound.
  const retention = { removeOnComplete: { age: 24 * 3600, count: 50_000 }, removeOnFail: { age: 7 * 24 * 3600, count: 50_000 } };
  if (queue === QUEUE.deadLetter) return { attempts: 1, removeOnComplete: false, removeOnFail: false };
  if (queue === QUEUE.reconcile) return { attempts: 1, ...retention, removeOnComplete: { age: 3600, count: 100 } };
  // A crime's lock held by a process that died mid-intake is freed only by its 30 s TTL (intake.ts),
  // and meanwhile every other version of that crime fails with CrimeBusyError: the retries must
  // outlast the TTL, or the newer version (a withdrawal) is dead-lettered. 8 retries at 500 ms
  // doubling wait 127 s, at least 63 s after jitter (5 attempts waited 7.5 s, at least 3.75 s).
  // A finished intake job holds sealed police records (a page job fifty of them, some 160 KB) and
  // is never read again: a replayed page re-applies versions already applied, which changes
  // nothing. The last fifty, for an hour, for operators looking: a thousand held 160 MB.
  if (queue === QUEUE.intake)
    return {
      attempts: 9,
      backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
      ...retention,
      removeOnComplete: { age: 3600, count: 50 },
    };
  const partnerRetry = { attempts: config.delivery.attempts, backoff: { type: PARTNER_BACKOFF, delay: config.delivery.backoffMs } };
  // A finished delivery or cancel job is read by nothing (the referral's status says what it did;
  // a cancel repeated after it was pruned finds the referral closed and does nothing): a thousand
  // for operators looking, not a day's worth (8,800 cancels held 11 MB after 100,000 records).
  if (queue === QUEUE.nhsDelivery || queue === QUEUE.charityDelivery)
    return { ...partnerRetry, ...retention, removeOnComplete: { age: 24 * 3600, count: 1000 } };
  return { ...partnerRetry, ...retention };
}

/** `onError` hears the queues' connection errors (unheard, BullMQ prints each with its stack). */
export function createQueues(connection: Redis, config: BridgeConfig, onError: (err: Error) => void = () => undefined): BridgeQueues {
  const make = <T>(name: QueueName) => {
    // Nothing reads the events streams (no QueueEvents): BullMQ's default keeps 10,000 per queue.
    const queue = new Queue<T>(name, {
      connection,
      prefix: config.redis.prefix,
      defaultJobOptions: defaultJobOptions(config, name),
      streams: { events: { maxLen: 1000 } },
    });
    queue.on('error', onError);
    return queue;
  };
  const queues = {
    intake: make<IntakeQueueJob>(QUEUE.intake),
    nhsDelivery: make<DeliveryJob>(QUEUE.nhsDelivery),
    charityDelivery: make<DeliveryJob>(QUEUE.charityDelivery),
    policeWriteBacks: make<WriteBackJob>(QUEUE.policeWriteBacks),
    reconcile: make<ReconcileJob>(QUEUE.reconcile),
    deadLetter: make<DeadLetterJob>(QUEUE.deadLetter),
  };
  const all = () => Object.values(queues) as Queue[];
  return { ...queues, all, close: async () => void (await Promise.all(all().map((q) => q.close()))) };
}

/** BullMQ forbids ':' in custom job ids; crime references cannot contain one (police-feed.md). */
export function intakeJobId(crimeReference: string, recordVersion: number): string {
  return `${crimeReference}@v${recordVersion}`;
}
