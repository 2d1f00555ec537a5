import type { Consent, LawfulBasis, Offence, RiskAssessment } from '../domain/crime-record';
import { dropUndefined } from '../domain/objects';
import { postcodeDistrict } from '../domain/postcode';
import type { Referral, ReferralSubject } from '../domain/referral';

/**
 * Per-partner allow-lists. Each partner mapping takes a *view* of the referral built here,
 * never the referral itself, so a field not listed below cannot reach that partner: the
 * compiler rejects any mapping that reaches for it.
 */

// ---- NHS trust (nhs-fhir.md "Content of a referral") --------------------------------------

export const NHS_SUBJECT_FIELDS = [
  'ref',
  'role',
  'forename',
  'surname',
  'dateOfBirth',
  'gender',
  'nhsNumber',
  'address',
  'clinicalIndicators',
] as const;
export const NHS_OFFENCE_FIELDS = ['homeOfficeClass', 'offenceCode', 'description', 'legislation', 'committedFrom', 'committedTo'] as const;
export const NHS_RISK_FIELDS = ['tool', 'level', 'score', 'assessedAt'] as const;

export interface NhsReferralView {
  referralId: string;
  crimeReference: string;
  force: string;
  subject: Pick<ReferralSubject, (typeof NHS_SUBJECT_FIELDS)[number]>;
  offence: Pick<Offence, (typeof NHS_OFFENCE_FIELDS)[number]>;
  risk?: Pick<RiskAssessment, (typeof NHS_RISK_FIELDS)[number]>;
  consent?: Consent;
  lawfulBasis?: LawfulBasis;
  mdtReason?: string;
  mdtDecidedAt?: string;
  /** When the police record last changed: dates a BaRS message that has no MDT decision time. */
  recordLastModified?: string;
  summary?: string;
}

export function nhsView(referral: Referral): NhsReferralView {
  return dropUndefined({
    referralId: referral.referralId,
    crimeReference: referral.crimeReference,
    force: referral.force,
    subject: pick(referral.subject, NHS_SUBJECT_FIELDS),
    offence: pick(referral.offence, NHS_OFFENCE_FIELDS),
    risk: referral.risk && pick(referral.risk, NHS_RISK_FIELDS),
    consent: referral.consent && { ...referral.consent },
    // The lawful basis only ever accompanies a suspect's clinical referral (police-feed.md).
    lawfulBasis: referral.subject.role === 'SUSPECT' && referral.lawfulBasis ? { ...referral.lawfulBasis } : undefined,
    mdtReason: referral.mdtReason,
    mdtDecidedAt: referral.mdtDecidedAt,
    recordLastModified: referral.recordLastModified,
    summary: referral.summary,
  });
}

// ---- Charity (charity-api.md "POST /v1/referrals" and "What is not sent") ----------------

export const CHARITY_SUBJECT_FIELDS = ['forename', 'surname', 'dateOfBirth', 'gender', 'language', 'safeContact'] as const;
export const CHARITY_SAFE_CONTACT_FIELDS = ['phone', 'email', 'safeTimeToCall', 'voicemailSafe'] as const;
export const CHARITY_OFFENCE_FIELDS = ['homeOfficeClass', 'description', 'committedFrom', 'committedTo'] as const;
export const CHARITY_RISK_FIELDS = ['tool', 'level', 'assessedAt'] as const;

export interface CharityReferralView {
  referralId: string;
  crimeReference: string;
  /** When the MDT decided to refer (falls back to the record's last change). */
  referredAt?: string;
  officer?: { collar: string; name?: string; email?: string };
  client: Pick<ReferralSubject, (typeof CHARITY_SUBJECT_FIELDS)[number]> & { postcodeDistrict?: string };
  offence: Pick<Offence, (typeof CHARITY_OFFENCE_FIELDS)[number]>;
  risk?: Pick<RiskAssessment, (typeof CHARITY_RISK_FIELDS)[number]>;
  perpetrator?: { forename?: string; surname?: string; relationshipToClient?: string };
  consent?: Pick<Consent, 'status' | 'recordedAt' | 'recordedBy'>;
  summary?: string;
}

export function charityView(referral: Referral): CharityReferralView {
  const officer = referral.officerInCase;
  return dropUndefined({
    referralId: referral.referralId,
    crimeReference: referral.crimeReference,
    referredAt: referral.mdtDecidedAt ?? referral.recordLastModified,
    officer: officer && dropUndefined({ collar: officer.collar, name: officer.name, email: officer.email }),
    client: dropUndefined({
      ...pick(referral.subject, CHARITY_SUBJECT_FIELDS),
      safeContact: referral.subject.safeContact && pick(referral.subject.safeContact, CHARITY_SAFE_CONTACT_FIELDS),
      postcodeDistrict: postcodeDistrict(referral.subject.address?.postcode),
    }),
    offence: pick(referral.offence, CHARITY_OFFENCE_FIELDS),
    risk: referral.risk && pick(referral.risk, CHARITY_RISK_FIELDS),
    perpetrator:
      referral.perpetrator &&
      dropUndefined({
        forename: referral.perpetrator.forename,
        surname: referral.perpetrator.surname,
        relationshipToClient: referral.perpetrator.relationshipToVictim,
      }),
    consent:
      referral.consent &&
      dropUndefined({
        status: referral.consent.status,
        recordedAt: referral.consent.recordedAt,
        recordedBy: referral.consent.recordedBy,
      }),
    summary: referral.summary,
  });
}

// ---- helpers ----------------------------------------------------------------------------

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined) out[key] = structuredClone(value);
  }
  return out;
}
