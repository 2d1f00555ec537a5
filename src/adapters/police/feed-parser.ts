import { screenMarkup } from './markup-screen';
import { holdsMarker, parseOversizeRecord } from './oversize-record';
import { parseCrimeRecord, type RecordParseResult } from './record-validator';
import { buildXmlTree, type XmlDocument, type XmlElement } from './xml-tree';
import { FEED_NAMESPACE } from '../../domain/crime-record';

/**
 * Reads a `CrimeFlagFeed` document (police-feed.md) defensively: size checked before parsing,
 * strict UTF-8, no DOCTYPE (so no external entities and no entity expansion), namespace checked.
 * A document that cannot be read at all throws FeedError; bad records inside a readable
 * document come back as `{ ok: false }` one by one so the good ones can go on.
 */

export class FeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedError';
  }
}

export interface FeedCursor {
  next: string;
  more: boolean;
}

export interface ParsedFeed {
  force?: string;
  generatedAt?: string;
  cursor?: FeedCursor;
  records: RecordParseResult[];
  /**
   * Each valid record's `recordDigest`, by index, where the parse computed it: the parse worker
   * does, so ingest does not repeat that walk of every record on the main thread.
   */
  digests?: (string | undefined)[];
}

export interface FeedParseOptions {
  maxBytes: number;
  crimeRefPattern?: RegExp;
  /** Longest attribute value, text or CDATA section read (characters); a record with a longer one is quarantined. */
  maxValueChars?: number;
}

/** Far above the feed's longest field (free text, 4,000 characters), far below what exhausts the parse worker. */
export const DEFAULT_MAX_VALUE_CHARS = 65_536;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function parseFeed(input: Buffer | string, opts: FeedParseOptions): Promise<ParsedFeed> {
  const maxValueChars = opts.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
  const { text, marker } = decode(input, opts.maxBytes, maxValueChars);
  const { root, tooDeep } = parseXml(text);
  const feed = root['CrimeFlagFeed'];
  if (!feed || typeof feed !== 'object') {
    throw new FeedError(`root element must be CrimeFlagFeed, found ${Object.keys(root)[0] ?? 'nothing'}`);
  }
  const attrs = (feed.$ ?? {}) as Record<string, string>;
  const oversize = (value: unknown) => marker !== undefined && typeof value === 'string' && value.includes(marker);
  for (const name of ['force', 'generatedAt']) {
    if (oversize(attrs[name])) throw new FeedError(`CrimeFlagFeed/@${name} is over the parser's limit of ${maxValueChars} characters`);
  }
  // In the feed's namespace by default, or by a prefix bound to it (checked in parseXml).
  const prefixedRoot = /<[A-Za-z_][\w.-]*:CrimeFlagFeed[\s>/]/.test(text.slice(0, 4096));
  if (attrs.xmlns !== FEED_NAMESPACE && !(prefixedRoot && attrs.xmlns === undefined))
    throw new FeedError(`CrimeFlagFeed must be in namespace ${FEED_NAMESPACE}`);

  const cursorNode = firstObject(feed.Cursor);
  let cursor: FeedCursor | undefined;
  if (cursorNode) {
    const c = (cursorNode.$ ?? {}) as Record<string, string>;
    if (typeof c.next !== 'string' || c.next.length === 0 || c.next.length > 200 || oversize(c.next))
      throw new FeedError('Cursor/@next is missing or invalid');
    if (c.more !== undefined && c.more !== 'true' && c.more !== 'false') throw new FeedError('Cursor/@more must be true or false');
    cursor = { next: c.next, more: c.more === 'true' };
  }

  const rawRecords: unknown[] = Array.isArray(feed.CrimeRecord) ? feed.CrimeRecord : [];
  const records = rawRecords.map((raw, index) =>
    // A real record nests a handful of levels; a deep one is hostile, and copying it for the
    // quarantine would overflow the stack: quarantine it with its reference and no raw copy.
    tooDeep.has(raw)
      ? { ok: false as const, index, reason: `record is nested deeper than ${MAX_RECORD_DEPTH} levels`, raw: null, ...referenceOf(raw) }
      : marker !== undefined && holdsMarker(raw, marker)
        ? parseOversizeRecord(raw, index, marker, maxValueChars, opts.crimeRefPattern)
        : parseCrimeRecord(raw, index, opts.crimeRefPattern),
  );
  return { force: attrs.force || undefined, generatedAt: attrs.generatedAt || undefined, cursor, records };
}

