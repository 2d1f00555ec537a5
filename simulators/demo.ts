import { parseArgs } from 'node:util';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { issueOperatorToken } from '../src/api/auth';
import { loadConfig } from '../src/config';
import type { ReferralStatus } from '../src/domain/lifecycle';
import { STATUS_ORDER } from '../src/domain/lifecycle';
import { createLogger } from '../src/logger';
import { reconcile } from '../src/reconcile/reconciler';
import { startBridge, type RunningBridge } from '../src/app';
import { generateDataKeySpec } from '../src/store/crypto';
import { DEFAULT_BARS_SERVICE_ID, startBarsReceiver } from './bars-receiver';
import { startCharitySimulator } from './charity';
import { feedDocument, generateFeedRecords, type GeneratedRecord } from './feed-generator';
import { startFhirServer } from './fhir-server';
import { findOrStartRedis } from './local-redis';
import { startPoliceFeedSimulator } from './police-feed';

/**
 * `npm run demo`: the whole pipeline against the three simulated partners, on a local Redis.
 * Prints progress while it runs and a closing table that accounts for every record.
 */
/**
 * No published BaRS use case is for stalking referrals; NHS England assigns one at onboarding.
 * The demo's simulated trust is set up for this existing code, so the messages stay valid.
 */
export const DEMO_BARS_USE_CASE = 'a4t3';
export const DEMO_BARS_SOURCE_ENDPOINT = 'https://fhir.nhs.uk/Id/dos-service-id|iasu-demo-0001';

export interface DemoOptions {
  records?: number;
  /** Default: NHS_MODE from the environment, else fhir-rest. */
  nhsMode?: 'fhir-rest' | 'bars';
  timeoutMs?: number;
  out?: NodeJS.WritableStream;
  /**
   * After the summary, leave the bridge, its API and the simulators up (printing their URLs and
   * an admin operator token) until this resolves; `--keep-running` passes SIGINT or SIGTERM.
   */
  keepRunningUntil?: Promise<unknown>;
}

export interface DemoResult {
  ok: boolean;
  lost: number;
  duplicates: number;
  table: string;
}

const SETTLED: ReadonlySet<ReferralStatus> = new Set(['HELD', 'REJECTED', 'COMPLETED', 'CANCELLED', 'FAILED']);

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const result = await demo(opts);
  return result.ok ? 0 : 1;
}

