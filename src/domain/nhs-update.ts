import type { ReferralStatus } from './lifecycle';

/**
 * What an NHS trust says of one referral, whichever way it said it (a Task read, a BaRS
 * response, the reconciler's read), as pipeline/partner-status/nhs-updates.ts applies it.
 */
export interface NhsUpdate {
  /** The trust's own status, for the record: `Task.status`, or `ServiceRequest/Encounter`. */
  partnerStatus: string;
  /** The bridge status it means; undefined when it means no change. */
  to?: ReferralStatus;
  /** For the timeline: structured, never personal data. */
  detail: string;
  /** The trust refused the referral outright (BaRS fatal-error): its structured detail, and its own words (sealed). */
  refusal?: { id: string; detail?: string; partnerText?: string };
}
