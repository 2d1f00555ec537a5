import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { KeepAliveHttp } from '../src/adapters/keep-alive-http';

/**
 * One process of a baseline (bench.ts starts as many as the bridge ran): a worker per hop
 * (RAW_HOPS, default 3), hop1 → hop2 → …, the last hop counting what arrived. The first hop runs
 * at the bridge's intake concurrency (RAW_FIRST_HOP_CONCURRENCY), the others at its partner
 * workers'.
 *
 * Raw BullMQ: the jobs do nothing. The I/O skeleton (RAW_HTTP_PER_FLOW, RAW_SCRIPTS_PER_FLOW):
 * each flow also makes the bridge's I/O per referral and nothing else: that many POSTs of
 * RAW_HTTP_BODY_BYTES to RAW_HTTP_URL over the bridge's own HTTP client (after the first hop, as
 * deliveries and write-backs are), and that many Redis scripts the size of a status commit,
 * spread over the hops. A fraction is made by every flow whose share comes up, so the mean holds.
 */
const url = process.env.RAW_REDIS_URL!;
const prefix = process.env.RAW_PREFIX!;
const concurrency = Number(process.env.RAW_CONCURRENCY ?? 16);
const firstHopConcurrency = Number(process.env.RAW_FIRST_HOP_CONCURRENCY ?? concurrency);
const doneKey = process.env.RAW_DONE_KEY!;
const httpUrl = process.env.RAW_HTTP_URL ?? '';
const httpPerFlow = Number(process.env.RAW_HTTP_PER_FLOW ?? 0);
const scriptsPerFlow = Number(process.env.RAW_SCRIPTS_PER_FLOW ?? 0);
const body = 'x'.repeat(Number(process.env.RAW_HTTP_BODY_BYTES ?? 2048));

const connection = new IORedis(url, { maxRetriesPerRequest: null });
const io = new IORedis(url, { enableAutoPipelining: true });
const http = new KeepAliveHttp();
const names = Array.from({ length: Math.max(1, Number(process.env.RAW_HOPS ?? 3)) }, (_, i) => `hop${i + 1}`);
const queues = names.map((n) => new Queue(n, { connection, prefix }));

// The status commit's shape: four keys, a handful of arguments and writes (as bench:costs measures).
const COMMIT_LIKE =
  "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'seq', ARGV[2]) redis.call('RPUSH', KEYS[2], ARGV[3]) redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4]) redis.call('SADD', KEYS[4], ARGV[4]) return 1";

/** How many of a per-flow mean this flow makes: the whole part, plus one when its share comes up. */
function countFor(mean: number, flow: number): number {
  const whole = Math.floor(mean);
  return whole + ((flow * 0.6180339887) % 1 < mean - whole ? 1 : 0);
}

async function ioFor(flow: number, hop: number): Promise<void> {
  const scripts = countFor(scriptsPerFlow, flow);
  for (let k = hop; k < scripts; k += names.length) {
    const key = `${prefix}:sk:${flow % 5000}`;
    await io.eval(
      COMMIT_LIKE,
      4,
      `${key}:h`,
      `${key}:t`,
      `${prefix}:sk:z`,
      `${prefix}:sk:s`,
      'SENT',
      String(k),
      `entry-${flow}-${k}`,
      `f${flow}`,
    );
  }
  if (!httpUrl || hop === 0) return;
  const calls = countFor(httpPerFlow, flow);
  const later = Math.max(1, names.length - 1);
  for (let k = hop - 1; k < calls; k += later) {
    await http.request(httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/xml', 'idempotency-key': `skeleton-${flow}-${k}`, 'x-correlation-id': `s${flow}` },
      body,
      timeoutMs: 10_000,
    });
  }
}

const workers = names.map(
  (n, i) =>
    new Worker(
      n,
      async (job) => {
        await ioFor(Number((job.data as { n: number }).n), i);
        if (i < names.length - 1) await queues[i + 1]!.add('next', job.data, { removeOnComplete: true });
        else await connection.incr(doneKey);
      },
      { connection, prefix, concurrency: i === 0 ? firstHopConcurrency : concurrency },
    ),
);

void Promise.all(workers.map((w) => w.waitUntilReady())).then(() => process.stdout.write('ready\n'));
process.once('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.close(true))).finally(() => {
    http.close();
    process.exit(0);
  });
});
