import type { ReferralStatus } from '../domain/lifecycle';
import { FEED_NAMESPACE } from '../domain/crime-record';

/** A status change as the police RMS receives it (police-feed.md §3). No personal data. */
export interface WriteBack {
  crimeReference: string;
  referralId: string;
  partner: 'NHS' | 'CHARITY';
  partnerReference?: string;
  status: ReferralStatus;
  statusAt: string;
  detail?: string;
  seq: number;
}

/** The write-back for one timeline entry of a referral. Pure. */
export function writeBackFor(
  referral: { referralId: string; crimeReference: string; partner: 'NHS' | 'CHARITY'; partnerRef?: string },
  entry: { seq: number; status: ReferralStatus; at: string; detail?: string },
): WriteBack {
  return {
    crimeReference: referral.crimeReference,
    referralId: referral.referralId,
    partner: referral.partner,
    partnerReference: referral.partnerRef,
    status: entry.status,
    statusAt: entry.at,
    detail: entry.detail,
    seq: entry.seq,
  };
}

/**
 * The `ReferralOutcome` document of police-feed.md §3 (the contract's element name, whatever the
 * bridge calls it inside). Written out directly rather than through xml2js's builder: one is sent
 * per status change, and the builder was a visible share of the benchmark's CPU. Every value is escaped.
 */
export function writeBackToXml(outcome: WriteBack): string {
  const elements: [string, string | undefined][] = [
    ['CrimeReference', outcome.crimeReference],
    ['ReferralId', outcome.referralId],
    ['Partner', outcome.partner],
    ['PartnerReference', outcome.partnerReference],
    ['Status', outcome.status],
    ['StatusAt', outcome.statusAt],
    ['Detail', outcome.detail],
  ];
  const body = elements.filter(([, v]) => v !== undefined && v !== '').map(([name, v]) => `  <${name}>${escapeXml(v!)}</${name}>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ReferralOutcome xmlns="${FEED_NAMESPACE}">\n${body.join('\n')}\n</ReferralOutcome>`;
}

function escapeXml(value: string): string {
  // Characters XML 1.0 cannot carry at all are dropped; the five specials are escaped.
  return value
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `{referralId}:{status}:{seq}`: a repeat of the same change is harmless at the RMS. */
export function writeBackIdempotencyKey(outcome: Pick<WriteBack, 'referralId' | 'status' | 'seq'>): string {
  return `${outcome.referralId}:${outcome.status}:${outcome.seq}`;
}
