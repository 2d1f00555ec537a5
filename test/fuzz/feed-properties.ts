import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { FeedError, parseFeed, type ParsedFeed } from '../../src/adapters/police/feed-parser';
import type { RecordParseResult } from '../../src/adapters/police/record-validator';
import { createContext } from '../../src/app';
import type { CrimeRecord } from '../../src/domain/crime-record';
import { ingestDocument, type IngestSummary } from '../../src/pipeline/ingest/feed-ingest';
import { intakeJobId, isIntakePage, type IntakeJob } from '../../src/queues/topology';
import { feedDocument } from '../../simulators/feed-generator';
import { capturedLogger, testConfig } from '../helpers/bridge';
import {
  buildDocCase,
  DEFAULT_MAX_BYTES,
  docCaseArb,
  docMutationArb,
  MIN_PLANTED,
  pageArb,
  OVER_LIMIT_RULE,
  PLAIN,
  plainCase,
  type AppliedMutation,
  type DocCase,
  type DocEnv,
  type DocOptions,
  type Page,
  type PageRecord,
} from './feed-arbitraries';

/**
 * The fuzz properties of the police feed, shared by test/fuzz/feed-fuzz.test.ts (a fixed seed and
 * few runs, in `npm test`) and test/fuzz/run-fuzz.ts (`npm run fuzz`: a random seed, many runs).
 *
 * A: record-level mutations → parseFeed quarantines exactly the bad records, each with a reason
 *    naming field and rule (never the value), and returns every good record as parsed alone.
 * B: document-level mutations → parseFeed resolves (and then obeys A) or rejects with FeedError;
 *    never another error, never a hang, never an entity expanded or an external entity fetched.
 * C: ingestDocument on real Redis → FeedError for an unreadable document, or every record of
 *    the page either queued for intake or quarantined (in the summary and in the store), with no
 *    planted value in any log line.
 *
 * Known bugs (KNOWN_BUGS) found by these properties are counted instead of failing the run when
 * `tolerateKnownBugs` is set; each has a failing counterexample in feed-fuzz.test.ts.
 */

export interface FuzzOptions {
  numRuns: number;
  seed: number;
  /** fast-check replay path (printed with a failure). */
  path?: string;
  /** Count violations that match a known bug instead of failing (see KNOWN_BUGS). */
  tolerateKnownBugs?: boolean;
  /**
   * Per-call limit for a small document, plus 1 ms per KiB of input (see hangLimitMs): a call
   * that takes longer, or never settles, is a hang.
   */
  timeoutMs?: number;
  /** Sizes of generated inputs (record-level and document-level). */
  sizes?: DocOptions;
  verbose?: boolean;
}

export interface FuzzReport {
  name: string;
  seed: number;
  runs: number;
  ms: number;
  counts: Record<string, number>;
  knownBugHits: Record<string, number>;
}

/**
 * Bugs the properties found stay listed here while open, so `tolerateKnownBugs` can count them
 * instead of failing; both found so far (prefixed records dropped, a deep record crashing ingest)
 * are fixed, and their counterexamples are plain tests in feed-fuzz.test.ts.
 */
export const KNOWN_BUGS: Readonly<Record<string, string>> = {};
export type KnownBug = string;

export class Violation extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`[${code}] ${message}`);
    this.name = 'Violation';
  }
}

class Stats {
  readonly counts: Record<string, number> = {};
  readonly knownBugHits: Record<string, number> = {};
  runs = 0;
  constructor(readonly name: string) {}
  count(key: string, by = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + by;
  }
  report(seed: number, ms: number): FuzzReport {
    return { name: this.name, seed, runs: this.runs, ms: Math.round(ms), counts: this.counts, knownBugHits: this.knownBugHits };
  }
}

// ---- helpers -------------------------------------------------------------------------------

const DEFAULT_TIMEOUT_MS = 2000;

/**
 * A hang is work that does not grow linearly with the input (entity expansion, backtracking) or
 * never ends. A fixed limit made a 5 MiB attribute (2,055 ms to parse in one CI run) a "hang" on a busy
 * 2-core machine; 1 ms per KiB (parsing at 1 MiB/s or better) keeps the limit for small hostile
 * documents and gives a big one the time its size needs.
 */
