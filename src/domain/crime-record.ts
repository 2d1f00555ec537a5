/**
 * A police `CrimeRecord` (police-feed.md §1) after parsing and validation.
 * Field names follow the feed; everything optional in the feed is optional here.
 */

/** The XML namespace of the police feed, and of the write-backs the bridge sends the RMS. */
export const FEED_NAMESPACE = 'urn:iasu:police-feed:1';

export type RecordStatus = 'ACTIVE' | 'WITHDRAWN';
export type PersonRole = 'VICTIM' | 'SUSPECT' | 'WITNESS' | 'OTHER';
export type Gender = 'FEMALE' | 'MALE' | 'OTHER' | 'UNKNOWN';
export type ConsentPurpose = 'ADVOCACY_REFERRAL' | 'CLINICAL_REFERRAL';
export type ConsentStatus = 'GIVEN' | 'REFUSED' | 'NOT_ASKED' | 'WITHDRAWN';
export type LawfulBasisCode = 'DPA2018-S8-P1' | 'DPA2018-S8-P3' | 'DPA2018-S8-P4' | 'CDA1998-S115';
export type RiskLevel = 'STANDARD' | 'MEDIUM' | 'HIGH';
export type RiskTool = 'DASH' | 'S-DASH' | 'SASH' | 'SRP';
export type ReferralType = 'CLINICAL' | 'ADVOCACY';

export const RECORD_STATUSES: readonly RecordStatus[] = ['ACTIVE', 'WITHDRAWN'];
export const PERSON_ROLES: readonly PersonRole[] = ['VICTIM', 'SUSPECT', 'WITNESS', 'OTHER'];
export const GENDERS: readonly Gender[] = ['FEMALE', 'MALE', 'OTHER', 'UNKNOWN'];
export const CONSENT_PURPOSES: readonly ConsentPurpose[] = ['ADVOCACY_REFERRAL', 'CLINICAL_REFERRAL'];
export const CONSENT_STATUSES: readonly ConsentStatus[] = ['GIVEN', 'REFUSED', 'NOT_ASKED', 'WITHDRAWN'];
export const LAWFUL_BASIS_CODES: readonly LawfulBasisCode[] = ['DPA2018-S8-P1', 'DPA2018-S8-P3', 'DPA2018-S8-P4', 'CDA1998-S115'];
export const RISK_LEVELS: readonly RiskLevel[] = ['STANDARD', 'MEDIUM', 'HIGH'];
export const RISK_TOOLS: readonly RiskTool[] = ['DASH', 'S-DASH', 'SASH', 'SRP'];
export const REFERRAL_TYPES: readonly ReferralType[] = ['CLINICAL', 'ADVOCACY'];

export interface Address {
  lines: string[];
  town?: string;
  postcode?: string;
}

export interface SafeContact {
  phone?: string;
  email?: string;
  safeTimeToCall?: string;
  voicemailSafe?: boolean;
}

export interface Consent {
  purpose: ConsentPurpose;
  status: ConsentStatus;
  recordedAt?: string;
  recordedBy?: string;
}

export interface LawfulBasis {
  code: LawfulBasisCode;
  authorisedBy?: string;
  authorisedAt?: string;
}

export interface RelationshipToVictim {
  victimRef: string;
  relationship: string;
}

export interface Person {
  ref: string;
  role: PersonRole;
  forename?: string;
  surname?: string;
  dateOfBirth?: string;
  gender?: Gender;
  /** Ten digits, spaces stripped, Modulus 11 checked by the parser. */
  nhsNumber?: string;
  address?: Address;
  safeContact?: SafeContact;
  language?: string;
  consents: Consent[];
  lawfulBasis?: LawfulBasis;
  clinicalIndicators?: string;
  relationshipToVictim?: RelationshipToVictim;
}

export interface Offence {
  homeOfficeClass: string;
  offenceCode?: string;
  description?: string;
  legislation?: string;
  committedFrom?: string;
  committedTo?: string;
}

export interface CrimeFlag {
  code: string;
  raisedAt?: string;
  raisedBy?: string;
}

export interface RiskAssessment {
  tool: RiskTool;
  level: RiskLevel;
  score?: number;
  assessedAt?: string;
  assessor?: string;
}

export interface MdtReferral {
  type: ReferralType;
  subjectRef: string;
  reason?: string;
}

export interface MdtDecision {
  decidedAt?: string;
  referrals: MdtReferral[];
}

export interface OfficerInCase {
  collar: string;
  name?: string;
  email?: string;
  phone?: string;
}

export interface CrimeRecord {
  crimeReference: string;
  recordVersion: number;
  recordStatus: RecordStatus;
  lastModified?: string;
  offence: Offence;
  flags: CrimeFlag[];
  risk?: RiskAssessment;
  mdtDecision?: MdtDecision;
  persons: Person[];
  summary?: string;
  officerInCase?: OfficerInCase;
}

/** A record is in scope only if it carries the STALKING flag or Home Office class 8Q. */
export function isInScope(record: CrimeRecord): boolean {
  return record.offence.homeOfficeClass === '8Q' || record.flags.some((f) => f.code === 'STALKING');
}
