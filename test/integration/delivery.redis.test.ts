import type { Worker } from 'bullmq';
import nock from 'nock';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueCancel, enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import { startWriteBackWorker } from '../../src/pipeline/write-back/write-back-worker';
import type { DeadLetterJob } from '../../src/queues/topology';
import { advocacyReferral, queueWithoutDelivery } from '../helpers/referrals';
import { capturedLogger, testConfig, waitFor, stopBridge } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * Delivery through real BullMQ queues on real Redis, the charity and police RMS played by nock:
 * transient errors retry with backoff, permanent and credential errors dead-letter at once.
 */
describe('delivery queues', () => {
  let ctx: BridgeContext;
  let workers: Worker[];
  let logs: () => string;
  const CHARITY = 'http://charity.test';
  const RMS = 'http://rms.test';

  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    const captured = capturedLogger();
    logs = captured.text;
    ctx = createContext(
      testConfig({
        CHARITY_API_URL: CHARITY,
        CHARITY_API_KEY: 'k',
        POLICE_FEED_URL: RMS,
        DELIVERY_ATTEMPTS: '4',
        DELIVERY_BACKOFF_MS: '20',
      }),
      captured.logger,
    );
    workers = [startDeliveryWorker(ctx, charityDelivery(ctx))];
  });
  afterEach(async () => {
    await stopBridge(ctx, workers);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  async function queueReferral() {
    const id = await queueReferralWithoutDelivery();
    const meta = await ctx.referrals.get(id);
    await enqueueDelivery(ctx, id, 'c0ffee00-0000-4000-8000-000000000000', meta!.statusSeq);
    return id;
  }

  async function queueReferralWithoutDelivery() {
    const referral = advocacyReferral();
    await queueWithoutDelivery(ctx, referral, 'c0ffee00-0000-4000-8000-000000000000');
    return referral.referralId;
  }

  const deadLetters = async () => (await ctx.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data as DeadLetterJob);

  test('transient 503 and 429 are retried; the same body and Idempotency-Key each time; then SENT', async () => {
    const bodies: string[] = [];
    const keys: string[] = [];
    nock(CHARITY)
      .post('/v1/referrals', (b) => bodies.push(JSON.stringify(b)) > 0)
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']));
        return [503, { error: 'busy' }];
      })
      .post('/v1/referrals', (b) => bodies.push(JSON.stringify(b)) > 0)
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']));
        return [429, { error: 'slow down' }, { 'Retry-After': '0' }];
      })
      .post('/v1/referrals', (b) => bodies.push(JSON.stringify(b)) > 0)
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']));
        return [201, { id: 'CH-000123', status: 'RECEIVED' }];
      });
    const id = await queueReferral();
    const meta = await waitFor(async () => {
      const m = await ctx.referrals.get(id);
      return m?.status === 'SENT' ? m : undefined;
    }, 'referral SENT');
    expect(meta.partnerRef).toBe('CH-000123');
    expect(new Set(bodies).size).toBe(1);
    expect(keys).toEqual([id, id, id]);
    expect(await deadLetters()).toEqual([]);
  });

  test('422 dead-letters at once with the errors, and the referral is FAILED', async () => {
    const scope = nock(CHARITY)
      .post('/v1/referrals')
      .reply(422, { errors: [{ path: 'client.safeContact', message: 'is required' }] });
    const id = await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    scope.done();
    const [letter] = await deadLetters();
    expect(letter).toMatchObject({ queue: 'charity-delivery', partner: 'CHARITY', errorKind: 'permanent', referralId: id, attempts: 1 });
    expect(letter!.reason).toContain('client.safeContact');
    expect((await ctx.referrals.get(id))?.lastError).toContain('client.safeContact');
  });

  /** The dead-letter log line for the referral: operators' alerting keys on `alert`. */
  const deadLetterLog = (id: string) =>
    logs()
      .split('\n')
      .filter((l) => l.includes('"dead-lettered"'))
      .map((l) => JSON.parse(l) as { alert?: boolean; referralId?: string })
      .find((l) => l.referralId === id);

  test('409 idempotency conflict dead-letters at once and alerts', async () => {
    nock(CHARITY).post('/v1/referrals').once().reply(409, { error: 'idempotency_conflict' });
    const id = await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    expect((await deadLetters())[0]).toMatchObject({
      errorKind: 'permanent',
      attempts: 1,
      reason: expect.stringContaining('idempotency conflict'),
    });
    expect(deadLetterLog(id)).toMatchObject({ alert: true });
  });

  test('a 422 dead-letters without an alert: the data, not the system, needs a look', async () => {
    nock(CHARITY)
      .post('/v1/referrals')
      .reply(422, { errors: [{ path: 'client', message: 'is required' }] });
    const id = await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    expect(deadLetterLog(id)).toMatchObject({ alert: false });
  });

  test('401 dead-letters without a retry storm', async () => {
    const scope = nock(CHARITY).post('/v1/referrals').once().reply(401, { error: 'unauthorised' });
    const id = await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    scope.done();
    expect(nock.pendingMocks()).toEqual([]);
    expect((await deadLetters())[0]).toMatchObject({ errorKind: 'auth', attempts: 1 });
    expect(deadLetterLog(id)).toMatchObject({ alert: true });
  });

  async function sentReferral(): Promise<string> {
    const id = await queueReferralWithoutDelivery();
    await ctx.referrals.transition(id, { to: 'SENT', source: 'test', patch: { partnerRef: 'CH-000123', partnerStatus: 'RECEIVED' } });
    return id;
  }

  test('a withdrawal cancels at the charity with the reason, then the referral is CANCELLED', async () => {
    const id = await sentReferral();
    let body: unknown;
    nock(CHARITY)
      .post('/v1/referrals/CH-000123/cancel', (b) => ((body = b), true))
      .reply(200, { id: 'CH-000123', status: 'CANCELLED' });
    await enqueueCancel(ctx, id, 'CHARITY', 'c0ffee00-0000-4000-8000-000000000000', 'CONSENT_WITHDRAWN');
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'CANCELLED', 'referral CANCELLED');
    expect(body).toEqual({ reason: 'CONSENT_WITHDRAWN' });
    expect(await ctx.referrals.get(id)).toMatchObject({ cancelReason: 'CONSENT_WITHDRAWN' });
  });

  test('a case the charity had already closed (409) keeps its own final status, not CANCELLED', async () => {
    const id = await sentReferral();
    nock(CHARITY).post('/v1/referrals/CH-000123/cancel').reply(409, { error: 'already_closed' });
    await enqueueCancel(ctx, id, 'CHARITY', 'c0ffee00-0000-4000-8000-000000000000', 'RECORD_WITHDRAWN');
    await waitFor(async () => (await ctx.referrals.get(id))?.cancelReason === 'RECORD_WITHDRAWN', 'cancel recorded');
    expect((await ctx.referrals.get(id))?.status).toBe('SENT');
    expect(await deadLetters()).toEqual([]);
  });

  test('transient errors until attempts run out end in the dead-letter queue', async () => {
    nock(CHARITY).post('/v1/referrals').times(4).reply(500, { error: 'boom' });
    const id = await queueReferral();
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    expect((await deadLetters())[0]).toMatchObject({ errorKind: 'transient', attempts: 4 });
  });

  test('police write-back: retried on 503, idempotency key per change, outbox cleared once stored', async () => {
    workers.push(startWriteBackWorker(ctx));
    const keys: string[] = [];
    nock(RMS)
      .post('/referral-outcomes')
      .reply(503)
      .post('/referral-outcomes')
      .times(2)
      .reply(function () {
        keys.push(String(this.req.headers['idempotency-key']));
        return [201];
      });
    nock(CHARITY).post('/v1/referrals').reply(201, { id: 'CH-000124', status: 'RECEIVED' });
    const id = await queueReferral(); // QUEUED (seq 1): not written back by this helper, so enqueue it by hand
    await ctx.queues.policeWriteBacks.add('outcome', { referralId: id, seq: 1, correlationId: 'x' }, { jobId: `${id}-s1` });
    await waitFor(async () => keys.length === 2 && (await ctx.referrals.outboxSize()) === 0, 'both changes stored at the RMS');
    expect(keys.sort()).toEqual([`${id}:QUEUED:1`, `${id}:SENT:2`]);
  });

  test('police write-back: 400 is permanent and dead-lettered with the reason', async () => {
    workers.push(startWriteBackWorker(ctx));
    nock(RMS).post('/referral-outcomes').reply(400, 'bad');
    const id = await queueReferral();
    await ctx.queues.policeWriteBacks.add('outcome', { referralId: id, seq: 1, correlationId: 'x' }, { jobId: `${id}-s1` });
    const letters = await waitFor(async () => {
      const l = (await deadLetters()).filter((d) => d.queue === 'police-outcomes');
      return l.length ? l : undefined;
    }, 'dead letter');
    expect(letters[0]).toMatchObject({ partner: 'POLICE', errorKind: 'permanent', referralId: id });
    expect(letters[0]!.reason).toContain('400');
    // Still pending: operators see it in the outbox until redriven.
    expect(await ctx.referrals.outboxSize()).toBeGreaterThan(0);
  });
});
