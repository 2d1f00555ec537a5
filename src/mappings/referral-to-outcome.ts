import { Builder } from 'xml2js';
import type { ReferralStatus } from '../domain/lifecycle';
import { FEED_NAMESPACE } from '../adapters/police/feed-parser';

/** A status change as the police RMS receives it (police-feed.md §3). No personal data. */
export interface ReferralOutcome {
  crimeReference: string;
  referralId: string;
  partner: 'NHS' | 'CHARITY';
  partnerReference?: string;
  status: ReferralStatus;
  statusAt: string;
  detail?: string;
  seq: number;
}

const builder = new Builder({ xmldec: { version: '1.0', encoding: 'UTF-8' }, renderOpts: { pretty: true, indent: '  ', newline: '\n' } });

export function outcomeToXml(outcome: ReferralOutcome): string {
  const body: Record<string, unknown> = {
    $: { xmlns: FEED_NAMESPACE },
    CrimeReference: outcome.crimeReference,
    ReferralId: outcome.referralId,
    Partner: outcome.partner,
  };
  if (outcome.partnerReference) body.PartnerReference = outcome.partnerReference;
  body.Status = outcome.status;
  body.StatusAt = outcome.statusAt;
  if (outcome.detail) body.Detail = outcome.detail;
  return builder.buildObject({ ReferralOutcome: body });
}

/** `{referralId}:{status}:{seq}`: a repeat of the same change is harmless at the RMS. */
export function outcomeIdempotencyKey(outcome: Pick<ReferralOutcome, 'referralId' | 'status' | 'seq'>): string {
  return `${outcome.referralId}:${outcome.status}:${outcome.seq}`;
}