function decode(input: Buffer | string, maxBytes: number, maxValueChars: number): { text: string; marker?: string } {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > maxBytes) throw new FeedError(`document is ${size} bytes, over the limit of ${maxBytes}`);
  if (size === 0) throw new FeedError('document is empty');
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8.decode(input);
    } catch {
      throw new FeedError('document is not valid UTF-8');
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const declared = /^<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/i.exec(text);
  if (declared && declared[1]!.toUpperCase() !== 'UTF-8') {
    throw new FeedError(`document declares encoding ${declared[1]!.slice(0, 20)}; only UTF-8 is accepted`);
  }
  // No DOCTYPE at all: that rules out external entities (XXE) and entity expansion bombs. Only
  // a real declaration counts: the same characters in a comment or CDATA section are text.
  const screened = screenMarkup(text, maxValueChars);
  if (!screened.ok) throw new FeedError(screened.reason);
  return screened;
}

const MAX_RECORD_DEPTH = 64;

function referenceOf(raw: unknown): { crimeReference?: string } {
  const ref = (raw as { CrimeReference?: unknown[] } | undefined)?.CrimeReference?.[0];
  return typeof ref === 'string' && ref.length <= 50 ? { crimeReference: ref } : {};
}

/**
 * Namespace prefixes: one bound to the feed's namespace means the feed's element
 * (`<f:CrimeRecord>` is a CrimeRecord); one bound elsewhere is a foreign extension, kept under
 * its prefixed name and so ignored like any unknown element; one never declared makes the
 * document not namespace-well-formed, and the page is refused rather than read half-understood.
 */
function feedPrefixes(text: string): Set<string> {
  const declared = new Map<string, string>();
  for (const m of text.matchAll(/\sxmlns:([A-Za-z_][\w.-]*)\s*=\s*(["'])(.*?)\2/g)) declared.set(m[1]!, m[3]!);
  for (const m of text.matchAll(/<\/?([A-Za-z_][\w.-]*):[A-Za-z_]/g)) {
    const prefix = m[1]!;
    if (prefix !== 'xml' && !declared.has(prefix)) throw new FeedError(`element prefix ${prefix.slice(0, 20)} is not declared`);
  }
  return new Set([...declared].filter(([, ns]) => ns === FEED_NAMESPACE).map(([prefix]) => prefix));
}

/** A parser's error as the page's FeedError: sax messages carry line/column but never document content beyond a character. */
export function malformedXml(err: unknown): FeedError {
  const message = String((err as Error).message ?? err)
    .split('\n')
    .slice(0, 3)
    .join(' ')
    .slice(0, 200);
  return new FeedError(`XML is malformed: ${message}`);
}

function parseXml(text: string): XmlDocument & { root: XmlElement } {
  const ours = feedPrefixes(text);
  let doc: XmlDocument;
  try {
    doc = buildXmlTree(text, ours, MAX_RECORD_DEPTH);
  } catch (err) {
    throw malformedXml(err);
  }
  if (!doc.root) throw new FeedError('document has no root element');
  return { root: doc.root, tooDeep: doc.tooDeep };
}

function firstObject(value: unknown): XmlElement | undefined {
  if (Array.isArray(value) && value[0] && typeof value[0] === 'object') return value[0] as XmlElement;
  return undefined;
}
