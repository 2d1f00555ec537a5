import { startBridge, type RunningBridge } from '../../src/app';
import { STATUS_ORDER, type ReferralStatus } from '../../src/domain/lifecycle';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { startFhirServer, type FhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, operatorHeader, testConfig, waitFor } from '../helpers/bridge';

/**
 * The whole pipeline over HTTP against the three simulated partners and real Redis: pull and
 * push, consent holds, quarantine, delivery, status polling back, police write-back, resend.
 */
const PLANTED = {
  victimForename: 'Quintessavel',
  victimSurname: 'Marrowdeane',
  suspectSurname: 'Thistlegrove',
  phone: '07700900999',
  summary: 'Seen at the Larkspur allotments',
};

describe('pipeline end to end', () => {
  let police: PoliceSimulator;
  let fhir: FhirServer;
  let charity: CharitySimulator;
  let bridge: RunningBridge;
  const logs = capturedLogger();
  const generated = generateFeedRecords({ records: 24, seed: 99, prefix: 'E2E' });
  const planted = generated[0]!.kind === 'full' ? generated[0]! : generated.find((g) => g.kind === 'full')!;

  beforeAll(async () => {
    planted.xml = planted.xml
      .replace(/(<Person ref="P1" role="VICTIM">\s*<Forename>)[^<]+/, `$1${PLANTED.victimForename}`)
      .replace(/(<Person ref="P1" role="VICTIM">[\s\S]*?<Surname>)[^<]+/, `$1${PLANTED.victimSurname}`)
      .replace(/(<Person ref="P2" role="SUSPECT">[\s\S]*?<Surname>)[^<]+/, `$1${PLANTED.suspectSurname}`)
      .replace(/phone="0[0-9]+" email/, `phone="${PLANTED.phone}" email`)
      .replace(/<Summary>[^<]+/, `<Summary>${PLANTED.summary}`);
    police = await startPoliceFeedSimulator({ records: generated.slice(2).map((g) => g.xml), token: 'feed' });
    // Each Task status outlasts the 1 s status poll, so every one of them is seen and written back
    // (at 300 ms, Tasks created together moved in step and ACCEPTED was seen only by luck).
    fhir = await startFhirServer({ advanceEveryMs: 1500 });
    charity = await startCharitySimulator({ apiKey: 'charity', advanceEveryMs: 300 });
    const config = testConfig({
      POLICE_FEED_URL: police.url,
      POLICE_FEED_TOKEN: 'feed',
      POLICE_POLL_CRON: '* * * * * *',
      POLICE_PAGE_LIMIT: '7',
      STATUS_POLL_CRON: '* * * * * *',
      NHS_FHIR_BASE_URL: fhir.url,
      CHARITY_API_URL: charity.url,
      CHARITY_API_KEY: 'charity',
    });
    bridge = await startBridge(config, { logger: logs.logger });
  });

  afterAll(async () => {
    await bridge.stop();
    await dropKeys(bridge.ctx.config);
    await Promise.all([police.stop(), fhir.stop(), charity.stop()]);
  });

  const api = () => bridge.server!.info.uri;
  const push = (records: string[]) =>
    fetch(`${api()}/v1/police/flags`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Authorization: 'Bearer push-token' },
      body: feedDocument(records),
    });

  test('every record ends queued, held, cancelled or quarantined, and referrals reach the partners once', async () => {
    const pushed = await push(generated.slice(0, 2).map((g) => g.xml));
    expect(pushed.status).toBe(202);

    const latest = new Map(generated.map((g) => [g.crimeReference, g]));
    const expected = new Map<string, string>();
    for (const g of latest.values()) for (const r of g.expectedReferrals) expected.set(r.referralId, r.decision);

    const settled: ReadonlySet<ReferralStatus> = new Set(['HELD', 'COMPLETED', 'REJECTED', 'CANCELLED']);
    const final = await waitFor(
      async () => {
        const s = await bridge.ctx.referrals.statuses();
        const outbox = await bridge.ctx.referrals.outboxSize();
        const done = [...expected.keys()].every((id) => s.has(id) && settled.has(s.get(id)!));
        return done && outbox === 0 ? s : undefined;
      },
      'every referral to settle and every write-back to be stored',
      45_000,
    ).catch(async (err) => {
      const s = await bridge.ctx.referrals.statuses();
      throw new Error(`${(err as Error).message}: ${JSON.stringify([...expected.keys()].map((id) => [expected.get(id), s.get(id)]))}`);
    });

    for (const [id, decision] of expected) {
      const status = final.get(id)!;
      if (decision === 'HELD') expect(status).toBe('HELD');
      else if (decision === 'CANCELLED') expect(status).toBe('CANCELLED');
      else expect(['COMPLETED', 'REJECTED', 'CANCELLED']).toContain(status);
    }
    const quarantineExpected = generated.filter((g) => g.expectQuarantine).length;
    expect(await bridge.ctx.quarantine.count()).toBe(quarantineExpected);

    // Exactly one ServiceRequest and Task per clinical referral that reached the trust, one charity case per advocacy one.
    let nhsSent = 0;
    let charitySent = 0;
    for (const id of final.keys()) {
      const meta = await bridge.ctx.referrals.get(id);
      if (meta?.partnerRef && meta.partner === 'NHS') nhsSent++;
      else if (meta?.partnerRef) charitySent++;
    }
    const counts = await fhir.counts();
    expect(counts.ServiceRequest).toBe(nhsSent);
    expect(counts.Task).toBe(nhsSent);
    expect(charity.stats().created).toBe(charitySent);
    expect(nhsSent).toBeGreaterThan(5);
    expect(charitySent).toBeGreaterThan(5);

    // Every status change of every referral was written back to the police once.
    let changes = 0;
    for (const id of final.keys()) changes += (await bridge.ctx.referrals.timeline(id)).length;
    expect(police.stats().distinctOutcomeKeys).toBe(changes);
    const outcomeStatuses = new Set(police.outcomes().map((o) => o.status));
    for (const s of ['QUEUED', 'SENT', 'ACCEPTED', 'IN_PROGRESS', 'COMPLETED'] as const) expect(outcomeStatuses).toContain(s);
  }, 60_000);

  test('a resend of the same document creates nothing new at any partner', async () => {
    const before = { fhir: await fhir.counts(), charity: charity.stats().created, outcomes: police.stats().distinctOutcomeKeys };
    const res = await push(generated.map((g) => g.xml));
    expect(res.status).toBe(202);
    await waitFor(async () => (await bridge.ctx.queues.intake.getJobCountByTypes('waiting', 'active', 'delayed')) === 0, 'intake to drain');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await fhir.counts()).toEqual(before.fhir);
    expect(charity.stats().created).toBe(before.charity);
    expect(police.stats().distinctOutcomeKeys).toBe(before.outcomes);
  });

  test('the referral API shows status and timeline without personal data', async () => {
    const id = planted.expectedReferrals.find((r) => r.type === 'ADVOCACY')!.referralId;
    const auth = operatorHeader(bridge.ctx.config, ['referrals:read']);
    const res = await fetch(`${api()}/v1/referrals/${id}`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; timeline: { status: string }[]; crimeReference: string };
    expect(body.crimeReference).toBe(planted.crimeReference);
    expect(body.timeline.map((t) => t.status).slice(0, 2)).toEqual(['QUEUED', 'SENT']);
    expect(STATUS_ORDER).toContain(body.status);
    const text = JSON.stringify(body);
    for (const value of Object.values(PLANTED)) expect(text).not.toContain(value);
    expect((await fetch(`${api()}/v1/referrals/6f1c0000-0000-5000-8000-000000000000`, { headers: auth })).status).toBe(404);
  });

  test('no planted personal data reaches a log line, and log lines carry correlation ids', () => {
    const text = logs.text();
    expect(text.length).toBeGreaterThan(1000);
    for (const value of Object.values(PLANTED)) expect(text).not.toContain(value);
    const delivered = text.split('\n').filter((l) => l.includes('"referral delivered"'));
    expect(delivered.length).toBeGreaterThan(0);
    for (const line of delivered) expect(JSON.parse(line).correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('the audit trail records ingest, quarantine, sending, status changes and admin reads, and no personal data', async () => {
    const events = await bridge.ctx.audit.query({ limit: 10_000 });
    const actions = new Set(events.map((e) => e.action));
    for (const a of ['record.ingested', 'record.quarantined', 'referral.sent', 'referral.status_changed', 'admin.read'] as const)
      expect(actions).toContain(a);
    expect(events.find((e) => e.action === 'admin.read')).toMatchObject({ actor: 'operator:tester', target: '/v1/referrals/{id}' });
    const id = planted.expectedReferrals.find((r) => r.type === 'ADVOCACY')!.referralId;
    const forReferral = await bridge.ctx.audit.query({ referralId: id });
    expect(forReferral.length).toBeGreaterThan(2);
    expect(forReferral.every((e) => e.referralId === id)).toBe(true);
    const text = JSON.stringify(events);
    for (const value of Object.values(PLANTED)) expect(text).not.toContain(value);
    expect(events.every((e) => e.rejected === undefined)).toBe(true);
  });
});
