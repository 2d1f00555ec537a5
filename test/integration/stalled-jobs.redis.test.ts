import { Worker } from 'bullmq';
import IORedis from 'ioredis';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { MAX_STALLED_COUNT, startBridgeWorker } from '../../src/queues/bridge-worker';
import { QUEUE } from '../../src/queues/topology';
import { capturedLogger, dropKeys, REDIS_URL, testConfig } from '../helpers/bridge';

/**
 * A job whose worker process dies while running it is retried as stalled (README, "Running
 * several instances"). Found by `npm run chaos`: BullMQ's default allowed one such death, and
 * the second failed the job without the bridge's processor or dead-letter policy running, so a
 * delivery sat QUEUED for ever with nothing in the dead-letter queue.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('jobs cut off by a dying worker process', () => {
  let ctx: BridgeContext;
  const connections: IORedis[] = [];
  const connection = () => {
    const c = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
    connections.push(c);
    return c;
  };

  beforeEach(() => {
    ctx = createContext(testConfig(), capturedLogger().logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
    for (const c of connections.splice(0)) c.disconnect();
  });

  /**
   * The job's worker "dies" while running it (it stops renewing the lock, which expires) and
   * another process's stalled-job check moves it back to wait, counting one more stall. Earlier
   * deaths are set on BullMQ's counter directly (the job hash's `stc`), which is all they leave.
   */
  async function diedWhileRunning(jobId: string, deaths: number): Promise<void> {
    const prefix = ctx.config.redis.prefix;
    await ctx.redis.hset(`${prefix}:${QUEUE.nhsDelivery}:${jobId}`, 'stc', String(deaths - 1));
    // Short intervals: BullMQ runs the stalled-job check at most once per stalledInterval across workers.
    const doomed = new Worker(QUEUE.nhsDelivery, () => new Promise(() => undefined), {
      connection: connection(),
      prefix,
      lockDuration: 300,
      stalledInterval: 100,
      maxStalledCount: 1_000,
    });
    doomed.on('error', () => undefined);
    while ((await ctx.queues.nhsDelivery.getJobCountByTypes('active')) === 0) await sleep(20);
    await doomed.close(true);
    await sleep(400);
    // The check applies the checking worker's maxStalledCount: another bridge process's, here.
    const checker = new Worker(QUEUE.nhsDelivery, null, {
      connection: connection(),
      prefix,
      autorun: false,
      stalledInterval: 100,
      maxStalledCount: MAX_STALLED_COUNT,
    });
    const check = () => (checker as unknown as { moveStalledJobsToWait(): Promise<void> }).moveStalledJobsToWait();
    await check(); // marks the active job as possibly stalled
    await sleep(150);
    await check(); // its lock is gone: stalled, back to wait
    await checker.close();
  }

  async function runBridgeWorker(): Promise<{ ran: boolean }> {
    const state = { ran: false };
    const worker = startBridgeWorker(ctx, {
      queue: QUEUE.nhsDelivery,
      process: async () => {
        state.ran = true;
        return 'sent';
      },
      describe: (job) => ({ referralId: (job.data as { referralId: string }).referralId }),
    });
    await sleep(1500);
    await worker.close();
    return state;
  }

  test(`a job cut off ${MAX_STALLED_COUNT} times is still run`, async () => {
    await ctx.queues.nhsDelivery.add('deliver', { referralId: 'r-1', correlationId: 'c', action: 'deliver' }, { jobId: 'r-1-q1' });
    await diedWhileRunning('r-1-q1', MAX_STALLED_COUNT);
    expect((await ctx.queues.nhsDelivery.getJob('r-1-q1'))?.stalledCounter).toBe(MAX_STALLED_COUNT);
    expect(await runBridgeWorker()).toEqual({ ran: true });
    expect(await (await ctx.queues.nhsDelivery.getJob('r-1-q1'))!.getState()).toBe('completed');
  }, 30_000);

  test('a job cut off more often is dead-lettered with the reason, never left unseen in failed', async () => {
    await ctx.queues.nhsDelivery.add('deliver', { referralId: 'r-2', correlationId: 'c', action: 'deliver' }, { jobId: 'r-2-q1' });
    await diedWhileRunning('r-2-q1', MAX_STALLED_COUNT + 1);
    expect(await runBridgeWorker()).toEqual({ ran: false });
    const letters = await ctx.queues.deadLetter.getJobs(['waiting', 'completed', 'failed', 'delayed']);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.data).toMatchObject({
      queue: QUEUE.nhsDelivery,
      jobId: 'r-2-q1',
      referralId: 'r-2',
      partner: 'BRIDGE',
      errorKind: 'transient',
    });
    expect(letters[0]!.data.reason).toMatch(/stalled more than allowable limit/);
  }, 30_000);
});
