import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import IORedis from 'ioredis';
import pino from 'pino';
import defaults from '../config/default.json';
import { issueOperatorToken } from '../src/api/auth';
import { loadConfig } from '../src/config';
import { createContext } from '../src/app';
import type { BridgeContext } from '../src/context';
import { STATUS_ORDER, type ReferralStatus } from '../src/domain/lifecycle';
import { createLogger } from '../src/logger';
import { writeBackIdempotencyKey } from '../src/mappings/referral-to-write-back';
import { listDeadLetters } from '../src/operations/dead-letter-admin';
import type { ReconciliationReport } from '../src/reconcile/report';
import { generateDataKeySpec } from '../src/store/crypto';
import { startCharitySimulator, type CharitySimulator } from './charity';
import { FAULT_KINDS, type FaultKind, type FaultStats } from './faults';
import { feedDocument, generateFeedRecords, mulberry32, type GeneratedRecord } from './feed-generator';
import { startFhirServer, type FhirServer } from './fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from './police-feed';
import { startFlakyTlsProxy, type FlakyTlsProxy } from './tls-proxy';
import { decodeTimelineEntry } from '../src/store/timeline-codec';

/**
 * `npm run chaos`: the whole pipeline under failure, with proof at the end that nothing was lost
 * or duplicated.
 *
 * - a private redis-server with AOF (appendfsync everysec) on a free loopback port, in a temp
 *   dir of its own (the shared Redis on 6379 is never touched), restarted once mid-run (SIGTERM,
 *   which fsyncs the AOF, then started again on the same port and dir) and later crashed once
 *   (SIGKILL: no shutdown, no final fsync) while the bridges run;
 * - the three partner simulators failing a share of calls (500, 503, 429 with Retry-After,
 *   timeouts longer than the bridge's, connection resets, answers lost after the work was done,
 *   and successes answered with an unreadable body), moving statuses on timers, the charity's
 *   webhooks signed and sometimes lost, doubled, or sent before the create is answered;
 * - the NHS trust and the charity reached over TLS, with a share of new connections offered a
 *   certificate the bridge must refuse (untrusted, or for another host);
 * - three `iasu-bridge start` processes, one at random SIGKILLed every 3–8 s and started again;
 * - 5,000 generated crime records (ground truth known), pulled from the police feed as they
 *   appear there, and a few hundred pushed through the bridges' API;
 * - once everything has settled (or nothing has moved for --stall-seconds, or the hard time
 *   limit), the killing stops, the partners recover,
 *   a reconciliation runs (POST /v1/reconciliation, admin token), and every record, referral,
 *   partner-side create and police write-back is accounted for.
 *
 * Exit 0 only when nothing is lost, nothing is duplicated at a partner, no write-back is lost,
 * and the reconciliation finds nothing. Loopback only. Everything started is stopped on any exit.
 *
 *   npx tsx simulators/chaos.ts [--records 5000] [--seed N] [--stall-seconds 90] [--time-limit-seconds 900]
 *        [--fault-rate 0.2] [--bridges 3] [--feed-seconds 60] [--chaos-seconds 120] [--keep-logs]
 */
const ROOT = join(__dirname, '..');
const SETTLED_OK: Record<'QUEUED' | 'HELD' | 'CANCELLED', ReadonlySet<ReferralStatus>> = {
  // Delivered: the partner closed it (the trust may reject).
  QUEUED: new Set(['COMPLETED', 'REJECTED']),
  HELD: new Set(['HELD']),
  // Withdrawn: cancelled, or the partner had already closed it (its own final status stands).
  CANCELLED: new Set(['CANCELLED', 'COMPLETED', 'REJECTED']),
};
const WORK_QUEUES = ['intake', 'nhsDelivery', 'charityDelivery', 'policeWriteBacks'] as const;

interface ChaosOptions {
  records: number;
  seed: number;
  /** Hard ceiling for the whole run. */
  timeLimitMs: number;
  /** The run gives up settling when nothing has moved for this long: a slow machine only waits longer. */
  stallMs: number;
  faultRate: number;
  bridges: number;
  feedMs: number;
  /** Bridges are killed until everything has settled or this long after the start. */
  chaosMs: number;
  keepLogs: boolean;
}

interface Slot {
  index: number;
  port: number;
  url: string;
  logFile: string;
  child?: ChildProcess;
  exit?: Promise<void>;
  ready: boolean;
  starts: number;
  /** Set just before we SIGKILL it, so its exit is not mistaken for a crash. */
  killing: boolean;
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------- everything started, stopped again on any exit ----------

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
const tempDirs: string[] = [];
let cleaning: Promise<void> | undefined;
/** Set on Ctrl-C (which the bridges get too, from the terminal): their exits are then expected. */
let interrupted = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort (an exception, process.exit): no child outlives the script, no temp dir is left.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    say(`\n${signal}: stopping everything the chaos run started`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

// ---------- the private Redis ----------

class PrivateRedis {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  readonly url: string;

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly logFile: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    children.add(child);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const failed = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new Error(`redis-server could not be started (${err.message}); install Redis`))),
    );
    await Promise.race([failed, this.waitForPing(10_000)]);
  }

  /** SIGTERM: Redis fsyncs the AOF and exits; nothing acknowledged is lost. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited!.then(() => true), sleep(15_000).then(() => false)]);
    if (!done) this.child.kill('SIGKILL');
    await this.exited;
    children.delete(this.child);
  }

  /** SIGKILL: a crash, with no shutdown and no final fsync; what the AOF holds is what survives. */
  async crash(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
    children.delete(this.child);
  }

  private async waitForPing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const client = new IORedis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
        connectTimeout: 500,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // Loading the AOF answers LOADING until done: wait for a real PONG.
        if ((await client.ping()) === 'PONG') return;
      } catch {
        /* not yet */
      } finally {
        client.disconnect();
      }
      await sleep(100);
    }
    throw new Error(`redis-server did not answer on ${this.url} within ${timeoutMs} ms`);
  }
}

// ---------- helpers ----------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