export function hangLimitMs(baseMs: number, bytes: number): number {
  return baseMs + Math.ceil(bytes / 1024);
}

type Settled<T> = { ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number };

/**
 * Runs `fn` with a deadline. An async hang (a promise that never settles) loses the race; a
 * synchronous one cannot be pre-empted in-process, so the elapsed time is checked afterwards too.
 */
export async function settle<T>(what: string, fn: () => Promise<T>, timeoutMs: number): Promise<Settled<T>> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([
    fn().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    deadline,
  ]);
  clearTimeout(timer);
  const ms = performance.now() - start;
  if (outcome === 'timeout') throw new Violation('hang', `${what} did not settle within ${timeoutMs} ms`);
  if (ms > timeoutMs) throw new Violation('hang', `${what} took ${Math.round(ms)} ms (limit ${timeoutMs} ms)`);
  return { ...outcome, ms };
}

function short(value: unknown, max = 600): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value);
  } catch (err) {
    text = `<unprintable: ${(err as Error).message}>`;
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

/** Deep equality of JSON-like values, whatever realm built them (jest runs tests in a vm context). */
function sameValue(a: unknown, b: unknown): boolean {
  const plain = (v: unknown) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  return isDeepStrictEqual(plain(a), plain(b));
}

/** JSON of a value, or of as much as can be printed (a 10,000-level raw tree overflows JSON.stringify). */
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** Results without the raw xml2js nodes (which are the document itself). */
function withoutRaw(feed: ParsedFeed): unknown {
  return { ...feed, records: feed.records.map((r) => (r.ok ? r : { ...r, raw: undefined })) };
}

const cleanCache = new Map<string, Promise<CrimeRecord>>();

/** A record's XML parsed on its own, in a one-record document. */
async function parseAlone(xml: string): Promise<RecordParseResult> {
  const feed = await parseFeed(feedDocument([xml]), { maxBytes: DEFAULT_MAX_BYTES });
  if (feed.records.length !== 1) throw new Violation('alone-count', `a one-record document parsed to ${feed.records.length} records`);
  return feed.records[0]!;
}

/** What a good record must parse to: the clean generated record, changed only as its benign mutations say. */
async function expectedRecord(pr: PageRecord): Promise<CrimeRecord> {
  if (cleanCache.size > 2000) cleanCache.clear();
  let clean = cleanCache.get(pr.cleanXml);
  if (!clean) {
    clean = parseAlone(pr.cleanXml).then((r) => {
      if (!r.ok)
        throw new Violation(
          'base-record-bad',
          `the generator's valid ${pr.baseKind} record (seed ${pr.baseSeed}) was quarantined: ${r.reason}`,
        );
      return r.record;
    });
    cleanCache.set(pr.cleanXml, clean);
  }
  const record = JSON.parse(JSON.stringify(await clean)) as CrimeRecord;
  for (const a of pr.applied) a.transform?.(record);
  return record;
}

interface GroundTruth {
  /** Mutations that make each record bad (record-level, plus any the document mutation added). */
  badBy: (index: number) => AppliedMutation[];
  mayQuarantine: Set<number>;
  /** Elements of nesting added inside each record (deep-nesting mutations). */
  depthOf: (index: number) => number;
  planted: string[];
  canaries: string[];
}

/**
 * The parser quarantines a record nested deeper than it can copy safely (feed-parser.ts
 * MAX_RECORD_DEPTH: 64 object levels, about 32 elements). Below DEEP_MAY added elements a record
 * is judged as usual; from DEEP_MUST it must be quarantined for its depth; between, either.
 */
const DEEP_MAY = 20;
const DEEP_MUST = 40;
const DEEP_REASON = /nested deeper than/;

function truthOf(page: Page, c?: DocCase): GroundTruth {
  return {
    badBy: (i) => [...page.records[i]!.applied.filter((a) => a.bad), ...(c?.nowBad.has(i) ? [c.nowBad.get(i)!] : [])],
    mayQuarantine: c?.mayQuarantine ?? new Set(),
    depthOf: (i) => c?.depthByRecord.get(i) ?? page.records[i]?.depth ?? 0,
    planted: [...page.planted, ...[...(c?.nowBad.values() ?? [])].flatMap((a) => a.planted)].filter((p) => p.length >= MIN_PLANTED),
    canaries: c?.canaries ?? [],
  };
}

function leaks(text: string, truth: GroundTruth): string | undefined {
  return [...truth.planted, ...truth.canaries].find((p) => text.includes(p));
}

/** Checks a reason against the mutations that made the record bad; returns a problem or undefined. */
function reasonProblem(reason: unknown, bad: AppliedMutation[], truth: GroundTruth): string | undefined {
  if (typeof reason !== 'string' || reason.trim() === '') return `empty reason ${short(reason)}`;
  const leaked = leaks(reason, truth);
  if (leaked) return `reason "${short(reason, 200)}" contains the planted value "${short(leaked, 60)}"`;
  if (reason.length > 300) return `reason is ${reason.length} characters long`;
  const names = (a: AppliedMutation) =>
    (a.rule!.test(reason) && reason.includes(a.field!)) ||
    (a.mayBeOverLimit === true && OVER_LIMIT_RULE.test(reason) && reason.includes(a.field!.replace(/\/([^/@]*)$/, '/@$1')));
  if (bad.length && !bad.some(names)) {
    return `reason "${reason}" names none of the planted faults: ${bad.map((a) => `${a.kind}@${a.site} (${a.field}, ${a.rule})`).join('; ')}`;
  }
  return undefined;
}

/**
 * A's rules for the records of a page: same count and order, each bad record quarantined with a
 * proper reason and its crime reference, each good record equal to its expected value and to
 * what parsing it alone gives.
 */
async function checkRecords(results: RecordParseResult[], page: Page, truth: GroundTruth): Promise<void> {
  if (results.length !== page.records.length) {
    throw new Violation('count', `${page.records.length} records in the page, ${results.length} returned`);
  }
  for (const pr of page.records) {
    const i = pr.index;
    const r = results[i]!;
    const depth = truth.depthOf(i);
    if (depth >= DEEP_MUST && r.ok) throw new Violation('deep-accepted', `record ${i} is nested ${depth} elements deep but was accepted`);
    if (depth >= DEEP_MAY && !r.ok && DEEP_REASON.test(r.reason)) {
      const problem = reasonProblem(r.reason, [], truth);
      if (problem) throw new Violation('reason', `record ${i}: ${problem}`);
      continue;
    }
    const bad = truth.badBy(i);
    if (bad.length) {
      if (r.ok)
        throw new Violation(
          'bad-accepted',
          `record ${i} should be quarantined (${bad.map((a) => `${a.kind}@${a.site}`).join(', ')}) but was accepted`,
        );
      const problem = reasonProblem(r.reason, bad, truth);
      if (problem) throw new Violation('reason', `record ${i}: ${problem}`);
      if (r.index !== i) throw new Violation('order', `record ${i} came back with index ${r.index}`);
      const touches = new Set(bad.map((a) => a.touches).concat(pr.applied.map((a) => a.touches)));
      if (!touches.has('crimeReference') && r.crimeReference !== pr.crimeReference) {
        throw new Violation(
          'crime-reference',
          `quarantined record ${i} has crimeReference ${short(r.crimeReference)}, expected ${pr.crimeReference}`,
        );
      }
      if (!touches.has('recordVersion') && r.recordVersion !== pr.recordVersion) {
        throw new Violation(
          'record-version',
          `quarantined record ${i} has recordVersion ${short(r.recordVersion)}, expected ${pr.recordVersion}`,
        );
      }
      continue;
    }
    if (!r.ok) {
      if (truth.mayQuarantine.has(i)) {
        const problem = reasonProblem(r.reason, [], truth);
        if (problem) throw new Violation('reason', `record ${i}: ${problem}`);
        continue;
      }
      throw new Violation('good-rejected', `good record ${i} (${pr.crimeReference}) was quarantined: ${r.reason}`);
    }
    const expected = await expectedRecord(pr);
    if (!sameValue(r.record, expected)) {
      throw new Violation('good-differs', `good record ${i} parsed to ${short(r.record, 1500)}\n  expected ${short(expected, 1500)}`);
    }
  }
}

/** Property A's extra: every record parses the same alone as in the page. */
async function checkAlone(results: RecordParseResult[], page: Page): Promise<void> {
  for (const pr of page.records) {
    const r = results[pr.index]!;
    const alone = await parseAlone(pr.xml);
    if (r.ok !== alone.ok) throw new Violation('alone', `record ${pr.index} is ok=${r.ok} in the page but ok=${alone.ok} alone`);
    if (r.ok && alone.ok && !sameValue(r.record, alone.record))
      throw new Violation('alone', `record ${pr.index} differs from the same record parsed alone`);
    if (!r.ok && !alone.ok && !r.reason.startsWith('record ') && r.reason !== alone.reason) {
      throw new Violation('alone', `record ${pr.index}'s reason "${r.reason}" differs alone: "${alone.reason}"`);
    }
  }
}

/** Sanity for results of a document whose records cannot be predicted (byte flips). */
function checkSane(results: RecordParseResult[], page: Page, truth: GroundTruth): void {
  if (results.length > page.records.length)
    throw new Violation('count', `${page.records.length} records in the page, ${results.length} returned`);
  results.forEach((r, i) => {
    if (r.ok) {
      if (
        !/^[A-Za-z0-9/-]{1,40}$/.test(r.record.crimeReference) ||
        !Number.isSafeInteger(r.record.recordVersion) ||
        r.record.recordVersion < 1
      ) {
        throw new Violation(
          'insane-record',
          `record ${i} was accepted with ${short({ crimeReference: r.record.crimeReference, recordVersion: r.record.recordVersion })}`,
        );
      }
    } else {
      const problem = reasonProblem(r.reason, [], truth);
      if (problem) throw new Violation('reason', `record ${i}: ${problem}`);
      if (r.index !== i) throw new Violation('order', `record ${i} came back with index ${r.index}`);
    }
  });
}

function checkFeedError(error: unknown, c: DocCase | undefined, truth: GroundTruth): void {
  if (!(error instanceof FeedError) || error.name !== 'FeedError') {
    const e = error as Error;
    throw new Violation(
      'wrong-error',
      `rejected with ${e?.constructor?.name ?? typeof error} (${e?.name}): ${short(e?.message ?? error, 300)}`,
    );
  }
  if (!error.message) throw new Violation('wrong-error', 'FeedError without a message');
  if (error.message.length > 300) throw new Violation('wrong-error', `FeedError message is ${error.message.length} characters long`);
  const leaked = leaks(error.message, truth);
  if (leaked) throw new Violation('leak', `FeedError message "${error.message}" contains "${short(leaked, 60)}"`);
  if (c?.rejectMessage && !c.rejectMessage.test(error.message)) {
    throw new Violation('reject-message', `expected a FeedError matching ${c.rejectMessage}, got "${error.message}"`);
  }
}

/** Which known bug (if any) a violation is, for this input: none is open. */
function classify(_v: Violation, _c: DocCase | undefined, _page: Page, _thrown?: unknown): KnownBug | undefined {
  return undefined;
}

function tolerate(stats: Stats, opts: FuzzOptions, err: unknown, c: DocCase | undefined, page: Page, thrown?: unknown): void {
  if (err instanceof Violation && opts.tolerateKnownBugs) {
    const bug = classify(err, c, page, thrown);
    if (bug) {
      stats.knownBugHits[bug] = (stats.knownBugHits[bug] ?? 0) + 1;
      return;
    }
  }
  throw err;
}

function assertOptions(opts: FuzzOptions) {
  return {
    numRuns: opts.numRuns,
    seed: opts.seed,
    ...(opts.path ? { path: opts.path } : {}),
    verbose: !!opts.verbose,
    includeErrorInReport: true,
  };
}

// ---- A: record-level mutations ------------------------------------------------------------

export async function recordMutationProperty(opts: FuzzOptions): Promise<FuzzReport> {
  const stats = new Stats('A record-level mutations → parseFeed');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const start = performance.now();
  await fc.assert(
    fc.asyncProperty(pageArb({ maxRecords: 6, ...opts.sizes }), async (page) => {
      stats.runs++;
      for (const r of page.records) {
        stats.count(r.bad ? 'records:bad' : 'records:good');
        for (const a of r.applied) stats.count(a.kind);
      }
      try {
        const input = Buffer.from(page.xml, 'utf8');
        const out = await settle(
          'parseFeed',
          () => parseFeed(input, { maxBytes: DEFAULT_MAX_BYTES }),
          hangLimitMs(timeoutMs, input.length),
        );
        if (!out.ok)
          throw new Violation(
            'threw',
            `parseFeed rejected a well-formed document: ${short((out.error as Error)?.message ?? out.error, 300)}`,
          );
        const feed = out.value;
        if (feed.force !== 'CHESHIRE' || !sameValue(feed.cursor, page.cursor))
          throw new Violation('header', `force/cursor ${short({ force: feed.force, cursor: feed.cursor })}`);
        const truth = truthOf(page);
        await checkRecords(feed.records, page, truth);
        await checkAlone(feed.records, page);
      } catch (err) {
        tolerate(stats, opts, err, undefined, page);
      }
    }),
    assertOptions(opts),
  );
  return stats.report(opts.seed, performance.now() - start);
}

// ---- B: document-level mutations ----------------------------------------------------------

interface Canaries {
  env: DocEnv;
  hits: () => string[];
  close: () => Promise<void>;
}

/** A local HTTP server that records every request and a local file with a canary: XXE bait. */
export async function startCanaries(): Promise<Canaries> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('<!ENTITY leaked "HTTP-CANARY">');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'feed-fuzz-'));
  const fileCanary = `FILE-CANARY-${process.pid}-${Date.now()}`;
  const filePath = join(dir, 'secret.txt');
  writeFileSync(filePath, fileCanary);
  return {
    env: { httpUrl: `http://127.0.0.1:${port}`, filePath, fileCanary },
    hits: () => [...hits],
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function documentMutationProperty(opts: FuzzOptions): Promise<FuzzReport> {
  const stats = new Stats('B document-level mutations → parseFeed');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const canaries = await startCanaries();
  const start = performance.now();
  try {
    await fc.assert(
      fc.asyncProperty(docCaseArb(canaries.env, opts.sizes), async (c) => {
        stats.runs++;
        stats.count(c.spec.kind);
        const truth = truthOf(c.page, c);
        try {
          await checkDocument(c, truth);
        } catch (err) {
          tolerate(stats, opts, err, c, c.page);
        }
        const hits = canaries.hits();
        if (hits.length) throw new Violation('external-fetch', `${c.label}: the parser fetched ${hits.join(', ')}`);
      }),
      assertOptions(opts),
    );
  } finally {
    await canaries.close();
  }
  return stats.report(opts.seed, performance.now() - start);

  async function checkDocument(c: DocCase, truth: GroundTruth): Promise<void> {
    const out = await settle(
      'parseFeed',
      () => parseFeed(c.input, { maxBytes: c.maxBytes }),
      hangLimitMs(timeoutMs, Buffer.byteLength(c.input)),
    );
    if (!out.ok) {
      stats.count('outcome:FeedError');
      checkFeedError(out.error, c, truth);
      if (c.expect === 'preserve') throw new Violation('should-resolve', `${c.label}: rejected with "${(out.error as Error).message}"`);
      return;
    }
    stats.count('outcome:resolved');
    const feed = out.value;
    if (c.expect === 'reject') throw new Violation('should-reject', `${c.label}: resolved with ${feed.records.length} records`);
    // No entity was expanded, no file or URL was read: the canaries appear nowhere.
    const everything = safeJson(withoutRaw(feed)) + safeJson(feed.records.map((r) => (r.ok ? null : r.raw)));
    const leaked = c.canaries.find((k) => everything.includes(k)) ?? (everything.includes('HTTP-CANARY') ? 'HTTP-CANARY' : undefined);
    if (leaked) throw new Violation('entity-expanded', `${c.label}: "${leaked}" appears in the parsed output`);
    if (c.expect === 'either') {
      checkSane(feed.records, c.page, truth);
      return;
    }
    if (c.expect === 'preserve' && (feed.force !== 'CHESHIRE' || !sameValue(feed.cursor, c.page.cursor))) {
      throw new Violation('header', `${c.label}: force/cursor ${short({ force: feed.force, cursor: feed.cursor })}`);
    }
    await checkRecords(feed.records, c.page, truth);
  }
}

// ---- C: ingestDocument on real Redis ------------------------------------------------------

/** C's inputs: mostly readable pages, some with a document-level mutation that ingest must survive. */
export function ingestCaseArb(opts: DocOptions = {}): fc.Arbitrary<DocCase> {
  const env: DocEnv = { httpUrl: 'http://127.0.0.1:9', filePath: '/nonexistent', fileCanary: 'FILE-CANARY-unused' };
  const docKinds = new Set(['truncate', 'doctype-internal', 'wrong-encoding', 'deep-nesting', 'bom', 'huge-attribute']);
  const sizes: DocOptions = { ...opts, hugeBytes: { min: 300_000, max: 600_000 } };
  return fc
    .tuple(
      pageArb({ maxRecords: 6, ...opts }),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: docMutationArb(sizes).filter((s) => docKinds.has(s.kind) && (s.kind !== 'deep-nesting' || s.variant > 0)) },
      ),
    )
    .map(([page, spec]) => (spec ? buildDocCase(page, spec, env, sizes) : plainCase(page)));
}

