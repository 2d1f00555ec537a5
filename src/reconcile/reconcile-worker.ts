import { Worker } from 'bullmq';
import type { BridgeContext } from '../context';
import { pollPartnerStatuses } from '../pipeline/partner-status/status-poll';
import { QUEUE, type ReconcileJob } from '../queues/topology';
import { reconcile } from './reconciler';

/** The scheduled work's worker: the reconciliation, and the partner status poll, one at a time. */
export function startReconcileWorker(ctx: BridgeContext): Worker<ReconcileJob> {
  const worker = new Worker<ReconcileJob>(
    QUEUE.reconcile,
    async (job) => {
      if (job.data.kind === 'reconcile') {
        const report = await reconcile(ctx);
        return report ? { discrepancies: report.discrepancies.length } : 'another process is reconciling';
      }
      const summary = await pollPartnerStatuses(ctx);
      ctx.logger.info(summary, 'partner status poll done');
      return summary;
    },
    // One poll at a time per process; the job id per tick keeps it to one per tick across processes.
    { connection: ctx.queueRedis, prefix: ctx.config.redis.prefix, concurrency: 1 },
  );
  worker.on('error', (err) => ctx.redisErrors.report('workers', err));
  return worker;
}