async function httpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function parseOptions(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      records: { type: 'string', default: '5000' },
      seed: { type: 'string', default: '20261122' },
      'time-limit-seconds': { type: 'string', default: '900' },
      'stall-seconds': { type: 'string', default: '90' },
      'fault-rate': { type: 'string', default: '0.2' },
      bridges: { type: 'string', default: '3' },
      'feed-seconds': { type: 'string', default: '60' },
      'chaos-seconds': { type: 'string', default: '120' },
      'keep-logs': { type: 'boolean', default: false },
    },
  });
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const rate = Number(values['fault-rate']);
  if (!(rate >= 0 && rate < 1)) throw new Error('--fault-rate must be from 0 to below 1');
  return {
    records: int('records', values.records!, 10, 100_000),
    seed: int('seed', values.seed!, 0, 2 ** 31),
    timeLimitMs: int('time-limit-seconds', values['time-limit-seconds']!, 30, 7200) * 1000,
    stallMs: int('stall-seconds', values['stall-seconds']!, 10, 3600) * 1000,
    faultRate: rate,
    bridges: int('bridges', values.bridges!, 2, 8),
    feedMs: int('feed-seconds', values['feed-seconds']!, 0, 600) * 1000,
    chaosMs: int('chaos-seconds', values['chaos-seconds']!, 0, 3600) * 1000,
    keepLogs: values['keep-logs']!,
  };
}

