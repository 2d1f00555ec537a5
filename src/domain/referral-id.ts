import { nameUuid } from './name-uuid';
import type { ReferralType } from './crime-record';

/**
 * Fixed namespace for referral ids: nameUuid('urn:iasu:referral', URL namespace).
 * Changing it would change every referral id and break idempotency at the partners.
 */
export const REFERRAL_ID_NAMESPACE = '99a344a4-1b6d-58e8-80f1-fcff800fb0af';

/** Deterministic referral id: UUID v5 of `{force}:{crimeReference}:{type}:{subjectRef}`. */
export function referralIdFor(force: string, crimeReference: string, type: ReferralType, subjectRef: string): string {
  return nameUuid(`${force}:${crimeReference}:${type}:${subjectRef}`, REFERRAL_ID_NAMESPACE);
}