export async function ingestProperty(opts: FuzzOptions): Promise<FuzzReport> {
  const stats = new Stats('C ingestDocument on Redis');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const start = performance.now();
  await fc.assert(
    fc.asyncProperty(ingestCaseArb(opts.sizes), async (c) => {
      stats.runs++;
      stats.count(c.label === PLAIN ? 'plain page' : c.spec.kind);
      const truth = truthOf(c.page, c);
      const logs = capturedLogger();
      const ctx = createContext(testConfig(), logs.logger);
      let thrown: unknown;
      try {
        const input = typeof c.input === 'string' ? Buffer.from(c.input, 'utf8') : c.input;
        const out = await settle('ingestDocument', () => ingestDocument(ctx, input, 'push'), hangLimitMs(timeoutMs, input.length));
        const queued = async () =>
          Object.values(await ctx.queues.intake.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'waiting-children')).reduce(
            (a, b) => a + b,
            0,
          );
        if (!out.ok) {
          thrown = out.error;
          if (!(out.error instanceof FeedError)) {
            const e = out.error as Error;
            const depths = [...(c.depthByRecord ?? new Map())].filter(([, d]) => d > 0).map(([i, d]) => `record ${i}: ${d} levels`);
            throw new Violation(
              'ingest-threw',
              `${c.label}: ingestDocument threw ${e?.constructor?.name}: ${short(e?.message, 200)} (nesting ${depths.join(', ') || 'none'}; ` +
                `afterwards ${await ctx.quarantine.count()} quarantined, ${await queued()} queued)`,
            );
          }
          stats.count('outcome:FeedError');
          checkFeedError(out.error, c, truth);
          if (c.expect === 'preserve') throw new Violation('should-resolve', `${c.label}: ingest refused the page: ${out.error.message}`);
          if ((await ctx.quarantine.count()) !== 0 || (await queued()) !== 0)
            throw new Violation('partial', `${c.label}: a refused document left records behind`);
        } else {
          stats.count('outcome:summary');
          if (c.expect === 'reject') throw new Violation('should-reject', `${c.label}: ingest accepted the document`);
          await checkIngest(ctx, out.value, c, truth, stats);
        }
        const leaked = leaks(logs.text(), truth);
        if (leaked) throw new Violation('log-leak', `a log line contains the planted value "${short(leaked, 60)}"`);
      } catch (err) {
        tolerate(stats, opts, err, c, c.page, thrown);
      } finally {
        await dropOwnKeys(ctx);
        // Wait for the socket itself to close, so no connection outlives the property.
        const ended = new Promise<void>((resolve) => ctx.redis.once('end', () => resolve()));
        await ctx.close();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
      }
    }),
    assertOptions(opts),
  );
  return stats.report(opts.seed, performance.now() - start);
}

