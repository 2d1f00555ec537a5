import type { CrimeRecord, Person, ReferralType } from './crime-record';

/**
 * The consent rules of police-feed.md, as a pure decision for one MDT referral.
 *
 * - ADVOCACY of a victim: only with that person's ADVOCACY_REFERRAL consent GIVEN.
 * - CLINICAL of anyone: their CLINICAL_REFERRAL consent GIVEN; for a SUSPECT alternatively a
 *   LawfulBasis with authoriser and time. Nothing overrides a victim's refusal.
 * - WITHDRAWN consent or a WITHDRAWN record cancels.
 * Anything else is HELD until a later record version supplies a basis.
 */
export type BasisDecision =
  | { decision: 'QUEUED'; basis: 'CONSENT' | 'LAWFUL_BASIS' }
  | { decision: 'HELD'; reason: string }
  | { decision: 'CANCELLED'; reason: string };

export function purposeFor(type: ReferralType): 'ADVOCACY_REFERRAL' | 'CLINICAL_REFERRAL' {
  return type === 'ADVOCACY' ? 'ADVOCACY_REFERRAL' : 'CLINICAL_REFERRAL';
}

/**
 * The person's current consent for this purpose. A record may carry several (given, then
 * withdrawn): the latest `recordedAt` wins, and among equals the one later in the document.
 * An undated entry cannot be placed in that history, so it is never overridden by a GIVEN:
 * next to dated entries, the most restrictive of it and the latest dated one wins.
 */
export function consentOf(person: Person, type: ReferralType) {
  const purpose = purposeFor(type);
  let latestDated: Person['consents'][number] | undefined;
  let latestAt = -Infinity;
  const undated: Person['consents'] = [];
  for (const c of person.consents) {
    if (c.purpose !== purpose) continue;
    const at = c.recordedAt ? Date.parse(c.recordedAt) : NaN;
    if (Number.isNaN(at)) undated.push(c);
    else if (at >= latestAt) {
      latestDated = c;
      latestAt = at;
    }
  }
  if (!latestDated) return undated[undated.length - 1];
  return [latestDated, ...undated].reduce((a, b) => (RESTRICTIVENESS[b.status] > RESTRICTIVENESS[a.status] ? b : a));
}

const RESTRICTIVENESS: Readonly<Record<Person['consents'][number]['status'], number>> = {
  GIVEN: 0,
  NOT_ASKED: 1,
  REFUSED: 2,
  WITHDRAWN: 3,
};

export function decideBasis(record: CrimeRecord, type: ReferralType, subject: Person | undefined): BasisDecision {
  if (record.recordStatus === 'WITHDRAWN') return { decision: 'CANCELLED', reason: 'RECORD_WITHDRAWN' };
  if (!subject) return { decision: 'HELD', reason: 'MDT_SUBJECT_NOT_IN_RECORD' };

  // The charity serves victims; an advocacy referral of anyone else is a data error to look at.
  if (type === 'ADVOCACY' && subject.role !== 'VICTIM') return { decision: 'HELD', reason: 'ADVOCACY_SUBJECT_NOT_VICTIM' };

  const consent = consentOf(subject, type);
  if (consent?.status === 'WITHDRAWN') return { decision: 'CANCELLED', reason: 'CONSENT_WITHDRAWN' };
  if (consent?.status === 'GIVEN') return { decision: 'QUEUED', basis: 'CONSENT' };

  if (type === 'ADVOCACY') {
    return { decision: 'HELD', reason: consent ? `CONSENT_${consent.status}` : 'CONSENT_MISSING' };
  }

  if (subject.role === 'SUSPECT') {
    const basis = subject.lawfulBasis;
    if (basis && basis.authorisedBy && basis.authorisedAt) return { decision: 'QUEUED', basis: 'LAWFUL_BASIS' };
    if (basis) return { decision: 'HELD', reason: 'LAWFUL_BASIS_INCOMPLETE' };
    return { decision: 'HELD', reason: consent ? `CONSENT_${consent.status}_NO_LAWFUL_BASIS` : 'CONSENT_MISSING_NO_LAWFUL_BASIS' };
  }
  return { decision: 'HELD', reason: consent ? `CONSENT_${consent.status}` : 'CONSENT_MISSING' };
}
