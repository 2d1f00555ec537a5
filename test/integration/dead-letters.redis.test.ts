import Hapi, { type Server } from '@hapi/hapi';
import type { Job, Worker } from 'bullmq';
import nock from 'nock';
import { authPlugin, SCOPE } from '../../src/api/auth';
import { deadLettersPlugin } from '../../src/api/dead-letters';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { Referral } from '../../src/domain/referral';
import { ingestDocument } from '../../src/pipeline/ingest/feed-ingest';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import {
  discardDeadLetter,
  listDeadLetters,
  redriveDeadLetter,
  redriveMatching,
  showDeadLetter,
  type AuditSink,
  type DeadLetterSummary,
} from '../../src/operations/dead-letter-admin';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueCancel, enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import { startIntakeWorker } from '../../src/pipeline/intake';
import { startWriteBackWorker } from '../../src/pipeline/write-back/write-back-worker';
import type { DeadLetterJob, IntakeJob } from '../../src/queues/topology';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { advocacyReferral, clinicalReferral } from '../helpers/referrals';
import { capturedLogger, operatorHeader, testConfig, waitFor, stopBridge } from '../helpers/bridge';
import { restoreNockAfterAll, rmsStoresOne } from '../helpers/nock';

restoreNockAfterAll();

/**
 * The dead-letter tools on real Redis and real BullMQ queues, partners played by nock: real dead
 * letters (charity 422 and 401, a police write-back 400, an intake job out of attempts), then
 * list, show, redrive and discard through the functions and the API.
 */
const CHARITY = 'http://charity.test';
const RMS = 'http://rms.test';
const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';
const PLANTED = 'Zebedeeplanted';
const OPERATOR = 'operator:alice';

type AuditEvent = Parameters<AuditSink['record']>[0];
const fakeAudit = () => {
  const events: AuditEvent[] = [];
  return { events, sink: { record: async (e: AuditEvent) => void events.push(e) } satisfies AuditSink };
};

/** A distinct advocacy referral (its own id and crime) with a planted victim name. */
function referralNo(n: number, overrides: Partial<Referral> = {}): Referral {
  const base = advocacyReferral();
  return advocacyReferral({
    referralId: `3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e${String(n).padStart(2, '0')}`,
    crimeReference: `CC-26-00099${String(n).padStart(2, '0')}`,
    subject: { ...base.subject, forename: PLANTED, surname: `Surname${n}` },
    ...overrides,
  });
}

