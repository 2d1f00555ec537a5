import nock from 'nock';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { writeBackFor, writeBackToXml } from '../../src/mappings/referral-to-write-back';
import { changeStatus } from '../../src/pipeline/status-changes';
import { pollPartnerStatuses } from '../../src/pipeline/partner-status/status-poll';
import { writeBackSweepAfterMs } from '../../src/pipeline/write-back/write-backs';
import { advocacyReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';
import { restoreNockAfterAll, rmsStoresOne } from '../helpers/nock';

restoreNockAfterAll();

/**
 * Police write-backs on real Redis, the RMS played by nock: the first attempt goes at once, a
 * failed one (or one over the in-flight limit) becomes a police-outcomes job, and the outbox
 * keeps the change pending until the RMS has stored it.
 */
describe('write-backs', () => {
  const RMS = 'http://rms.test';
  const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';
  let ctx: BridgeContext;

  function start(overrides: Record<string, string> = {}) {
    ctx = createContext(testConfig({ POLICE_FEED_URL: RMS, DELIVERY_BACKOFF_MS: '20', ...overrides }), capturedLogger().logger);
  }
  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
  });
  afterEach(async () => {
    await ctx.writeBacks.idle();
    await dropKeys(ctx.config);
    await ctx.close();
    nock.cleanAll();
  });

  async function queued(referralId = '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22'): Promise<string> {
    const referral = advocacyReferral({ referralId });
    const t = await changeStatus(ctx, referral.referralId, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: referral.referralId,
        type: 'ADVOCACY',
        crimeReference: referral.crimeReference,
        recordVersion: 1,
        correlationId: CORRELATION,
      },
    });
    if (!t.applied) throw new Error('setup failed');
    return referral.referralId;
  }
  const jobs = () => ctx.queues.policeWriteBacks.getJobs(['waiting', 'delayed', 'active']);

  test('the first attempt goes at once: the RMS has it, the outbox is cleared, no job is queued', async () => {
    start();
    const keys: string[] = [];
    rmsStoresOne(RMS, keys);
    const id = await queued();
    await ctx.writeBacks.idle();
    expect(keys).toEqual([`${id}:QUEUED:1`]);
    expect(await ctx.referrals.outboxSize()).toBe(0);
    expect(await jobs()).toHaveLength(0);
  });

  test('the first attempt sends the change as committed: the same document a retry reads back from the store', async () => {
    start();
    const bodies: string[] = [];
    nock(RMS)
      .post('/referral-outcomes', (body: string) => {
        bodies.push(body);
        return true;
      })
      .times(2)
      .reply(201);
    const id = await queued();
    await changeStatus(ctx, id, { to: 'SENT', source: 'CHARITY', detail: 'partner confirmed receipt', patch: { partnerRef: 'CH-REF-1' } });
    await ctx.writeBacks.idle();
    const meta = (await ctx.referrals.get(id))!;
    const fromStore = await Promise.all(
      [1, 2].map(async (seq) => writeBackToXml(writeBackFor(meta, (await ctx.referrals.timelineEntry(id, seq))!))),
    );
    // The QUEUED change was committed before the partner reference existed, so its document has none.
    expect(bodies[0]).not.toContain('PartnerReference');
    expect(bodies[0]).toBe(fromStore[0]!.replace(/\n  <PartnerReference>CH-REF-1<\/PartnerReference>/, ''));
    expect(bodies[1]).toBe(fromStore[1]);
    expect(bodies[1]).toContain('<PartnerReference>CH-REF-1</PartnerReference>');
    expect(bodies[1]).toContain('<Detail>partner confirmed receipt</Detail>');
  });

  test('a failed first attempt is queued for retry, not before the RMS Retry-After, and stays in the outbox', async () => {
    start();
    nock(RMS).post('/referral-outcomes').reply(503, '', { 'Retry-After': '30' });
    const id = await queued();
    await ctx.writeBacks.idle();
    const [job, ...more] = await jobs();
    expect(more).toHaveLength(0);
    expect(job?.id).toBe(`${id}-s1`);
    expect(job?.data).toEqual({ referralId: id, seq: 1, correlationId: CORRELATION });
    expect(job?.opts.delay).toBeGreaterThanOrEqual(30_000);
    expect(await ctx.referrals.pendingWriteBacks(0)).toEqual([{ referralId: id, seq: 1 }]);
  });

  test('a permanent refusal is queued at once, for the queue to dead-letter with its reason', async () => {
    start();
    nock(RMS).post('/referral-outcomes').reply(400);
    const id = await queued();
    await ctx.writeBacks.idle();
    const [job] = await jobs();
    expect(job?.id).toBe(`${id}-s1`);
    expect(job?.opts.delay ?? 0).toBe(0);
  });

  test('over the in-flight limit (0 here), every write-back is a queued job and nothing is sent at once', async () => {
    start({ POLICE_WRITEBACK_INFLIGHT: '0' });
    const rms = nock(RMS).post('/referral-outcomes').reply(201);
    const id = await queued();
    await ctx.writeBacks.idle();
    expect((await jobs()).map((j) => j.id)).toEqual([`${id}-s1`]);
    expect(rms.isDone()).toBe(false);
  });

  test('close waits for attempts under way; after it, write-backs are queued', async () => {
    start();
    let answered = false;
    nock(RMS)
      .post('/referral-outcomes')
      .delay(200)
      .reply(() => {
        answered = true;
        return [204];
      });
    await queued();
    await ctx.writeBacks.close();
    expect(answered).toBe(true);
    expect(await ctx.referrals.outboxSize()).toBe(0);
    const second = await queued('3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e23');
    expect((await jobs()).map((j) => j.id)).toEqual([`${second}-s1`]);
  });
});

