import nock from 'nock';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralType } from '../../src/domain/crime-record';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import { referralIdFor } from '../../src/domain/referral-id';
import { pollCharityUpdates, WATERMARK_OVERLAP_MS } from '../../src/pipeline/partner-status/charity-poll';
import { advocacyReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';
import { partnerFailure, useStrictNock } from '../helpers/nock';

/**
 * charity-api.md "The bridge also polls, so a lost webhook is never a lost status":
 * `GET /v1/referrals?updatedSince=&cursor=&limit=` played by nock, referrals and the watermark
 * on the real test Redis. Each applied change must be queued for write-back to the police.
 */
const CHARITY = 'http://charity.test';
const API_KEY = 'poll-key';
const PAGE_LIMIT = 2;

/** Planted personal data: in the stored referral and in the charity's free-text statusReason. */
const PLANTED = {
  forename: 'PLANTPOLL-FORENAME-3e8d',
  surname: 'PLANTPOLL-SURNAME-3e8d',
  phone: '07700900987',
  email: 'plantpoll-3e8d@example.org',
  reason: 'Spoke to PLANTPOLL-FORENAME-3e8d at home',
  reasonUnknown: 'Left message for PLANTPOLL-ORPHAN-NAME-3e8d',
  reasonHeld: 'PLANTPOLL-HELD-NAME-3e8d asked us to call',
};

const id = (crime: string, type: ReferralType = 'ADVOCACY') => referralIdFor('CHESHIRE', crime, type, 'P1');
const A = id('CC-26-0000101');
const B = id('CC-26-0000102');
const H = id('CC-26-0000103');
const N = id('CC-26-0000104', 'CLINICAL');
const ORPHAN = '0b9d6a3e-1c1a-5b1d-9c55-000000000000';

interface Item {
  id: string;
  externalReference: string;
  status: string;
  statusReason: string | null;
  updatedAt: string;
}
const item = (ref: string, charityId: string, status: string, updatedAt: string, statusReason: string | null = null): Item => ({
  id: charityId,
  externalReference: ref,
  status,
  statusReason,
  updatedAt,
});

describe('pollCharityUpdates (charity played by nock, real Redis)', () => {
  useStrictNock();
  let ctx: BridgeContext;
  let logs: () => string;
  /** Every query the charity was asked, in order. */
  let asked: URLSearchParams[];

  beforeEach(() => {
    const captured = capturedLogger();
    logs = captured.text;
    asked = [];
    ctx = createContext(
      testConfig({
        CHARITY_API_URL: CHARITY,
        CHARITY_API_KEY: API_KEY,
        CHARITY_POLL_PAGE_LIMIT: String(PAGE_LIMIT),
        POLICE_FEED_URL: 'http://rms.test',
      }),
      captured.logger,
    );
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  /** One page of `GET /v1/referrals`, answered in the order set up. */
  function page(items: Item[], nextCursor: string | null, status = 200) {
    return nock(CHARITY)
      .matchHeader('authorization', `Bearer ${API_KEY}`)
      .get('/v1/referrals')
      .query(true)
      .reply(function (uri) {
        asked.push(new URL(uri, CHARITY).searchParams);
        return status === 200 ? [200, { items, nextCursor }] : [status, { error: 'unavailable' }];
      });
  }

  /** A referral as the delivery leaves it: created (at `createdAt`), then moved on to `status`. */
  async function referral(
    referralId: string,
    createdAt: string,
    status: ReferralStatus,
    opts: { type?: ReferralType; partnerRef?: string } = {},
  ) {
    const type = opts.type ?? 'ADVOCACY';
    const first: ReferralStatus = status === 'HELD' ? 'HELD' : 'QUEUED';
    await ctx.referrals.saveData(
      advocacyReferral({
        referralId,
        type,
        subject: {
          ref: 'P1',
          role: 'VICTIM',
          forename: PLANTED.forename,
          surname: PLANTED.surname,
          safeContact: { phone: PLANTED.phone, email: PLANTED.email },
        },
      }),
    );
    const created = await ctx.referrals.transition(referralId, {
      to: first,
      source: 'test',
      now: new Date(createdAt),
      ...(first === 'HELD' ? { patch: { heldReason: 'CONSENT_MISSING' } } : {}),
      create: {
        referralId,
        type,
        crimeReference: `CC-${referralId.slice(0, 8)}`,
        recordVersion: 1,
        correlationId: `c0ffee00-0000-4000-8000-${referralId.slice(0, 12)}`,
      },
    });
    if (!created.applied) throw new Error('setup failed: create');
    if (status !== first) {
      const moved = await ctx.referrals.transition(referralId, { to: status, source: 'test', patch: { partnerRef: opts.partnerRef } });
      if (!moved.applied) throw new Error(`setup failed: ${status}`);
    }
  }

  const statusOf = async (referralId: string) => (await ctx.referrals.get(referralId))?.status;
  const watermark = () => ctx.redis.get(ctx.keys.charityWatermark());
  const writeBackJobIds = async () =>
    (await ctx.queues.policeWriteBacks.getJobs(['waiting', 'delayed', 'prioritized'])).map((j) => j.id).sort();
  const logLines = () =>
    logs()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  function expectNoPlantedData(text: string) {
    for (const secret of Object.values(PLANTED)) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/PLANTPOLL/);
  }

  /** One round: sets up its pages, polls, and checks it asked from `from` with the cursors given. */
  async function round(now: string, from: string, pages: [Item[], string | null][]) {
    const askedBefore = asked.length;
    for (const [items, next] of pages) page(items, next);
    const summary = await pollCharityUpdates(ctx, new Date(now));
    const queries = asked.slice(askedBefore).map((q) => Object.fromEntries(q));
    const cursors = [undefined, ...pages.slice(0, -1).map(([, next]) => next ?? undefined)];
    expect(queries).toEqual(cursors.map((cursor) => ({ updatedSince: from, limit: String(PAGE_LIMIT), ...(cursor ? { cursor } : {}) })));
    return summary;
  }

  test('pages, applies each item, queues each change for the police, stores the watermark, and asks from it next round', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    await referral(B, '2026-11-22T10:00:00.000Z', 'SENT', { partnerRef: 'CH-000102' });
    // Older, but HELD: the charity never got it, so it does not pull the first watermark back.
    await referral(H, '2026-11-22T08:00:00.000Z', 'HELD');
    const outboxBefore = await ctx.referrals.outboxSize();

    // ---- round 1: no watermark yet, so from the oldest active charity referral's createdAt − overlap; two pages ----
    const start = new Date(Date.parse('2026-11-22T09:40:00.000Z') - WATERMARK_OVERLAP_MS).toISOString();
    expect(start).toBe('2026-11-22T09:39:55.000Z');
    expect(await watermark()).toBeNull();
    const r1 = await round('2026-11-22T12:00:00.000Z', start, [
      [[item(A, 'CH-000101', 'ALLOCATED', '2026-11-22T10:05:00.000Z')], 'cursor-2'],
      [[item(B, 'CH-000102', 'ALLOCATED', '2026-11-22T10:12:00.000Z', PLANTED.reason)], null],
    ]);
    expect(r1).toEqual({
      pages: 2,
      items: 2,
      applied: 2,
      recorded: 0,
      ignored: 0,
      unknown: 0,
      busy: 0,
      watermark: '2026-11-22T10:11:55.000Z',
    });
    expect(await statusOf(A)).toBe('ACCEPTED');
    expect(await statusOf(B)).toBe('ACCEPTED');
    expect(await ctx.referrals.get(B)).toMatchObject({
      partnerStatus: 'ALLOCATED',
      partnerStatusAt: '2026-11-22T10:12:00.000Z',
      partnerRef: 'CH-000102',
    });
    // The watermark: newest updatedAt − overlap. Every applied change is in the outbox and queued for write-back.
    expect(await watermark()).toBe('2026-11-22T10:11:55.000Z');
    expect(await ctx.referrals.outboxSize()).toBe(outboxBefore + 2);
    expect(await writeBackJobIds()).toEqual([`${A}-s3`, `${B}-s3`].sort());

    // ---- round 2: from the stored watermark; the overlap lists B's unchanged ALLOCATED again ----
    const timelineB = (await ctx.referrals.timeline(B)).length;
    const r2 = await round('2026-11-22T12:05:00.000Z', '2026-11-22T10:11:55.000Z', [
      [[item(B, 'CH-000102', 'ALLOCATED', '2026-11-22T10:12:00.000Z', PLANTED.reason)], 'cursor-r2'],
      [[item(A, 'CH-000101', 'CONTACTED', '2026-11-22T10:20:00.000Z')], null],
    ]);
    expect(r2).toEqual({
      pages: 2,
      items: 2,
      applied: 1,
      recorded: 0,
      ignored: 1,
      unknown: 0,
      busy: 0,
      watermark: '2026-11-22T10:19:55.000Z',
    });
    expect(await ctx.referrals.timeline(B)).toHaveLength(timelineB);
    expect(await statusOf(B)).toBe('ACCEPTED');
    expect(await statusOf(A)).toBe('IN_PROGRESS');
    expect(await watermark()).toBe('2026-11-22T10:19:55.000Z');

    // ---- round 3: ENGAGED is the charity's progress only (the bridge stays IN_PROGRESS): recorded, not written back ----
    const r3 = await round('2026-11-22T12:10:00.000Z', '2026-11-22T10:19:55.000Z', [
      [[item(A, 'CH-000101', 'ENGAGED', '2026-11-22T10:25:00.000Z')], null],
    ]);
    expect(r3).toMatchObject({ applied: 0, recorded: 1, ignored: 0 });
    expect(await ctx.referrals.get(A)).toMatchObject({ status: 'IN_PROGRESS', partnerStatus: 'ENGAGED', partnerOutcome: 'ENGAGED' });

    // ---- round 4: CLOSED → COMPLETED, keeping ENGAGED as the outcome ----
    const r4 = await round('2026-11-22T12:15:00.000Z', '2026-11-22T10:24:55.000Z', [
      [
        [
          item(A, 'CH-000101', 'CLOSED', '2026-11-22T10:30:00.000Z', 'NO_RESPONSE'),
          item(B, 'CH-000102', 'CONTACTED', '2026-11-22T10:31:00.000Z'),
        ],
        null,
      ],
    ]);
    expect(r4).toMatchObject({ applied: 2, watermark: '2026-11-22T10:30:55.000Z' });
    expect(await ctx.referrals.get(A)).toMatchObject({
      status: 'COMPLETED',
      partnerStatus: 'CLOSED',
      partnerOutcome: 'ENGAGED',
      partnerStatusAt: '2026-11-22T10:30:00.000Z',
    });
    expect(await statusOf(B)).toBe('IN_PROGRESS');
    expect((await ctx.referrals.timeline(A)).map((e) => [e.status, e.source, e.detail])).toEqual([
      ['QUEUED', 'test', undefined],
      ['SENT', 'test', undefined],
      ['ACCEPTED', 'charity-poll', 'charity status ALLOCATED'],
      ['IN_PROGRESS', 'charity-poll', 'charity status CONTACTED'],
      ['COMPLETED', 'charity-poll', 'charity status CLOSED (NO_RESPONSE)'],
    ]);
    // One write-back job per applied change (SENT→ACCEPTED→IN_PROGRESS→COMPLETED for A), none for the ignored or recorded.
    expect(await writeBackJobIds()).toEqual([`${A}-s3`, `${A}-s4`, `${A}-s5`, `${B}-s3`, `${B}-s4`].sort());
    expect(await ctx.referrals.outboxSize()).toBe(outboxBefore + 5);

    // ---- round 5: B's CONTACTED (1 s after the watermark) seen again through the overlap: nothing changes, the watermark stays ----
    const timelineB4 = (await ctx.referrals.timeline(B)).length;
    const r5 = await round('2026-11-22T12:20:00.000Z', '2026-11-22T10:30:55.000Z', [
      [[item(B, 'CH-000102', 'CONTACTED', '2026-11-22T10:31:00.000Z')], null],
    ]);
    expect(r5).toMatchObject({ items: 1, applied: 0, recorded: 0, ignored: 1, watermark: '2026-11-22T10:30:55.000Z' });
    expect(await watermark()).toBe('2026-11-22T10:30:55.000Z');
    expect(await ctx.referrals.timeline(B)).toHaveLength(timelineB4);
    expect(await ctx.referrals.outboxSize()).toBe(outboxBefore + 5);

    // The charity's free text never reaches the timeline, the metadata or the logs.
    expectNoPlantedData(
      JSON.stringify([
        await ctx.referrals.timeline(A),
        await ctx.referrals.get(A),
        await ctx.referrals.timeline(B),
        await ctx.referrals.get(B),
      ]),
    );
    expectNoPlantedData(logs());
  });

  test('an item stamped in the future does not carry the watermark past our own clock', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    await ctx.redis.set(ctx.keys.charityWatermark(), '2026-11-22T10:00:00.000Z');
    page([item(A, 'CH-000101', 'ALLOCATED', '2027-01-01T00:00:00.000Z')], null);
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z'));
    expect(summary).toMatchObject({ applied: 1, watermark: '2026-11-22T11:59:55.000Z' });
    expect(await watermark()).toBe('2026-11-22T11:59:55.000Z');
  });

  test('first round with no active charity referral starts from now − overlap', async () => {
    await referral(H, '2026-11-22T08:00:00.000Z', 'HELD');
    page([], null);
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z'));
    expect(asked[0]!.get('updatedSince')).toBe('2026-11-22T11:59:55.000Z');
    expect(summary).toMatchObject({ pages: 1, items: 0, watermark: '2026-11-22T11:59:55.000Z' });
  });

  test('an item for an unknown externalReference (or an NHS referral) is counted unknown and alerted, without personal data', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    await referral(N, '2026-11-22T09:41:00.000Z', 'SENT', { type: 'CLINICAL', partnerRef: 'nhs-task-1' });
    const nBefore = await ctx.referrals.get(N);
    await ctx.redis.set(ctx.keys.charityWatermark(), '2026-11-22T10:00:00.000Z');
    page(
      [
        item(ORPHAN, 'CH-000999', 'ALLOCATED', '2026-11-22T10:05:00.000Z', PLANTED.reasonUnknown),
        item(N, 'CH-000998', 'CLOSED', '2026-11-22T10:06:00.000Z', PLANTED.reasonUnknown),
        item(A, 'CH-000101', 'ALLOCATED', '2026-11-22T10:07:00.000Z'),
      ],
      null,
    );
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z'));

    expect(summary).toMatchObject({ items: 3, unknown: 2, applied: 1, ignored: 0 });
    expect(await ctx.referrals.get(N)).toEqual(nBefore); // an NHS referral is not the charity's to move
    expect(await ctx.referrals.get(ORPHAN)).toBeUndefined(); // nothing created for an orphan
    expect(await statusOf(A)).toBe('ACCEPTED');
    // The orphans neither hold the watermark back nor block the round.
    expect(await watermark()).toBe('2026-11-22T10:06:55.000Z');

    const alerts = logLines().filter((l) => l.alert === true && l.partner === 'CHARITY');
    expect(alerts).toHaveLength(2);
    expect(alerts.map((l) => l.charityId).sort()).toEqual(['CH-000998', 'CH-000999']);
    for (const alert of alerts) {
      expect(['warn', 'error', 'fatal']).toContain(alert.level);
      expect(alert).not.toHaveProperty('statusReason');
    }
    expectNoPlantedData(logs());
  });

  test('a second page that keeps failing (503 three times) throws and leaves the watermark where it was; the next round reads the same range again', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    const before = '2026-11-22T10:00:00.000Z';
    await ctx.redis.set(ctx.keys.charityWatermark(), before);

    page([item(A, 'CH-000101', 'ALLOCATED', '2026-11-22T10:05:00.000Z')], 'cursor-2');
    for (let i = 0; i < 3; i++) page([], null, 503);
    const err = await partnerFailure(pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z')));
    expect(err.kind).toBe('transient');
    expect(await watermark()).toBe(before);
    expect(asked).toHaveLength(4);
    expect(asked.slice(1).map((q) => q.get('cursor'))).toEqual(['cursor-2', 'cursor-2', 'cursor-2']);

    // The next round asks from the same place; the item already applied is not applied twice.
    const timelineLength = (await ctx.referrals.timeline(A)).length;
    page([item(A, 'CH-000101', 'ALLOCATED', '2026-11-22T10:05:00.000Z')], 'cursor-2');
    page([item(A, 'CH-000101', 'CONTACTED', '2026-11-22T10:09:00.000Z')], null);
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:01:00.000Z'));
    expect(asked[4]!.get('updatedSince')).toBe(before);
    expect(summary).toMatchObject({ pages: 2, items: 2, applied: 1, ignored: 1 });
    expect(await ctx.referrals.timeline(A)).toHaveLength(timelineLength + 1);
    expect(await watermark()).toBe('2026-11-22T10:08:55.000Z');
  });

  test('a page that fails once (503) is asked for again with the same cursor and the round completes', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    await ctx.redis.set(ctx.keys.charityWatermark(), '2026-11-22T10:00:00.000Z');
    page([item(A, 'CH-000101', 'ALLOCATED', '2026-11-22T10:05:00.000Z')], 'cursor-2');
    page([], null, 503);
    page([item(A, 'CH-000101', 'CONTACTED', '2026-11-22T10:09:00.000Z')], null);
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z'));
    expect(summary).toMatchObject({ pages: 2, items: 2, applied: 2 });
    expect(asked.map((q) => q.get('cursor'))).toEqual([null, 'cursor-2', 'cursor-2']);
    expect(await statusOf(A)).toBe('IN_PROGRESS');
    expect(await watermark()).toBe('2026-11-22T10:08:55.000Z');
  });

  test('a 503 in the very first round stores no watermark', async () => {
    await referral(A, '2026-11-22T09:40:00.000Z', 'SENT', { partnerRef: 'CH-000101' });
    for (let i = 0; i < 3; i++) page([], null, 503);
    await partnerFailure(pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z')));
    expect(await watermark()).toBeNull();
  });

  test('an item for a HELD referral is ignored: it stays HELD, nothing is queued for the police, an alert is logged', async () => {
    await referral(H, '2026-11-22T08:00:00.000Z', 'HELD');
    await ctx.redis.set(ctx.keys.charityWatermark(), '2026-11-22T10:00:00.000Z');
    const outboxBefore = await ctx.referrals.outboxSize();
    const metaBefore = await ctx.referrals.get(H);
    page([item(H, 'CH-000103', 'ALLOCATED', '2026-11-22T10:05:00.000Z', PLANTED.reasonHeld)], null);
    const summary = await pollCharityUpdates(ctx, new Date('2026-11-22T12:00:00.000Z'));

    expect(summary).toMatchObject({ items: 1, ignored: 1, applied: 0, recorded: 0, unknown: 0 });
    expect(await statusOf(H)).toBe('HELD');
    expect(await ctx.referrals.get(H)).toEqual(metaBefore); // no partnerRef or partnerStatus taken on either
    expect(await ctx.referrals.timeline(H)).toHaveLength(1);
    expect(await ctx.referrals.outboxSize()).toBe(outboxBefore);
    expect(await writeBackJobIds()).toEqual([]);
    const alert = logLines().find((l) => l.alert === true && l.referralId === H);
    expect(alert).toMatchObject({ partner: 'CHARITY', source: 'charity-poll', partnerStatus: 'ALLOCATED' });
    expectNoPlantedData(logs());
  });
});
