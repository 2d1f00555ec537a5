import { randomUUID } from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import nock from 'nock';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { ingestDocument } from '../../src/pipeline/ingest/feed-ingest';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import { processDelivery, startDeliveryWorker, type JustQueued } from '../../src/pipeline/delivery/delivery';
import { processIntake } from '../../src/pipeline/intake';
import { pollPartnerStatuses } from '../../src/pipeline/partner-status/status-poll';
import type { DeadLetterJob, IntakeJob } from '../../src/queues/topology';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { advocacyReferral, queueWithoutDelivery } from '../helpers/referrals';
import { capturedLogger, testConfig, waitFor, stopBridge } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * A referral intake has just QUEUED is sent from the same process at once (after a short wait
 * for a slot when too many are in flight); the delivery queue takes over when that attempt
 * fails, when the process is stopping, and (through the status poll) when the process died
 * mid-attempt.
 */
describe('first delivery attempts', () => {
  let ctx: BridgeContext;
  let workers: Worker[];
  const CHARITY = 'http://charity.test';
  const RMS = 'http://rms.test';
  const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';

  function start(overrides: Record<string, string> = {}): void {
    ctx = createContext(
      testConfig({
        CHARITY_API_URL: CHARITY,
        CHARITY_API_KEY: 'k',
        POLICE_FEED_URL: RMS,
        DELIVERY_ATTEMPTS: '3',
        DELIVERY_BACKOFF_MS: '200',
        ...overrides,
      }),
      capturedLogger().logger,
    );
  }

  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    // The RMS takes every write-back; what is tested here is the delivery.
    nock(RMS).persist().post('/referral-outcomes').reply(201);
    workers = [];
  });
  afterEach(async () => {
    await stopBridge(ctx, workers);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  /** A QUEUED advocacy referral whose first attempt has not been made (as after a crash). */
  async function queuedReferral(): Promise<{ id: string; seq: number }> {
    const referral = advocacyReferral({ referralId: randomUUID() });
    return { id: referral.referralId, seq: await queueWithoutDelivery(ctx, referral, CORRELATION) };
  }

  const deliveryJobs = async () =>
    (await ctx.queues.charityDelivery.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized'])).map((j) => j.id);
  const inQueuedIndex = async (id: string) => (await ctx.redis.zscore(ctx.keys.queued(), id)) !== null;

  test('intake sends a QUEUED referral at once: no delivery job, SENT, and out of the QUEUED index', async () => {
    start();
    // A record whose suspect has no lawful basis: only the victim's advocacy referral is QUEUED.
    const generated = generateFeedRecords({ records: 400, seed: 7, prefix: 'FD' }).find((g) => g.kind === 'suspect-no-basis')!;
    const advocacy = generated.expectedReferrals.find((r) => r.type === 'ADVOCACY')!;
    expect(generated.expectedReferrals.filter((r) => r.decision === 'QUEUED')).toEqual([advocacy]);
    const keys: string[] = [];
    const scope = nock(CHARITY)
      .post('/v1/referrals')
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']));
        return [201, { id: 'CH-000777', status: 'RECEIVED' }];
      });
    await ingestDocument(ctx, Buffer.from(feedDocument([generated.xml])), 'push');
    const [job] = (await ctx.queues.intake.getJobs(['waiting'])) as Job<IntakeJob>[];
    // The new referral is sent as intake had it: its state and details are not read back and opened.
    const readBack = jest.spyOn(ctx.referrals, 'loadForDelivery');
    const metaRead = jest.spyOn(ctx.referrals, 'get');
    await processIntake(ctx, job!);
    await ctx.deliveries.idle();
    expect(readBack).not.toHaveBeenCalled();
    expect(metaRead).not.toHaveBeenCalled();
    scope.done();
    expect(keys).toEqual([advocacy.referralId]);
    expect(await ctx.referrals.get(advocacy.referralId)).toMatchObject({ status: 'SENT', partnerRef: 'CH-000777' });
    expect(await deliveryJobs()).toEqual([]);
    expect(await inQueuedIndex(advocacy.referralId)).toBe(false);
    expect((await ctx.audit.query({ referralId: advocacy.referralId })).map((e) => e.action)).toEqual([
      'referral.status_changed',
      'referral.status_changed',
      'referral.sent',
    ]);
  });

  describe('a referral in hand from intake', () => {
    /** A referral QUEUED with its details saved, and what intake would have in hand for it. */
    async function inHandFor(summary: string): Promise<{ id: string; inHand: JustQueued }> {
      const referral = advocacyReferral({ referralId: randomUUID(), summary });
      await ctx.referrals.saveData(referral);
      const t = await ctx.referrals.transition(referral.referralId, {
        to: 'QUEUED',
        source: 'test',
        create: { ...referral, correlationId: CORRELATION },
      });
      if (!t.applied) throw new Error('setup failed');
      return { id: referral.referralId, inHand: { meta: t.meta, referral } };
    }
    const run = (id: string) => ({ id: `d-${id}`, data: { referralId: id, correlationId: CORRELATION, action: 'deliver' as const } });
    const charitySummaries = () => {
      const summaries: string[] = [];
      nock(CHARITY)
        .post('/v1/referrals')
        .reply(function (_uri, body) {
          summaries.push((body as { summary: string }).summary);
          return [201, { id: 'CH-000778', status: 'RECEIVED' }];
        });
      return summaries;
    };

    test('unchanged since its commit, it is sent as in hand', async () => {
      start();
      const { id, inHand } = await inHandFor('as intake had it');
      // What the store holds is not what is sent: proof that it was not read back.
      await ctx.referrals.saveData({ ...inHand.referral, summary: 'in the store' });
      const summaries = charitySummaries();
      expect(await processDelivery(ctx, charityDelivery(ctx), run(id), inHand)).toBe('sent');
      expect(summaries).toEqual(['as intake had it']);
      // Frozen as sent, so a retry sends the same.
      expect(await ctx.referrals.loadOutbound(id)).toMatchObject({ summary: 'as intake had it' });
    });

    test('after a newer record version saved other details, the stored details are sent', async () => {
      start();
      const { id, inHand } = await inHandFor('version 1');
      await ctx.referrals.saveData({ ...inHand.referral, recordVersion: 2, summary: 'version 2' });
      await ctx.referrals.patch(id, { recordVersion: 2 });
      const summaries = charitySummaries();
      expect(await processDelivery(ctx, charityDelivery(ctx), run(id), inHand)).toBe('sent');
      expect(summaries).toEqual(['version 2']);
      expect(await ctx.referrals.loadOutbound(id)).toMatchObject({ summary: 'version 2' });
    });

    test('withdrawn meanwhile, nothing is sent', async () => {
      start();
      const { id, inHand } = await inHandFor('withdrawn');
      await ctx.referrals.transition(id, { to: 'CANCELLED', source: 'police', detail: 'CONSENT_WITHDRAWN' });
      const scope = nock(CHARITY).post('/v1/referrals').reply(201, { id: 'CH-000779', status: 'RECEIVED' });
      expect(await processDelivery(ctx, charityDelivery(ctx), run(id), inHand)).toBe('skipped:CANCELLED');
      expect(scope.isDone()).toBe(false);
      expect(await ctx.referrals.loadOutbound(id)).toBeUndefined();
    });
  });

  test('a transient failure becomes the delivery job after its backoff, and the worker delivers the same body', async () => {
    start();
    const bodies: string[] = [];
    nock(CHARITY)
      .post('/v1/referrals', (b) => bodies.push(JSON.stringify(b)) > 0)
      .reply(503, { error: 'busy' })
      .post('/v1/referrals', (b) => bodies.push(JSON.stringify(b)) > 0)
      .reply(201, { id: 'CH-000778', status: 'RECEIVED' });
    const { id, seq } = await queuedReferral();
    await ctx.deliveries.dispatch(id, CORRELATION, seq, 'CHARITY');
    await ctx.deliveries.idle();
    expect(await ctx.queues.charityDelivery.getJobs(['delayed']).then((jobs) => jobs.map((j) => j.id))).toEqual([`${id}-q${seq}`]);
    expect((await ctx.referrals.get(id))?.status).toBe('QUEUED');
    workers.push(startDeliveryWorker(ctx, charityDelivery(ctx)));
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'SENT', 'referral SENT');
    expect(bodies).toHaveLength(2);
    expect(new Set(bodies).size).toBe(1);
  });

  test('a permanent failure becomes a job at once, which the worker dead-letters', async () => {
    start();
    nock(CHARITY)
      .post('/v1/referrals')
      .twice()
      .reply(422, { errors: [{ path: 'client', message: 'is required' }] });
    const { id, seq } = await queuedReferral();
    await ctx.deliveries.dispatch(id, CORRELATION, seq, 'CHARITY');
    await ctx.deliveries.idle();
    expect(await ctx.queues.charityDelivery.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 1, delayed: 0 });
    workers.push(startDeliveryWorker(ctx, charityDelivery(ctx)));
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    const letters = (await ctx.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data as DeadLetterJob);
    expect(letters).toMatchObject([{ queue: 'charity-delivery', referralId: id, errorKind: 'permanent' }]);
  });

  test('over the in-flight limit a delivery waits for the slot and is then sent at once, with no job', async () => {
    start({ DELIVERY_FIRST_ATTEMPT_IN_FLIGHT: '1' });
    nock(CHARITY).post('/v1/referrals').delay(200).times(2).reply(201, { id: 'CH-000780', status: 'RECEIVED' });
    const first = await queuedReferral();
    const second = await queuedReferral();
    await ctx.deliveries.dispatch(first.id, CORRELATION, first.seq, 'CHARITY');
    await ctx.deliveries.dispatch(second.id, CORRELATION, second.seq, 'CHARITY');
    expect((await ctx.referrals.get(second.id))?.status).toBe('QUEUED');
    await ctx.deliveries.idle();
    expect((await ctx.referrals.get(first.id))?.status).toBe('SENT');
    expect((await ctx.referrals.get(second.id))?.status).toBe('SENT');
    expect(await deliveryJobs()).toEqual([]);
  });

  test('stopping queues the deliveries still waiting and waits for those under way; after it, deliveries are queued', async () => {
    start({ DELIVERY_FIRST_ATTEMPT_IN_FLIGHT: '1' });
    nock(CHARITY).post('/v1/referrals').delay(300).reply(201, { id: 'CH-000779', status: 'RECEIVED' });
    const first = await queuedReferral();
    const second = await queuedReferral();
    const third = await queuedReferral();
    await ctx.deliveries.dispatch(first.id, CORRELATION, first.seq, 'CHARITY');
    await ctx.deliveries.dispatch(second.id, CORRELATION, second.seq, 'CHARITY');
    expect(await deliveryJobs()).toEqual([]);
    await ctx.deliveries.close();
    // close() returned only once the attempt under way had finished; the waiting one is a job.
    expect((await ctx.referrals.get(first.id))?.status).toBe('SENT');
    expect(await deliveryJobs()).toEqual([`${second.id}-q${second.seq}`]);
    await ctx.deliveries.dispatch(third.id, CORRELATION, third.seq, 'CHARITY');
    expect((await deliveryJobs()).sort()).toEqual([`${second.id}-q${second.seq}`, `${third.id}-q${third.seq}`].sort());
  });

  test('the status poll queues a job, once, for a referral left QUEUED with no attempt or job (its process died)', async () => {
    start();
    nock(CHARITY).persist().get(/.*/).reply(503);
    const orphaned = await queuedReferral();
    const recent = await queuedReferral();
    // QUEUED for longer than any attempt could run (the index holds when it became QUEUED).
    await ctx.redis.zadd(ctx.keys.queued(), Date.now() - 10 * 60_000, orphaned.id);
    expect((await pollPartnerStatuses(ctx)).deliveriesRequeued).toBe(1);
    expect(await deliveryJobs()).toEqual([`${orphaned.id}-q${orphaned.seq}`]);
    // Its job is there now: the next poll leaves it alone; the recent one is not yet looked at.
    expect((await pollPartnerStatuses(ctx)).deliveriesRequeued).toBe(0);
    expect(await deliveryJobs()).toEqual([`${orphaned.id}-q${orphaned.seq}`]);
    expect(await inQueuedIndex(recent.id)).toBe(true);
  });

  test('an orphan behind a page of referrals already in hand is found by the next poll', async () => {
    start();
    nock(CHARITY).persist().get(/.*/).reply(503);
    const orphaned = await queuedReferral();
    const old = Date.now() - 10 * 60_000;
    // 500 older entries (the page size) that need nothing: as referrals whose jobs wait on retries.
    await ctx.redis.zadd(ctx.keys.queued(), ...Array.from({ length: 500 }, (_, i) => [old + i, `in-hand-${i}`]).flat());
    await ctx.redis.zadd(ctx.keys.queued(), old + 1000, orphaned.id);
    expect((await pollPartnerStatuses(ctx)).deliveriesRequeued).toBe(0);
    expect((await pollPartnerStatuses(ctx)).deliveriesRequeued).toBe(1);
    expect(await deliveryJobs()).toEqual([`${orphaned.id}-q${orphaned.seq}`]);
  });
});
