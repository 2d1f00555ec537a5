import type { ReferralStatus } from '../../src/domain/lifecycle';
import { startBridge, type RunningBridge } from '../../src/app';
import { startCharitySimulator, type CharitySimulatorOptions } from '../../simulators/charity';
import { generateFeedRecords, mulberry32 } from '../../simulators/feed-generator';
import { startFhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';

/**
 * Charity statuses end to end over HTTP, real Redis, the simulator signing its webhooks:
 * with polling switched off, webhooks alone (duplicated and out of order) bring every advocacy
 * referral to its end; with every webhook lost, polling alone does.
 */
const SECRET = 'e2e-webhook-secret-0123456789';
const SETTLED: ReadonlySet<ReferralStatus> = new Set(['HELD', 'COMPLETED', 'REJECTED', 'CANCELLED']);

async function run(name: string, faults: CharitySimulatorOptions['faults'], statusPollCron: string) {
  const generated = generateFeedRecords({ records: 16, seed: 4242, prefix: name });
  const police = await startPoliceFeedSimulator({ records: generated.map((g) => g.xml), token: 'feed' });
  const fhir = await startFhirServer({ advanceEveryMs: 250 });
  const charity = await startCharitySimulator({ apiKey: 'charity', advanceEveryMs: 250, faults, random: mulberry32(11) });
  const logs = capturedLogger();
  const bridge = await startBridge(
    testConfig({
      POLICE_FEED_URL: police.url,
      POLICE_FEED_TOKEN: 'feed',
      POLICE_POLL_CRON: '* * * * * *',
      STATUS_POLL_CRON: statusPollCron,
      NHS_FHIR_BASE_URL: fhir.url,
      CHARITY_API_URL: charity.url,
      CHARITY_API_KEY: 'charity',
      CHARITY_WEBHOOK_SECRETS: SECRET,
    }),
    { logger: logs.logger },
  );
  charity.setWebhook({ url: `${bridge.server!.info.uri}/v1/webhooks/charity`, secret: SECRET });

  const latest = new Map(generated.map((g) => [g.crimeReference, g]));
  const advocacy = [...latest.values()].flatMap((g) => g.expectedReferrals.filter((r) => r.type === 'ADVOCACY'));
  const final = await waitFor(
    async () => {
      const statuses = await bridge.ctx.referrals.statuses();
      return advocacy.every((r) => SETTLED.has(statuses.get(r.referralId)!)) ? statuses : undefined;
    },
    `${name}: every advocacy referral to settle`,
    40_000,
  );
  const stop = async () => {
    await bridge.stop();
    await dropKeys(bridge.ctx.config);
    await Promise.all([police.stop(), fhir.stop(), charity.stop()]);
  };
  return { bridge, charity, police, advocacy, final, logs, stop };
}

/** The sources of every charity-driven status change. */
async function charitySources(bridge: RunningBridge, ids: string[]): Promise<string[]> {
  const sources: string[] = [];
  for (const id of ids)
    for (const e of await bridge.ctx.referrals.timeline(id)) if (e.source.startsWith('charity-')) sources.push(e.source);
  return sources;
}

describe('charity statuses by webhook alone (polling off; webhooks duplicated and reordered)', () => {
  let r: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    r = await run('WH', { duplicateWebhookRate: 0.5, reorderWebhooks: true }, '0 0 1 1 *');
  }, 60_000);
  afterAll(() => r.stop());

  test('every sent advocacy referral reaches its end from webhooks, each applied once', async () => {
    const sent = r.advocacy.filter((a) => a.decision === 'QUEUED').map((a) => a.referralId);
    expect(sent.length).toBeGreaterThan(3);
    for (const id of sent) expect(['COMPLETED', 'CANCELLED']).toContain(r.final.get(id));
    const sources = await charitySources(r.bridge, sent);
    expect(sources.length).toBeGreaterThan(0);
    expect(new Set(sources)).toEqual(new Set(['charity-webhook']));
    // Duplicates were delivered, yet every change is in the timeline once: no status twice in a row.
    for (const id of sent) {
      const statuses = (await r.bridge.ctx.referrals.timeline(id)).map((e) => e.status);
      expect(new Set(statuses).size).toBe(statuses.length);
    }
    await r.charity.flushWebhooks();
    expect(r.charity.stats().webhooksSent).toBeGreaterThan(r.charity.events().length);
  });

  test('every closed case keeps its outcome, even when CLOSED arrived before it', async () => {
    const sent = r.advocacy.filter((a) => a.decision === 'QUEUED').map((a) => a.referralId);
    let completed = 0;
    for (const id of sent) {
      const meta = await r.bridge.ctx.referrals.get(id);
      if (meta?.status !== 'COMPLETED') continue;
      completed++;
      expect(['ENGAGED', 'DECLINED', 'UNCONTACTABLE']).toContain(meta.partnerOutcome);
    }
    expect(completed).toBeGreaterThan(0);
  });

  test('every change is written back to the police once', async () => {
    await waitFor(async () => (await r.bridge.ctx.referrals.outboxSize()) === 0, 'write-backs stored');
    let changes = 0;
    for (const id of await r.bridge.ctx.referrals.allIds()) changes += (await r.bridge.ctx.referrals.timeline(id)).length;
    expect(r.police.stats().distinctOutcomeKeys).toBe(changes);
  });
});

describe('charity statuses by polling alone (every webhook lost)', () => {
  let r: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    r = await run('LOST', { dropWebhookRate: 1 }, '* * * * * *');
  }, 60_000);
  afterAll(() => r.stop());

  test('no webhook arrives, and the statuses still do', async () => {
    expect(r.charity.stats().webhooksSent).toBe(0);
    expect(r.charity.stats().webhooksDropped).toBeGreaterThan(0);
    const sent = r.advocacy.filter((a) => a.decision === 'QUEUED').map((a) => a.referralId);
    for (const id of sent) expect(['COMPLETED', 'CANCELLED']).toContain(r.final.get(id));
    const sources = await charitySources(r.bridge, sent);
    expect(new Set(sources)).toEqual(new Set(['charity-poll']));
  });
});
