import { createHash } from 'node:crypto';
import type { CrimeRecord } from './crime-record';

/**
 * What one version of a police record said, as a digest: the same content gives the same digest
 * however the XML was laid out (attribute order, whitespace, key order), different content a
 * different one. It lets a re-sent version be told from a changed one without keeping the record.
 * SHA-256 rather than an HMAC under the data keys: those rotate, and a digest must compare equal
 * for as long as the version is known; a whole record (names, dates, times, references) is not
 * guessable from it.
 */
export function recordDigest(record: CrimeRecord): string {
  return createHash('sha256').update('iasu-crime-record-v1\n').update(canonicalJson(record)).digest('hex').slice(0, 32);
}

/** JSON with object keys sorted at every level; array order is content. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