function faultSummary(stats: FaultStats): string {
  const parts = FAULT_KINDS.filter((k) => stats.injected[k] > 0).map((k) => `${k} ${stats.injected[k]}`);
  const total = FAULT_KINDS.reduce((a, k) => a + stats.injected[k], 0);
  return `${total} of ${stats.eligible} calls${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

// ---------- the run ----------

type Decision = 'QUEUED' | 'HELD' | 'CANCELLED';
type ExpectedReferrals = Map<string, { decision: Decision; type: string; crimeReference: string }>;

/** What every phase of a run shares: its clock, its ids and where it writes. */
interface RunBase {
  opts: ChaosOptions;
  started: number;
  elapsed: () => string;
  runId: string;
  /** Seeded: which bridge a push goes to, which bridge is killed, and when. */
  random: () => number;
  work: string;
  logDir: string;
  redisDir: string;
}

/** Ground truth: what is fed, which way, and what each crime's last version must leave behind. */
interface RecordPlan {
  generated: GeneratedRecord[];
  pushed: GeneratedRecord[];
  pulled: GeneratedRecord[];
  latest: Map<string, GeneratedRecord>;
  expected: ExpectedReferrals;
}

interface Partners {
  police: PoliceSimulator;
  fhir: FhirServer;
  charity: CharitySimulator;
  fhirTls: FlakyTlsProxy;
  charityTls: FlakyTlsProxy;
  /** Both TLS proxies' CAs, for the bridges' NODE_EXTRA_CA_CERTS. */
  partnerCaFile: string;
  feedToken: string;
  pushToken: string;
  charityKey: string;
  webhookSecret: string;
}

/** How far the feed and the pushes have got (read by the progress watch and the summary). */
interface FeedProgress {
  appended: number;
  pushedDone: number;
  pushRetries: number;
}

/** What the fault phases did, for the progress lines and the summary. */
interface FaultLog {
  kills: string[];
  redisRestarts: number;
  redisCrashes: number;
  redisDownMs: number;
}

/** Shared by the fault phases: switched off once the run has settled (or given up). */
interface ChaosSwitch {
  on: boolean;
}

interface WatchResult {
  settled: boolean;
  stalled: boolean;
  settledAt: string;
}

async function chaos(opts: ChaosOptions): Promise<boolean> {
  const run = prepareRun(opts);

  // 1. Redis, private, with AOF.
  const redis = await startPrivateRedis(run);

  // 2. Ground truth and the simulators.
  const plan = planRecords(opts, run.runId);
  const partners = await startPartners(opts, run.work);

  // 3. The bridge processes.
  const { bridgeEnv, baseEnv, config } = bridgeEnvironment(run, redis, partners);
  const fleet = new BridgeFleet(run, { ...baseEnv, ...bridgeEnv }, partners.partnerCaFile);
  await fleet.addSlots(opts.bridges);
  cleanups.push(() => fleet.stopAll());
  await fleet.startAll();
  const webhook = new WebhookRoute(partners.charity, partners.webhookSecret, fleet.slots[0]!);
  const view = openView(config, run.logDir);

  // 4. Feed: the police feed grows over feedMs; some records are pushed instead.
  const progress: FeedProgress = { appended: 0, pushedDone: 0, pushRetries: 0 };
  const feeding = startFeeding(partners.police, plan.pulled, opts.feedMs, progress);
  const pushing = startPushing(run, fleet, plan.pushed, partners.pushToken, progress);

  // 5. Chaos: SIGKILL a random bridge every 3–8 s, start it again; restart Redis once, crash it once.
  const faults: FaultLog = { kills: [], redisRestarts: 0, redisCrashes: 0, redisDownMs: 0 };
  const killUntil = run.started + Math.min(opts.chaosMs, opts.timeLimitMs - 30_000);
  const chaosSwitch: ChaosSwitch = { on: true };
  const killing = startBridgeKiller(run, fleet, webhook, chaosSwitch, faults, killUntil);
  const redisRestart = startRedisFaults(run, redis, partners.police, plan.pulled.length, chaosSwitch, faults, killUntil);

  // 6. Watch until everything settles or the time limit.
  const watched = await watchUntilSettled(run, view, plan, progress, partners.police, faults);
  if (!watched) return false;

  // 7. Stop killing, let every bridge come back, the partners recover; then reconcile.
  chaosSwitch.on = false;
  await Promise.all([killing, redisRestart, feeding]);
  await recover(fleet, partners, pushing);
  const reconciliation = await runReconciliation(fleet.live(), issueOperatorToken(config, 'chaos-run', ['admin'], 600));

  // 8. Account for everything.
  return report({ run, view, plan, partners, fleet, progress, faults, watched, reconciliation });
}

function prepareRun(opts: ChaosOptions): RunBase {
  const started = Date.now();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const random = mulberry32(opts.seed ^ 0x5eed);

  const work = mkdtempSync(join(tmpdir(), 'iasu-chaos-'));
  tempDirs.push(work);
  const logDir = join(tmpdir(), 'iasu-bridge-chaos', runId);
  mkdirSync(logDir, { recursive: true });
  const redisDir = join(work, 'redis');
  mkdirSync(redisDir);
  say(
    `iasu-bridge chaos run ${runId}: ${opts.records} records, seed ${opts.seed}, ${opts.bridges} bridge processes, faults ${Math.round(opts.faultRate * 100)}% of partner calls, gives up after ${opts.stallMs / 1000} s without progress (at most ${opts.timeLimitMs / 1000} s)`,
  );
  say(`Logs (bridges, Redis, this run's view): ${logDir}`);
  return { opts, started, elapsed, runId, random, work, logDir, redisDir };
}

async function startPrivateRedis(run: RunBase): Promise<PrivateRedis> {
  const redis = new PrivateRedis(await freePort(), run.redisDir, join(run.logDir, 'redis.log'));
  await redis.start();
  cleanups.push(() => redis.stop());
  say(`Redis: ${redis.url} (private redis-server, AOF everysec, dir ${run.redisDir})`);
  return redis;
}

function planRecords(opts: ChaosOptions, runId: string): RecordPlan {
  const generated = generateFeedRecords({
    records: opts.records,
    seed: opts.seed,
    prefix: `CHAOS-${runId.toUpperCase()}`,
    now: new Date(),
  });
  const pushed = generated.filter((g, i) => g.recordVersion === 1 && i % 17 === 5);
  const pulled = generated.filter((g) => !pushed.includes(g));
  const latest = new Map<string, GeneratedRecord>();
  for (const g of generated) if ((latest.get(g.crimeReference)?.recordVersion ?? 0) < g.recordVersion) latest.set(g.crimeReference, g);
  const expected: ExpectedReferrals = new Map();
  for (const g of latest.values())
    for (const r of g.expectedReferrals)
      expected.set(r.referralId, { decision: r.decision, type: r.type, crimeReference: g.crimeReference });
  return { generated, pushed, pulled, latest, expected };
}

/** The three partners, failing a share of calls; the trust and the charity behind flaky TLS. */
async function startPartners(opts: ChaosOptions, work: string): Promise<Partners> {
  const holdMs = 3000; // longer than the bridge's 2000 ms timeouts below
  const kinds: FaultKind[] = [...FAULT_KINDS];
  const feedToken = 'chaos-feed-token';
  const pushToken = 'chaos-push-token';
  const charityKey = 'chaos-charity-key';
  const webhookSecret = randomBytes(24).toString('base64url');
  const police = await startPoliceFeedSimulator({
    token: feedToken,
    faults: { errorRate: opts.faultRate, kinds, holdMs, random: mulberry32(opts.seed + 1) },
  });
  cleanups.push(() => police.stop());
  const fhir = await startFhirServer({
    advanceEveryMs: 1000,
    rejectEvery: 9,
    faults: { errorRate: opts.faultRate, kinds, holdMs, random: mulberry32(opts.seed + 2) },
  });
  cleanups.push(() => fhir.stop());
  const charity = await startCharitySimulator({
    apiKey: charityKey,
    advanceEveryMs: 1000,
    random: mulberry32(opts.seed + 3),
    faults: { errorRate: opts.faultRate, kinds, holdMs, dropWebhookRate: 0.1, duplicateWebhookRate: 0.05, webhookBeforeAnswerRate: 0.1 },
  });
  cleanups.push(() => charity.stop());
  // The trust and the charity over TLS; a share of new connections gets a certificate to refuse.
  const badCertRate = opts.faultRate / 4;
  const fhirTls = await startFlakyTlsProxy({ target: fhir.url, dir: work, badCertRate, random: mulberry32(opts.seed + 4) });
  cleanups.push(() => fhirTls.stop());
  const charityTls = await startFlakyTlsProxy({ target: charity.url, dir: work, badCertRate, random: mulberry32(opts.seed + 5) });
  cleanups.push(() => charityTls.stop());
  const partnerCaFile = join(work, 'partner-cas.crt');
  writeFileSync(partnerCaFile, readFileSync(fhirTls.caFile, 'utf8') + readFileSync(charityTls.caFile, 'utf8'));
  say(`Simulators: police ${police.url}, FHIR ${fhir.url} (TLS ${fhirTls.url}), charity ${charity.url} (TLS ${charityTls.url})`);
  return { police, fhir, charity, fhirTls, charityTls, partnerCaFile, feedToken, pushToken, charityKey, webhookSecret };
}

/** The bridges' whole configuration, and the same parsed here for this run's own view of Redis. */
function bridgeEnvironment(run: RunBase, redis: PrivateRedis, partners: Partners) {
  const jwtSecret = randomBytes(32).toString('base64url');
  const bridgeEnv: Record<string, string> = {
    REDIS_URL: redis.url,
    REDIS_PREFIX: `{iasu-chaos-${run.runId}}`,
    DATA_KEYS: generateDataKeySpec('chaos'),
    HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    API_JWT_SECRET: jwtSecret,
    POLICE_FEED_URL: partners.police.url,
    POLICE_FEED_TOKEN: partners.feedToken,
    POLICE_PUSH_TOKEN: partners.pushToken,
    POLICE_POLL_CRON: '* * * * * *',
    POLICE_PAGE_LIMIT: '100',
    POLICE_TIMEOUT_MS: '2000',
    STATUS_POLL_CRON: '*/2 * * * * *',
    NHS_MODE: 'fhir-rest',
    NHS_FHIR_BASE_URL: partners.fhirTls.url,
    NHS_TIMEOUT_MS: '2000',
    CHARITY_API_URL: partners.charityTls.url,
    CHARITY_API_KEY: partners.charityKey,
    CHARITY_TIMEOUT_MS: '2000',
    CHARITY_WEBHOOK_SECRETS: partners.webhookSecret,
    CHARITY_POLL_PAGE_LIMIT: '200',
    DELIVERY_ATTEMPTS: '25',
    DELIVERY_BACKOFF_MS: '200',
    // Most jobs wait on a partner (2 s timeouts): more in flight per process.
    WORKER_CONCURRENCY: '16',
  };
  const config = loadConfig(bridgeEnv);
  // Nothing from this shell's environment reaches the bridges' configuration but what is set here.
  const baseEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !(k in defaults)) baseEnv[k] = v;
  return { bridgeEnv, baseEnv, config };
}

/**
 * The `iasu-bridge start` processes. A class because starting, killing, restarting after a crash
 * and stopping all share the slots and the `stopping` flag that tells a crash from our own kill.
 */
class BridgeFleet {
  readonly slots: Slot[] = [];
  /** Exits not caused by us. */
  readonly crashes: string[] = [];
  stopping = false;

  constructor(
    private readonly run: RunBase,
    /** The environment every bridge gets, but for its own port and the partners' CAs. */
    private readonly env: Record<string, string>,
    private readonly partnerCaFile: string,
  ) {}

