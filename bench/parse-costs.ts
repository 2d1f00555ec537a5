import { parseFeed, type FeedParseOptions, type ParsedFeed } from '../src/adapters/police/feed-parser';
import { feedDocument, generateFeedRecords } from '../simulators/feed-generator';
import { parseFeedXml2js } from '../test/helpers/xml2js-feed-parser';

/**
 * `npx tsx bench/parse-costs.ts`: the CPU the parse worker spends per CrimeRecord, for parseFeed
 * on generated documents of 50 and 1000 records, with the new tree builder (plain scan, else sax) and with the xml2js one
 * it replaced. Median of 5 runs after a warm-up run; each run parses at least RECORDS_PER_RUN records.
 */
const RUNS = 5;
const RECORDS_PER_RUN = 10_000;
const OPTS: FeedParseOptions = { maxBytes: 64 * 1024 * 1024 };

type Parse = (input: Buffer, opts: FeedParseOptions) => Promise<ParsedFeed>;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function documentOf(records: number, seed: number): Buffer {
  return Buffer.from(feedDocument(generateFeedRecords({ records, seed }).map((r) => r.xml)));
}

/** CPU µs per record for each parser, runs interleaved so a busy machine weighs on both alike. */
async function cpuPerRecord(parsers: Parse[], doc: Buffer): Promise<number[]> {
  const perDoc = (await parsers[0]!(doc, OPTS)).records.length;
  const repeats = Math.max(1, Math.ceil(RECORDS_PER_RUN / perDoc));
  const runs: number[][] = parsers.map(() => []);
  for (let run = 0; run <= RUNS; run++) {
    for (const [p, parse] of parsers.entries()) {
      const before = process.cpuUsage();
      for (let i = 0; i < repeats; i++) await parse(doc, OPTS);
      const used = process.cpuUsage(before);
      // The first run warms the JIT.
      if (run > 0) runs[p]!.push((used.user + used.system) / (repeats * perDoc));
    }
  }
  return runs.map((r) => Math.round(median(r) * 10) / 10);
}

async function main(): Promise<void> {
  const parsers: [string, Parse][] = [
    ['xml2js (before)', parseFeedXml2js],
    ['new builder', parseFeed],
  ];
  for (const records of [50, 1000]) {
    const costs = await cpuPerRecord(
      parsers.map(([, parse]) => parse),
      documentOf(records, 7),
    );
    for (const [p, [name]] of parsers.entries()) {
      console.log(`${String(records).padStart(4)} records/document  ${name.padEnd(16)} ${costs[p]} µs CPU per record`);
    }
  }
}

void main();
