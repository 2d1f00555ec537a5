import { nameUuid } from '../../domain/name-uuid';
import { REFERRAL_ID_NAMESPACE } from '../../domain/referral-id';

/** One correlation id per crime record version, the same on every replay of that version. */
export function correlationIdFor(force: string, crimeReference: string, recordVersion: number): string {
  return nameUuid(`correlation:${force}:${crimeReference}:${recordVersion}`, REFERRAL_ID_NAMESPACE);
}