  async addSlots(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      this.slots.push({
        index: i,
        port,
        url: `http://127.0.0.1:${port}`,
        logFile: join(this.run.logDir, `bridge-${i}.log`),
        ready: false,
        starts: 0,
        killing: false,
      });
    }
  }

  /** Starts every slot and waits (at most 60 s) until all answer /health/live. */
  async startAll(): Promise<void> {
    for (const slot of this.slots) this.start(slot);
    const readyBy = Date.now() + 60_000;
    while (this.live().length < this.slots.length) {
      if (Date.now() > readyBy) throw new Error(`bridges did not become ready within 60 s; see ${this.run.logDir}`);
      await sleep(200);
    }
    say(`Bridges: ${this.slots.map((s) => `bridge-${s.index} ${s.url}`).join(', ')} (ready at ${this.run.elapsed()} s)`);
  }

  /** Bridges that answer and that we are not about to kill. */
  live(): Slot[] {
    return this.slots.filter((s) => s.ready && !s.killing);
  }

  start(slot: Slot): void {
    const log = openSync(slot.logFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'start'], {
      cwd: ROOT,
      env: { ...this.env, HTTP_PORT: String(slot.port), NODE_EXTRA_CA_CERTS: this.partnerCaFile },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    children.add(child);
    slot.child = child;
    slot.ready = false;
    slot.killing = false;
    slot.starts += 1;
    slot.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        children.delete(child);
        slot.ready = false;
        if (!slot.killing && !this.stopping && !interrupted) {
          this.crashes.push(
            `bridge-${slot.index} exited by itself (code ${code}, signal ${signal}) at ${this.run.elapsed()} s; see ${slot.logFile}`,
          );
          say(`  !! bridge-${slot.index} exited by itself (code ${code}, signal ${signal}); starting it again`);
          this.start(slot);
        }
        resolve();
      }),
    );
    void this.markReadyWhenLive(slot, child);
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) if (slot.child && slot.child.exitCode === null) slot.child.kill('SIGTERM');
    await Promise.race([Promise.all(this.slots.map((s) => s.exit)), sleep(8_000)]);
    for (const slot of this.slots) if (slot.child && slot.child.exitCode === null) slot.child.kill('SIGKILL');
    await Promise.all(this.slots.map((s) => s.exit));
  }

  /** Polls /health/live for this child only: a restart begins its own watch. */
  private async markReadyWhenLive(slot: Slot, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (slot.child === child && child.exitCode === null && Date.now() < deadline) {
      if (await httpOk(`${slot.url}/health/live`)) {
        slot.ready = true;
        return;
      }
      await sleep(200);
    }
  }
}

/**
 * The charity's webhooks go to one bridge; when that one dies they move to another (a load
 * balancer's job), and whatever was in flight to the dead one is retried or lost.
 */
class WebhookRoute {
  slot!: Slot;

  constructor(
    private readonly charity: CharitySimulator,
    private readonly secret: string,
    first: Slot,
  ) {
    this.point(first);
  }

  point(slot: Slot): void {
    this.slot = slot;
    this.charity.setWebhook({ url: `${slot.url}/v1/webhooks/charity`, secret: this.secret });
  }
}

/** This run's own view of the bridge's Redis state (reads only; it runs no worker). */
function openView(config: ReturnType<typeof loadConfig>, logDir: string): BridgeContext {
  const viewLogger = createLogger('info', pino.destination({ dest: join(logDir, 'chaos-view.log'), sync: false }));
  const view = createContext(config, viewLogger);
  // Redis restarts on purpose: the view reconnects by itself, nothing to report.
  view.redis.on('error', () => undefined);
  for (const queue of view.queues.all()) queue.on('error', () => undefined);
  cleanups.push(() => view.close());
  return view;
}

/** The police feed grows in chunks over feedMs, as a real RMS's would. */
function startFeeding(police: PoliceSimulator, pulled: GeneratedRecord[], feedMs: number, progress: FeedProgress): Promise<void> {
  const chunks = Math.max(1, Math.round(feedMs / 1500));
  const chunkSize = Math.ceil(pulled.length / chunks);
  return (async () => {
    for (let i = 0; i < chunks; i++) {
      police.append(pulled.slice(i * chunkSize, (i + 1) * chunkSize).map((g) => g.xml));
      progress.appended = Math.min(pulled.length, (i + 1) * chunkSize);
      if (i < chunks - 1) await sleep(feedMs / chunks);
    }
  })();
}

/** Batches of 20 pushed to a random live bridge, each repeated until one answers 202. */
function startPushing(
  run: RunBase,
  fleet: BridgeFleet,
  pushed: GeneratedRecord[],
  pushToken: string,
  progress: FeedProgress,
): Promise<void> {
  return (async () => {
    const batch = 20;
    const batches = Math.ceil(pushed.length / batch);
    for (let b = 0; b < batches; b++) {
      const records = pushed.slice(b * batch, (b + 1) * batch);
      const body = feedDocument(records.map((g) => g.xml));
      for (;;) {
        const live = fleet.live();
        const target = live[Math.floor(run.random() * live.length)];
        if (target && (await pushOnce(target, body, pushToken))) break;
        progress.pushRetries++;
        await sleep(500);
      }
      progress.pushedDone += records.length;
      await sleep(Math.max(200, run.opts.feedMs / batches));
    }
  })();
}

