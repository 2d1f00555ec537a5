import { generateKeyPairSync } from 'node:crypto';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import { startBridge, type RunningBridge } from '../../src/app';
import { DEFAULT_BARS_SERVICE_ID, startBarsReceiver, type BarsReceiver } from '../../simulators/bars-receiver';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { feedDocument, generateFeedRecords, mulberry32 } from '../../simulators/feed-generator';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';

/**
 * NHS_MODE=bars end to end over HTTP: the bridge gets tokens with a signed JWT from the
 * simulated NHS token endpoint, sends BaRS messages through a receiver that fails 20% of
 * calls with 503 + Retry-After, and takes the trust's asynchronous responses on its own
 * POST /fhir/$process-message until every referral settles.
 */
const PLANTED_SURNAME = 'Brackenwhistle';

describe('pipeline end to end, NHS BaRS mode', () => {
  let police: PoliceSimulator;
  let bars: BarsReceiver;
  let charity: CharitySimulator;
  let bridge: RunningBridge;
  const logs = capturedLogger();
  const generated = generateFeedRecords({ records: 20, seed: 314, prefix: 'BARS' });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  beforeAll(async () => {
    for (const g of generated) g.xml = g.xml.replace(/(<Person ref="P2" role="SUSPECT">[\s\S]*?<Surname>)[^<]+/, `$1${PLANTED_SURNAME}`);
    police = await startPoliceFeedSimulator({ records: generated.map((g) => g.xml), token: 'feed' });
    bars = await startBarsReceiver({
      clientId: 'bridge-e2e',
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      advanceEveryMs: 250,
      rejectEvery: 4,
      faults: { errorRate: 0.2, random: mulberry32(7) },
    });
    charity = await startCharitySimulator({ apiKey: 'charity', advanceEveryMs: 250 });
    const config = testConfig({
      POLICE_FEED_URL: police.url,
      POLICE_FEED_TOKEN: 'feed',
      POLICE_POLL_CRON: '* * * * * *',
      POLICE_PAGE_LIMIT: '7',
      STATUS_POLL_CRON: '* * * * * *',
      NHS_MODE: 'bars',
      NHS_FHIR_BASE_URL: bars.url,
      NHS_BARS_TARGET_SERVICE_ID: DEFAULT_BARS_SERVICE_ID,
      NHS_AUTH: 'private-key-jwt',
      NHS_TOKEN_URL: bars.tokenUrl,
      NHS_CLIENT_ID: 'bridge-e2e',
      NHS_KEY_ID: 'e2e-1',
      NHS_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      NHS_INBOUND_TOKEN: 'trust-calls-back',
      DELIVERY_ATTEMPTS: '10',
      CHARITY_API_URL: charity.url,
      CHARITY_API_KEY: 'charity',
    });
    bridge = await startBridge(config, { logger: logs.logger });
    bars.setCallback({ url: `${bridge.server!.info.uri}/fhir/$process-message`, token: 'trust-calls-back' });
  });

  afterAll(async () => {
    await bridge.stop();
    await dropKeys(bridge.ctx.config);
    await Promise.all([police.stop(), bars.stop(), charity.stop()]);
  });

  test('every clinical referral reaches the trust once and settles from its responses alone', async () => {
    const latest = new Map(generated.map((g) => [g.crimeReference, g]));
    const expected = new Map<string, { type: string; decision: string }>();
    for (const g of latest.values()) for (const r of g.expectedReferrals) expected.set(r.referralId, r);

    const settled: ReadonlySet<ReferralStatus> = new Set(['HELD', 'COMPLETED', 'REJECTED', 'CANCELLED']);
    const final = await waitFor(
      async () => {
        const s = await bridge.ctx.referrals.statuses();
        const done = [...expected.keys()].every((id) => settled.has(s.get(id)!));
        return done && (await bridge.ctx.referrals.outboxSize()) === 0 ? s : undefined;
      },
      'every referral to settle',
      45_000,
    ).catch(async (err) => {
      const s = await bridge.ctx.referrals.statuses();
      throw new Error(`${(err as Error).message}: ${JSON.stringify([...expected].map(([id, e]) => [e.type, e.decision, s.get(id)]))}`);
    });

    let nhsSent = 0;
    for (const [id, e] of expected) {
      const meta = await bridge.ctx.referrals.get(id);
      if (e.decision === 'HELD') expect(final.get(id)).toBe('HELD');
      if (e.type === 'CLINICAL' && meta?.partnerRef) nhsSent++;
    }
    const stats = bars.stats();
    expect(nhsSent).toBeGreaterThan(3);
    expect(stats.referrals).toBe(nhsSent);
    expect(stats.duplicatesRefused).toBe(0);
    expect(stats.responsesSent).toBeGreaterThan(nhsSent);
    expect(await bridge.ctx.queues.deadLetter.getJobCountByTypes('waiting')).toBe(0);
    // Both endings the trust can give arrived through its responses alone (no polling in BaRS mode).
    const nhsFinal = [...expected].filter(([id, e]) => e.type === 'CLINICAL' && bars.referral(id)).map(([id]) => final.get(id));
    expect(nhsFinal).toContain('COMPLETED');
    expect(nhsFinal).toContain('REJECTED');
    // Every status change was written back to the police once.
    let changes = 0;
    for (const id of final.keys()) changes += (await bridge.ctx.referrals.timeline(id)).length;
    expect(police.stats().distinctOutcomeKeys).toBe(changes);
  }, 60_000);

  test('a resend of the whole feed creates nothing new at the trust', async () => {
    const before = bars.stats();
    const res = await fetch(`${bridge.server!.info.uri}/v1/police/flags`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Authorization: 'Bearer push-token' },
      body: feedDocument(generated.map((g) => g.xml)),
    });
    expect(res.status).toBe(202);
    await waitFor(async () => (await bridge.ctx.queues.intake.getJobCountByTypes('waiting', 'active', 'delayed')) === 0, 'intake to drain');
    await new Promise((r) => setTimeout(r, 1000));
    expect(bars.stats().referrals).toBe(before.referrals);
    expect(bars.stats().duplicatesRefused).toBe(0);
  });

  test('when the trust revokes the token, the bridge refreshes it once and delivers', async () => {
    const extra = generateFeedRecords({ records: 6, seed: 5, prefix: 'BARS-LATE' }).find((g) => g.kind === 'full')!;
    const clinical = extra.expectedReferrals.find((r) => r.type === 'CLINICAL' && r.decision === 'QUEUED')!;
    const before = bars.stats();
    bars.revokeTokens();
    const res = await fetch(`${bridge.server!.info.uri}/v1/police/flags`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Authorization: 'Bearer push-token' },
      body: feedDocument([extra.xml]),
    });
    expect(res.status).toBe(202);
    await waitFor(async () => bars.referral(clinical.referralId) !== undefined, 'the late referral at the trust');
    const after = bars.stats();
    expect(after.tokensIssued).toBe(before.tokensIssued + 1);
    expect(after.authFailures).toBeGreaterThan(before.authFailures);
    expect(await bridge.ctx.queues.deadLetter.getJobCountByTypes('waiting')).toBe(0);
  });

  test('no planted personal data in the logs; token failures and retries are logged without secrets', () => {
    const text = logs.text();
    expect(text).not.toContain(PLANTED_SURNAME);
    expect(text).not.toContain('BEGIN PRIVATE KEY');
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JWT
  });
});
