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

/** JSON with object keys sorted at every level; array order is content. Built in one pass: it runs on every record ingested. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    let out = '{';
    for (const key of Object.keys(object).sort()) {
      const v = object[key];
      if (v === undefined) continue;
      out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
