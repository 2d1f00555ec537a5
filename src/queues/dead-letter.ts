import type { Job } from 'bullmq';
import { PartnerError, type PartnerErrorKind } from '../adapters/partner-error';
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
  reason: string;
  partner: DeadLetterJob['partner'];
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
    return { kind: err.kind, alert, final: err.kind !== 'transient' || lastAttempt, reason: `${err.message}${detail}`.slice(0, 1000), partner: err.partner };
  }
  if (err instanceof PermanentError) return { kind: 'permanent', alert: false, final: true, reason: err.message, partner: 'BRIDGE' };
  return { kind: 'transient', alert: false, final: lastAttempt, reason: `internal error: ${(err as Error)?.message ?? String(err)}`.slice(0, 500), partner: 'BRIDGE' };
}

export async function deadLetter(
  queues: BridgeQueues,
  queue: QueueName,
  job: Job,
  verdict: FailureVerdict,
  extra: Pick<DeadLetterJob, 'referralId' | 'crimeReference' | 'correlationId'>,
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
  // One dead letter per failed job: a crash after this line and a rerun do not add a second.
  await queues.deadLetter.add(`${queue}:${job.name}`, entry, { jobId: `${queue}-${job.id}-${job.attemptsMade}` });
}
