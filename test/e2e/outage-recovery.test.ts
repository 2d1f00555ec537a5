import { NhsFhirClient } from '../../src/adapters/nhs/fhir-client';
import { charityStatusToBridgeStatus } from '../../src/mappings/charity-status';
import { taskStatusToBridgeStatus } from '../../src/mappings/fhir-status';
import type { ReconciliationReport } from '../../src/reconcile/report';
import { startBridge, type RunningBridge } from '../../src/app';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { generateFeedRecords, mulberry32 } from '../../simulators/feed-generator';
import { startFhirServer, type FhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, operatorHeader, testConfig, waitFor } from '../helpers/bridge';

/**
 * Issue #5's outage test: both partners refuse connections while the records arrive, come
 * back, then move their cases on with every webhook lost and status polling off; each also
 * loses one referral. Reconciliation alone must bring every referral to the partner's true
 * status, with no duplicate at either partner, and the next report must be clean.
 */
const NEVER = '0 0 1 1 *';
const SECRET = 'outage-webhook-secret-0123456789';

describe('outage recovery through reconciliation', () => {
  let police: PoliceSimulator;
  let fhir: FhirServer;
  let charity: CharitySimulator;
  let bridge: RunningBridge;
  let trustView: NhsFhirClient;
  const generated = generateFeedRecords({ records: 14, seed: 777, prefix: 'OUT' });

  beforeAll(async () => {
    police = await startPoliceFeedSimulator({ records: generated.map((g) => g.xml), token: 'feed' });
    fhir = await startFhirServer({ rejectEvery: 3 });
    charity = await startCharitySimulator({ apiKey: 'charity', faults: { dropWebhookRate: 1 }, random: mulberry32(5) });
    await fhir.goDown();
    await charity.goDown();
    bridge = await startBridge(
      testConfig({
        POLICE_FEED_URL: police.url,
        POLICE_FEED_TOKEN: 'feed',
        POLICE_POLL_CRON: '* * * * * *',
        STATUS_POLL_CRON: NEVER,
        RECONCILE_CRON: NEVER,
        NHS_FHIR_BASE_URL: fhir.url,
        CHARITY_API_URL: charity.url,
        CHARITY_API_KEY: 'charity',
        CHARITY_WEBHOOK_SECRETS: SECRET,
        DELIVERY_ATTEMPTS: '30',
        DELIVERY_BACKOFF_MS: '100',
      }),
      { logger: capturedLogger().logger },
    );
    charity.setWebhook({ url: `${bridge.server!.info.uri}/v1/webhooks/charity`, secret: SECRET });
    trustView = new NhsFhirClient({ baseUrl: fhir.url, timeoutMs: 5000, referralIdSystem: 'https://iasu.example/Id/referral' });
  }, 30_000);

  afterAll(async () => {
    await bridge.stop();
    await dropKeys(bridge.ctx.config);
    await Promise.all([police.stop(), fhir.stop(), charity.stop()]);
  });

  const reconcileNow = async (): Promise<ReconciliationReport> => {
    const res = await fetch(`${bridge.server!.info.uri}/v1/reconciliation`, {
      method: 'POST',
      headers: operatorHeader(bridge.ctx.config, ['admin']),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as ReconciliationReport;
  };

  /** The partner's own status for each referral it holds, as a bridge status. */
  async function partnerTruth(): Promise<Map<string, string>> {
    const truth = new Map<string, string>();
    for (const c of charity.referrals()) truth.set(c.externalReference, charityStatusToBridgeStatus(c.status) ?? c.status);
    for (const id of await bridge.ctx.referrals.allIds()) {
      const meta = await bridge.ctx.referrals.get(id);
      if (meta?.partner !== 'NHS' || !meta.partnerRef) continue;
      const task = await trustView.getTaskStatus(id, { correlationId: 'test' });
      if (task) truth.set(id, taskStatusToBridgeStatus(task.taskStatus) ?? task.taskStatus);
    }
    return truth;
  }

  test('partners down while records arrive: deliveries wait and retry, nothing is lost', async () => {
    const failedAttempts = async () =>
      (await bridge.ctx.queues.nhsDelivery.getJobCountByTypes('delayed')) +
      (await bridge.ctx.queues.charityDelivery.getJobCountByTypes('delayed'));
    await waitFor(async () => (await failedAttempts()) > 0, 'deliveries retrying while partners are down');
    const statuses = await bridge.ctx.referrals.statuses();
    expect([...statuses.values()]).not.toContain('SENT');

    await fhir.comeBack();
    await charity.comeBack();
    const queuedIds = [...new Map(generated.map((g) => [g.crimeReference, g])).values()].flatMap((g) =>
      g.expectedReferrals.filter((r) => r.decision === 'QUEUED').map((r) => r.referralId),
    );
    await waitFor(
      async () => {
        const s = await bridge.ctx.referrals.statuses();
        return queuedIds.every((id) => ['SENT', 'CANCELLED'].includes(s.get(id) ?? ''));
      },
      'every queued referral delivered after the outage',
      40_000,
    );
  }, 60_000);

  test('partners move on with webhooks lost and polling off; each loses one referral; reconciliation repairs it all', async () => {
    // Each partner loses one referral it had.
    const lostAtCharity = charity.referrals().find((c) => c.status === 'RECEIVED')!;
    expect(charity.forget(lostAtCharity.id)).toBe(true);
    const nhsSent: string[] = [];
    for (const id of await bridge.ctx.referrals.allIds()) {
      const meta = await bridge.ctx.referrals.get(id);
      if (meta?.partner === 'NHS' && meta.status === 'SENT') nhsSent.push(id);
    }
    expect(nhsSent.length).toBeGreaterThan(2);
    expect(await fhir.forgetReferral(nhsSent[0]!)).toBe(2);

    // The partners get on with their work; the bridge hears nothing (webhooks dropped, no polling).
    for (let i = 0; i < 3; i++) {
      charity.advance();
      await fhir.advanceTasks();
    }
    await charity.flushWebhooks();
    expect(charity.stats().webhooksSent).toBe(0);

    // First run: partner-ahead applied, the two lost referrals resent.
    const first = await reconcileNow();
    const classes = (c: string) => first.discrepancies.filter((d) => d.class === c);
    expect(classes('partner-ahead').length).toBeGreaterThan(3);
    expect(
      classes('partner-missing')
        .map((d) => d.referralId)
        .sort(),
    ).toEqual([lostAtCharity.externalReference, nhsSent[0]].sort());
    expect(classes('partner-missing').every((d) => d.action === 'resent')).toBe(true);
    expect(classes('orphan')).toEqual([]);

    // The resends land (idempotently: the partners recreate exactly one each).
    await waitFor(
      async () => charity.referrals().some((c) => c.externalReference === lostAtCharity.externalReference),
      'charity has the lost referral again',
    );
    await waitFor(
      async () => (await trustView.getTaskStatus(nhsSent[0]!, { correlationId: 'test' })) !== undefined,
      'trust has the lost referral again',
    );
    await waitFor(
      async () => (await bridge.ctx.referrals.get(lostAtCharity.externalReference))?.partnerRef !== lostAtCharity.id,
      'new charity reference recorded',
    );

    // Runs until nothing is left to do; the partners' truth then equals the bridge's.
    let report = await reconcileNow();
    for (let i = 0; i < 3 && report.discrepancies.some((d) => d.class !== 'stuck'); i++) {
      await waitFor(async () => (await bridge.ctx.referrals.outboxSize()) === 0, 'write-backs stored');
      report = await reconcileNow();
    }
    await waitFor(async () => (await bridge.ctx.referrals.outboxSize()) === 0, 'write-backs stored');
    report = await reconcileNow();
    expect(report.discrepancies).toEqual([]);
    expect(report.unreachable).toEqual([]);
    expect(report.pendingWriteBacks).toBe(0);

    const truth = await partnerTruth();
    const statuses = await bridge.ctx.referrals.statuses();
    expect(truth.size).toBeGreaterThan(6);
    // The partners finished some and declined some: the comparison covers more than one ending.
    expect(new Set(truth.values()).size).toBeGreaterThan(1);
    for (const [id, partnerStatus] of truth) expect([id, statuses.get(id)]).toEqual([id, partnerStatus]);

    // No duplicate at either partner: one case per referral, one ServiceRequest and Task per clinical referral.
    const externalRefs = charity.referrals().map((c) => c.externalReference);
    expect(new Set(externalRefs).size).toBe(externalRefs.length);
    let nhsHeld = 0;
    for (const id of statuses.keys()) if ((await bridge.ctx.referrals.get(id))?.partner === 'NHS' && truth.has(id)) nhsHeld++;
    const counts = await fhir.counts();
    expect(counts.ServiceRequest).toBe(nhsHeld);
    expect(counts.Task).toBe(nhsHeld);

    // Every status change reached the police once.
    let changes = 0;
    for (const id of statuses.keys()) changes += (await bridge.ctx.referrals.timeline(id)).length;
    expect(police.stats().distinctOutcomeKeys).toBe(changes);
  }, 90_000);
});
