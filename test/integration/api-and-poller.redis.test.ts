import type { Server } from '@hapi/hapi';
import nock from 'nock';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { FeedPoller } from '../../src/pipeline/ingest/feed-poller';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { startPoliceFeedSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

describe('HTTP API', () => {
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    ctx = createContext(testConfig({ POLICE_MAX_DOCUMENT_BYTES: '200000' }), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
  });
  afterAll(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const push = (payload: string | Buffer, headers: Record<string, string> = { authorization: 'Bearer push-token' }) =>
    server.inject({ method: 'POST', url: '/v1/police/flags', payload, headers: { 'content-type': 'application/xml', ...headers } });

  test('liveness and readiness', async () => {
    expect((await server.inject('/health/live')).statusCode).toBe(200);
    const ready = await server.inject('/health/ready');
    expect(ready.statusCode).toBe(200);
    expect(JSON.parse(ready.payload)).toEqual({ status: 'ready', checks: { redis: 'ok' } });
  });

  test('push needs the bearer token', async () => {
    const doc = feedDocument([]);
    expect((await push(doc, {})).statusCode).toBe(401);
    expect((await push(doc, { authorization: 'Bearer wrong-token' })).statusCode).toBe(401);
  });

  test('push: 202 with accepted, held and each quarantined record with its reason', async () => {
    const records = generateFeedRecords({ records: 40, seed: 5, prefix: 'API' }).filter((g) => g.recordVersion === 1);
    const res = await push(feedDocument(records.map((g) => g.xml)));
    expect(res.statusCode).toBe(202);
    const body = JSON.parse(res.payload) as { accepted: number; held: number; quarantined: { crimeReference: string; reason: string }[] };
    const bad = records.filter((g) => g.expectQuarantine);
    expect(body.accepted).toBe(records.length - bad.length);
    expect(body.quarantined.map((q) => q.crimeReference).sort()).toEqual(bad.map((g) => g.crimeReference).sort());
    expect(body.held).toBe(records.flatMap((g) => g.expectedReferrals).filter((r) => r.decision === 'HELD').length);
    expect(res.headers['x-correlation-id']).toBeDefined();
  });

  test('push: 400 for an unreadable document, 413 over the size limit, 415 for non-XML', async () => {
    const broken = await push('<CrimeFlagFeed xmlns="urn:iasu:police-feed:1"><CrimeRecord>');
    expect(broken.statusCode).toBe(400);
    expect(JSON.parse(broken.payload).message).toMatch(/malformed/);
    const xxe = await push(
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CrimeFlagFeed xmlns="urn:iasu:police-feed:1">&e;</CrimeFlagFeed>',
    );
    expect(xxe.statusCode).toBe(400);
    expect(xxe.payload).not.toContain('root:');
    expect((await push(Buffer.alloc(300_000, 'a'))).statusCode).toBe(413);
    const json = await server.inject({
      method: 'POST',
      url: '/v1/police/flags',
      payload: '{}',
      headers: { 'content-type': 'application/json', authorization: 'Bearer push-token' },
    });
    expect(json.statusCode).toBe(415);
  });

  test('referral lookup: 400 for a malformed id, 404 for an unknown one', async () => {
    const headers = operatorHeader(ctx.config, ['referrals:read']);
    expect((await server.inject({ url: '/v1/referrals/not-a-uuid', headers })).statusCode).toBe(400);
    expect((await server.inject({ url: '/v1/referrals/6f1c0000-0000-5000-8000-000000000000', headers })).statusCode).toBe(404);
  });
});

describe('feed poller', () => {
  afterEach(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  test('pages through the feed and saves the cursor after each page is queued', async () => {
    const records = generateFeedRecords({ records: 12, seed: 3, prefix: 'POLL' });
    const police = await startPoliceFeedSimulator({ records: records.map((g) => g.xml), token: 't' });
    const ctx = createContext(
      testConfig({ POLICE_FEED_URL: police.url, POLICE_FEED_TOKEN: 't', POLICE_PAGE_LIMIT: '5' }),
      capturedLogger().logger,
    );
    try {
      const run = await new FeedPoller(ctx).pollOnce();
      expect(run).toMatchObject({ pages: Math.ceil(records.length / 5), records: records.length });
      expect(await ctx.cursor.get()).toBe(String(records.length).padStart(16, '0'));
      const queued = await ctx.queues.intake.getJobCountByTypes('waiting');
      expect(queued + run.quarantined).toBe(records.length);
      // Nothing new: the next poll reads an empty page and queues nothing twice.
      const again = await new FeedPoller(ctx).pollOnce();
      expect(again.records).toBe(0);
      expect(await ctx.queues.intake.getJobCountByTypes('waiting')).toBe(queued);
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
      await police.stop();
    }
  });

  test('an unreadable page holds the cursor and is quarantined as a document; an RMS outage changes nothing', async () => {
    const ctx = createContext(testConfig({ POLICE_FEED_URL: 'http://rms.test', POLICE_FEED_TOKEN: 't' }), capturedLogger().logger);
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    try {
      await ctx.cursor.set('0000000000000042');
      nock('http://rms.test')
        .get('/flags')
        .query({ cursor: '0000000000000042', limit: '500' })
        .reply(200, '<CrimeFlagFeed xmlns="urn:iasu:police-feed:1"><Cursor');
      const run = await new FeedPoller(ctx).pollOnce();
      expect(run.error).toMatch(/malformed/);
      expect(await ctx.cursor.get()).toBe('0000000000000042');
      const [entry] = await ctx.quarantine.list();
      expect(entry?.reason).toMatch(/feed page unreadable/);

      nock('http://rms.test').get('/flags').query(true).reply(503, 'busy', { 'Retry-After': '30' });
      const outage = await new FeedPoller(ctx).pollOnce();
      expect(outage.error).toMatch(/503/);
      expect(await ctx.cursor.get()).toBe('0000000000000042');
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
    }
  });

  test('a refused token stops the poll with an alert; an outage is only a warning', async () => {
    const captured = capturedLogger();
    const ctx = createContext(testConfig({ POLICE_FEED_URL: 'http://rms.test', POLICE_FEED_TOKEN: 't' }), captured.logger);
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    try {
      nock('http://rms.test').get('/flags').query(true).reply(401, 'no');
      expect((await new FeedPoller(ctx).pollOnce()).error).toMatch(/401/);
      nock('http://rms.test').get('/flags').query(true).reply(503, 'busy');
      expect((await new FeedPoller(ctx).pollOnce()).error).toMatch(/503/);
      const lines = captured
        .text()
        .split('\n')
        .filter((l) => l.includes('feed poll failed'))
        .map((l) => JSON.parse(l) as { level: number | string; alert?: boolean; reason: string });
      expect(lines.map((l) => [l.alert === true, /401/.test(l.reason)])).toEqual([
        [true, true],
        [false, false],
      ]);
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
    }
  });

  test('a page whose comment or CDATA mentions <!DOCTYPE / <!ENTITY is read, and the cursor moves past it', async () => {
    const ctx = createContext(testConfig({ POLICE_FEED_URL: 'http://rms.test', POLICE_FEED_TOKEN: 't' }), capturedLogger().logger);
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    try {
      await ctx.cursor.set('0000000000000042');
      const [first, second] = generateFeedRecords({ records: 2, seed: 3, prefix: 'DTDTXT' }).map((g) => g.xml);
      const page = feedDocument(
        [
          `<!-- the RMS export once wrote <!DOCTYPE here -->${first!}`,
          second!.replace(/<Summary>/, '<Summary><![CDATA[quoted: <!ENTITY x "y">]]> '),
        ],
        {
          cursor: { next: '0000000000000044', more: false },
        },
      );
      nock('http://rms.test').get('/flags').query({ cursor: '0000000000000042', limit: '500' }).reply(200, page);
      const run = await new FeedPoller(ctx).pollOnce();
      expect(run.error).toBeUndefined();
      expect(run).toMatchObject({ pages: 1, records: 2 });
      expect(await ctx.cursor.get()).toBe('0000000000000044');
      expect((await ctx.quarantine.list()).filter((e) => /unreadable/.test(e.reason))).toEqual([]);
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
    }
  });

  test('a page with a 9 MiB attribute: that record is quarantined, the rest queued, and the cursor moves', async () => {
    const ctx = createContext(testConfig({ POLICE_FEED_URL: 'http://rms.test', POLICE_FEED_TOKEN: 't' }), capturedLogger().logger);
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    try {
      const records = generateFeedRecords({ records: 3, seed: 7, prefix: 'HUGE' }).filter((g) => !g.expectQuarantine);
      const huge = records[0]!;
      const xml = records.map((g) => (g === huge ? g.xml.replace(/name="[^"]*"/, `name="${'z'.repeat(9 * 2 ** 20)}"`) : g.xml));
      nock('http://rms.test')
        .get('/flags')
        .query(true)
        .reply(200, feedDocument(xml, { cursor: { next: '0000000000000003', more: false } }));
      const run = await new FeedPoller(ctx).pollOnce();
      expect(run.error).toBeUndefined();
      expect(run).toMatchObject({ pages: 1, records: records.length, quarantined: 1 });
      expect(await ctx.cursor.get()).toBe('0000000000000003');
      expect(await ctx.queues.intake.getJobCountByTypes('waiting')).toBe(records.length - 1);
      expect((await ctx.quarantine.list()).map((e) => [e.crimeReference, e.reason])).toEqual([
        [huge.crimeReference, "OfficerInCase/@name is over the parser's limit of 65536 characters"],
      ]);
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
    }
  }, 30_000);

  test('backpressure: the poller stops pulling while POLICE_MAX_BACKLOG records wait for intake', async () => {
    const records = generateFeedRecords({ records: 12, seed: 8, prefix: 'BACK' });
    const police = await startPoliceFeedSimulator({ records: records.map((g) => g.xml), token: 't' });
    const ctx = createContext(
      testConfig({ POLICE_FEED_URL: police.url, POLICE_FEED_TOKEN: 't', POLICE_PAGE_LIMIT: '5', POLICE_MAX_BACKLOG: '5' }),
      capturedLogger().logger,
    );
    try {
      const run = await new FeedPoller(ctx).pollOnce();
      expect(run).toMatchObject({ pages: 1, backlogged: true });
      expect(police.served()).toBe(5);
      expect(await ctx.cursor.get()).toBe('0000000000000005');
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
      await police.stop();
    }
  });

  test('one poll per schedule tick across processes: the first to claim the tick polls', async () => {
    const police = await startPoliceFeedSimulator({ records: [], token: 't' });
    const ctx = createContext(testConfig({ POLICE_FEED_URL: police.url, POLICE_FEED_TOKEN: 't' }), capturedLogger().logger);
    try {
      const tick = new Date('2026-11-22T10:00:00.250Z');
      const [a, b, c] = await Promise.all([
        new FeedPoller(ctx).pollTick(tick),
        new FeedPoller(ctx).pollTick(tick),
        new FeedPoller(ctx).pollTick(new Date(tick.getTime() + 500)),
      ]);
      expect([a, b, c].filter((r) => r.skipped === 'claimed')).toHaveLength(2);
      expect(police.stats().pagesServed).toBe(1);
      expect((await new FeedPoller(ctx).pollTick(new Date(tick.getTime() + 1000))).skipped).toBeUndefined();
      expect(police.stats().pagesServed).toBe(2);
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
      await police.stop();
    }
  });

  test('only one poller runs at a time across processes', async () => {
    const ctx = createContext(testConfig(), capturedLogger().logger);
    try {
      const token = await ctx.lock.acquire('police-poll', 10_000);
      expect(token).toBeDefined();
      expect(await new FeedPoller(ctx).pollOnce()).toMatchObject({ skipped: 'locked', pages: 0 });
    } finally {
      await dropKeys(ctx.config);
      await ctx.close();
    }
  });
});
