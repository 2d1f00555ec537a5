import { dropUndefined } from '../../domain/objects';
import { parseCrimeRecord, type RecordParseResult } from './record-validator';

/**
 * A record with a value cut by the screen. A value the bridge never reads (an unknown attribute
 * or element) is ignored like any unknown content, whatever its size; one it reads quarantines the
 * record, naming the field and the limit. Which of the two it is shows by validating again with
 * another value in its place (another marker, and none): a read value changes the outcome, an
 * ignored one cannot.
 */
export function parseOversizeRecord(
  raw: unknown,
  index: number,
  marker: string,
  maxValueChars: number,
  crimeRefPattern?: RegExp,
): RecordParseResult {
  const first = parseCrimeRecord(raw, index, crimeRefPattern);
  // Each cut value on its own: a record may hold an ignored one and a read one.
  const changes = (at: Path, other: string) =>
    outcome(parseCrimeRecord(swapAt(raw, at, marker, other), index, crimeRefPattern)) !== outcome(first);
  const read = markerPaths(raw, marker).find((at) => [`${marker}x`, ''].some((other) => changes(at, other)));
  // Kept for operators without the cut value, and the same on every read (quarantine ids are content hashes).
  const kept = swap(raw, marker, `[over ${maxValueChars} characters]`);
  if (!read) return first.ok ? first : { ...first, raw: kept };
  const { crimeReference, recordVersion } = first.ok ? first.record : first;
  return dropUndefined({
    ok: false as const,
    index,
    crimeReference,
    recordVersion,
    reason: `${describePath(raw, read)} is over the parser's limit of ${maxValueChars} characters`,
    raw: kept,
  });
}

type Path = (string | number)[];

/** Every string in the node that holds the marker, by its path, in document order. */
function markerPaths(node: unknown, marker: string, at: Path = []): Path[] {
  if (typeof node === 'string') return node.includes(marker) ? [at] : [];
  if (Array.isArray(node)) return node.flatMap((child, i) => markerPaths(child, marker, [...at, i]));
  if (node && typeof node === 'object') return Object.entries(node).flatMap(([k, v]) => markerPaths(v, marker, [...at, k]));
  return [];
}

function swapAt(node: unknown, at: Path, from: string, to: string): unknown {
  if (at.length === 0) return typeof node === 'string' ? node.split(from).join(to) : node;
  const [step, ...rest] = at;
  if (Array.isArray(node)) return node.map((child, i) => (i === step ? swapAt(child, rest, from, to) : child));
  if (node && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === step ? swapAt(v, rest, from, to) : v]));
  return node;
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

/**
 * The path as `Person[1]/SafeContact/@email`: elements by position when they repeat (a Person
 * always, never by its ref, which may be a name), attributes with `@`. Names are the document's
 * own, cut short.
 */
function describePath(node: unknown, at: Path): string {
  const steps: string[] = [];
  let here: unknown = node;
  for (let i = 0; i < at.length; i++) {
    const key = at[i]!;
    if (key === '$') {
      steps.push(`@${String(at[i + 1] ?? '').slice(0, 40)}`);
      break;
    }
    if (key === '_' || typeof key === 'number') {
      here = (here as Record<string | number, unknown>)[key];
      continue;
    }
    const child = (here as Record<string, unknown>)[key];
    const list = Array.isArray(child) ? child : undefined;
    const position = list && typeof at[i + 1] === 'number' ? (at[i + 1] as number) : 0;
    steps.push(list && (list.length > 1 || key === 'Person') ? `${key.slice(0, 40)}[${position}]` : key.slice(0, 40));
    here = child;
  }
  return steps.join('/') || 'CrimeRecord';
}
