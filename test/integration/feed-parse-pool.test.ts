import { FeedParsePool } from '../../src/adapters/police/feed-parse-pool';
import { FeedError, parseFeed } from '../../src/adapters/police/feed-parser';
import { recordDigest } from '../../src/domain/record-digest';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';

/** The feed parser on a worker thread: the same answers as on the calling thread, and a ceiling. */
describe('FeedParsePool', () => {
  const opts = { maxBytes: 10 * 2 ** 20 };
  const page = Buffer.from(
    feedDocument(
      generateFeedRecords({ records: 120, seed: 3 }).map((g) => g.xml),
      { cursor: { next: '120', more: true } },
    ),
  );
  let pool: FeedParsePool;
  afterEach(async () => {
    await pool.close();
  });

  test('a page parsed on the worker equals the page parsed in place, quarantine reasons included, with each valid record digested', async () => {
    pool = new FeedParsePool({ minBytes: 1024, maxHeapMb: 256 });
    const inPlace = await parseFeed(page, opts);
    expect(inPlace.records.some((r) => !r.ok)).toBe(true);
    expect(inPlace.digests).toBeUndefined();
    const { digests, ...onWorker } = await pool.parse(page, opts);
    expect(onWorker).toEqual(inPlace);
    expect(digests).toEqual(inPlace.records.map((r) => (r.ok ? recordDigest(r.record) : undefined)));
  });

  test('a small document goes to the worker, but is parsed in place while the worker has a page', async () => {
    pool = new FeedParsePool({ minBytes: 16 * 1024, maxHeapMb: 256 });
    const small = Buffer.from(feedDocument(generateFeedRecords({ records: 1, seed: 6 }).map((g) => g.xml)));
    expect(small.length).toBeLessThan(16 * 1024);
    const expected = await parseFeed(small, opts);
    const withoutDigests = ({ digests: _, ...feed }: Awaited<ReturnType<FeedParsePool['parse']>>) => feed;
    expect(withoutDigests(await pool.parse(small, opts))).toEqual(expected);
    expect(pool.parsed).toEqual({ onWorker: 1, inPlace: 0 });
    const busy = pool.parse(page, opts);
    expect(await pool.parse(small, opts)).toEqual(expected);
    expect(pool.parsed).toEqual({ onWorker: 2, inPlace: 1 });
    await busy;
    // Behind another small one it waits for the worker: only a page sends it back.
    const [one, two] = await Promise.all([pool.parse(small, opts), pool.parse(small, opts)]);
    expect([one, two].map(withoutDigests)).toEqual([expected, expected]);
    expect(pool.parsed).toEqual({ onWorker: 4, inPlace: 1 });
  });

  test('an unreadable document is refused with the FeedError parseFeed gives', async () => {
    pool = new FeedParsePool({ minBytes: 16, maxHeapMb: 256 });
    const truncated = page.subarray(0, Math.floor(page.length / 2));
    const expected = (await parseFeed(truncated, opts).catch((e: unknown) => e)) as Error;
    expect(expected).toBeInstanceOf(FeedError);
    const err = (await pool.parse(truncated, opts).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(FeedError);
    expect(err.message).toBe(expected.message);
  });

  test('a record with a MiB-sized attribute is quarantined on the worker, naming the field and the limit; the page is read', async () => {
    // Before the parser capped values, 3 MiB exhausted a 32 MB worker (and 9 MiB the bridge's 256 MB one).
    pool = new FeedParsePool({ minBytes: 16, maxHeapMb: 32 });
    const records = generateFeedRecords({ records: 3, seed: 7, prefix: 'HUGE' }).map((g) => g.xml);
    records[1] = records[1]!.replace(/name="[^"]*"/, `name="${'z'.repeat(3 * 2 ** 20)}"`);
    const feed = await pool.parse(Buffer.from(feedDocument(records)), opts);
    expect(feed.records).toHaveLength(3);
    expect(feed.records[1]).toMatchObject({ ok: false, reason: "OfficerInCase/@name is over the parser's limit of 65536 characters" });
    expect([feed.records[0], feed.records[2]].map((r) => r!.ok || r!.reason)).toEqual(
      (await parseFeed(feedDocument([records[0]!, records[2]!]), opts)).records.map((r) => r.ok || r.reason),
    );
  }, 30_000);

  test('a document that exhausts the worker heap is refused as unreadable, and the next parse works', async () => {
    pool = new FeedParsePool({ minBytes: 16, maxHeapMb: 16 });
    const huge = Buffer.from(feedDocument(generateFeedRecords({ records: 3000, seed: 4 }).map((g) => g.xml)));
    const err = (await pool.parse(huge, opts).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(FeedError);
    expect(err.message).toMatch(/needs more than the parser's 16 MB/);
    const small = Buffer.from(feedDocument(generateFeedRecords({ records: 2, seed: 5 }).map((g) => g.xml)));
    expect((await pool.parse(small, opts)).records).toHaveLength((await parseFeed(small, opts)).records.length);
  }, 30_000);
});
