import { decideBasis, consentOf } from '../domain/consent';
import { dropUndefined } from '../domain/objects';
import { isInScope, type CrimeRecord, type MdtReferral, type Person } from '../domain/crime-record';
import type { DecidedReferral, OtherParty, Perpetrator, RecordMapping, Referral, ReferralSubject } from '../domain/referral';
import { referralIdFor } from '../domain/referral-id';

/**
 * One police record version → its referrals (referral-lifecycle.md "From a crime record to
 * referrals"), each with the decision the consent rules give. Pure and deterministic.
 */
export function mapCrimeRecord(record: CrimeRecord, force: string): RecordMapping {
  const base = { crimeReference: record.crimeReference, recordVersion: record.recordVersion };
  if (!isInScope(record)) return { ...base, inScope: false, referrals: [] };
  const referrals = (record.mdtDecision?.referrals ?? []).map((mdt) => decideReferral(record, force, mdt));
  return { ...base, inScope: true, referrals };
}

/**
 * How many of the record's referrals wait for consent or a lawful basis: the HELD count of
 * `mapCrimeRecord`, without building the referrals (ingest reports it; intake maps for real).
 */
export function countHeld(record: CrimeRecord): number {
  if (!isInScope(record)) return 0;
  return (record.mdtDecision?.referrals ?? []).filter(
    (mdt) =>
      decideBasis(
        record,
        mdt.type,
        record.persons.find((p) => p.ref === mdt.subjectRef),
      ).decision === 'HELD',
  ).length;
}

function decideReferral(record: CrimeRecord, force: string, mdt: MdtReferral): DecidedReferral {
  const person = record.persons.find((p) => p.ref === mdt.subjectRef);
  const referral = buildReferral(record, force, mdt, person);
  const basis = decideBasis(record, mdt.type, person);
  if (basis.decision === 'QUEUED') return { referral, decision: 'QUEUED' };
  return { referral, decision: basis.decision, reason: basis.reason };
}

function buildReferral(record: CrimeRecord, force: string, mdt: MdtReferral, person: Person | undefined): Referral {
  const subject: ReferralSubject = person ? subjectOf(person) : { ref: mdt.subjectRef, role: 'OTHER' };
  const others = record.persons.filter((p) => p.ref !== mdt.subjectRef);
  const referral: Referral = {
    referralId: referralIdFor(force, record.crimeReference, mdt.type, mdt.subjectRef),
    type: mdt.type,
    crimeReference: record.crimeReference,
    recordVersion: record.recordVersion,
    force,
    subject,
    otherParties: others.map((other) => otherParty(other, person)),
    offence: { ...record.offence },
    risk: record.risk && { ...record.risk },
    consent: person && consentOf(person, mdt.type),
    // A lawful basis is only ever a ground for a suspect's clinical referral.
    lawfulBasis: mdt.type === 'CLINICAL' && person?.role === 'SUSPECT' ? person.lawfulBasis : undefined,
    mdtReason: mdt.reason,
    mdtDecidedAt: record.mdtDecision?.decidedAt,
    summary: record.summary,
    officerInCase: record.officerInCase && { ...record.officerInCase },
    recordLastModified: record.lastModified,
  };
  if (mdt.type === 'ADVOCACY' && person?.role === 'VICTIM') referral.perpetrator = perpetratorOf(others, person);
  return dropUndefined(referral);
}

function subjectOf(p: Person): ReferralSubject {
  return dropUndefined({
    ref: p.ref,
    role: p.role,
    forename: p.forename,
    surname: p.surname,
    dateOfBirth: p.dateOfBirth,
    gender: p.gender,
    nhsNumber: p.nhsNumber,
    address: p.address && { ...p.address, lines: [...p.address.lines] },
    safeContact: p.safeContact && { ...p.safeContact },
    language: p.language,
    clinicalIndicators: p.clinicalIndicators,
  });
}

function otherParty(other: Person, subject: Person | undefined): OtherParty {
  const relationship =
    other.relationshipToVictim?.victimRef === subject?.ref
      ? other.relationshipToVictim?.relationship
      : subject?.relationshipToVictim?.victimRef === other.ref
        ? subject.relationshipToVictim.relationship
        : undefined;
  return dropUndefined({ ref: other.ref, role: other.role, relationshipToSubject: relationship });
}

/** The suspect who stands in a relationship to this victim, else the first suspect named. */
function perpetratorOf(others: Person[], victim: Person): Perpetrator | undefined {
  const suspects = others.filter((p) => p.role === 'SUSPECT');
  const suspect = suspects.find((s) => s.relationshipToVictim?.victimRef === victim.ref) ?? suspects[0];
  if (!suspect) return undefined;
  return dropUndefined({
    forename: suspect.forename,
    surname: suspect.surname,
    relationshipToVictim: suspect.relationshipToVictim?.victimRef === victim.ref ? suspect.relationshipToVictim.relationship : undefined,
  });
}