export async function demo(opts: DemoOptions = {}): Promise<DemoResult> {
  const out = opts.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const total = opts.records ?? 300;
  const runId = Date.now().toString(36);

  const redis = await findOrStartRedis();
  say(`Redis: ${redis.url}${redis.started ? ' (private redis-server started for the demo)' : ''}`);

  const generated = generateFeedRecords({ records: total, seed: 20261122, prefix: `DEMO-${runId.toUpperCase()}`, now: new Date() });
  const waiting = victimKeptWaiting(generated);
  // The last few records arrive by push instead of pull, as an RMS may also send them.
  const pushed = generated.filter((g) => g.recordVersion === 1).slice(-5);
  const pulled = generated.filter((g) => !pushed.includes(g));
  const police = await startPoliceFeedSimulator({ records: pulled.map((g) => g.xml), token: 'demo-feed-token' });
  const nhsMode = opts.nhsMode ?? (process.env.NHS_MODE === 'bars' ? 'bars' : 'fhir-rest');
  const trust = await startTrust(nhsMode);
  // One webhook in five is lost on the way, so the closing table shows polling catching up.
  // One victim's referral is refused by the charity (a missing safe contact) and waits in the
  // dead letters past the Victims' Code deadline: what the console's overview shows first.
  const charity = await startCharitySimulator({
    apiKey: 'demo-charity-key',
    advanceEveryMs: 700,
    // Refused at the first attempt and at its job's: dead-lettered, waiting for an operator's redrive.
    faults: { dropWebhookRate: 0.2, refuseCreates: (ref) => (ref === waiting?.referralId ? 2 : 0) },
  });
  const webhookSecret = randomBytes(24).toString('base64url');
  say(`Simulators: police feed ${police.url}, NHS trust ${trust.label} ${trust.url}, charity ${charity.url}`);

  const logDir = join(tmpdir(), 'iasu-bridge-demo');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `bridge-${runId}.log`);
  const config = loadConfig({
    ...process.env,
    REDIS_URL: redis.url,
    REDIS_PREFIX: `{iasu-demo-${runId}}`,
    // A prefix of its own each run: an empty Redis is expected.
    IASU_FIRST_START: '1',
    HTTP_PORT: '0',
    DATA_KEYS: generateDataKeySpec('demo'),
    POLICE_FEED_URL: police.url,
    POLICE_FEED_TOKEN: 'demo-feed-token',
    POLICE_PUSH_TOKEN: 'demo-push-token',
    POLICE_POLL_CRON: '* * * * * *',
    POLICE_PAGE_LIMIT: '50',
    STATUS_POLL_CRON: '* * * * * *',
    ...trust.env,
    CHARITY_API_URL: charity.url,
    CHARITY_API_KEY: 'demo-charity-key',
    CHARITY_WEBHOOK_SECRETS: webhookSecret,
    DELIVERY_BACKOFF_MS: '200',
    // Operator tokens for the API and the console (printed with --keep-running).
    API_JWT_SECRET: randomBytes(32).toString('base64url'),
  });
  const logger = createLogger('info', pino.destination({ dest: logFile, sync: false }));
  say(`Bridge logs (JSON, no personal data): ${logFile}`);

  let bridge: RunningBridge | undefined;
  try {
    bridge = await startBridge(config, { logger });
    const api = bridge.server!.info.uri;
    trust.connect(api);
    charity.setWebhook({ url: `${api}/v1/webhooks/charity`, secret: webhookSecret });
    const push = await fetch(`${api}/v1/police/flags`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Authorization: 'Bearer demo-push-token' },
      body: feedDocument(pushed.map((g) => g.xml)),
    });
    say(`Pushed ${pushed.length} records to ${api}/v1/police/flags: HTTP ${push.status} ${await push.text()}`);

    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    const isTty = Boolean((out as NodeJS.WriteStream).isTTY);
    let last = '';
    for (;;) {
      const snapshot = await progress(bridge, generated.length, police.served() + pushed.length);
      const line = `  records ${snapshot.read}/${generated.length} | referrals ${snapshot.referrals} | ${snapshot.byStatus} | queued jobs ${snapshot.pendingJobs}`;
      if (isTty) out.write(`\r${line.padEnd(last.length)}`);
      else if (line !== last) say(line);
      last = line;
      if (snapshot.done || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (isTty) out.write('\n');

    const report = await closingReport(bridge, generated, police, trust, charity);
    say('');
    say(report.table);
    if (opts.keepRunningUntil) {
      const token = issueOperatorToken(config, 'demo-operator', ['admin'], 12 * 3600);
      say('');
      say('Still running (Ctrl-C to stop):');
      say(`  bridge API     ${api}`);
      say(`  console        ${api}/console`);
      say(`  queues         ${api}/admin/queues`);
      say(`  police feed    ${police.url}`);
      say(`  NHS trust      ${trust.label} ${trust.url}`);
      say(`  charity        ${charity.url}`);
      say(`  Redis          ${redis.url} (prefix ${config.redis.prefix})`);
      say(`  operator token (admin, 12 h): ${token}`);
      say(`  e.g. curl -H "Authorization: Bearer $TOKEN" ${api}/v1/reconciliation`);
      await opts.keepRunningUntil;
      say('Stopping the bridge and the simulators.');
    }
    return report;
  } finally {
    await bridge?.stop();
    await police.stop();
    await trust.stop();
    await charity.stop();
    await redis.stop();
  }
}

async function statusCounts(bridge: RunningBridge): Promise<Map<ReferralStatus, number>> {
  const counts = new Map<ReferralStatus, number>();
  for (const status of (await bridge.ctx.referrals.statuses()).values()) counts.set(status, (counts.get(status) ?? 0) + 1);
  return counts;
}

