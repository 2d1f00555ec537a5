import type { ReferralStatus } from '../domain/lifecycle';
import type { TimelineEntry } from '../domain/referral-state';

/**
 * A timeline entry as a referral's list holds it: `[seq, at (epoch ms), status, from, source,
 * detail]`, null for an absent `from`, no trailing `detail` when there is none. Every referral
 * keeps its timeline for as long as the bridge knows it: the JSON object form (field names, an
 * ISO date) took twice the bytes. Entries written in that form still read.
 */
type Packed = [number, number, ReferralStatus, ReferralStatus | null, string, string?];

export function encodeTimelineEntry(entry: TimelineEntry): string {
  const packed: Packed = [entry.seq, Date.parse(entry.at), entry.status, entry.from ?? null, entry.source];
  if (entry.detail !== undefined) packed.push(entry.detail);
  return JSON.stringify(packed);
}

export function decodeTimelineEntry(raw: string): TimelineEntry {
  const parsed = JSON.parse(raw) as Packed | TimelineEntry;
  if (!Array.isArray(parsed)) return parsed;
  const [seq, at, status, from, source, detail] = parsed;
  return {
    seq,
    at: new Date(at).toISOString(),
    status,
    ...(from !== null ? { from } : {}),
    source,
    ...(detail !== undefined ? { detail } : {}),
  };
}
