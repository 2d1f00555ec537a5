import type { Job } from 'bullmq';
import { PartnerError, type PartnerErrorKind } from '../adapters/partner-error';
import type { DataCipher } from '../store/crypto';
import type { BridgeQueues, DeadLetterJob, QueueName } from './topology';

/** An error that retrying cannot fix (e.g. a referral that cannot be mapped). */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

export interface FailureVerdict {
  kind: PartnerErrorKind;
  /** Operators must act: refused credentials, or an error the partner flags as needing people. */
  alert: boolean;
  final: boolean;
  /** Structured, in clear: what failed, the status and codes; never the partner's own words. */
  reason: string;
  partner: DeadLetterJob['partner'];
  /** The partner's own words (may quote the patient): only ever stored sealed. */
  partnerText?: string;
}

/** Permanent and auth errors go straight to the dead-letter queue; transient ones once attempts run out. */
export function judgeFailure(job: Job, err: unknown): FailureVerdict {
  const attempts = job.opts.attempts ?? 1;
  return judgeError(err, job.attemptsMade + 1 >= attempts);
}

export function judgeError(err: unknown, lastAttempt: boolean): FailureVerdict {
  if (err instanceof PartnerError) {
    const detail = err.options.detail ? `: ${err.options.detail}` : '';
    const alert = err.kind === 'auth' || err.options.alert === true;
    const verdict: FailureVerdict = {
      kind: err.kind,
      alert,
      final: err.kind !== 'transient' || lastAttempt,
      reason: `${err.message}${detail}`.slice(0, 1000),
      partner: err.partner,
    };
    // Not enumerable either: a logged verdict never shows it.
    if (err.partnerText) Object.defineProperty(verdict, 'partnerText', { value: err.partnerText, enumerable: false });
    return verdict;
  }
  if (err instanceof PermanentError) return { kind: 'permanent', alert: false, final: true, reason: err.message, partner: 'BRIDGE' };
  return {
    kind: 'transient',
    alert: false,
    final: lastAttempt,
    reason: `internal error: ${(err as Error)?.message ?? String(err)}`.slice(0, 500),
    partner: 'BRIDGE',
  };
}

/** A dead letter's partner text is sealed to that entry: it cannot be opened as another's. */
export const deadLetterTextAad = (entry: Pick<DeadLetterJob, 'queue' | 'jobId'>) =>
  `dead-letter-partner-text:${entry.queue}:${entry.jobId}`;

/** What failed: a queue job, or work done outside one (a trust's refusal by BaRS response). */
export type FailedWork = Pick<Job, 'id' | 'name' | 'data' | 'attemptsMade'>;

/** `cipher` seals the partner's text into the entry: it is never kept in clear. */
export async function deadLetter(
  queues: BridgeQueues,
  queue: QueueName,
  job: FailedWork,
  verdict: FailureVerdict,
  extra: Pick<DeadLetterJob, 'referralId' | 'crimeReference' | 'correlationId'>,
  cipher: DataCipher,
): Promise<void> {
  const entry: DeadLetterJob = {
    queue,
    jobId: String(job.id),
    jobName: job.name,
    data: job.data,
    partner: verdict.partner,
    errorKind: verdict.kind,
    reason: verdict.reason,
    attempts: job.attemptsMade + 1,
    failedAt: new Date().toISOString(),
    ...extra,
  };
  if (verdict.partnerText) entry.partnerText = cipher.encrypt(verdict.partnerText, deadLetterTextAad(entry));
  // One dead letter per failed job: a crash after this line and a rerun do not add a second.
  await queues.deadLetter.add(`${queue}:${job.name}`, entry, { jobId: `${queue}-${job.id}-${job.attemptsMade}` });
}
