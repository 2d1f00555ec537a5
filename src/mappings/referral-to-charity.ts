import type { Gender, RiskLevel, RiskTool } from '../domain/crime-record';
import type { CharityReferralView } from './allow-lists';

/**
 * The charity's advocacy referral (charity-api.md "POST /v1/referrals"). Key order follows
 * the spec's example: the charity compares a resent body with the first one under the same
 * Idempotency-Key, so the JSON must be byte-identical for the same referral.
 */
export interface CharitySafeContact {
  phone?: string;
  email?: string;
  safeTimeToCall?: string;
  voicemailSafe?: boolean;
}

export interface CharityReferralPayload {
  externalReference: string;
  crimeReference: string;
  referredAt?: string;
  referrer: { organisation: string; officerCollar?: string; officerName?: string; officerEmail?: string };
  client: {
    forename?: string;
    surname?: string;
    dateOfBirth?: string;
    gender?: Gender;
    language?: string;
    safeContact?: CharitySafeContact;
    postcodeDistrict?: string;
  };
  risk?: { tool: RiskTool; level: RiskLevel; assessedAt?: string };
  offence: { homeOfficeClass: string; description?: string; committedFrom?: string; committedTo?: string };
  perpetrator?: { forename?: string; surname?: string; relationshipToClient?: string };
  consent: { status: 'GIVEN'; recordedAt?: string; recordedBy?: string };
  summary?: string;
}

/**
 * Pure. Every field is copied by name (never spread), so nothing beyond the allow-listed
 * view can reach the charity even if a value carries extra keys at run time.
 * Throws when the victim's consent is not GIVEN: an advocacy referral is never sent without it.
 */
export function referralToCharityPayload(view: CharityReferralView, opts: { referrerOrganisation: string }): CharityReferralPayload {
  if (view.consent?.status !== 'GIVEN') {
    throw new Error(`referral ${view.referralId}: advocacy referral without GIVEN consent is never sent to the charity`);
  }
  const { officer, client, offence, risk, perpetrator, consent } = view;
  const safeContact = client.safeContact;

  return compact({
    externalReference: view.referralId,
    crimeReference: view.crimeReference,
    referredAt: view.referredAt,
    referrer: compact({
      organisation: opts.referrerOrganisation,
      officerCollar: officer?.collar,
      officerName: officer?.name,
      officerEmail: officer?.email,
    }),
    client: compact({
      forename: client.forename,
      surname: client.surname,
      dateOfBirth: client.dateOfBirth,
      gender: client.gender,
      language: client.language,
      safeContact: safeContact
        ? nonEmpty(
            compact({
              phone: safeContact.phone,
              email: safeContact.email,
              safeTimeToCall: safeContact.safeTimeToCall,
              voicemailSafe: safeContact.voicemailSafe,
            }),
          )
        : undefined,
      postcodeDistrict: client.postcodeDistrict,
    }),
    risk: risk ? compact({ tool: risk.tool, level: risk.level, assessedAt: risk.assessedAt }) : undefined,
    offence: compact({
      homeOfficeClass: offence.homeOfficeClass,
      description: offence.description,
      committedFrom: offence.committedFrom,
      committedTo: offence.committedTo,
    }),
    perpetrator: perpetrator
      ? nonEmpty(
          compact({
            forename: perpetrator.forename,
            surname: perpetrator.surname,
            relationshipToClient: perpetrator.relationshipToClient,
          }),
        )
      : undefined,
    consent: compact({ status: 'GIVEN' as const, recordedAt: consent.recordedAt, recordedBy: consent.recordedBy }),
    summary: view.summary,
  });
}

/** A copy without undefined values, keeping key order (the charity gets no nulls or empty keys). */
function compact<T extends object>(value: T): T {
  const out = {} as T;
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

/** An object with nothing in it is left out rather than sent as `{}`. */
function nonEmpty<T extends object>(value: T): T | undefined {
  return Object.keys(value).length > 0 ? value : undefined;
}
