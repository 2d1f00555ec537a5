import type { FeedParseOptions, ParsedFeed } from '../../src/adapters/police/feed-parser';
import { parseFeedXml2js } from './xml2js-feed-parser';

/**
 * parseFeed against its xml2js original (test/helpers/xml2js-feed-parser.ts) on one input: the
 * same ParsedFeed (key order, prototypes and identities included) or the same error.
 */

type Outcome = { ok: true; feed: ParsedFeed } | { ok: false; error: unknown };

/** The screen's per-document random marker, the one part two parses of a document may differ in. */
const MARKER = /over-limit:[0-9a-f]{16}/g;

async function outcome(parse: () => Promise<ParsedFeed>): Promise<Outcome> {
  try {
    return { ok: true, feed: await parse() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Where `a` and `b` first differ, or undefined when they are the same tree. */
export function treeDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (typeof a === 'string' && typeof b === 'string')
    return a.replace(MARKER, 'M') === b.replace(MARKER, 'M') ? undefined : `${at}: "${a.slice(0, 80)}" vs "${b.slice(0, 80)}"`;
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return `${at}: ${String(a)} vs ${String(b)}`;
  if (a instanceof Error || b instanceof Error) {
    if (!(a instanceof Error && b instanceof Error)) return `${at}: error vs not`;
    if (a.constructor !== b.constructor) return `${at}: ${a.name} vs ${b.name}`;
    return treeDifference(a.message, b.message, `${at}.message`);
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${at}: prototypes differ`;
  if (a instanceof RegExp) return String(a) === String(b) ? undefined : `${at}: regexps differ`;
  const keysA = Reflect.ownKeys(a);
  const keysB = Reflect.ownKeys(b);
  if (keysA.length !== keysB.length || keysA.some((k, i) => k !== keysB[i]))
    return `${at}: keys [${keysA.map(String)}] vs [${keysB.map(String)}]`;
  for (const key of keysA) {
    const da = Object.getOwnPropertyDescriptor(a, key)!;
    const db = Object.getOwnPropertyDescriptor(b, key)!;
    if (da.enumerable !== db.enumerable || da.writable !== db.writable) return `${at}.${String(key)}: descriptors differ`;
    const difference = treeDifference(da.value, db.value, `${at}.${String(key)}`);
    if (difference) return difference;
  }
  return undefined;
}

/** Parses with both; throws when they differ; returns the outcome (both agree on it). */
export async function compareWithXml2js(
  parse: (input: Buffer | string, opts: FeedParseOptions) => Promise<ParsedFeed>,
  input: Buffer | string,
  opts: FeedParseOptions,
): Promise<Outcome> {
  const ours = await outcome(() => parse(input, opts));
  const theirs = await outcome(() => parseFeedXml2js(input, opts));
  const difference = treeDifference(ours, theirs);
  if (difference) throw new Error(`parseFeed differs from the xml2js original at ${difference}`);
  return ours;
}
