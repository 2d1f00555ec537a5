import nock from 'nock';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import type { ReferralType } from '../../src/domain/crime-record';
import { reconcile } from '../../src/reconcile/reconciler';
import { renderReport, type ReconciliationReport } from '../../src/reconcile/report';
import { capturedLogger, dropKeys, operatorHeader, testConfig, waitFor } from '../helpers/bridge';
import { Worker } from 'bullmq';
import { QUEUE } from '../../src/queues/topology';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * The reconciler on real Redis, partners played by nock: each class of discrepancy found,
 * acted on through the usual paths, and reported with ids and crime references only.
 */
const TRUST = 'http://trust.test';
const CHARITY = 'http://charity.test';
const SYSTEM = 'https://iasu.example/Id/referral';
const NOW = new Date('2026-11-26T12:00:00Z');
const id = (n: number) => `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`;
const A = id(1); // NHS SENT, the trust has accepted it
const B = id(2); // NHS SENT, the trust has no Task
const C = id(3); // CHARITY SENT, the charity says ENGAGED
const D = id(4); // CHARITY SENT, the charity has lost it (404)
const E = id(5); // CHARITY ACCEPTED, unchanged for days, consent long ago: stuck and a Victims' Code breach
const F = id(6); // NHS SENT a week ago, never answered: clinical overdue
const ORPHAN_TASK = id(99);

