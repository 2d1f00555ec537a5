import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

/**
 * One process of the raw-BullMQ baseline (bench.ts starts as many as the bridge ran): a worker
 * per hop (RAW_HOPS, default 3), no-op jobs, hop1 → hop2 → …, the last hop counting what arrived.
 * The first hop runs at the bridge's intake concurrency (RAW_FIRST_HOP_CONCURRENCY), the others
 * at its partner workers'.
 */
const url = process.env.RAW_REDIS_URL!;
const prefix = process.env.RAW_PREFIX!;
const concurrency = Number(process.env.RAW_CONCURRENCY ?? 16);
const firstHopConcurrency = Number(process.env.RAW_FIRST_HOP_CONCURRENCY ?? concurrency);
const doneKey = process.env.RAW_DONE_KEY!;

const connection = new IORedis(url, { maxRetriesPerRequest: null });
const names = Array.from({ length: Math.max(1, Number(process.env.RAW_HOPS ?? 3)) }, (_, i) => `hop${i + 1}`);
const queues = names.map((n) => new Queue(n, { connection, prefix }));
const workers = names.map(
  (n, i) =>
    new Worker(
      n,
      async (job) => {
        if (i < names.length - 1) await queues[i + 1]!.add('next', job.data, { removeOnComplete: true });
        else await connection.incr(doneKey);
      },
      { connection, prefix, concurrency: i === 0 ? firstHopConcurrency : concurrency },
    ),
);

void Promise.all(workers.map((w) => w.waitUntilReady())).then(() => process.stdout.write('ready\n'));
process.once('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.close(true))).finally(() => process.exit(0));
});
