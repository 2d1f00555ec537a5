import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { issueOperatorToken, SCOPE, type Scope } from '../../src/api/auth';
import { startBridge, type RunningBridge } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { STATUS_ORDER, type ReferralStatus } from '../../src/domain/lifecycle';
import type { DeadLetterJob } from '../../src/queues/topology';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { generateFeedRecords } from '../../simulators/feed-generator';
import { startFhirServer, type FhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';
import { clinicalReferral } from '../helpers/referrals';

/**
 * The operator console in a real browser (Playwright driving Debian's chromium; `.ci/run`
 * installs it), against a running bridge fed by the police simulator and delivering to the FHIR
 * and charity simulators: sign in, find a HELD referral's reason, open a crime's story, see an
 * open breach, redrive a dead letter and see its status change; an operator without
 * dlq:redrive has no redrive button and the API refuses them. The dead letter and the breach are
 * seeded (no simulator produces them on cue). Screenshots go to test-artifacts/console/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(__dirname, '..', '..', 'test-artifacts', 'console');
const FAILED_CRIME = 'CC-26-0000888';
const FAILED_ID = '0e0e0e0e-0000-5000-8000-000000000888';
const DLQ_ID = 'nhs-delivery-bars-6f1c0000-0000-4000-8000-000000000888';

describe('operator console, in chromium', () => {
  let bridge: RunningBridge;
  let ctx: BridgeContext;
  let police: PoliceSimulator;
  let fhir: FhirServer;
  let charity: CharitySimulator;
  let browser: Browser;
  const generated = generateFeedRecords({ records: 16, seed: 42, prefix: 'UI' });
  const heldRecord = generated.find((g) => g.expectedReferrals.some((r) => r.decision === 'HELD'))!;
  const HELD_CRIME = heldRecord.crimeReference;
  const HELD_ID = heldRecord.expectedReferrals.find((r) => r.decision === 'HELD')!.referralId;
  let heldReason: string;
  let uri: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`chromium not found at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM_PATH`);
    mkdirSync(SHOTS, { recursive: true });
    police = await startPoliceFeedSimulator({ records: generated.map((g) => g.xml), token: 'feed' });
    fhir = await startFhirServer({ advanceEveryMs: 300 });
    charity = await startCharitySimulator({ apiKey: 'charity', advanceEveryMs: 300 });
    const config = testConfig({
      POLICE_FEED_URL: police.url,
      POLICE_FEED_TOKEN: 'feed',
      POLICE_POLL_CRON: '* * * * * *',
      STATUS_POLL_CRON: '* * * * * *',
      NHS_FHIR_BASE_URL: fhir.url,
      CHARITY_API_URL: charity.url,
      CHARITY_API_KEY: 'charity',
    });
    bridge = await startBridge(config, { logger: capturedLogger().logger });
    ctx = bridge.ctx;
    uri = bridge.server!.info.uri;
    const expected = generated.flatMap((g) => g.expectedReferrals.map((r) => r.referralId));
    await waitFor(
      async () => {
        const statuses = await ctx.referrals.statuses();
        return expected.every((id) => statuses.has(id) && statuses.get(id) !== 'QUEUED');
      },
      'every referral held or at its partner',
      30_000,
    );
    heldReason = (await ctx.referrals.get(HELD_ID))!.heldReason!;
    await seed(ctx, HELD_ID, HELD_CRIME);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    if (bridge) {
      await bridge.stop();
      await dropKeys(bridge.ctx.config);
    }
    await Promise.all([police?.stop(), fhir?.stop(), charity?.stop()]);
  });

  const token = (scopes: Scope[], sub: string) => issueOperatorToken(ctx.config, sub, scopes);

  async function signIn(scopes: Scope[], sub: string, start = '/console/held'): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${uri}${start}`);
    // Any protected page sends a browser without a session to the sign-in page, and back after.
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.fill('textarea[name="token"]', token(scopes, sub));
    await page.click('form[action="/console/session"] button');
    expect(new URL(page.url()).pathname).toBe(start);
    return page;
  }

  it('signs in, shows a HELD referral with its reason, and the open breach on the overview', async () => {
    const page = await signIn([SCOPE.referralsRead, SCOPE.dlqRedrive], 'alice');
    expect(heldReason).toBeTruthy();
    await expect(page.textContent('main')).resolves.toContain(heldReason);
    await page.screenshot({ path: join(SHOTS, 'held.png'), fullPage: true });
    await page.click('nav a[href="/console"]');
    await expect(page.textContent('#open-breaches')).resolves.toBe('1');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
    const headers = (await page.request.get(`${uri}/console`)).headers();
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    expect(headers['cache-control']).toBe('no-store');
  });

  it('finds a crime from the search box and shows its story', async () => {
    const page = await signIn([SCOPE.referralsRead], 'bob', '/console');
    await page.fill('input[name="q"]', HELD_CRIME);
    await page.click('form.search button');
    expect(new URL(page.url()).pathname).toBe(`/console/crimes/${HELD_CRIME}`);
    const story = await page.textContent('ol.timeline');
    expect(story).toContain('HELD');
    await page.screenshot({ path: join(SHOTS, 'crime.png'), fullPage: true });
    // A referral id finds its crime too.
    await page.fill('input[name="q"]', FAILED_ID);
    await page.click('form.search button');
    expect(new URL(page.url()).pathname).toBe(`/console/crimes/${FAILED_CRIME}`);
  });

  it('redrives a dead letter and the referral moves on', async () => {
    const page = await signIn([SCOPE.referralsRead, SCOPE.dlqRedrive], 'carol', '/console/dead-letters');
    await page.click(`form[action="/console/dead-letters/${DLQ_ID}/redrive"] button`);
    await expect(page.textContent('.notice')).resolves.toContain('Redriven');
    await page.screenshot({ path: join(SHOTS, 'redriven.png'), fullPage: true });
    // Back through the pipeline: queued again, then delivered to the FHIR simulator.
    const now = await waitFor(async () => {
      const status = (await ctx.referrals.get(FAILED_ID))?.status;
      return status && status !== 'FAILED' && status !== 'QUEUED' ? status : undefined;
    }, 'the redriven referral to reach the trust');
    await page.goto(`${uri}/console/crimes/${FAILED_CRIME}`);
    const table = await page.textContent('main table');
    // The trust may take it on (ACCEPTED) between that read and the page: any status from `now` on.
    const shown = ['SENT', 'ACCEPTED', 'IN_PROGRESS', 'REJECTED', 'COMPLETED'].filter((s) => table?.includes(s));
    expect(shown.length).toBeGreaterThan(0);
    for (const status of shown) expect(STATUS_ORDER.indexOf(status as ReferralStatus)).toBeGreaterThanOrEqual(STATUS_ORDER.indexOf(now));
    expect(table).not.toContain('FAILED');
    await expect(page.textContent('ol.timeline')).resolves.toMatch(/FAILED[\s\S]*QUEUED[\s\S]*SENT/);
  });

  it('discards a dead letter with a reason chosen from the list', async () => {
    const spare: DeadLetterJob = {
      queue: 'charity-delivery',
      jobId: 'spare-q1',
      jobName: 'deliver',
      data: { referralId: HELD_ID, correlationId: 'c0ffee00-0000-4000-8000-000000000999', action: 'deliver' },
      partner: 'CHARITY',
      errorKind: 'permanent',
      reason: 'charity answered 422: client.safeContact',
      attempts: 1,
      failedAt: new Date().toISOString(),
      referralId: HELD_ID,
      crimeReference: HELD_CRIME,
    };
    await ctx.queues.deadLetter.add('charity-delivery:deliver', spare, { jobId: 'spare-dead-letter' });
    const page = await signIn([SCOPE.referralsRead, SCOPE.dlqRedrive], 'frank', '/console/dead-letters');
    const form = page.locator('form[action="/console/dead-letters/spare-dead-letter/discard"]');
    await form.locator('select[name="reason"]').selectOption('test-data');
    await form.locator('button.discard').click();
    await expect(page.textContent('.notice')).resolves.toContain('Discarded');
    expect(await ctx.queues.deadLetter.getJob('spare-dead-letter')).toBeUndefined();
  });

  it('an operator without dlq:redrive sees no redrive or discard button, and the API refuses them', async () => {
    const page = await signIn([SCOPE.referralsRead], 'dave', '/console/dead-letters');
    expect(await page.locator('button.redrive, button.discard').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'read-only.png'), fullPage: true });
    const res = await page.request.post(`${uri}/v1/dead-letters/${DLQ_ID}/redrive`, {
      headers: { authorization: `Bearer ${token([SCOPE.referralsRead], 'dave')}` },
    });
    expect(res.status()).toBe(403);
    // The console's own action refuses them too, whatever the form says.
    const form = await page.request.post(`${uri}/console/dead-letters/${DLQ_ID}/redrive`, { form: { csrf: 'x' } });
    expect(form.status()).toBe(403);
  });

  it('a forged form post with the session cookie but no form token is refused', async () => {
    const page = await signIn([SCOPE.referralsRead, SCOPE.dlqRedrive], 'erin', '/console/dead-letters');
    const res = await page.request.post(`${uri}/console/dead-letters/${DLQ_ID}/redrive`, { form: { csrf: 'forged' } });
    expect(res.status()).toBe(403);
  });
});

/** A FAILED clinical referral with its dead letter, and an open breach for the held victim. */
async function seed(ctx: BridgeContext, heldId: string, heldCrime: string): Promise<void> {
  const failed = { ...clinicalReferral(), referralId: FAILED_ID, crimeReference: FAILED_CRIME };
  const correlationId = 'c0ffee00-0000-4000-8000-000000000888';
  await ctx.referrals.saveData(failed);
  await ctx.referrals.transition(FAILED_ID, {
    to: 'QUEUED',
    source: 'intake',
    create: { referralId: FAILED_ID, type: 'CLINICAL', crimeReference: FAILED_CRIME, recordVersion: 1, correlationId },
  });
  await ctx.referrals.transition(FAILED_ID, { to: 'SENT', source: 'NHS' });
  await ctx.referrals.transition(FAILED_ID, { to: 'FAILED', source: 'nhs-bars', detail: 'trust refused the message' });
  const entry: DeadLetterJob = {
    queue: 'nhs-delivery',
    jobId: 'bars-response-6f1c0000-0000-4000-8000-000000000888',
    jobName: 'deliver',
    data: { referralId: FAILED_ID, correlationId, action: 'deliver' },
    partner: 'NHS',
    errorKind: 'permanent',
    reason: 'NHS BaRS receiver answered fatal-error: REC_UNPROCESSABLE_ENTITY (invalid)',
    attempts: 1,
    failedAt: new Date().toISOString(),
    referralId: FAILED_ID,
    crimeReference: FAILED_CRIME,
    correlationId,
  };
  await ctx.queues.deadLetter.add('nhs-delivery:bars-response', entry, { jobId: DLQ_ID });
  const breach = {
    kind: 'victims-code-breach',
    referralId: heldId,
    crimeReference: heldCrime,
    clockStart: '2026-11-02T09:00:00Z',
    deadline: '2026-11-04T09:00:00Z',
    sentAt: null,
  };
  const report = {
    generatedAt: new Date().toISOString(),
    counts: { NHS: {}, CHARITY: {} },
    discrepancies: [],
    serviceLevels: { breaches: [breach], overdue: [] },
    pendingWriteBacks: 0,
    unreachable: [],
  };
  await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report));
}