describe('reconciler', () => {
  let ctx: BridgeContext;
  let logs: () => string;

  beforeEach(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    const captured = capturedLogger();
    logs = captured.text;
    ctx = createContext(
      testConfig({ NHS_FHIR_BASE_URL: `${TRUST}/fhir/R4`, CHARITY_API_URL: CHARITY, CHARITY_API_KEY: 'k' }),
      captured.logger,
    );

    await referral(A, 'CLINICAL', 'SENT', '2026-11-26T09:00:00Z');
    await referral(B, 'CLINICAL', 'SENT', '2026-11-26T09:00:00Z');
    await ctx.referrals.saveOutbound(B, { resourceType: 'Bundle', type: 'transaction', entry: [] });
    await referral(C, 'ADVOCACY', 'SENT', '2026-11-26T09:00:00Z', 'CH-000003', '2026-11-26T08:00:00Z');
    await referral(D, 'ADVOCACY', 'SENT', '2026-11-26T09:00:00Z', 'CH-000004', '2026-11-26T08:00:00Z');
    await ctx.referrals.saveOutbound(D, { externalReference: D });
    await referral(E, 'ADVOCACY', 'ACCEPTED', '2026-11-20T09:00:00Z', 'CH-000005', '2026-11-13T10:00:00Z');
    await referral(F, 'CLINICAL', 'SENT', '2026-11-19T09:00:00Z');
    // A write-back the police RMS has not stored for ten minutes.
    await ctx.redis.zadd(ctx.keys.outbox(), Date.now() - 600_000, `${F}|2`);

    const tasks: Record<string, string> = { [A]: 'accepted', [E]: 'n/a', [F]: 'requested' };
    nock(TRUST)
      .persist()
      .get('/fhir/R4/Task')
      .query(true)
      .reply((uri) => {
        const identifier = new URL(uri, TRUST).searchParams.get('identifier') ?? '';
        const ref = identifier.split('|')[1];
        const entries = ref
          ? tasks[ref] && tasks[ref] !== 'n/a'
            ? [
                {
                  resource: {
                    resourceType: 'Task',
                    id: `t-${ref.slice(-2)}`,
                    status: tasks[ref],
                    intent: 'order',
                    identifier: [{ system: SYSTEM, value: ref }],
                  },
                },
              ]
            : []
          : // The listing for orphans: every Task under the system.
            [A, F, ORPHAN_TASK].map((r) => ({
              resource: {
                resourceType: 'Task',
                id: `t-${r.slice(-2)}`,
                status: 'requested',
                intent: 'order',
                identifier: [{ system: SYSTEM, value: r }],
              },
            }));
        return [200, { resourceType: 'Bundle', type: 'searchset', entry: entries }];
      });
    charityAnswers();
  });

  /** The charity's side: C moved on to ENGAGED, D lost, E unchanged, and one orphan (CH-000777). */
  function charityAnswers(): void {
    const state = (charityId: string, externalReference: string, status: string, updatedAt: string) => ({
      id: charityId,
      externalReference,
      status,
      statusReason: null,
      updatedAt,
    });
    nock(CHARITY)
      .persist()
      .get('/v1/referrals/CH-000003')
      .reply(200, state('CH-000003', C, 'ENGAGED', '2026-11-26T10:00:00Z'))
      .get('/v1/referrals/CH-000004')
      .reply(404, { error: 'not_found' })
      .get('/v1/referrals/CH-000005')
      .reply(200, state('CH-000005', E, 'ALLOCATED', '2026-11-20T09:00:00Z'))
      .get('/v1/referrals')
      .query(true)
      .reply(200, {
        items: [state('CH-000003', C, 'ENGAGED', '2026-11-26T10:00:00Z'), state('CH-000777', id(77), 'ALLOCATED', '2026-11-25T10:00:00Z')],
        nextCursor: null,
      });
  }

  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  async function referral(
    refId: string,
    type: ReferralType,
    status: ReferralStatus,
    at: string,
    partnerRef?: string,
    basisAt?: string,
  ): Promise<void> {
    await ctx.referrals.transition(refId, {
      to: 'QUEUED',
      source: 'test',
      now: new Date(Date.parse(at) - 3600_000),
      create: { referralId: refId, type, crimeReference: `CC-26-${refId.slice(-7)}`, recordVersion: 1, correlationId: refId },
      ...(basisAt ? { patch: { basisAt } } : {}),
    });
    await ctx.referrals.transition(refId, {
      to: 'SENT',
      source: 'test',
      now: new Date(at),
      patch: { partnerRef: partnerRef ?? `ServiceRequest/${refId.slice(-2)}`, partnerStatus: 'RECEIVED' },
    });
    if (status === 'ACCEPTED')
      await ctx.referrals.transition(refId, {
        to: 'ACCEPTED',
        source: 'test',
        now: new Date(at),
        patch: { partnerStatus: 'ALLOCATED', partnerStatusAt: at },
      });
  }

  const find = (report: ReconciliationReport, cls: string, refId?: string) =>
    report.discrepancies.filter((d) => d.class === cls && (refId === undefined || d.referralId === refId));

  test('finds and acts on every class of discrepancy, and reports service levels', async () => {
    const report = (await reconcile(ctx, { now: NOW }))!;

    expect(find(report, 'partner-ahead', A)).toEqual([
      expect.objectContaining({ partner: 'NHS', bridgeStatus: 'SENT', partnerStatus: 'accepted', action: 'applied' }),
    ]);
    expect(find(report, 'partner-ahead', C)).toEqual([
      expect.objectContaining({ partner: 'CHARITY', partnerStatus: 'ENGAGED', action: 'applied' }),
    ]);
    expect((await ctx.referrals.get(A))?.status).toBe('ACCEPTED');
    expect((await ctx.referrals.get(C))?.status).toBe('IN_PROGRESS');
    expect((await ctx.referrals.timeline(A)).at(-1)).toMatchObject({ source: 'reconcile', status: 'ACCEPTED' });

    expect(find(report, 'partner-missing', B)).toEqual([expect.objectContaining({ partner: 'NHS', action: 'resent' })]);
    expect(find(report, 'partner-missing', D)).toEqual([
      expect.objectContaining({ partner: 'CHARITY', partnerRef: 'CH-000004', action: 'resent' }),
    ]);
    const resends = (await ctx.queues.nhsDelivery.getJobs(['waiting'])).concat(await ctx.queues.charityDelivery.getJobs(['waiting']));
    expect(resends.map((j) => [j.data.referralId, j.data.action]).sort()).toEqual([
      [B, 'resend'],
      [D, 'resend'],
    ]);

    expect(find(report, 'orphan').map((o) => [o.partner, o.partnerRef])).toEqual([
      ['NHS', ORPHAN_TASK],
      ['CHARITY', 'CH-000777'],
    ]);
    expect(find(report, 'not-written-back', F)).toEqual([expect.objectContaining({ partner: 'POLICE', action: 'rewritten' })]);
    expect(await ctx.queues.policeWriteBacks.getJob(`${F}-s2`)).toBeDefined();
    // E and F have not moved for days; A and C moved in this very run.
    expect(find(report, 'stuck').map((s) => s.referralId)).toEqual([E, F]);

    expect(report.serviceLevels.breaches).toEqual([
      expect.objectContaining({
        referralId: E,
        clockStart: '2026-11-13T10:00:00Z',
        deadline: '2026-11-18T00:00:00.000Z',
        sentAt: '2026-11-20T09:00:00.000Z',
        open: false,
      }),
    ]);
    expect(report.serviceLevels.breachCounts).toEqual({ open: 0, closedLate: 1 });
    // F reached the trust on Thursday 19th: its 5 working days end with Thursday 26th.
    expect(report.serviceLevels.overdue).toEqual([]);
    expect(report.counts).toEqual({ NHS: { ACCEPTED: 1, SENT: 2 }, CHARITY: { IN_PROGRESS: 1, SENT: 1, ACCEPTED: 1 } });
    expect(report.unreachable).toEqual([]);
    // Write-backs not yet stored by the RMS are visible while pending.
    expect(report.pendingWriteBacks).toBeGreaterThan(0);
    expect(report.pendingWriteBacks).toBe(await ctx.referrals.outboxSize());
  });

  test('a FAILED referral the partner holds is reported (once) and left FAILED for a redrive; one it does not hold is left alone', async () => {
    const G = id(7); // CHARITY FAILED without a case id (the 201 could not be read); the charity lists it
    const H = id(8); // NHS FAILED; the trust has a Task for it
    const I = id(9); // CHARITY FAILED; the charity has nothing
    const J = id(10); // CHARITY FAILED with a case id; the charity has it and lists it too
    const failedReferral = async (refId: string, type: ReferralType, partnerRef?: string) => {
      await ctx.referrals.transition(refId, {
        to: 'QUEUED',
        source: 'test',
        create: { referralId: refId, type, crimeReference: `CC-26-${refId.slice(-7)}`, recordVersion: 1, correlationId: refId },
      });
      await ctx.referrals.transition(refId, { to: 'FAILED', source: 'test', ...(partnerRef ? { patch: { partnerRef } } : {}) });
      await ctx.referrals.saveOutbound(refId, { externalReference: refId });
    };
    await failedReferral(G, 'ADVOCACY');
    await failedReferral(H, 'CLINICAL');
    await failedReferral(I, 'ADVOCACY');
    await failedReferral(J, 'ADVOCACY', 'CH-000010');

    nock.cleanAll();
    const task = (ref: string, status: string) => ({
      resource: { resourceType: 'Task', id: `t-${ref.slice(-2)}`, status, intent: 'order', identifier: [{ system: SYSTEM, value: ref }] },
    });
    nock(TRUST)
      .persist()
      .get('/fhir/R4/Task')
      .query(true)
      .reply((uri) => {
        const ref = (new URL(uri, TRUST).searchParams.get('identifier') ?? '').split('|')[1];
        const entries = ref === undefined || ref === '' ? [task(H, 'accepted')] : ref === H ? [task(H, 'accepted')] : [];
        return [200, { resourceType: 'Bundle', type: 'searchset', entry: entries }];
      });
    const state = (charityId: string, externalReference: string, status: string) => ({
      id: charityId,
      externalReference,
      status,
      statusReason: null,
      updatedAt: '2026-11-26T10:00:00Z',
    });
    nock(CHARITY)
      .persist()
      .get('/v1/referrals/CH-000010')
      .reply(200, state('CH-000010', J, 'ENGAGED'))
      .get(/^\/v1\/referrals\/CH-/)
      .reply(404, { error: 'not_found' })
      .get('/v1/referrals')
      .query(true)
      .reply(200, { items: [state('CH-000007', G, 'ALLOCATED'), state('CH-000010', J, 'ENGAGED')], nextCursor: null });

    const report = (await reconcile(ctx, { now: NOW }))!;

    const held = find(report, 'held-but-failed').sort((a, b) => a.referralId!.localeCompare(b.referralId!));
    expect(held).toEqual([
      {
        class: 'held-but-failed',
        partner: 'CHARITY',
        referralId: G,
        crimeReference: `CC-26-${G.slice(-7)}`,
        partnerRef: 'CH-000007',
        bridgeStatus: 'FAILED',
        partnerStatus: 'ALLOCATED',
        action: 'alerted',
        note: expect.stringContaining('redrive'),
      },
      expect.objectContaining({
        partner: 'NHS',
        referralId: H,
        partnerRef: 'Task/t-08',
        bridgeStatus: 'FAILED',
        partnerStatus: 'accepted',
        action: 'alerted',
      }),
      expect.objectContaining({
        partner: 'CHARITY',
        referralId: J,
        partnerRef: 'CH-000010',
        bridgeStatus: 'FAILED',
        partnerStatus: 'ENGAGED',
        action: 'alerted',
      }),
    ]);
    // Not an orphan: the bridge knows it. Not resent: FAILED leaves only by an operator's redrive.
    expect(find(report, 'orphan')).toEqual([]);
    expect(report.discrepancies.filter((d) => d.referralId === I)).toEqual([]);
    for (const refId of [G, H, I, J]) expect((await ctx.referrals.get(refId))?.status).toBe('FAILED');
    const queued = (await ctx.queues.nhsDelivery.getJobs(['waiting'])).concat(await ctx.queues.charityDelivery.getJobs(['waiting']));
    expect(queued.map((j) => j.data.referralId).filter((r) => [G, H, I, J].includes(r))).toEqual([]);
    expect(renderReport(report)).toContain(`held-but-failed  CHARITY  ${G}`);
    expect(logs()).toContain('partner holds a referral the bridge marked FAILED');
  });

  test('a write-back already in the dead-letter queue is left for an operator, not re-added every run', async () => {
    await ctx.queues.policeWriteBacks.add('outcome', { referralId: F, seq: 2, correlationId: F }, { jobId: `${F}-s2` });
    const worker = new Worker(QUEUE.policeWriteBacks, async () => 'dead-lettered', {
      connection: ctx.queueRedis,
      prefix: ctx.config.redis.prefix,
    });
    try {
      await waitFor(
        async () => (await ctx.queues.policeWriteBacks.getJob(`${F}-s2`))?.returnvalue === 'dead-lettered',
        'the write-back dead-lettered',
      );
    } finally {
      await worker.close();
    }
    const report = (await reconcile(ctx, { now: NOW }))!;
    expect(find(report, 'not-written-back', F)).toEqual([
      expect.objectContaining({ action: 'none', note: expect.stringContaining('dead-letter') }),
    ]);
    const waiting = await ctx.queues.policeWriteBacks.getJobs(['waiting']);
    expect(waiting.filter((j) => j.data.referralId === F)).toEqual([]);
  });

  test("a Victims' Code breach is open while the victim waits, and closed late once the referral is sent", async () => {
    const K = id(11); // CHARITY: consent on the 13th, still QUEUED on the 26th (past its deadline, the 18th)
    await ctx.referrals.transition(K, {
      to: 'QUEUED',
      source: 'test',
      now: new Date('2026-11-13T10:00:00Z'),
      create: { referralId: K, type: 'ADVOCACY', crimeReference: `CC-26-${K.slice(-7)}`, recordVersion: 1, correlationId: K },
      patch: { basisAt: '2026-11-13T10:00:00Z' },
    });
    const report = (await reconcile(ctx, { now: NOW }))!;
    expect(report.serviceLevels.breaches.map((b) => [b.referralId, b.open, b.sentAt])).toEqual([
      [E, false, '2026-11-20T09:00:00.000Z'],
      [K, true, null],
    ]);
    expect(report.serviceLevels.breachCounts).toEqual({ open: 1, closedLate: 1 });
    const table = renderReport(report);
    expect(table).toContain("Victims' Code breaches (advocacy not sent within 2 working days of consent): 2 (1 open, 1 closed late)");
    // Open first: the victim still waiting is what needs action.
    const breaches = table.slice(table.indexOf("Victims' Code breaches"), table.indexOf('Clinical referrals overdue'));
    expect(breaches.split('\n').map((l) => l.trim().split(' (')[0])).toEqual([
      "Victims' Code breaches",
      `Open now, the victim still waiting: 1`,
      K,
      'Closed late, sent after the deadline: 1',
      E,
      '',
    ]);
    expect(logs()).toMatch(/"breachesOpen":1/);

    // Sent on the 27th: the next run has nothing open, and the breach stays on record as closed late.
    await ctx.referrals.transition(K, {
      to: 'SENT',
      source: 'test',
      now: new Date('2026-11-27T09:00:00Z'),
      patch: { partnerRef: 'CH-000011', partnerStatus: 'RECEIVED' },
    });
    nock(CHARITY).persist().get('/v1/referrals/CH-000011').reply(200, {
      id: 'CH-000011',
      externalReference: K,
      status: 'RECEIVED',
      statusReason: null,
      updatedAt: '2026-11-27T09:00:00Z',
    });
    const after = (await reconcile(ctx, { now: new Date('2026-11-27T12:00:00Z') }))!;
    expect(after.serviceLevels.breaches.find((b) => b.referralId === K)).toMatchObject({ open: false, sentAt: '2026-11-27T09:00:00.000Z' });
    expect(after.serviceLevels.breachCounts.open).toBe(0);
  });

  test('the clinical clock: overdue once N working days have passed without an answer', async () => {
    const later = (await reconcile(ctx, { now: new Date('2026-11-27T00:00:00Z') }))!;
    expect(later.serviceLevels.overdue.map((o) => o.referralId)).toEqual([F]);
    expect(later.serviceLevels.overdue[0]).toMatchObject({ clockStart: '2026-11-19T09:00:00.000Z', deadline: '2026-11-27T00:00:00.000Z' });
  });

  test('a partner that is down is reported unreachable, and the rest still runs', async () => {
    nock.cleanAll();
    nock(TRUST).persist().get(/.*/).replyWithError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' });
    nock(CHARITY)
      .persist()
      .get('/v1/referrals/CH-000003')
      .reply(200, { id: 'CH-000003', externalReference: C, status: 'ENGAGED', statusReason: null, updatedAt: '2026-11-26T10:00:00Z' });
    nock(CHARITY).persist().get(/.*/).reply(503, { error: 'down' });
    const report = (await reconcile(ctx, { now: NOW }))!;
    expect(report.unreachable.map((u) => u.partner).sort()).toEqual(['CHARITY', 'NHS']);
    expect(find(report, 'partner-ahead', C)).toHaveLength(1);
    expect(find(report, 'partner-missing')).toEqual([]); // down is not "missing"
  });

  test('one failed call is not a partner down: the referral is asked again; three failures in a row give up', async () => {
    nock.cleanAll();
    let trustCalls = 0;
    nock(TRUST)
      .persist()
      .get(/.*/)
      .reply(() => {
        trustCalls++;
        return [503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] }];
      });
    // The first question about C fails; nock answers interceptors in the order they were added.
    nock(CHARITY).get('/v1/referrals/CH-000003').reply(503, { error: 'busy' });
    charityAnswers();
    const report = (await reconcile(ctx, { now: NOW }))!;
    expect(report.unreachable.map((u) => u.partner)).toEqual(['NHS']);
    // The trust holds three of the referrals: each was asked once before it was given up on.
    expect(trustCalls).toBe(3);
    expect(find(report, 'partner-ahead', C)).toHaveLength(1);
    expect(await ctx.referrals.get(C)).toMatchObject({ partnerStatus: 'ENGAGED' });
  });

  test('one run at a time: a second caller while one runs gets nothing', async () => {
    const [first, second] = await Promise.all([reconcile(ctx, { now: NOW }), reconcile(ctx, { now: NOW })]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
  });

  test('a run that outlasts its lock’s TTL keeps the lock: the heartbeat renews it', async () => {
    // Partners that answer slowly (and badly), so the run lasts several TTLs.
    nock.cleanAll();
    nock(TRUST).persist().get(/.*/).delay(1000).reply(503);
    nock(CHARITY).persist().get(/.*/).delay(1000).reply(503);
    const running = reconcile(ctx, { now: NOW, lockTtlMs: 120 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await reconcile(ctx, { now: NOW, lockTtlMs: 120 })).toBeUndefined();
    expect(await running).toBeDefined();
    // Released at the end: the next run goes ahead.
    expect(await reconcile(ctx, { now: NOW })).toBeDefined();
  });

  test('the API serves the last report and runs one on demand; the CLI table names ids only', async () => {
    const server = await createServer(ctx, { port: 0 });
    const reader = operatorHeader(ctx.config, ['referrals:read']);
    expect((await server.inject({ method: 'GET', url: '/v1/reconciliation', headers: reader })).statusCode).toBe(404);
    // Running one acts on partners: a reader may not, an administrator may.
    expect((await server.inject({ method: 'POST', url: '/v1/reconciliation', headers: reader })).statusCode).toBe(403);
    const ran = await server.inject({ method: 'POST', url: '/v1/reconciliation', headers: operatorHeader(ctx.config, ['admin']) });
    expect(ran.statusCode).toBe(200);
    const last = await server.inject({ method: 'GET', url: '/v1/reconciliation', headers: reader });
    expect(last.statusCode).toBe(200);
    expect((last.result as ReconciliationReport).generatedAt).toBe((ran.result as ReconciliationReport).generatedAt);
    const table = renderReport(last.result as ReconciliationReport);
    expect(table).toContain(`partner-ahead    NHS      ${A}`);
    expect(table).toMatch(/Victims' Code breaches .*: 1/);
    await server.stop();
    expect(logs()).toContain('reconciliation done');
  });
});
