import { dropUndefined } from '../../domain/objects';
import { parseCrimeRecord, type RecordParseResult } from './record-validator';

/**
 * A record with a value cut by the screen. A value the bridge never reads (an unknown attribute
 * or element) is ignored like any unknown content, whatever its size; one it reads quarantines the
 * record, naming the field and the limit. Which of the two it is shows by validating again with
 * another value in its place (another marker, and none): a read value changes the outcome, an
 * ignored one cannot.
 */
export function parseOversizeRecord(raw: unknown, index: number, marker: string, maxValueChars: number, crimeRefPattern?: RegExp): RecordParseResult {
  const first = parseCrimeRecord(raw, index, crimeRefPattern);
  const read = [`${marker}x`, ''].some((other) => outcome(parseCrimeRecord(swap(raw, marker, other), index, crimeRefPattern)) !== outcome(first));
  // Kept for operators without the cut value, and the same on every read (quarantine ids are content hashes).
  const kept = swap(raw, marker, `[over ${maxValueChars} characters]`);
  if (!read) return first.ok ? first : { ...first, raw: kept };
  const { crimeReference, recordVersion } = first.ok ? first.record : first;
  return dropUndefined({ ok: false as const, index, crimeReference, recordVersion, reason: `${pathTo(raw, marker)} is over the parser's limit of ${maxValueChars} characters`, raw: kept });
}

function outcome(result: RecordParseResult): string {
  return JSON.stringify(result.ok ? result.record : [result.reason, result.crimeReference, result.recordVersion]);
}

/** Does any string in the node hold the marker? (The node's depth was checked first.) */
export function holdsMarker(node: unknown, marker: string): boolean {
  if (typeof node === 'string') return node.includes(marker);
  return !!node && typeof node === 'object' && Object.values(node).some((child) => holdsMarker(child, marker));
}

function swap(node: unknown, from: string, to: string): unknown {
  if (typeof node === 'string') return node.split(from).join(to);
  if (Array.isArray(node)) return node.map((child) => swap(child, from, to));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, swap(v, from, to)]));
  return node;
}

const PERSON_REF = /^[A-Za-z0-9_-]{1,20}$/;

/**
 * Where in the record the marker is, as `Person[P2]/SafeContact/@email` (a person by a
 * well-formed ref, never by a value). Names are the document's own, cut short.
 */
function pathTo(node: unknown, marker: string): string {
  const steps: string[] = [];
  let at: unknown = node;
  for (;;) {
    if (!at || typeof at !== 'object') break;
    const entry = Object.entries(at).find(([, child]) => holdsMarker(child, marker));
    if (!entry) break;
    const [key, child] = entry;
    if (key === '$') {
      const name = Object.entries(child as Record<string, unknown>).find(([, v]) => holdsMarker(v, marker))?.[0] ?? '';
      steps.push(`@${name.slice(0, 40)}`);
      break;
    }
    if (key === '_') break;
    const list = Array.isArray(child) ? child : [child];
    const i = list.findIndex((item) => holdsMarker(item, marker));
    const item = list[i];
    const ref = (item as { $?: { ref?: unknown } } | undefined)?.$?.ref;
    steps.push(list.length > 1 || key === 'Person' ? `${key.slice(0, 40)}[${typeof ref === 'string' && PERSON_REF.test(ref) ? ref : i}]` : key.slice(0, 40));
    at = item;
  }
  return steps.join('/') || 'CrimeRecord';
}
