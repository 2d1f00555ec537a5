import type { Server } from '@hapi/hapi';
import type { Worker } from 'bullmq';
import { schedule, type ScheduledTask } from 'node-cron';
import { createServer } from './api/server';
import { barsConfigWarnings, type BridgeConfig } from './config';
import type { BridgeContext } from './context';
import { createInfra } from './infra';
import { createLogger } from './logger';
import { BridgeMetrics } from './observability/metrics';
import { FirstDeliveries } from './pipeline/delivery/first-deliveries';
import { WriteBacks } from './pipeline/write-back/write-backs';
import { FeedPoller } from './pipeline/ingest/feed-poller';
import { cronLogger, type Logger } from './logger';
import { charityDelivery } from './pipeline/delivery/charity-delivery';
import { startDeliveryWorker } from './pipeline/delivery/delivery';
import { startIntakeWorker } from './pipeline/intake';
import { nhsDelivery } from './pipeline/delivery/nhs-delivery';
import { startWriteBackWorker } from './pipeline/write-back/write-back-worker';
import { startReconcileWorker } from './reconcile/reconcile-worker';
import { checkBridgeState } from './store/bridge-state';
import { checkEvictionPolicy } from './store/redis';

/**
 * The one place the bridge is wired, in the order data flows: the infrastructure, then metrics,
 * write-backs and first deliveries (createContext); then, for a running process, the workers
 * from intake to write-back, the schedulers and the HTTP API (startBridge).
 */

export function createContext(config: BridgeConfig, logger: Logger = createLogger(config.logLevel)): BridgeContext {
  const infra = createInfra(config, logger);
  const metrics = new BridgeMetrics(infra);
  const writeBacks = new WriteBacks({ ...infra, metrics });
  const deliveries = new FirstDeliveries({ ...infra, metrics, writeBacks });
  return {
    ...infra,
    metrics,
    writeBacks,
    deliveries,
    async close() {
      // Deliveries first: each ends in a status change, whose write-back goes out next.
      await deliveries.close();
      await writeBacks.close();
      await infra.close();
    },
  };
}

/** A running bridge process: API, workers and schedulers, with one graceful stop. */
export interface RunningBridge {
  ctx: BridgeContext;
  server?: Server;
  workers: Worker[];
  poller?: FeedPoller;
  stop(): Promise<void>;
}

export interface StartOptions {
  api?: boolean;
  workers?: boolean;
  schedulers?: boolean;
  logger?: Logger;
  port?: number;
}

export async function startBridge(config: BridgeConfig, opts: StartOptions = {}): Promise<RunningBridge> {
  const { api = true, workers: withWorkers = true, schedulers = true } = opts;
  const ctx = createContext(config, opts.logger);
  await ctx.redis.ping();
  await checkEvictionPolicy(ctx.redis, ctx.logger);
  // Before any worker or poll: an emptied Redis is said out loud, and DATA_KEYS that cannot open the data refuse the start.
  try {
    await checkBridgeState(ctx);
  } catch (err) {
    await ctx.close();
    throw err;
  }
  for (const warning of barsConfigWarnings(config.nhs)) ctx.logger.warn({ alert: true }, warning);
  if (config.warnings.length) ctx.logger.warn({ settings: config.warnings }, `${config.warnings.join('; ')}: these are ignored`);

  const workers: Worker[] = [];
  if (withWorkers) {
    workers.push(
      startIntakeWorker(ctx),
      startDeliveryWorker(ctx, nhsDelivery(ctx)),
      startDeliveryWorker(ctx, charityDelivery(ctx)),
      startWriteBackWorker(ctx),
      startReconcileWorker(ctx),
    );
  }

  let poller: FeedPoller | undefined;
  const tasks: ScheduledTask[] = [];
  if (schedulers) {
    poller = new FeedPoller(ctx);
    poller.start();
    tasks.push(
      schedule(config.statusPollCron, () => requestStatusPoll(ctx), {
        name: 'partner-status-poll',
        noOverlap: true,
        logger: cronLogger(ctx.logger),
      }),
      schedule(config.reconcile.cron, () => requestReconcile(ctx), { name: 'reconcile', noOverlap: true, logger: cronLogger(ctx.logger) }),
    );
  }

  let server: Server | undefined;
  if (api) {
    server = await createServer(ctx, { port: opts.port });
    await server.start();
    ctx.logger.info({ uri: server.info.uri }, 'HTTP API listening');
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ctx.logger.info('stopping: no new work taken, in-flight jobs finish');
      await poller?.stop();
      for (const task of tasks) await task.destroy();
      await server?.stop({ timeout: 10_000 });
      // Worker.close waits for active jobs; a job cut off by a hard kill is retried as stalled.
      await Promise.all(workers.map((w) => w.close()));
      await ctx.close();
    })());

  return { ctx, server, workers, poller, stop };
}

/** One reconciliation per tick across every process (and the reconciler's lock besides). */
export async function requestReconcile(ctx: BridgeContext): Promise<void> {
  const tick = Math.floor(Date.now() / 60_000);
  await ctx.queues.reconcile.add('reconcile', { kind: 'reconcile' }, { jobId: `reconcile-${tick}` });
}

/** One status-poll job per tick across every process: the tick's second is the job id. */
export async function requestStatusPoll(ctx: BridgeContext): Promise<void> {
  const tick = Math.floor(Date.now() / 1000);
  await ctx.queues.reconcile.add('status-poll', { kind: 'status-poll' }, { jobId: `status-poll-${tick}` });
}