describe('the status poll re-queues write-backs a dead process left', () => {
  let ctx: BridgeContext;
  const ID = '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e24';
  beforeEach(() => {
    // The charity poll fails at once (nothing listens there), which the poll reports and survives.
    ctx = createContext(testConfig({ POLICE_TIMEOUT_MS: '1000', CHARITY_API_URL: 'http://127.0.0.1:9' }), capturedLogger().logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('older than the RMS timeout plus 10 s: queued again; younger: left to the attempt under way', async () => {
    expect(writeBackSweepAfterMs(ctx.config)).toBe(11_000);
    const referral = advocacyReferral({ referralId: ID });
    const t = await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: { referralId: ID, type: 'ADVOCACY', crimeReference: referral.crimeReference, recordVersion: 1, correlationId: ID },
    });
    expect(t.applied).toBe(true);
    // Committed 5 s ago, its first attempt cut off: not yet.
    await ctx.redis.zadd(ctx.keys.outbox(), Date.now() - 5_000, `${ID}|1`);
    expect((await pollPartnerStatuses(ctx)).writeBacksRequeued).toBe(0);
    expect(await ctx.queues.policeWriteBacks.getJob(`${ID}-s1`)).toBeUndefined();
    // 12 s ago: queued again.
    await ctx.redis.zadd(ctx.keys.outbox(), Date.now() - 12_000, `${ID}|1`);
    expect((await pollPartnerStatuses(ctx)).writeBacksRequeued).toBe(1);
    expect((await ctx.queues.policeWriteBacks.getJob(`${ID}-s1`))?.data).toEqual({ referralId: ID, seq: 1, correlationId: ID });
  });

  test('the outbox sweep goes on from where the last poll stopped, and starts again from the oldest', async () => {
    const old = Date.now() - 60_000;
    await ctx.redis.zadd(ctx.keys.outbox(), ...[1, 2, 3, 4, 5].flatMap((n) => [old + n, `r${n}|1`]));
    const page = async () => (await ctx.referrals.sweepOutbox(11_000, 2)).map((p) => p.referralId);
    expect([await page(), await page(), await page(), await page()]).toEqual([['r1', 'r2'], ['r3', 'r4'], ['r5'], ['r1', 'r2']]);
    // Entries delivered meanwhile: a page past the end reads from the oldest at once.
    await ctx.redis.zrem(ctx.keys.outbox(), 'r1|1', 'r2|1', 'r3|1', 'r4|1');
    expect(await page()).toEqual(['r5']);
  });
});