/** Like dropKeys (test/helpers/bridge.ts), on the context's own connection: no extra socket left closing. */
async function dropOwnKeys(ctx: ReturnType<typeof createContext>): Promise<void> {
  const stream = ctx.redis.scanStream({ match: `${ctx.config.redis.prefix}:*`, count: 500 });
  for await (const keys of stream as AsyncIterable<string[]>) if (keys.length) await ctx.redis.del(...keys);
}

async function checkIngest(
  ctx: ReturnType<typeof createContext>,
  summary: IngestSummary,
  c: DocCase,
  truth: GroundTruth,
  stats: Stats,
): Promise<void> {
  const records = c.page.records;
  // Too deep to copy safely: must (or, in between, may) be quarantined for its depth.
  const quarantinedForDepth = (r: (typeof records)[number]) =>
    truth.depthOf(r.index) >= DEEP_MUST ||
    (truth.depthOf(r.index) >= DEEP_MAY &&
      summary.quarantined.some((q) => q.crimeReference === r.crimeReference && DEEP_REASON.test(q.reason)));
  const bad = records.filter((r) => truth.badBy(r.index).length > 0 || quarantinedForDepth(r));
  const good = records.filter((r) => !bad.includes(r));
  stats.count('records:queued', summary.accepted);
  stats.count('records:quarantined', summary.quarantined.length);
  if (summary.accepted + summary.quarantined.length !== records.length) {
    throw new Violation(
      'ingest-count',
      `${records.length} records, but accepted ${summary.accepted} + quarantined ${summary.quarantined.length}`,
    );
  }
  if (summary.quarantined.length !== bad.length) {
    throw new Violation(
      'ingest-count',
      `${bad.length} bad records, ${summary.quarantined.length} quarantined: ${short(summary.quarantined)}`,
    );
  }
  bad.forEach((pr, j) => {
    const q = summary.quarantined[j]!;
    const problem = reasonProblem(q.reason, quarantinedForDepth(pr) && DEEP_REASON.test(q.reason) ? [] : truth.badBy(pr.index), truth);
    if (problem) throw new Violation('reason', `summary, record ${pr.index}: ${problem}`);
    const touched = pr.applied.some((a) => a.touches === 'crimeReference');
    if (!touched && q.crimeReference !== pr.crimeReference)
      throw new Violation('crime-reference', `summary names ${q.crimeReference} for ${pr.crimeReference}`);
  });
  // The entries' fields without `raw` (a sealed copy of the record, up to megabytes): reading it
  // would leave redis-parser's buffer-shrinking interval running after the property ends.
  const ids = await ctx.redis.zrange(ctx.keys.quarantineIndex(), 0, -1);
  const stored = await Promise.all(
    ids.map(async (id) => {
      const [reason, crimeReference, source] = await ctx.redis.hmget(ctx.keys.quarantine(id), 'reason', 'crimeReference', 'source');
      return { reason, crimeReference: crimeReference ?? undefined, source };
    }),
  );
  if (stored.length !== bad.length)
    throw new Violation('quarantine-store', `${bad.length} bad records, ${stored.length} in the quarantine store`);
  for (const [j, pr] of bad.entries()) {
    const q = summary.quarantined[j]!;
    if (!stored.some((s) => s.reason === q.reason && s.crimeReference === q.crimeReference && s.source === 'push')) {
      throw new Violation('quarantine-store', `record ${pr.index} (${q.crimeReference}: ${q.reason}) is not in the quarantine store`);
    }
  }
  // A bulk document's records travel in page jobs: each page entry stands for its record job.
  const queuedRecords = new Map<string, IntakeJob>();
  let entries = 0;
  for (const job of await ctx.queues.intake.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children'])) {
    for (const data of isIntakePage(job.data) ? job.data.page : [job.data]) {
      queuedRecords.set(isIntakePage(job.data) ? intakeJobId(data.crimeReference, data.recordVersion) : String(job.id), data);
      entries++;
    }
  }
  for (const pr of good) {
    const data = queuedRecords.get(intakeJobId(pr.crimeReference, pr.recordVersion));
    if (!data)
      throw new Violation('intake-missing', `good record ${pr.index}: no intake job ${intakeJobId(pr.crimeReference, pr.recordVersion)}`);
    if (data.crimeReference !== pr.crimeReference || data.recordVersion !== pr.recordVersion) {
      throw new Violation(
        'intake-missing',
        `intake job for ${pr.crimeReference}@v${pr.recordVersion} carries ${data.crimeReference}@v${data.recordVersion}`,
      );
    }
  }
  if (entries !== good.length) throw new Violation('intake-count', `${good.length} good records, ${entries} queued`);
}
