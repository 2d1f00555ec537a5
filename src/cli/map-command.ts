import { readFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import { parseFeed } from '../adapters/police/feed-parser';
import type { BridgeConfig } from '../config';
import { charityView, nhsView } from '../mappings/allow-lists';
import { mapCrimeRecord } from '../mappings/police-to-referral';
import { referralToCharityPayload, type CharityReferralPayload } from '../mappings/referral-to-charity';
import { referralToBarsMessage } from '../mappings/referral-to-bars';
import { referralToTransactionBundle } from '../mappings/referral-to-fhir';
import { fhirMappingOptions, barsMappingOptions } from '../pipeline/delivery/nhs-delivery';

/**
 * `iasu-bridge map <feed.xml>`: the whole mapping as a dry run: no queue, no partner, no Redis.
 * The JSON shape is stable for scripts; the bundle and payload are exactly what would be sent.
 */
export interface MapReport {
  referrals: {
    referralId: string;
    type: 'CLINICAL' | 'ADVOCACY';
    crimeReference: string;
    recordVersion: number;
    subjectRef: string;
    status: 'QUEUED' | 'HELD' | 'CANCELLED';
    heldReason: string | null;
    nhsBundle: Bundle | null;
    charityPayload: CharityReferralPayload | null;
  }[];
  quarantined: { crimeReference: string | null; reason: string }[];
  outOfScope: { crimeReference: string }[];
}

export async function mapFeed(document: Buffer, config: BridgeConfig, nhsMode: 'fhir-rest' | 'bars'): Promise<MapReport> {
  const feed = await parseFeed(document, {
    maxBytes: config.police.maxDocumentBytes,
    maxValueChars: config.police.maxValueChars,
    crimeRefPattern: config.police.crimeRefPattern,
  });
  const force = feed.force ?? config.force.name;
  const report: MapReport = { referrals: [], quarantined: [], outOfScope: [] };
  for (const result of feed.records) {
    if (!result.ok) {
      report.quarantined.push({ crimeReference: result.crimeReference ?? null, reason: result.reason });
      continue;
    }
    const mapping = mapCrimeRecord(result.record, force);
    if (!mapping.inScope) {
      report.outOfScope.push({ crimeReference: mapping.crimeReference });
      continue;
    }
    for (const { referral, decision, reason } of mapping.referrals) {
      const queued = decision === 'QUEUED';
      report.referrals.push({
        referralId: referral.referralId,
        type: referral.type,
        crimeReference: referral.crimeReference,
        recordVersion: referral.recordVersion,
        subjectRef: referral.subject.ref,
        status: decision,
        heldReason: decision === 'HELD' ? (reason ?? null) : null,
        nhsBundle: queued && referral.type === 'CLINICAL' ? nhsBundleFor(referral, config, nhsMode) : null,
        charityPayload:
          queued && referral.type === 'ADVOCACY'
            ? referralToCharityPayload(charityView(referral), { referrerOrganisation: config.charity.referrerOrganisation })
            : null,
      });
    }
  }
  return report;
}

function nhsBundleFor(referral: Parameters<typeof nhsView>[0], config: BridgeConfig, mode: 'fhir-rest' | 'bars'): Bundle {
  if (mode === 'fhir-rest') return referralToTransactionBundle(nhsView(referral), fhirMappingOptions(config));
  return referralToBarsMessage(nhsView(referral), { ...barsMappingOptions(config), assembledAt: new Date().toISOString() });
}

export function formatMapReport(report: MapReport): string {
  const lines: string[] = [];
  lines.push(`${report.referrals.length} referral(s), ${report.quarantined.length} quarantined, ${report.outOfScope.length} out of scope`);
  for (const r of report.referrals) {
    const target = r.type === 'CLINICAL' ? 'NHS trust' : 'charity';
    const why = r.status === 'HELD' ? ` (${r.heldReason})` : '';
    const size = r.nhsBundle
      ? ` - Bundle of ${r.nhsBundle.entry?.length ?? 0} resources`
      : r.charityPayload
        ? ' - charity payload ready'
        : '';
    lines.push(
      `  ${r.status.padEnd(9)} ${r.type.padEnd(8)} ${r.crimeReference} v${r.recordVersion} subject ${r.subjectRef} -> ${target}${why}${size}  [${r.referralId}]`,
    );
  }
  for (const q of report.quarantined) lines.push(`  QUARANTINED ${q.crimeReference ?? '(no readable crime reference)'}: ${q.reason}`);
  for (const o of report.outOfScope) lines.push(`  OUT OF SCOPE ${o.crimeReference} (no STALKING flag, class not 8Q)`);
  return lines.join('\n');
}

export function readDocument(path: string): Buffer {
  return readFileSync(path);
}
