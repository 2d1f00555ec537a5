import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { generateDataKeySpec } from '../src/store/crypto';
import { feedDocument, generateFeedRecords } from '../simulators/feed-generator';
import { findOrStartRedis } from '../simulators/local-redis';
import { startBenchPartners } from './partners';

/**
 * `npm run bench`: the whole pipeline (a real `iasu-bridge start` process) against partners that
 * answer at once, on a private Redis, then raw BullMQ doing nothing through the same number of
 * queue hops at the same concurrency, on the same Redis: the ratio is the headline. Then a
 * latency run at a fixed arrival rate (push). Prints a table and one JSON line.
 */
const ROOT = join(__dirname, '..');
const NEVER = '0 0 1 1 *';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '20000' },
      rate: { type: 'string', default: '200' },
      'latency-seconds': { type: 'string', default: '15' },
      concurrency: { type: 'string', default: '16' },
      'skip-baseline': { type: 'boolean', default: false },
      'skip-latency': { type: 'boolean', default: false },
    },
  });
  const records = Number(values.records);
  const concurrency = Number(values.concurrency);
  const say = (line: string) => process.stderr.write(`${line}\n`);

  const redis = await findOrStartRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6391');
  const prefix = `{iasu-bench-${Date.now().toString(36)}}`;
  say(`Redis ${redis.url}${redis.started ? ' (private, started for the benchmark)' : ''}`);

  const generated = generateFeedRecords({ records, seed: 7, prefix: 'BENCH' });
  const latest = new Map(generated.map((g) => [g.crimeReference, g]));
  const expected = new Set([...latest.values()].flatMap((g) => g.expectedReferrals.filter((r) => r.decision === 'QUEUED').map((r) => r.referralId)));
  // A referral that a later version cancels may or may not have been sent first: count what arrives.
  const partners = await startBenchPartners(generated.map((g) => ({ crimeReference: g.crimeReference, xml: g.xml })));
  const admin = new IORedis(redis.url);
  await admin.config('SET', 'maxmemory-policy', 'noeviction').catch(() => undefined);
  const memoryBefore = usedMemory(await admin.info('memory'));

  const port = await freePort();
  const bridge = startBridgeProcess(port, {
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    DATA_KEYS: generateDataKeySpec('bench'),
    HTTP_PORT: String(port),
    LOG_LEVEL: 'warn',
    POLICE_FEED_URL: partners.feedUrl,
    POLICE_POLL_CRON: '* * * * * *',
    POLICE_PAGE_LIMIT: '1000',
    POLICE_PUSH_TOKEN: 'bench-push',
    STATUS_POLL_CRON: NEVER,
    RECONCILE_CRON: NEVER,
    NHS_FHIR_BASE_URL: partners.nhsUrl,
    CHARITY_API_URL: partners.charityUrl,
    CHARITY_API_KEY: 'bench',
    WORKER_CONCURRENCY: String(concurrency),
  });
  try {
    const api = await bridge.listening;
    say(`Bridge pid ${bridge.child.pid} at ${api}; ${records} records, ${expected.size} referrals to deliver, concurrency ${concurrency}`);

    // 1. Throughput: the backlog, pulled from the feed, until every referral reached its partner.
    const deadline = Date.now() + 30 * 60_000;
    let lastReport = 0;
    while (countArrived(partners.received, expected) < expected.size && Date.now() < deadline) {
      await sleep(250);
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        say(`  ${countArrived(partners.received, expected)}/${expected.size} referrals at the partners, RSS ${rssMb(bridge.child.pid!)} MB`);
      }
    }
    const arrived = countArrived(partners.received, expected);
    // reduce, not spread: 100,000 arguments overflow the stack.
    const firstServed = [...partners.served.values()].reduce((a, b) => Math.min(a, b), Infinity);
    const lastArrived = [...partners.received.values()].reduce((a, b) => Math.max(a, b), 0);
    const seconds = (lastArrived - firstServed) / 1000;
    const latencies: number[] = [];
    for (const g of latest.values()) {
      const servedAt = partners.served.get(g.crimeReference);
      for (const r of g.expectedReferrals) {
        const at = partners.received.get(r.referralId);
        if (servedAt !== undefined && at !== undefined && expected.has(r.referralId)) latencies.push(at - servedAt);
      }
    }
    const backlog = { referrals: arrived, seconds: round(seconds), referralsPerSecond: round(arrived / seconds), latencyMs: percentiles(latencies) };

    // 2. Latency at a fixed arrival rate: records pushed one by one, push → partner receipt.
    let fixedRate: { rate: number; seconds: number; referrals: number; latencyMs: ReturnType<typeof percentiles> } | undefined;
    if (!values['skip-latency']) {
      // Start from an idle bridge: wait until the police write-backs of the backlog have stopped.
      let posts = -1;
      while (partners.stats().outcomePosts !== posts) {
        posts = partners.stats().outcomePosts;
        await sleep(2000);
      }
      const rate = Number(values.rate);
      const pushSeconds = Number(values['latency-seconds']);
      const extra = generateFeedRecords({ records: rate * pushSeconds, seed: 99, prefix: 'PUSH' }).filter((g) => g.recordVersion === 1 && g.kind === 'full');
      const pushedAt = new Map<string, number>();
      const started = Date.now();
      for (let i = 0; i < extra.length; i++) {
        const due = started + (i * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        const g = extra[i]!;
        const at = Date.now();
        for (const r of g.expectedReferrals) if (r.decision === 'QUEUED') pushedAt.set(r.referralId, at);
        void fetch(`${api}/v1/police/flags`, { method: 'POST', headers: { 'content-type': 'application/xml', authorization: 'Bearer bench-push' }, body: feedDocument([g.xml]) });
      }
      const waitUntil = Date.now() + 60_000;
      while ([...pushedAt.keys()].some((id) => !partners.received.has(id)) && Date.now() < waitUntil) await sleep(100);
      const pushLatencies = [...pushedAt].filter(([id]) => partners.received.has(id)).map(([id, at]) => partners.received.get(id)! - at);
      fixedRate = { rate: round(extra.length / ((Date.now() - started) / 1000) > rate ? rate : rate), seconds: pushSeconds, referrals: pushLatencies.length, latencyMs: percentiles(pushLatencies) };
    }

    const peakRssMb = peakRss(bridge.child.pid!);
    const redisMemory = usedMemory(await admin.info('memory'));
    await bridge.stop();

    // 3. Raw BullMQ on the same Redis: no-op jobs through three hops (intake → delivery → police
    //    write-back, as each referral takes at least), the same concurrency, in one process.
    let baseline: { flows: number; seconds: number; flowsPerSecond: number } | undefined;
    if (!values['skip-baseline']) baseline = await rawBullmq(redis.url, `{iasu-bench-raw-${Date.now().toString(36)}}`, arrived, concurrency);

    const result = {
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGb: round(totalmem() / 2 ** 30), node: process.version },
      records,
      concurrency,
      backlog,
      baseline,
      ratioToBaseline: baseline ? round(backlog.referralsPerSecond / baseline.flowsPerSecond) : undefined,
      fixedRate,
      peakRssMb,
      redisMemoryMb: round((redisMemory - memoryBefore) / 2 ** 20),
      partnerCalls: partners.stats(),
    };
    printTable(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await bridge.stop();
    await partners.stop();
    admin.disconnect();
    await redis.stop();
  }
}

