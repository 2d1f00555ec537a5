import type {
  Address,
  Consent,
  CrimeRecord,
  Gender,
  LawfulBasis,
  OfficerInCase,
  Offence,
  PersonRole,
  ReferralType,
  RiskAssessment,
  SafeContact,
} from './crime-record';

/**
 * The shared, partner-neutral referral message (referral-lifecycle.md). Partner payloads
 * are derived from it only through the allow-lists in `src/mappings/allow-lists.ts`.
 */
export interface ReferralSubject {
  ref: string;
  role: PersonRole;
  forename?: string;
  surname?: string;
  dateOfBirth?: string;
  gender?: Gender;
  nhsNumber?: string;
  address?: Address;
  safeContact?: SafeContact;
  language?: string;
  clinicalIndicators?: string;
}

/** Other people in the record: role and relationship only, never identifying details. */
export interface OtherParty {
  ref: string;
  role: PersonRole;
  relationshipToSubject?: string;
}

/**
 * The suspect named to the charity on an ADVOCACY referral (charity-api.md `perpetrator`):
 * name and relationship to the victim only. The lifecycle spec's "role and relationship only"
 * for other parties is relaxed here because the charity contract requires the name.
 */
export interface Perpetrator {
  forename?: string;
  surname?: string;
  relationshipToVictim?: string;
}

export interface Referral {
  referralId: string;
  type: ReferralType;
  crimeReference: string;
  recordVersion: number;
  force: string;
  subject: ReferralSubject;
  otherParties: OtherParty[];
  perpetrator?: Perpetrator;
  offence: Offence;
  risk?: RiskAssessment;
  /** The subject's consent for this referral's purpose, if recorded. */
  consent?: Consent;
  lawfulBasis?: LawfulBasis;
  mdtReason?: string;
  mdtDecidedAt?: string;
  summary?: string;
  officerInCase?: OfficerInCase;
  recordLastModified?: string;
}

/** What one record version says should happen to one referral. */
export type ReferralDecision = 'QUEUED' | 'HELD' | 'CANCELLED';

export interface DecidedReferral {
  referral: Referral;
  decision: ReferralDecision;
  /** Why it is HELD or CANCELLED; absent when QUEUED. Contains no personal data. */
  reason?: string;
}

export interface RecordMapping {
  crimeReference: string;
  recordVersion: number;
  inScope: boolean;
  referrals: DecidedReferral[];
}

export type { CrimeRecord };
