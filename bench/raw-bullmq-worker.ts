import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { KeepAliveHttp } from '../src/adapters/keep-alive-http';

/**
 * One process of a baseline (bench.ts starts as many as the bridge ran): a worker per hop
 * (RAW_HOPS, default 3), hop1 → hop2 → …, the last hop counting what arrived. The first hop runs
 * at the bridge's intake concurrency (RAW_FIRST_HOP_CONCURRENCY), the others at its partner
 * workers'. A job carries RAW_FLOWS_PER_JOB flows (default 1), made one after another.
 *
 * Raw BullMQ: the jobs do nothing. The I/O skeleton (RAW_IO, see SkeletonIo): each flow also
 * makes, in the first hop, the bridge's I/O per referral and nothing else: POSTs of the bridge's
 * own bodies to the same partner simulators, over the bridge's own HTTP client, and Redis scripts
 * the size of the bridge's own (SCRIPT_LIKE). A fraction is made by every flow whose share comes
 * up, so the mean holds.
 */
export interface SkeletonIo {
  calls: { url: string; perFlow: number; body: string; contentType: string }[];
  scriptsPerFlow: number;
}

const url = process.env.RAW_REDIS_URL!;
const prefix = process.env.RAW_PREFIX!;
const concurrency = Number(process.env.RAW_CONCURRENCY ?? 16);
const firstHopConcurrency = Number(process.env.RAW_FIRST_HOP_CONCURRENCY ?? concurrency);
const doneKey = process.env.RAW_DONE_KEY!;
const io: SkeletonIo = process.env.RAW_IO ? (JSON.parse(process.env.RAW_IO) as SkeletonIo) : { calls: [], scriptsPerFlow: 0 };

const connection = new IORedis(url, { maxRetriesPerRequest: null });
const redis = new IORedis(url, { enableAutoPipelining: true });
const http = new KeepAliveHttp();
const names = Array.from({ length: Math.max(1, Number(process.env.RAW_HOPS ?? 3)) }, (_, i) => `hop${i + 1}`);
const queues = names.map((n) => new Queue(n, { connection, prefix }));

/**
 * A script the size of the bridge's own: nine commands, the mix its scripts run (commit, lock,
 * freeze, unlock: about 49 commands over 4.7 scripts a referral, by INFO commandstats), so the
 * skeleton asks Redis for what the bridge asks.
 */
const SCRIPT_LIKE = `
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'seq', ARGV[2])
redis.call('HGET', KEYS[1], 'seq')
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', '10000', '*', 'e', ARGV[3])
redis.call('TYPE', KEYS[5])
redis.call('SET', KEYS[6], ARGV[3], 'EX', '600')
redis.call('GET', KEYS[6])
return 1`;

/** How many of a per-flow mean this flow makes: the whole part, plus one when its share comes up. */
function countFor(mean: number, flow: number): number {
  const whole = Math.floor(mean);
  return whole + ((flow * 0.6180339887) % 1 < mean - whole ? 1 : 0);
}

async function ioFor(flow: number): Promise<void> {
  const scripts = countFor(io.scriptsPerFlow, flow);
  for (let k = 0; k < scripts; k++) {
    const key = `${prefix}:sk:${flow % 5000}`;
    await redis.eval(
      SCRIPT_LIKE,
      6,
      `${key}:h`,
      `${key}:t`,
      `${prefix}:sk:z`,
      `${prefix}:sk:s`,
      `${prefix}:sk:x`,
      `${key}:v`,
      'SENT',
      String(k),
      `entry-${flow}-${k}`,
      `f${flow}`,
    );
  }
  for (const [c, call] of io.calls.entries()) {
    const calls = countFor(call.perFlow, flow + c);
    for (let k = 0; k < calls; k++) {
      await http.request(call.url, {
        method: 'POST',
        headers: { 'content-type': call.contentType, 'idempotency-key': `skeleton-${c}-${flow}-${k}`, 'x-correlation-id': `s${flow}` },
        body: call.body,
        timeoutMs: 10_000,
      });
    }
  }
}

const workers = names.map(
  (n, i) =>
    new Worker(
      n,
      async (job) => {
        const { n: from, count = 1 } = job.data as { n: number; count?: number };
        if (i === 0) for (let flow = from; flow < from + count; flow++) await ioFor(flow);
        if (i < names.length - 1) await queues[i + 1]!.add('next', job.data, { removeOnComplete: true });
        else await connection.incrby(doneKey, count);
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