describe('dead letters', () => {
  let ctx: BridgeContext;
  let workers: Worker[];

  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    ctx = createContext(
      testConfig({
        CHARITY_API_URL: CHARITY,
        CHARITY_API_KEY: 'k',
        POLICE_FEED_URL: RMS,
        DELIVERY_ATTEMPTS: '4',
        DELIVERY_BACKOFF_MS: '20',
      }),
      capturedLogger().logger,
    );
    workers = [];
  });
  afterEach(async () => {
    await stopBridge(ctx, workers);
    nock.cleanAll();
    nock.enableNetConnect();
  });

  const startCharity = () => workers.push(startDeliveryWorker(ctx, charityDelivery(ctx)));

  async function queueReferral(referral: Referral): Promise<string> {
    await ctx.referrals.saveData(referral);
    const t = await ctx.referrals.transition(referral.referralId, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: referral.referralId,
        type: 'ADVOCACY',
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: CORRELATION,
      },
    });
    if (!t.applied) throw new Error('setup failed');
    await enqueueDelivery(ctx, referral.referralId, CORRELATION, t.seq);
    return referral.referralId;
  }

  const entries = async () => (await ctx.queues.deadLetter.getJobs(['waiting'])) as Job<DeadLetterJob>[];
  const entryFor = async (pred: (d: DeadLetterJob) => boolean) =>
    waitFor(async () => (await entries()).find((j) => pred(j.data)), 'dead letter');

  /** A charity delivery refused with this status: the referral FAILED, its dead letter written. */
  async function failedDelivery(n: number, status: 422 | 401): Promise<{ referralId: string; deadLetterId: string }> {
    const referral = referralNo(n);
    nock(CHARITY)
      .post('/v1/referrals')
      .reply(status, status === 422 ? { errors: [{ path: 'client.safeContact', message: 'is required' }] } : { error: 'unauthorised' });
    const referralId = await queueReferral(referral);
    await waitFor(async () => (await ctx.referrals.get(referralId))?.status === 'FAILED', 'referral FAILED');
    const job = await entryFor((d) => d.referralId === referralId && d.queue === 'charity-delivery');
    return { referralId, deadLetterId: String(job.id) };
  }

  /** A police write-back refused with 400: dead-lettered, still pending in the outbox. */
  async function failedWriteBack(referralId: string, seq: number): Promise<string> {
    nock(RMS).post('/referral-outcomes').reply(400, 'bad');
    // Only this write-back: the others queued by status changes so far are not the test's.
    await ctx.queues.policeWriteBacks.drain();
    const worker = startWriteBackWorker(ctx);
    await ctx.queues.policeWriteBacks.add('outcome', { referralId, seq, correlationId: CORRELATION }, { jobId: `${referralId}-s${seq}` });
    const job = await entryFor((d) => d.queue === 'police-outcomes' && d.referralId === referralId);
    await worker.close();
    return String(job.id);
  }

  /**
   * An intake job out of attempts: another process holds the crime's lock (CrimeBusyError, a
   * transient error), and the job is given one attempt so the test does not wait out the backoff.
   */
  async function failedIntake(crimeReference: string): Promise<{ deadLetterId: string; release: () => Promise<void> }> {
    const [generated] = generateFeedRecords({ records: 1, seed: 7, prefix: 'X' });
    const xml = generated!.xml
      .replace(/<CrimeReference>[^<]+</, `<CrimeReference>${crimeReference}<`)
      .replace(/<RecordVersion>[^<]+</, '<RecordVersion>1<')
      .replace(/<Forename>[^<]+<\/Forename>/, `<Forename>${PLANTED}</Forename>`);
    await ingestDocument(ctx, Buffer.from(feedDocument([xml])), 'push');
    const [queued] = (await ctx.queues.intake.getJobs(['waiting'])) as Job<IntakeJob>[];
    await queued!.remove();
    await ctx.queues.intake.add('record', queued!.data, { jobId: String(queued!.id), attempts: 1 });
    const token = await ctx.lock.acquire(`crime:${crimeReference}`, 60_000);
    const worker = startIntakeWorker(ctx);
    const job = await entryFor((d) => d.queue === 'intake' && d.crimeReference === crimeReference);
    await worker.close();
    return { deadLetterId: String(job.id), release: () => ctx.lock.release(`crime:${crimeReference}`, token!) };
  }

  test('list: by partner, error class, queue and age; metadata only', async () => {
    startCharity();
    const permanent = await failedDelivery(1, 422);
    const auth = await failedDelivery(2, 401);
    const police = await failedWriteBack(permanent.referralId, 1);
    const intake = await failedIntake('42/0001234/26');

    const ids = (items: DeadLetterSummary[]) => items.map((s) => s.id).sort();
    const all = await listDeadLetters(ctx);
    expect(ids(all)).toEqual([permanent.deadLetterId, auth.deadLetterId, police, intake.deadLetterId].sort());
    // Oldest first, and never the job data (the intake entry's data is a sealed police record).
    expect(all.map((s) => s.id)).toEqual([permanent.deadLetterId, auth.deadLetterId, police, intake.deadLetterId]);
    for (const s of all) expect(s).not.toHaveProperty('data');
    expect(JSON.stringify(all)).not.toContain(PLANTED);
    expect(all[0]).toMatchObject({
      queue: 'charity-delivery',
      jobName: 'deliver',
      partner: 'CHARITY',
      errorKind: 'permanent',
      attempts: 1,
      referralId: permanent.referralId,
    });

    expect(ids(await listDeadLetters(ctx, { partner: 'CHARITY' }))).toEqual([permanent.deadLetterId, auth.deadLetterId].sort());
    expect(ids(await listDeadLetters(ctx, { partner: 'POLICE' }))).toEqual([police]);
    expect(ids(await listDeadLetters(ctx, { errorKind: 'auth' }))).toEqual([auth.deadLetterId]);
    expect(ids(await listDeadLetters(ctx, { errorKind: 'transient' }))).toEqual([intake.deadLetterId]);
    expect(ids(await listDeadLetters(ctx, { queue: 'intake' }))).toEqual([intake.deadLetterId]);
    expect(ids(await listDeadLetters(ctx, { queue: 'police-outcomes', partner: 'CHARITY' }))).toEqual([]);
    expect(await listDeadLetters(ctx, { limit: 2 })).toHaveLength(2);

    // Age: one entry failed two hours ago.
    const old = (await ctx.queues.deadLetter.getJob(auth.deadLetterId))!;
    await old.updateData({ ...old.data, failedAt: new Date(Date.now() - 2 * 3600_000).toISOString() });
    expect(ids(await listDeadLetters(ctx, { olderThanMs: 3600_000 }))).toEqual([auth.deadLetterId]);
    expect(ids(await listDeadLetters(ctx, { newerThanMs: 3600_000 }))).toEqual(
      [permanent.deadLetterId, police, intake.deadLetterId].sort(),
    );
    const inAnHour = new Date(Date.now() + 3600_000);
    expect(await listDeadLetters(ctx, { olderThanMs: 30 * 60_000 }, inAnHour)).toHaveLength(4);
    await intake.release();
  });

  test('list pages through more dead letters than one page', async () => {
    const jobs = Array.from({ length: 1203 }, (_, i) => ({
      name: 'charity-delivery:deliver',
      data: {
        queue: 'charity-delivery',
        jobId: `j${i}`,
        jobName: 'deliver',
        data: {},
        partner: i % 3 === 0 ? 'NHS' : 'CHARITY',
        errorKind: 'permanent',
        reason: 'x',
        attempts: 1,
        failedAt: new Date().toISOString(),
      } as DeadLetterJob,
      opts: { jobId: `charity-delivery-j${i}-0` },
    }));
    await ctx.queues.deadLetter.addBulk(jobs);
    expect(await listDeadLetters(ctx)).toHaveLength(1203);
    expect(await listDeadLetters(ctx, { partner: 'NHS' })).toHaveLength(401);
    expect((await listDeadLetters(ctx, { limit: 700 })).at(-1)?.id).toBe('charity-delivery-j699-0');
  });

  test('show: metadata and the timeline; personal data only when asked', async () => {
    startCharity();
    const { referralId, deadLetterId } = await failedDelivery(1, 422);
    const intake = await failedIntake('CC-26-0007777');

    const plain = await showDeadLetter(ctx, deadLetterId, { withPersonalData: false });
    expect(plain).toMatchObject({
      id: deadLetterId,
      referralId,
      reason: expect.stringContaining('client.safeContact'),
      redrive: { possible: true },
    });
    expect(plain!.referral).toMatchObject({ status: 'FAILED', lastError: expect.stringContaining('client.safeContact') });
    expect(plain!.referral!.timeline.map((e) => e.status)).toEqual(['QUEUED', 'FAILED']);
    expect(plain).not.toHaveProperty('personalData');
    expect(JSON.stringify(plain)).not.toContain(PLANTED);

    const personal = await showDeadLetter(ctx, deadLetterId, { withPersonalData: true });
    expect(personal!.personalData).toMatchObject({ kind: 'outbound-payload' });
    expect(JSON.stringify(personal)).toContain(PLANTED);

    const intakePlain = await showDeadLetter(ctx, intake.deadLetterId, { withPersonalData: false });
    expect(JSON.stringify(intakePlain)).not.toContain(PLANTED);
    expect(JSON.stringify(intakePlain)).not.toMatch(/enc\d\./);
    const intakePersonal = await showDeadLetter(ctx, intake.deadLetterId, { withPersonalData: true });
    expect(intakePersonal!.personalData).toMatchObject({ kind: 'police-record', record: { crimeReference: 'CC-26-0007777' } });
    expect(JSON.stringify(intakePersonal)).toContain(PLANTED);

    expect(await showDeadLetter(ctx, 'charity-delivery-nope-0', { withPersonalData: true })).toBeUndefined();
    await intake.release();
  });

  test('redrive a FAILED charity referral: same id, redrive on its timeline, the same payload again, then SENT', async () => {
    startCharity();
    const bodies: string[] = [];
    const keys: string[] = [];
    const capture = function (this: { req: { headers: Record<string, string> } }, _uri: string, body: unknown) {
      bodies.push(typeof body === 'string' ? body : JSON.stringify(body));
      keys.push(String(this.req.headers['idempotency-key']));
    };
    const referral = referralNo(1);
    nock(CHARITY)
      .post('/v1/referrals')
      .reply(function (uri, body) {
        capture.call(this, uri, body);
        return [422, { errors: [{ path: 'client.safeContact', message: 'is required' }] }];
      })
      .post('/v1/referrals')
      .reply(function (uri, body) {
        capture.call(this, uri, body);
        return [201, { id: 'CH-000777', status: 'RECEIVED' }];
      });
    const id = await queueReferral(referral);
    await waitFor(async () => (await ctx.referrals.get(id))?.status === 'FAILED', 'referral FAILED');
    const letter = await entryFor((d) => d.referralId === id);
    const audit = fakeAudit();

    const result = await redriveDeadLetter(ctx, String(letter.id), OPERATOR, audit.sink);
    expect(result).toEqual({ id: String(letter.id), outcome: 'redriven', newJobId: `${id}-q3` });
    const meta = await waitFor(async () => {
      const m = await ctx.referrals.get(id);
      return m?.status === 'SENT' ? m : undefined;
    }, 'referral SENT');
    expect(meta).toMatchObject({ referralId: id, partnerRef: 'CH-000777' });
    const timeline = await ctx.referrals.timeline(id);
    expect(timeline.map((e) => [e.status, e.source])).toEqual([
      ['QUEUED', 'test'],
      ['FAILED', 'bridge'],
      ['QUEUED', 'redrive'],
      ['SENT', 'CHARITY'],
    ]);
    expect(timeline[2]).toMatchObject({ from: 'FAILED', detail: `redriven by ${OPERATOR}` });
    expect(await ctx.queues.deadLetter.getJob(String(letter.id))).toBeUndefined();
    expect(await listDeadLetters(ctx)).toEqual([]);
    // The payload frozen at the first attempt, byte for byte, under the same Idempotency-Key.
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toBe(bodies[0]);
    expect(keys).toEqual([id, id]);
    expect(audit.events).toEqual([
      {
        actor: OPERATOR,
        action: 'dead_letter.redriven',
        referralId: id,
        crimeReference: referral.crimeReference,
        partner: 'CHARITY',
        status: 'QUEUED',
        outcome: 'redriven',
        target: String(letter.id),
      },
    ]);
  });

  test('redrive is refused when the referral is no longer FAILED, and the dead letter stays', async () => {
    startCharity();
    const { referralId, deadLetterId } = await failedDelivery(1, 422);
    await ctx.referrals.transition(referralId, { to: 'CANCELLED', source: 'police', detail: 'CONSENT_WITHDRAWN' });
    const audit = fakeAudit();
    const result = await redriveDeadLetter(ctx, deadLetterId, OPERATOR, audit.sink);
    expect(result).toEqual({ id: deadLetterId, outcome: 'refused', why: expect.stringContaining('CANCELLED') });
    expect((await showDeadLetter(ctx, deadLetterId, { withPersonalData: false }))!.redrive).toEqual({
      possible: false,
      why: expect.stringContaining('CANCELLED'),
    });
    expect(await ctx.queues.deadLetter.getJob(deadLetterId)).toBeDefined();
    expect(audit.events).toEqual([]);
    expect(await redriveDeadLetter(ctx, 'charity-delivery-nope-0', OPERATOR)).toEqual({
      id: 'charity-delivery-nope-0',
      outcome: 'refused',
      why: 'no dead letter with that id',
      notFound: true,
    });
  });

  test('two operators redriving the same dead letter at once: one redrive, one refusal, one new job', async () => {
    const { referralId, deadLetterId } = await (async () => {
      startCharity();
      const r = await failedDelivery(1, 422);
      await workers.pop()!.close(); // nothing delivers: the new job stays in the queue to be counted
      return r;
    })();
    const results = await Promise.all([
      redriveDeadLetter(ctx, deadLetterId, 'operator:a'),
      redriveDeadLetter(ctx, deadLetterId, 'operator:b'),
    ]);
    expect(results.map((r) => r.outcome).sort()).toEqual(['redriven', 'refused']);
    expect((await ctx.queues.charityDelivery.getJobs(['waiting'])).map((j) => j.id)).toEqual([`${referralId}-q3`]);
    expect((await ctx.referrals.timeline(referralId)).filter((e) => e.source === 'redrive')).toHaveLength(1);
  });

  test('redrive matching a filter redrives those only', async () => {
    startCharity();
    const permanent = await failedDelivery(1, 422);
    const auth = await failedDelivery(2, 401);
    nock(CHARITY).post('/v1/referrals').reply(201, { id: 'CH-000002', status: 'RECEIVED' });
    const audit = fakeAudit();
    const results = await redriveMatching(ctx, { errorKind: 'auth' }, OPERATOR, audit.sink);
    expect(results).toEqual([{ id: auth.deadLetterId, outcome: 'redriven', newJobId: `${auth.referralId}-q3` }]);
    await waitFor(async () => (await ctx.referrals.get(auth.referralId))?.status === 'SENT', 'redriven referral SENT');
    expect((await ctx.referrals.get(permanent.referralId))?.status).toBe('FAILED');
    expect((await listDeadLetters(ctx)).map((s) => s.id)).toEqual([permanent.deadLetterId]);
    expect(audit.events.map((e) => [e.action, e.target])).toEqual([['dead_letter.redriven', auth.deadLetterId]]);
    expect(await redriveMatching(ctx, { partner: 'NHS' }, OPERATOR)).toEqual([]);
  });

  test('discard removes it; the reason stays out of the logs and the audit, sealed with the discard record', async () => {
    const captured = capturedLogger();
    ctx.logger = captured.logger;
    startCharity();
    const { referralId, deadLetterId } = await failedDelivery(1, 422);
    const audit = fakeAudit();
    const reason = `victim ${PLANTED} moved away, charity contacted by phone`;

    expect(await discardDeadLetter(ctx, deadLetterId, 'two\nlines', OPERATOR, audit.sink)).toMatchObject({ outcome: 'refused' });
    expect(await discardDeadLetter(ctx, deadLetterId, '', OPERATOR, audit.sink)).toMatchObject({ outcome: 'refused' });
    expect(await discardDeadLetter(ctx, deadLetterId, 'x'.repeat(201), OPERATOR, audit.sink)).toMatchObject({ outcome: 'refused' });
    expect(await ctx.queues.deadLetter.getJob(deadLetterId)).toBeDefined();

    expect(await discardDeadLetter(ctx, deadLetterId, reason, OPERATOR, audit.sink)).toEqual({
      id: deadLetterId,
      outcome: 'discarded',
      reason,
    });
    expect(await ctx.queues.deadLetter.getJob(deadLetterId)).toBeUndefined();
    expect(await listDeadLetters(ctx)).toEqual([]);
    expect(audit.events).toEqual([
      {
        actor: OPERATOR,
        action: 'dead_letter.discarded',
        referralId,
        crimeReference: 'CC-26-0009901',
        partner: 'CHARITY',
        outcome: 'discarded',
        target: deadLetterId,
      },
    ]);
    expect(captured.text()).toContain('dead letter discarded');
    expect(captured.text()).not.toContain(PLANTED);

    // Later: who and when for anyone; the reason only with personal data. Not redriven by mistake.
    const shown = await showDeadLetter(ctx, deadLetterId, { withPersonalData: false });
    expect(shown).toMatchObject({ id: deadLetterId, discarded: { by: OPERATOR }, redrive: { possible: false } });
    expect(JSON.stringify(shown)).not.toContain(PLANTED);
    expect((await showDeadLetter(ctx, deadLetterId, { withPersonalData: true }))!.discardReason).toBe(reason);
    const again = await redriveDeadLetter(ctx, deadLetterId, OPERATOR);
    expect(again).toMatchObject({ outcome: 'refused', why: expect.stringContaining(`discarded by ${OPERATOR}`) });
    expect(again).not.toHaveProperty('notFound');
    const keys = await ctx.redis.keys(`${ctx.config.redis.prefix}:dead-letter:discarded:*`);
    expect(await ctx.redis.get(keys[0]!)).not.toContain(PLANTED);
  });

  test('an intake dead letter is redriven under a new job id and the record is applied', async () => {
    const intake = await failedIntake('42/0001234/26');
    await intake.release();
    workers.push(startIntakeWorker(ctx));
    const result = await redriveDeadLetter(ctx, intake.deadLetterId, OPERATOR);
    expect(result).toEqual({ id: intake.deadLetterId, outcome: 'redriven', newJobId: expect.stringMatching(/^42\/0001234\/26@v1-r\d+$/) });
    await waitFor(async () => (await ctx.referrals.crimeVersion('42/0001234/26')) === 1, 'record applied');
    const job = (await ctx.queues.intake.getJob((result as { newJobId: string }).newJobId))!;
    expect(job.data).toMatchObject({ source: 'redrive' });
    expect(await listDeadLetters(ctx)).toEqual([]);
  });

  test('a police write-back is redriven under a new id, with the same Idempotency-Key; refused once stored', async () => {
    const referral = referralNo(1);
    await ctx.referrals.saveData(referral);
    await ctx.referrals.transition(referral.referralId, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: referral.referralId,
        type: 'ADVOCACY',
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: CORRELATION,
      },
    });
    const deadLetterId = await failedWriteBack(referral.referralId, 1);
    const keys: string[] = [];
    rmsStoresOne(RMS, keys);
    workers.push(startWriteBackWorker(ctx));
    const result = await redriveDeadLetter(ctx, deadLetterId, OPERATOR);
    expect(result).toMatchObject({ outcome: 'redriven', newJobId: expect.stringMatching(new RegExp(`^${referral.referralId}-s1-r\\d+$`)) });
    await waitFor(async () => (await ctx.referrals.outboxSize()) === 0, 'write-back stored');
    expect(keys).toEqual([`${referral.referralId}:QUEUED:1`]);

    // A second dead letter for the same change (e.g. written before the redrive landed): nothing left to do.
    await ctx.queues.deadLetter.add(
      'police-outcomes:outcome',
      {
        queue: 'police-outcomes',
        jobId: 'x',
        jobName: 'outcome',
        data: { referralId: referral.referralId, seq: 1, correlationId: CORRELATION },
        partner: 'POLICE',
        errorKind: 'permanent',
        reason: 'HTTP 400',
        attempts: 1,
        failedAt: new Date().toISOString(),
        referralId: referral.referralId,
      },
      { jobId: 'police-outcomes-x-0' },
    );
    expect(await redriveDeadLetter(ctx, 'police-outcomes-x-0', OPERATOR)).toMatchObject({
      outcome: 'refused',
      why: expect.stringContaining('already hold'),
    });
  });

  test('a failed cancel is redriven while the partner still holds the referral; refused once it confirmed', async () => {
    startCharity();
    const referral = referralNo(1);
    await ctx.referrals.saveData(referral);
    await ctx.referrals.transition(referral.referralId, {
      to: 'SENT',
      source: 'test',
      create: {
        referralId: referral.referralId,
        type: 'ADVOCACY',
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: CORRELATION,
      },
      patch: { partnerRef: 'CH-000555' },
    });
    nock(CHARITY).post('/v1/referrals/CH-000555/cancel').reply(401, { error: 'unauthorised' });
    await enqueueCancel(ctx, referral.referralId, 'CHARITY', CORRELATION, 'CONSENT_WITHDRAWN');
    const letter = await entryFor((d) => d.jobName === 'cancel');
    expect((await ctx.referrals.get(referral.referralId))?.status).toBe('SENT');

    nock(CHARITY).post('/v1/referrals/CH-000555/cancel').reply(200, { id: 'CH-000555', status: 'CANCELLED' });
    const result = await redriveDeadLetter(ctx, String(letter.id), OPERATOR);
    expect(result).toMatchObject({
      outcome: 'redriven',
      newJobId: expect.stringMatching(new RegExp(`^${referral.referralId}-cancel-r\\d+$`)),
    });
    await waitFor(async () => (await ctx.referrals.get(referral.referralId))?.status === 'CANCELLED', 'referral CANCELLED');

    await ctx.queues.deadLetter.add('charity-delivery:cancel', { ...letter.data }, { jobId: 'charity-delivery-again-0' });
    expect(await redriveDeadLetter(ctx, 'charity-delivery-again-0', OPERATOR)).toMatchObject({
      outcome: 'refused',
      why: expect.stringContaining('already confirmed'),
    });
  });

  test('a BaRS fatal-error dead letter (written by the $process-message route) redrives the FAILED NHS referral', async () => {
    const referral = clinicalReferral();
    const id = referral.referralId;
    await ctx.referrals.saveData(referral);
    await ctx.referrals.transition(id, {
      to: 'QUEUED',
      source: 'test',
      create: { referralId: id, type: 'CLINICAL', crimeReference: referral.crimeReference, recordVersion: 3, correlationId: CORRELATION },
    });
    await ctx.referrals.transition(id, { to: 'SENT', source: 'NHS' });
    await ctx.referrals.transition(id, { to: 'FAILED', source: 'nhs-bars', detail: 'trust refused the message' });
    // The same shape nhs-messages.ts writes.
    const entry: DeadLetterJob = {
      queue: 'nhs-delivery',
      jobId: 'bars-response-6f1c0000-0000-4000-8000-000000000001',
      jobName: 'deliver',
      data: { referralId: id, correlationId: CORRELATION, action: 'deliver' },
      partner: 'NHS',
      errorKind: 'permanent',
      reason: 'NHS BaRS receiver answered fatal-error: unknown service',
      attempts: 1,
      failedAt: new Date().toISOString(),
      referralId: id,
      crimeReference: referral.crimeReference,
      correlationId: CORRELATION,
    };
    await ctx.queues.deadLetter.add('nhs-delivery:bars-response', entry, {
      jobId: 'nhs-delivery-bars-6f1c0000-0000-4000-8000-000000000001',
    });
    expect(await listDeadLetters(ctx, { partner: 'NHS', errorKind: 'permanent', queue: 'nhs-delivery' })).toHaveLength(1);
    const result = await redriveDeadLetter(ctx, 'nhs-delivery-bars-6f1c0000-0000-4000-8000-000000000001', OPERATOR);
    expect(result).toEqual({ id: 'nhs-delivery-bars-6f1c0000-0000-4000-8000-000000000001', outcome: 'redriven', newJobId: `${id}-q4` });
    expect((await ctx.referrals.get(id))?.status).toBe('QUEUED');
    expect((await ctx.queues.nhsDelivery.getJob(`${id}-q4`))?.data).toEqual({
      referralId: id,
      correlationId: CORRELATION,
      action: 'deliver',
    });
  });

  describe('API', () => {
    let server: Server;
    let audit: ReturnType<typeof fakeAudit>;

    beforeEach(async () => {
      audit = fakeAudit();
      server = Hapi.server({ port: 0 });
      await server.register({ plugin: authPlugin, options: { config: ctx.config } });
      await server.register({ plugin: deadLettersPlugin, options: { ctx, audit: audit.sink } });
    });
    afterEach(async () => {
      await server.stop();
    });

    const dlq = () => operatorHeader(ctx.config, [SCOPE.dlqRedrive], 'alice');
    const admin = () => operatorHeader(ctx.config, [SCOPE.admin], 'root');
    const call = async (method: string, url: string, headers: Record<string, string>, payload?: unknown) => {
      const res = await server.inject({
        method,
        url,
        headers: { ...headers, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
        payload: payload as object | undefined,
      });
      return { status: res.statusCode, body: JSON.parse(res.payload || 'null') as Record<string, unknown> };
    };

    test('list and show; personal data for admin only, audited with the operator; 404 for an unknown id', async () => {
      startCharity();
      const { referralId, deadLetterId } = await failedDelivery(1, 422);
      const intake = await failedIntake('42/0001234/26');
      await intake.release();

      expect((await call('GET', '/v1/dead-letters', {})).status).toBe(401);
      expect((await call('GET', '/v1/dead-letters', operatorHeader(ctx.config, [SCOPE.referralsRead]))).status).toBe(403);
      const list = await call('GET', '/v1/dead-letters?partner=CHARITY', dlq());
      expect(list.status).toBe(200);
      expect((list.body.items as DeadLetterSummary[]).map((s) => s.id)).toEqual([deadLetterId]);
      expect(
        (await call('GET', '/v1/dead-letters?queue=intake&errorKind=transient&newerThanMinutes=10&limit=5', dlq())).body.items,
      ).toHaveLength(1);
      expect((await call('GET', '/v1/dead-letters?olderThanMinutes=10', dlq())).body).toEqual({ items: [], truncated: false });
      expect((await call('GET', '/v1/dead-letters?limit=1', dlq())).body.truncated).toBe(true);
      expect((await call('GET', '/v1/dead-letters?partner=nobody', dlq())).status).toBe(400);

      const shown = await call('GET', `/v1/dead-letters/${deadLetterId}`, dlq());
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ id: deadLetterId, referralId, referral: { status: 'FAILED' } });
      expect(JSON.stringify(shown.body)).not.toContain(PLANTED);

      expect((await call('GET', `/v1/dead-letters/${deadLetterId}?include=personal`, dlq())).status).toBe(403);
      expect(audit.events).toEqual([]);
      const personal = await call('GET', `/v1/dead-letters/${deadLetterId}?include=personal`, admin());
      expect(personal.status).toBe(200);
      expect(JSON.stringify(personal.body)).toContain(PLANTED);
      expect(audit.events).toEqual([
        {
          actor: 'operator:root',
          action: 'admin.read',
          referralId,
          crimeReference: 'CC-26-0009901',
          partner: 'CHARITY',
          outcome: 'ok',
          target: deadLetterId,
        },
      ]);

      // An id with a '/' (from a crime reference) travels as %2F.
      const intakeShown = await call('GET', `/v1/dead-letters/${encodeURIComponent(intake.deadLetterId)}`, dlq());
      expect(intakeShown.body).toMatchObject({ id: intake.deadLetterId, crimeReference: '42/0001234/26', queue: 'intake' });

      expect((await call('GET', '/v1/dead-letters/charity-delivery-nope-0', dlq())).status).toBe(404);
      expect((await call('GET', '/v1/dead-letters/charity-delivery-nope-0?include=personal', admin())).status).toBe(404);
      expect((await call('POST', '/v1/dead-letters/charity-delivery-nope-0/redrive', dlq())).status).toBe(404);
      expect((await call('POST', '/v1/dead-letters/charity-delivery-nope-0/discard', dlq(), { reason: 'duplicate' })).status).toBe(404);
    });

    test('redrive one (200, then 409), redrive matching (a filter or all), discard with a reason', async () => {
      startCharity();
      const first = await failedDelivery(1, 422);
      const second = await failedDelivery(2, 401);
      const third = await failedDelivery(3, 401);
      nock(CHARITY).post('/v1/referrals').times(3).reply(201, { id: 'CH-000001', status: 'RECEIVED' });

      const ok = await call('POST', `/v1/dead-letters/${first.deadLetterId}/redrive`, dlq());
      expect(ok).toEqual({ status: 200, body: { id: first.deadLetterId, outcome: 'redriven', newJobId: `${first.referralId}-q3` } });
      await waitFor(async () => (await ctx.referrals.get(first.referralId))?.status === 'SENT', 'SENT');
      expect((await ctx.referrals.timeline(first.referralId)).find((e) => e.source === 'redrive')?.detail).toBe(
        'redriven by operator:alice',
      );

      // Refused: the referral is no longer FAILED (put the same entry back to try).
      await ctx.queues.deadLetter.add(
        'x',
        {
          queue: 'charity-delivery',
          jobId: 'y',
          jobName: 'deliver',
          data: { referralId: first.referralId, correlationId: CORRELATION, action: 'deliver' },
          partner: 'CHARITY',
          errorKind: 'permanent',
          reason: 'HTTP 422',
          attempts: 1,
          failedAt: new Date().toISOString(),
          referralId: first.referralId,
        },
        { jobId: 'charity-delivery-y-0' },
      );
      const conflict = await call('POST', '/v1/dead-letters/charity-delivery-y-0/redrive', dlq());
      expect(conflict.status).toBe(409);
      expect(conflict.body).toMatchObject({ id: 'charity-delivery-y-0', outcome: 'refused', why: expect.stringContaining('SENT') });

      expect((await call('POST', '/v1/dead-letters/redrive', dlq(), {})).status).toBe(400);
      expect((await call('POST', '/v1/dead-letters/redrive', dlq(), { all: true, partner: 'CHARITY' })).status).toBe(400);
      expect((await call('POST', '/v1/dead-letters/redrive', dlq(), { all: false })).status).toBe(400);
      const matching = await call('POST', '/v1/dead-letters/redrive', dlq(), { errorKind: 'auth', partner: 'CHARITY' });
      expect(matching.status).toBe(200);
      expect((matching.body.results as { id: string; outcome: string }[]).map((r) => [r.id, r.outcome])).toEqual([
        [second.deadLetterId, 'redriven'],
        [third.deadLetterId, 'redriven'],
      ]);

      expect((await call('POST', '/v1/dead-letters/charity-delivery-y-0/discard', dlq(), {})).status).toBe(400);
      expect((await call('POST', '/v1/dead-letters/charity-delivery-y-0/discard', dlq(), { reason: 'a\nb' })).status).toBe(400);
      const discarded = await call('POST', '/v1/dead-letters/charity-delivery-y-0/discard', dlq(), {
        reason: 'stale copy: referral already SENT',
      });
      expect(discarded).toEqual({
        status: 200,
        body: { id: 'charity-delivery-y-0', outcome: 'discarded', reason: 'stale copy: referral already SENT' },
      });
      expect((await call('POST', '/v1/dead-letters/charity-delivery-y-0/discard', dlq(), { reason: 'again' })).status).toBe(409);
      expect((await call('POST', '/v1/dead-letters/redrive', dlq(), { all: true })).body).toEqual({ results: [] });

      expect(audit.events.map((e) => [e.action, e.actor, e.target, e.outcome])).toEqual([
        ['dead_letter.redriven', 'operator:alice', first.deadLetterId, 'redriven'],
        ['dead_letter.redriven', 'operator:alice', second.deadLetterId, 'redriven'],
        ['dead_letter.redriven', 'operator:alice', third.deadLetterId, 'redriven'],
        ['dead_letter.discarded', 'operator:alice', 'charity-delivery-y-0', 'discarded'],
      ]);
      expect(JSON.stringify(audit.events)).not.toContain('stale copy');
    });
  });
});