function startBridgeProcess(port: number, env: Record<string, string>) {
  // Logs at warn (info logging would be part of what is measured); stdout is discarded.
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of the bridge there (open it in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, '--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'start'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const api = `http://127.0.0.1:${port}`;
  const listening = (async () => {
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`bridge exited early (${child.exitCode})`);
      const ok = await fetch(`${api}/health/live`).then((r) => r.ok, () => false);
      if (ok) return api;
      await sleep(100);
    }
    throw new Error('bridge did not answer within 30 s');
  })();
  let stopped: Promise<void> | undefined;
  return {
    child,
    listening,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      })),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function rawBullmq(url: string, prefix: string, flows: number, concurrency: number): Promise<{ flows: number; seconds: number; flowsPerSecond: number }> {
  const connection = new IORedis(url, { maxRetriesPerRequest: null });
  const names = ['hop1', 'hop2', 'hop3'];
  const queues = names.map((n) => new Queue(n, { connection, prefix }));
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    const workers = names.map(
      (n, i) =>
        new Worker(
          n,
          async (job) => {
            if (i < 2) await queues[i + 1]!.add('next', job.data, { removeOnComplete: true });
            else if (++done === flows) resolve();
          },
          { connection, prefix, concurrency },
        ),
    );
    void Promise.resolve(workers);
  });
  const started = Date.now();
  for (let i = 0; i < flows; i += 1000) {
    await queues[0]!.addBulk(Array.from({ length: Math.min(1000, flows - i) }, (_, k) => ({ name: 'start', data: { n: i + k }, opts: { removeOnComplete: true } })));
  }
  await finished;
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(queues.map((q) => q.obliterate({ force: true }).catch(() => undefined)));
  await Promise.all(queues.map((q) => q.close()));
  connection.disconnect();
  return { flows, seconds: round(seconds), flowsPerSecond: round(flows / seconds) };
}

function countArrived(received: Map<string, number>, expected: Set<string>): number {
  let n = 0;
  for (const id of expected) if (received.has(id)) n++;
  return n;
}

function percentiles(values: number[]): { p50: number; p95: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted.at(-1) ?? 0 };
}

/** Linux: VmHWM is the process's peak resident set. */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
}

function rssMb(pid: number): number {
  try {
    return round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
  } catch {
    return 0;
  }
}

function usedMemory(info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function printTable(r: Record<string, unknown> & { backlog: { referrals: number; seconds: number; referralsPerSecond: number; latencyMs: Record<string, number> } }): void {
  const b = r.backlog;
  const base = r.baseline as { flowsPerSecond: number } | undefined;
  const fixed = r.fixedRate as { rate: number; referrals: number; latencyMs: Record<string, number> } | undefined;
  const rows: [string, string][] = [
    ['backlog', `${b.referrals} referrals in ${b.seconds} s = ${b.referralsPerSecond} referrals/s`],
    ['  latency ingest → partner', `p50 ${b.latencyMs.p50} ms, p95 ${b.latencyMs.p95} ms, p99 ${b.latencyMs.p99} ms`],
    ['raw BullMQ, 3 hops', base ? `${base.flowsPerSecond} flows/s` : 'skipped'],
    ['  bridge / baseline', r.ratioToBaseline !== undefined ? String(r.ratioToBaseline) : '-'],
    ['fixed rate (push)', fixed ? `${fixed.rate} records/s, ${fixed.referrals} referrals: p50 ${fixed.latencyMs.p50} ms, p99 ${fixed.latencyMs.p99} ms` : 'skipped'],
    ['peak RSS of the bridge', `${r.peakRssMb} MB`],
    ['Redis memory used', `${r.redisMemoryMb} MB`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  process.stderr.write(`\n${rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n')}\n\n`);
}

main().then(
  // Keep-alive sockets and BullMQ connections would hold the process open after the figures.
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