/** True when the bridge took the document (202). */
async function pushOnce(target: Slot, body: string, pushToken: string): Promise<boolean> {
  try {
    const res = await fetch(`${target.url}/v1/police/flags`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', Authorization: `Bearer ${pushToken}` },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    if (res.status === 202) return true;
  } catch {
    /* the bridge died under us or Redis is restarting: push again (idempotent by job id) */
  }
  return false;
}

/** SIGKILL a random bridge every 3–8 s (never the last one standing), start it again. */
function startBridgeKiller(
  run: RunBase,
  fleet: BridgeFleet,
  webhook: WebhookRoute,
  chaosSwitch: ChaosSwitch,
  faults: FaultLog,
  killUntil: number,
): Promise<void> {
  return (async () => {
    await sleep(3000);
    while (chaosSwitch.on && Date.now() < killUntil) {
      const live = fleet.live();
      if (live.length >= 2) {
        const victim = live[Math.floor(run.random() * live.length)]!;
        victim.killing = true;
        victim.child!.kill('SIGKILL');
        await victim.exit;
        faults.kills.push(`bridge-${victim.index}@${run.elapsed()}s`);
        if (victim === webhook.slot) webhook.point(fleet.live()[0] ?? webhook.slot);
        await sleep(200 + run.random() * 800);
        if (fleet.stopping || interrupted) break;
        fleet.start(victim);
      }
      await sleep(3000 + run.random() * 5000);
    }
  })();
}

/** Redis restarted once mid-feed (SIGTERM, AOF fsynced), and crashed once later (SIGKILL). */
function startRedisFaults(
  run: RunBase,
  redis: PrivateRedis,
  police: PoliceSimulator,
  pulledCount: number,
  chaosSwitch: ChaosSwitch,
  faults: FaultLog,
  killUntil: number,
): Promise<void> {
  return (async () => {
    // Mid-feed, with every queue busy.
    while (chaosSwitch.on && police.served() < pulledCount * 0.4 && Date.now() < run.started + run.opts.timeLimitMs / 3) await sleep(250);
    if (!chaosSwitch.on) return;
    const down = Date.now();
    say(`  >> restarting Redis (SIGTERM, AOF fsync) at ${run.elapsed()} s`);
    await redis.stop();
    await sleep(1500);
    await redis.start();
    faults.redisDownMs = Date.now() - down;
    faults.redisRestarts++;
    say(`  >> Redis back on the same port after ${(faults.redisDownMs / 1000).toFixed(1)} s`);

    // Later, a crash: no shutdown fsync, so only what the AOF already holds comes back.
    while (chaosSwitch.on && police.served() < pulledCount * 0.75 && Date.now() < killUntil) await sleep(250);
    if (!chaosSwitch.on) return;
    const crashed = Date.now();
    say(`  >> crashing Redis (SIGKILL, no shutdown fsync) at ${run.elapsed()} s`);
    await redis.crash();
    await sleep(1000);
    await redis.start();
    faults.redisDownMs += Date.now() - crashed;
    faults.redisCrashes++;
    say(`  >> Redis back after the crash in ${((Date.now() - crashed) / 1000).toFixed(1)} s`);
  })();
}

/** Where the referrals and the work stand; `settled` when everything fed has reached its expected end. */
async function snapshot(view: BridgeContext, plan: RecordPlan, progress: FeedProgress, police: PoliceSimulator) {
  const statuses = await view.referrals.statuses();
  const byStatus = new Map<ReferralStatus, number>();
  for (const s of statuses.values()) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
  let unsettled = 0;
  for (const [id, e] of plan.expected) if (!SETTLED_OK[e.decision].has(statuses.get(id) as ReferralStatus)) unsettled++;
  const counts = await Promise.all(
    WORK_QUEUES.map((q) => view.queues[q].getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')),
  );
  const pendingJobs = counts.reduce((a, b) => a + b, 0);
  const outbox = await view.referrals.outboxSize();
  const c = await view.counters.all();
  const fed =
    progress.appended === plan.pulled.length && progress.pushedDone === plan.pushed.length && police.served() >= plan.pulled.length;
  return {
    statuses,
    byStatus,
    unsettled,
    pendingJobs,
    outbox,
    counters: c,
    fed,
    settled: fed && unsettled === 0 && pendingJobs === 0 && outbox === 0,
  };
}

/**
 * Polls once a second until settled, stalled (nothing moved for --stall-seconds) or the time
 * limit; undefined when interrupted.
 */
async function watchUntilSettled(
  run: RunBase,
  view: BridgeContext,
  plan: RecordPlan,
  progress: FeedProgress,
  police: PoliceSimulator,
  faults: FaultLog,
): Promise<WatchResult | undefined> {
  const { opts } = run;
  const limitAt = run.started + opts.timeLimitMs;
  let settled = false;
  let stalled = false;
  let lastProgress = 0;
  // Progress is any change in what is read, where referrals are, and what work is waiting.
  let lastMoveAt = Date.now();
  let lastShape = '';
  for (;;) {
    if (interrupted) return undefined;
    let snap;
    try {
      snap = await snapshot(view, plan, progress, police);
    } catch (err) {
      if (interrupted) return undefined;
      say(`  (progress unavailable: ${(err as Error).message})`);
      await sleep(1000);
      if (Date.now() > limitAt) break;
      continue;
    }
    if (Date.now() - lastProgress >= 4000 || snap.settled) {
      lastProgress = Date.now();
      sayProgress(run, snap, plan, progress, police, faults);
    }
    if (snap.settled) {
      settled = true;
      break;
    }
    const shape = [
      police.served(),
      progress.pushedDone,
      snap.unsettled,
      snap.pendingJobs,
      snap.outbox,
      ...STATUS_ORDER.map((s) => snap.byStatus.get(s) ?? 0),
    ].join('|');
    if (shape !== lastShape) {
      lastShape = shape;
      lastMoveAt = Date.now();
    } else if (Date.now() - lastMoveAt > opts.stallMs) {
      stalled = true;
      break;
    }
    if (Date.now() > limitAt) break;
    await sleep(1000);
  }
  const settledAt = run.elapsed();
  say(
    settled
      ? `Settled at ${settledAt} s. Stopping the chaos.`
      : stalled
        ? `Nothing moved for ${opts.stallMs / 1000} s (at ${settledAt} s) and it has not settled. Stopping the chaos.`
        : `Time limit reached at ${settledAt} s without settling. Stopping the chaos.`,
  );
  return { settled, stalled, settledAt };
}

function sayProgress(
  run: RunBase,
  snap: Awaited<ReturnType<typeof snapshot>>,
  plan: RecordPlan,
  progress: FeedProgress,
  police: PoliceSimulator,
  faults: FaultLog,
): void {
  const byStatus = STATUS_ORDER.filter((s) => snap.byStatus.get(s))
    .map((s) => `${s} ${snap.byStatus.get(s)}`)
    .join(' ');
  say(
    `  ${run.elapsed().padStart(6)} s | records read ${Math.min(police.served(), plan.pulled.length) + progress.pushedDone}/${plan.generated.length} | referrals ${snap.statuses.size}: ${byStatus} | jobs ${snap.pendingJobs} | outbox ${snap.outbox} | kills ${faults.kills.length} | redis restarts ${faults.redisRestarts}, crashes ${faults.redisCrashes}`,
  );
}

/** Once the faults have stopped: every bridge back, the partners healthy, the pushes through (30 s at most). */
async function recover(fleet: BridgeFleet, partners: Partners, pushing: Promise<void>): Promise<void> {
  const backBy = Date.now() + 60_000;
  while (fleet.live().length < fleet.slots.length && Date.now() < backBy) await sleep(200);
  partners.police.setFaults({ errorRate: 0 });
  partners.fhir.setFaults({ errorRate: 0 });
  partners.charity.setFaults({ errorRate: 0, dropWebhookRate: 0, webhookBeforeAnswerRate: 0 });
  partners.fhirTls.setBadCertRate(0);
  partners.charityTls.setBadCertRate(0);
  await Promise.race([pushing, sleep(30_000)]);
}

// ---------- the verification and the report ----------

interface ReportInput {
  run: RunBase;
  view: BridgeContext;
  plan: RecordPlan;
  partners: Partners;
  fleet: BridgeFleet;
  progress: FeedProgress;
  faults: FaultLog;
  watched: WatchResult;
  reconciliation: ReconciliationReport | string;
}

type AccountResult = Awaited<ReturnType<typeof account>>;
type Diagnostics = Awaited<ReturnType<typeof collectDiagnostics>>;

/** Accounts for everything, prints the summary and the one-line JSON; true when clean. */
async function report(input: ReportInput): Promise<boolean> {
  const { run, view, plan, partners, fleet, reconciliation } = input;
  const { generated, latest, expected } = plan;
  const { police, fhir, charity } = partners;
  const result = await account({ view, generated, latest, expected, police, fhir, charity, reconciliation });
  const diagnostics = await collectDiagnostics(view, fleet.slots);
  const stuckDetail = await describeUnsettled(view, expected, result.statuses);

  const ok =
    result.lost === 0 &&
    result.duplicates === 0 &&
    result.lostWriteBacks === 0 &&
    result.discrepancies === 0 &&
    result.outbox === 0 &&
    fleet.crashes.length === 0;
  const rows = summaryRows(input, result, diagnostics, stuckDetail);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const line = '-'.repeat(100);
  say('');
  say([line, 'iasu-bridge chaos summary', line, ...rows.map(([k, v]) => `${k.padEnd(width)}${v}`), line].join('\n'));
  for (const crash of fleet.crashes) say(`  ${crash}`);
  say(
    ok
      ? 'CLEAN: every record accounted for, nothing duplicated at a partner, every write-back stored, reconciliation clean.'
      : 'NOT CLEAN: see the rows above and the logs.',
  );
  say(JSON.stringify(summaryJson(input, result, diagnostics, ok)));

  if (ok && !run.opts.keepLogs) rmSync(run.logDir, { recursive: true, force: true });
  else say(`Logs kept in ${run.logDir}`);
  return ok;
}

/** Dead letters, the bridges' error-level log lines, and jobs BullMQ itself holds as failed. */
async function collectDiagnostics(view: BridgeContext, slots: Slot[]) {
  const deadLetters = await listDeadLetters(view);
  const deadByReason = new Map<string, number>();
  for (const d of deadLetters)
    deadByReason.set(
      `${d.queue} ${d.partner} ${d.errorKind}: ${d.reason}`,
      (deadByReason.get(`${d.queue} ${d.partner} ${d.errorKind}: ${d.reason}`) ?? 0) + 1,
    );
  const errorLines = slots.map((s) => countErrorLines(s.logFile));
  // The bridge completes every job it gives up on (after dead-lettering it), so BullMQ's own
  // 'failed' set should stay empty: anything there failed outside the bridge's failure policy.
  const bullFailed = new Map<string, number>();
  for (const q of WORK_QUEUES) {
    for (const job of await view.queues[q].getJobs(['failed'], 0, 10_000)) {
      const key = `${q}: ${job.failedReason ?? 'no reason'} (stalled ${job.stalledCounter ?? 0}x, attempts ${job.attemptsMade})`;
      bullFailed.set(key, (bullFailed.get(key) ?? 0) + 1);
    }
  }
  const bullFailedCount = [...bullFailed.values()].reduce((a, b) => a + b, 0);
  return { deadLetters, deadByReason, errorLines, bullFailed, bullFailedCount };
}

function summaryRows(
  input: ReportInput,
  result: AccountResult,
  diagnostics: Diagnostics,
  stuckDetail: string[],
): [string, string | number][] {
  const { run, plan, partners, fleet, progress, faults, watched } = input;
  const { opts } = run;
  const { generated, pushed, latest, expected } = plan;
  const { police, fhir, charity, fhirTls, charityTls } = partners;
  const { deadLetters, deadByReason, errorLines, bullFailed, bullFailedCount } = diagnostics;
  const charityStats = charity.stats();
  return [
    [
      'Crime records (versions)',
      `${latest.size} crimes, ${generated.length} versions: ${generated.length - pushed.length} pulled, ${pushed.length} pushed (${progress.pushRetries} pushes repeated)`,
    ],
    [
      '  accounted for',
      `${result.accounted} (${result.withReferrals} with referrals at their expected status, ${result.noReferrals} out of scope or no MDT decision, ${result.quarantined} quarantined)`,
    ],
    ['  NOT accounted for (LOST)', result.lost],
    ...result.lostDetail.slice(0, 10).map((d): [string, string] => ['    ', d]),
    ['Referrals expected / in the bridge', `${expected.size} / ${result.referrals}`],
    ...STATUS_ORDER.filter((s) => result.byStatus.get(s)).map((s): [string, number] => [`  status ${s}`, result.byStatus.get(s)!]),
    ['Partner duplicates', result.duplicates],
    ['  NHS trust (FHIR)', result.nhsDetail],
    ['  charity', result.charityDetail],
    ['  police RMS', result.policeDetail],
    [
      'Police write-backs',
      `${result.timelineEntries} status changes, ${result.writeBacksStored} stored at the RMS (${result.outcomeReplays} harmless repeats)`,
    ],
    ['  LOST write-backs', `${result.lostWriteBacks} (outbox ${result.outbox})`],
    ['Reconciliation', result.reconciliationText],
    ['Dead letters', deadLetters.length],
    ...[...deadByReason].slice(0, 10).map(([reason, n]): [string, string] => ['    ', `${n} x ${reason.slice(0, 160)}`]),
    ["Jobs failed outside the bridge's policy", bullFailedCount],
    ...[...bullFailed].slice(0, 10).map(([reason, n]): [string, string] => ['    ', `${n} x ${reason.slice(0, 160)}`]),
    ...stuckDetail.slice(0, 10).map((d): [string, string] => ['  unsettled referral', d]),
    ['Faults injected: police RMS', faultSummary(police.faultStats())],
    ['Faults injected: NHS trust', faultSummary(fhir.faultStats())],
    ['Faults injected: charity', faultSummary(charity.faultStats())],
    [
      'Charity webhooks',
      `${charityStats.webhooksSent} delivered, ${charityStats.webhooksFailed} failed attempts, ${charityStats.webhooksDropped} lost on purpose, ${charityStats.webhooksGivenUp} given up, ${charityStats.webhooksBeforeAnswer} sent before the create was answered`,
    ],
    [
      'Certificates to refuse (TLS)',
      `NHS trust ${fhirTls.stats().badCerts} of ${fhirTls.stats().connections} connections, charity ${charityTls.stats().badCerts} of ${charityTls.stats().connections}`,
    ],
    ['Bridge processes SIGKILLed and restarted', `${faults.kills.length} (${faults.kills.join(', ')})`],
    ['Bridge crashes (exits not caused by us)', fleet.crashes.length],
    ['Bridge log lines at error level', errorLines.map((n, i) => `bridge-${i}: ${n}`).join(', ')],
    [
      'Redis restarts (SIGTERM + AOF, same port)',
      `${faults.redisRestarts}; crashes (SIGKILL): ${faults.redisCrashes} (down ${(faults.redisDownMs / 1000).toFixed(1)} s in all)`,
    ],
    [
      'Settled',
      watched.settled
        ? `yes, at ${watched.settledAt} s`
        : watched.stalled
          ? `NO (nothing moved for ${opts.stallMs / 1000} s)`
          : `NO (time limit ${opts.timeLimitMs / 1000} s)`,
    ],
    ['Elapsed', `${run.elapsed()} s`],
  ];
}

/** The machine-readable last line. */
function summaryJson(input: ReportInput, result: AccountResult, diagnostics: Diagnostics, ok: boolean) {
  const { run, plan, fleet, faults, watched } = input;
  return {
    ok,
    runId: run.runId,
    seed: run.opts.seed,
    records: plan.latest.size,
    versions: plan.generated.length,
    accounted: result.accounted,
    lost: result.lost,
    duplicates: result.duplicates,
    lostWriteBacks: result.lostWriteBacks,
    outbox: result.outbox,
    discrepancies: result.discrepancies,
    deadLetters: diagnostics.deadLetters.length,
    kills: faults.kills.length,
    crashes: fleet.crashes.length,
    redisRestarts: faults.redisRestarts,
    redisCrashes: faults.redisCrashes,
    settled: watched.settled,
    elapsedSeconds: Number(run.elapsed()),
  };
}

async function runReconciliation(live: Slot[], token: string): Promise<ReconciliationReport | string> {
  const deadline = Date.now() + 45_000;
  let last = 'no bridge answered';
  while (Date.now() < deadline) {
    for (const slot of live) {
      try {
        const res = await fetch(`${slot.url}/v1/reconciliation`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(40_000),
        });
        const text = await res.text();
        if (res.status === 200) return JSON.parse(text) as ReconciliationReport;
        last = `HTTP ${res.status} ${text.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    // 409: a scheduled reconciliation holds the lock; wait for it.
    await sleep(2000);
  }
  return last;
}

interface AccountInput {
  view: BridgeContext;
  generated: GeneratedRecord[];
  latest: Map<string, GeneratedRecord>;
  expected: Map<string, { decision: 'QUEUED' | 'HELD' | 'CANCELLED'; type: string; crimeReference: string }>;
  police: PoliceSimulator;
  fhir: FhirServer;
  charity: CharitySimulator;
  reconciliation: ReconciliationReport | string;
}

async function account(input: AccountInput) {
  const { view, latest, police, fhir, charity, reconciliation } = input;
  const statuses = await view.referrals.statuses();
  const byStatus = new Map<ReferralStatus, number>();
  for (const s of statuses.values()) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
  const records = await accountRecords(view, latest, statuses);
  const dup = partnerDuplicates(police, fhir, charity);
  const writeBacks = await accountWriteBacks(view, statuses, dup.outcomes);
  const outbox = await view.referrals.outboxSize();
  const { discrepancies, reconciliationText } = summariseReconciliation(reconciliation);
  const { nhs, ch } = dup;

  return {
    statuses,
    referrals: statuses.size,
    byStatus,
    accounted: records.accounted,
    withReferrals: records.withReferrals,
    noReferrals: records.noReferrals,
    quarantined: records.quarantined,
    lost: records.lost,
    lostDetail: records.lostDetail,
    duplicates: dup.duplicates,
    nhsDetail: `${dup.nhsDup} (ServiceRequests: ${nhs.serviceRequestCreates} created for ${nhs.serviceRequestReferralIds} referral ids, ${nhs.serviceRequests} held; Tasks: ${nhs.taskCreates} created for ${nhs.taskReferralIds}, ${nhs.tasks} held)`,
    charityDetail: `${dup.chDup} (${ch.creates} creates, ${ch.distinctKeys} distinct Idempotency-Keys, ${ch.referrals} cases for ${ch.distinctExternalReferences} referral ids; ${charity.stats().replays} idempotent replays)`,
    policeDetail: `${dup.policeDup} (${dup.outcomes.length} outcome keys for ${dup.distinctOutcomes} distinct status changes)`,
    timelineEntries: writeBacks.timelineEntries,
    writeBacksStored: writeBacks.stored,
    outcomeReplays: police.stats().outcomeReplays,
    lostWriteBacks: writeBacks.lostWriteBacks,
    outbox,
    discrepancies,
    reconciliationText,
  };
}

/** Records: each crime's last version says what should exist (referrals at their status, or a quarantine entry). */
async function accountRecords(view: BridgeContext, latest: Map<string, GeneratedRecord>, statuses: Map<string, ReferralStatus>) {
  const quarantinedRefs = new Set((await view.quarantine.list(1_000_000)).map((q) => q.crimeReference).filter(Boolean));
  const pipeline = view.redis.pipeline();
  const crimes = [...latest.values()];
  for (const g of crimes) pipeline.hget(view.keys.crime(g.crimeReference), 'version');
  const versions = ((await pipeline.exec()) ?? []).map((r) => Number(r[1] ?? 0));
  let withReferrals = 0;
  let noReferrals = 0;
  let quarantined = 0;
  const lostDetail: string[] = [];
  const wrong = new Map<string, number>();
  crimes.forEach((g, i) => {
    if (g.expectQuarantine) {
      if (quarantinedRefs.has(g.crimeReference)) quarantined++;
      else lostDetail.push(`${g.crimeReference} v${g.recordVersion} (${g.kind}): not quarantined`);
      return;
    }
    if (versions[i]! < g.recordVersion) {
      lostDetail.push(`${g.crimeReference} v${g.recordVersion} (${g.kind}): intake reached only v${versions[i]}`);
      return;
    }
    if (g.expectedReferrals.length === 0) {
      noReferrals++;
      return;
    }
    const bad = g.expectedReferrals.filter((r) => !SETTLED_OK[r.decision].has(statuses.get(r.referralId) as ReferralStatus));
    if (bad.length === 0) {
      withReferrals++;
      return;
    }
    for (const r of bad) {
      const key = `${r.type} expected ${r.decision}, is ${statuses.get(r.referralId) ?? 'MISSING'}`;
      wrong.set(key, (wrong.get(key) ?? 0) + 1);
    }
    if (lostDetail.length < 50)
      lostDetail.push(
        `${g.crimeReference} (${g.kind}): ${bad.map((r) => `${r.type} ${r.referralId} expected ${r.decision}, is ${statuses.get(r.referralId) ?? 'MISSING'}`).join('; ')}`,
      );
  });
  const accounted = withReferrals + noReferrals + quarantined;
  const lost = crimes.length - accounted;
  const lostSummary = [...wrong].map(([k, n]) => `${n} x ${k}`);
  return { accounted, withReferrals, noReferrals, quarantined, lost, lostDetail: [...lostSummary, ...lostDetail] };
}

/** Partner duplicates: creates beyond one per referral (or key), and police outcomes beyond one per status change. */
function partnerDuplicates(police: PoliceSimulator, fhir: FhirServer, charity: CharitySimulator) {
  const nhs = fhir.idempotency();
  const nhsDup =
    nhs.serviceRequestCreates -
    nhs.serviceRequestReferralIds +
    (nhs.taskCreates - nhs.taskReferralIds) +
    (nhs.serviceRequests - nhs.distinctServiceRequestReferralIds) +
    (nhs.tasks - nhs.distinctTaskReferralIds);
  const ch = charity.idempotency();
  const chDup = ch.creates - ch.distinctKeys + (ch.referrals - ch.distinctExternalReferences);
  const outcomes = police.outcomes();
  const bySeq = new Set(outcomes.map((o) => `${o.referralId}#${o.key.split(':').pop()}`));
  const policeDup = outcomes.length - bySeq.size;
  return { nhs, nhsDup, ch, chDup, outcomes, distinctOutcomes: bySeq.size, policeDup, duplicates: nhsDup + chDup + policeDup };
}

/** Write-backs: every timeline entry of every referral stored at the RMS under its key. */
async function accountWriteBacks(
  view: BridgeContext,
  statuses: Map<string, ReferralStatus>,
  outcomes: ReturnType<PoliceSimulator['outcomes']>,
) {
  const stored = new Set(outcomes.map((o) => o.key));
  let timelineEntries = 0;
  let lostWriteBacks = 0;
  const ids = [...statuses.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    const p = view.redis.pipeline();
    for (const id of batch) p.lrange(view.keys.timeline(id), 0, -1);
    const replies = (await p.exec()) ?? [];
    batch.forEach((id, j) => {
      for (const raw of (replies[j]?.[1] as string[] | undefined) ?? []) {
        const e = decodeTimelineEntry(raw);
        timelineEntries++;
        if (!stored.has(writeBackIdempotencyKey({ referralId: id, status: e.status, seq: e.seq }))) lostWriteBacks++;
      }
    });
  }
  return { stored: stored.size, timelineEntries, lostWriteBacks };
}

/** -1 discrepancies when the reconciliation did not run: never clean. */
function summariseReconciliation(reconciliation: ReconciliationReport | string): { discrepancies: number; reconciliationText: string } {
  if (typeof reconciliation === 'string') return { discrepancies: -1, reconciliationText: `DID NOT RUN: ${reconciliation}` };
  const byClass = new Map<string, number>();
  for (const d of reconciliation.discrepancies) byClass.set(d.class, (byClass.get(d.class) ?? 0) + 1);
  return {
    // A partner it could not reach is a report that checked nothing there: not clean.
    discrepancies: reconciliation.discrepancies.length + reconciliation.unreachable.length,
    reconciliationText:
      `${reconciliation.discrepancies.length} discrepancies${byClass.size ? ` (${[...byClass].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}, ` +
      `${reconciliation.unreachable.length} partners unreachable, ${reconciliation.pendingWriteBacks} write-backs pending, ` +
      `${reconciliation.serviceLevels.breaches.length} Victims' Code breaches, ${reconciliation.serviceLevels.overdue.length} clinical overdue`,
  };
}

/** For each expected referral not at its expected status: its timeline and its delivery job, as BullMQ holds it. */
async function describeUnsettled(
  view: BridgeContext,
  expected: Map<string, { decision: 'QUEUED' | 'HELD' | 'CANCELLED'; type: string; crimeReference: string }>,
  statuses: Map<string, ReferralStatus>,
): Promise<string[]> {
  const out: string[] = [];
  for (const [id, e] of expected) {
    if (SETTLED_OK[e.decision].has(statuses.get(id) as ReferralStatus)) continue;
    if (out.length >= 20) break;
    const timeline = await view.referrals.timeline(id);
    const queue = e.type === 'CLINICAL' ? view.queues.nhsDelivery : view.queues.charityDelivery;
    const jobs: string[] = [];
    for (const entry of timeline.filter((t) => t.status === 'QUEUED')) {
      const job = await queue.getJob(`${id}-q${entry.seq}`);
      jobs.push(
        job
          ? `job ${job.id}: ${await job.getState()}, attempts ${job.attemptsMade}, stalled ${job.stalledCounter ?? 0}x${job.failedReason ? `, failed: ${job.failedReason}` : ''}${job.returnvalue ? `, returned ${JSON.stringify(job.returnvalue)}` : ''}`
          : `job ${id}-q${entry.seq}: not in the queue`,
      );
    }
    out.push(
      `${e.type} ${id} (${e.crimeReference}) expected ${e.decision}, is ${statuses.get(id) ?? 'MISSING'}; timeline ${timeline.map((t) => `${t.status}@${t.source}`).join(' > ') || 'none'}; ${jobs.join('; ') || 'no delivery job id'}`,
    );
  }
  return out;
}

function countErrorLines(file: string): number {
  if (!existsSync(file)) return 0;
  let n = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) if (line.includes('"level":50') || line.includes('"level":60')) n++;
  return n;
}

export async function runChaos(argv: string[] = process.argv.slice(2)): Promise<number> {
  let opts: ChaosOptions;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    return (await chaos(opts)) ? 0 : 1;
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

if (require.main === module) {
  void runChaos().then((code) => process.exit(code));
}