async function progress(bridge: RunningBridge, expected: number, served: number) {
  const { ctx } = bridge;
  const counts = await statusCounts(bridge);
  const c = await ctx.counters.all();
  const read = Math.min(served, expected);
  const jobCounts = await Promise.all(
    ctx.queues
      .all()
      .filter((q) => q.name !== 'dead-letter')
      .map((q) => q.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized')),
  );
  const pendingJobs = jobCounts.reduce((a, b) => a + b, 0);
  const referrals = [...counts.values()].reduce((a, b) => a + b, 0);
  const unsettled = [...counts.entries()].filter(([s]) => !SETTLED.has(s)).reduce((a, [, n]) => a + n, 0);
  const byStatus = STATUS_ORDER.filter((s) => counts.get(s))
    .map((s) => `${s} ${counts.get(s)}`)
    .join(' ');
  const outbox = await ctx.referrals.outboxSize();
  const intakeDone = c.recordsQueued + c.recordsOutOfScope + c.recordsStale + c.recordsQuarantined >= expected;
  return { read, referrals, byStatus, pendingJobs, done: intakeDone && unsettled === 0 && pendingJobs === 0 && outbox === 0 };
}

async function closingReport(
  bridge: RunningBridge,
  generated: GeneratedRecord[],
  police: Awaited<ReturnType<typeof startPoliceFeedSimulator>>,
  trust: SimulatedTrust,
  charity: Awaited<ReturnType<typeof startCharitySimulator>>,
): Promise<DemoResult> {
  const { ctx } = bridge;
  const c = await ctx.counters.all();
  const counts = await statusCounts(bridge);
  const quarantined = await ctx.quarantine.count();
  const deadLetters = await ctx.queues.deadLetter.getJobCountByTypes('waiting', 'completed', 'failed', 'delayed');

  // Ground truth: the last version of each record says what its referrals should be.
  const latest = new Map<string, GeneratedRecord>();
  for (const g of generated) latest.set(g.crimeReference, g);
  const expectedIds = new Set<string>();
  let expectedQuarantine = 0;
  for (const g of generated) if (g.expectQuarantine) expectedQuarantine++;
  for (const g of latest.values()) for (const r of g.expectedReferrals) expectedIds.add(r.referralId);
  const known = new Set(await ctx.referrals.allIds());
  const missingReferrals = [...expectedIds].filter((id) => !known.has(id)).length;
  const recordsAccounted = c.recordsQueued + c.recordsOutOfScope + c.recordsStale + c.recordsQuarantined;
  const lostRecords = Math.max(0, generated.length - recordsAccounted);

  let sentNhs = 0;
  let sentCharity = 0;
  for (const id of known) {
    const meta = await ctx.referrals.get(id);
    if (meta?.partnerRef && meta.partner === 'NHS') sentNhs++;
    else if (meta?.partnerRef) sentCharity++;
  }
  const trustView = await trust.report(sentNhs);
  const charityStats = charity.stats();
  const bySource = new Map<string, number>();
  for (const id of known) for (const e of await ctx.referrals.timeline(id)) bySource.set(e.source, (bySource.get(e.source) ?? 0) + 1);
  const policeStats = police.stats();
  const nhsDuplicates = trustView.duplicates;
  const charityDuplicates = Math.max(0, charityStats.created - sentCharity);
  const duplicates = nhsDuplicates + charityDuplicates;
  const unsettled = [...counts.entries()].filter(([s]) => !SETTLED.has(s)).reduce((a, [, n]) => a + n, 0);
  const pendingWriteBacks = await ctx.referrals.outboxSize();
  const lost = lostRecords + missingReferrals;
  // The operators' view: the same reconciliation the schedule runs, against the partners as they are now.
  const reconciliation = await reconcile(ctx);
  const discrepancies = reconciliation?.discrepancies.length ?? -1;
  const byClass = new Map<string, number>();
  for (const d of reconciliation?.discrepancies ?? []) byClass.set(d.class, (byClass.get(d.class) ?? 0) + 1);

  const rows: [string, string | number][] = [
    ['Police records read (pull + push)', `${generated.length} versions of ${latest.size} crimes`],
    ['  applied by intake', c.recordsQueued],
    ['  out of scope (no STALKING flag, not 8Q)', c.recordsOutOfScope],
    ['  quarantined with a reason', `${c.recordsQuarantined} (expected ${expectedQuarantine}; ${quarantined} in the quarantine store)`],
    ['Referrals created', known.size],
    [`  sent to the NHS trust (${trust.label})`, `${sentNhs} (${trustView.holds})`],
    ['  sent to the charity', `${sentCharity} (charity created ${charityStats.created}, ${charityStats.replays} idempotent replays)`],
    [
      '  charity status changes applied',
      `${bySource.get('charity-webhook') ?? 0} by signed webhook, ${bySource.get('charity-poll') ?? 0} by polling (webhooks: ${charityStats.webhooksSent} delivered, ${charityStats.webhooksFailed} failed, ${charityStats.webhooksDropped} lost on purpose)`,
    ],
    ...STATUS_ORDER.filter((s) => counts.get(s)).map((s): [string, number] => [`  status ${s}`, counts.get(s)!]),
    [
      'Police write-backs stored',
      `${policeStats.distinctOutcomeKeys} (${policeStats.outcomeReplays} harmless repeats; ${pendingWriteBacks} pending)`,
    ],
    ['Dead letters', deadLetters],
    [
      'Reconciliation',
      reconciliation
        ? `${discrepancies} discrepancies${byClass.size ? ` (${[...byClass].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}; ${reconciliation.serviceLevels.breaches.length} Victims' Code breaches; ${reconciliation.serviceLevels.overdue.length} clinical overdue`
        : 'did not run (another process held the lock)',
    ],
    ['Still in flight', unsettled],
    ['Duplicates at partners', duplicates],
    ['LOST', lost],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const line = '-'.repeat(width + 40);
  const table = [line, 'iasu-bridge demo summary', line, ...rows.map(([k, v]) => `${k.padEnd(width)}${v}`), line].join('\n');
  const ok = lost === 0 && duplicates === 0 && unsettled === 0 && pendingWriteBacks === 0 && discrepancies === 0;
  return {
    ok,
    lost,
    duplicates,
    table: `${table}\n${ok ? 'Every record accounted for: zero lost, zero duplicated.' : 'NOT CLEAN: see the rows above and the log file.'}`,
  };
}

/** The NHS trust in the deployment's mode: a FHIR R4 server, or a BaRS receiver that calls back. */
interface SimulatedTrust {
  label: string;
  url: string;
  env: Record<string, string>;
  /** Once the bridge listens: where the trust sends its responses. */
  connect(bridgeUrl: string): void;
  report(sentNhs: number): Promise<{ holds: string; duplicates: number }>;
  stop(): Promise<void>;
}

async function startTrust(mode: 'fhir-rest' | 'bars'): Promise<SimulatedTrust> {
  if (mode === 'fhir-rest') {
    const fhir = await startFhirServer({ advanceEveryMs: 700, rejectEvery: 9 });
    return {
      label: 'FHIR R4',
      url: fhir.url,
      env: { NHS_MODE: 'fhir-rest', NHS_FHIR_BASE_URL: fhir.url },
      connect: () => undefined,
      async report(sentNhs) {
        const c = await fhir.counts();
        return {
          holds: `trust holds ${c.ServiceRequest ?? 0} ServiceRequests, ${c.Task ?? 0} Tasks, ${c.Patient ?? 0} Patients`,
          duplicates: Math.max(0, (c.ServiceRequest ?? 0) - sentNhs) + Math.max(0, (c.Task ?? 0) - sentNhs),
        };
      },
      stop: () => fhir.stop(),
    };
  }
  // A throwaway key pair: the bridge signs its token requests with the private half, the
  // simulated NHS token endpoint checks them with the public half. Nothing is written to disk.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientId = 'iasu-bridge-demo';
  const inboundToken = 'demo-trust-callback-token';
  const bars = await startBarsReceiver({
    clientId,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    advanceEveryMs: 700,
    rejectEvery: 9,
  });
  return {
    label: 'BaRS',
    url: bars.url,
    env: {
      NHS_MODE: 'bars',
      NHS_FHIR_BASE_URL: bars.url,
      NHS_BARS_TARGET_SERVICE_ID: DEFAULT_BARS_SERVICE_ID,
      NHS_BARS_USE_CASE: DEMO_BARS_USE_CASE,
      // The bridge's own Endpoint Catalogue entry, as a registered deployment has one.
      NHS_BARS_SOURCE_ENDPOINT: DEMO_BARS_SOURCE_ENDPOINT,
      NHS_AUTH: 'private-key-jwt',
      NHS_TOKEN_URL: bars.tokenUrl,
      NHS_CLIENT_ID: clientId,
      NHS_KEY_ID: 'demo-1',
      NHS_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      NHS_INBOUND_TOKEN: inboundToken,
    },
    connect: (bridgeUrl) => bars.setCallback({ url: `${bridgeUrl}/fhir/$process-message`, token: inboundToken }),
    async report(sentNhs) {
      const s = bars.stats();
      return {
        holds: `receiver holds ${s.referrals} referrals, sent ${s.responsesSent} responses, issued ${s.tokensIssued} tokens, refused ${s.duplicatesRefused} duplicates`,
        duplicates: Math.max(0, s.referrals - sentNhs) + s.duplicatesRefused,
      };
    },
    stop: () => bars.stop(),
  };
}

/**
 * Picks one record whose victim consented and dates that consent five days back, so that a
 * refused referral for them is a Victims' Code breach still open (the victim is still waiting).
 */
function victimKeptWaiting(generated: GeneratedRecord[]): { referralId: string; crimeReference: string } | undefined {
  const versions = new Map<string, number>();
  for (const g of generated) versions.set(g.crimeReference, (versions.get(g.crimeReference) ?? 0) + 1);
  const record = generated.find(
    (g) => versions.get(g.crimeReference) === 1 && g.expectedReferrals.some((r) => r.type === 'ADVOCACY' && r.decision === 'QUEUED'),
  );
  if (!record) return undefined;
  const fiveDaysAgo = new Date(Date.now() - 5 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  record.xml = record.xml.replace(/(<Consent purpose="ADVOCACY_REFERRAL" status="GIVEN" recordedAt=")[^"]+/, `$1${fiveDaysAgo}`);
  return { referralId: record.expectedReferrals.find((r) => r.type === 'ADVOCACY')!.referralId, crimeReference: record.crimeReference };
}

// `npm run demo [-- --records N]`: the simulators are not part of the bridge, so the demo starts here.
export class DemoUsageError extends Error {}

/** `[--records N] [--keep-running]`: anything else is a usage error (exit 2), never a run of 0 records. */
export function parseDemoArgs(args: string[]): { records?: number; keepRunning: boolean } {
  let values: { records?: string; 'keep-running'?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { records: { type: 'string' }, 'keep-running': { type: 'boolean', default: false } } }));
  } catch (err) {
    throw new DemoUsageError((err as Error).message.split('\n')[0]!);
  }
  const keepRunning = values['keep-running'] === true;
  if (values.records === undefined) return { keepRunning };
  const records = /^\d+$/.test(values.records) ? Number(values.records) : NaN;
  if (!Number.isSafeInteger(records) || records < 1 || records > 100_000) {
    throw new DemoUsageError(`--records must be a whole number from 1 to 100000 (got ${JSON.stringify(values.records)})`);
  }
  return { records, keepRunning };
}

const DEMO_USAGE = 'usage: npm run demo -- [--records N] [--keep-running]';

if (require.main === module) {
  let args: ReturnType<typeof parseDemoArgs>;
  try {
    args = parseDemoArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n${DEMO_USAGE}\n`);
    process.exit(2);
  }
  const stopSignal = args.keepRunning
    ? new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      })
    : undefined;
  runDemo({ records: args.records, ...(stopSignal ? { keepRunningUntil: stopSignal } : {}) }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`demo failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
