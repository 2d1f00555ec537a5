import type { ReferralType } from './crime-record';
import type { ReferralStatus } from './lifecycle';

/** The two partners a referral goes to: the NHS trust (clinical) or the charity (advocacy). */
export type PartnerCode = 'NHS' | 'CHARITY';

export interface ReferralMeta {
  referralId: string;
  type: ReferralType;
  partner: PartnerCode;
  crimeReference: string;
  recordVersion: number;
  status: ReferralStatus;
  statusSeq: number;
  correlationId: string;
  createdAt: string;
  updatedAt: string;
  heldReason?: string;
  partnerRef?: string;
  partnerStatus?: string;
  /** When the partner says its status changed (charity `occurredAt`/`updatedAt`): orders its updates. */
  partnerStatusAt?: string;
  /** The partner's closing outcome (charity ENGAGED, DECLINED, UNCONTACTABLE…), kept once known. */
  partnerOutcome?: string;
  /** When the consent (or, for a suspect, the lawful basis) was recorded: service-level clocks start here. */
  basisAt?: string;
  cancelReason?: string;
  /** Structured (what failed, status, codes) and in clear; the partner's own words are kept apart, sealed (savePartnerText). */
  lastError?: string;
}

export interface TimelineEntry {
  seq: number;
  at: string;
  status: ReferralStatus;
  from?: ReferralStatus;
  source: string;
  detail?: string;
}
