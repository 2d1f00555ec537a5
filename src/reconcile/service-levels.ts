import type { ReferralType } from '../domain/crime-record';
import type { ReferralStatus } from '../domain/lifecycle';
import { workingDaysDeadline } from '../domain/working-days';

/**
 * referral-lifecycle.md "Service levels", as a pure judgement on one referral's history.
 * - Victims' Code: an ADVOCACY referral reaches the charity (SENT) within 2 working days of the
 *   consent being recorded; later, or still waiting after that, is a breach.
 * - Clinical: a CLINICAL referral the trust has not yet ACCEPTED or REJECTED N working days
 *   after it reached the trust (or, if it never did, after the bridge queued it) is overdue.
 */
export const VICTIMS_CODE_WORKING_DAYS = 2;

export interface ServiceLevelInput {
  referralId: string;
  crimeReference: string;
  type: ReferralType;
  status: ReferralStatus;
  /** Consent (or lawful basis) recorded. */
  basisAt?: string;
  /** The timeline: when each status was reached. */
  timeline: readonly { at: string; status: ReferralStatus }[];
}

export type ServiceLevelFinding =
  | { kind: 'victims-code-breach'; referralId: string; crimeReference: string; clockStart: string; deadline: string; sentAt: string | null }
  | { kind: 'clinical-overdue'; referralId: string; crimeReference: string; clockStart: string; deadline: string; status: ReferralStatus };

/** Statuses that mean the partner had the referral. */
const REACHED_PARTNER: ReadonlySet<ReferralStatus> = new Set(['SENT', 'ACCEPTED', 'IN_PROGRESS', 'REJECTED', 'COMPLETED']);
/** Statuses that mean the trust answered. */
const ANSWERED: ReadonlySet<ReferralStatus> = new Set(['ACCEPTED', 'IN_PROGRESS', 'REJECTED', 'COMPLETED']);
/** No clock runs: no basis yet, or the referral was withdrawn. */
const NO_CLOCK: ReadonlySet<ReferralStatus> = new Set(['HELD', 'CANCELLED']);

export function evaluateServiceLevel(input: ServiceLevelInput, now: Date, clinicalWorkingDays: number): ServiceLevelFinding | undefined {
  const firstAt = (statuses: ReadonlySet<ReferralStatus>) => input.timeline.find((e) => statuses.has(e.status))?.at;
  const queuedAt = input.timeline.find((e) => e.status === 'QUEUED')?.at;
  const sentAt = firstAt(REACHED_PARTNER);
  const ids = { referralId: input.referralId, crimeReference: input.crimeReference };

  if (input.type === 'ADVOCACY') {
    const clockStart = input.basisAt ?? queuedAt;
    // Sent before the consent was withdrawn still counts: the duty was to send, and it was met or not.
    if (!clockStart || (NO_CLOCK.has(input.status) && !sentAt)) return undefined;
    const deadline = workingDaysDeadline(new Date(clockStart), VICTIMS_CODE_WORKING_DAYS);
    const late = sentAt ? Date.parse(sentAt) >= deadline.getTime() : now.getTime() >= deadline.getTime();
    return late ? { kind: 'victims-code-breach', ...ids, clockStart, deadline: deadline.toISOString(), sentAt: sentAt ?? null } : undefined;
  }

  const clockStart = sentAt ?? queuedAt;
  if (!clockStart || NO_CLOCK.has(input.status) || firstAt(ANSWERED)) return undefined;
  const deadline = workingDaysDeadline(new Date(clockStart), clinicalWorkingDays);
  return now.getTime() >= deadline.getTime()
    ? { kind: 'clinical-overdue', ...ids, clockStart, deadline: deadline.toISOString(), status: input.status }
    : undefined;
}
