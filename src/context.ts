import type { Infra } from './infra';
import type { BridgeMetrics } from './observability/metrics';
import type { FirstDeliveries } from './pipeline/delivery/first-deliveries';
import type { WriteBacks } from './pipeline/write-back/write-backs';

/**
 * Everything a process of the bridge shares: the infrastructure, and the three services built on
 * it in the order data flows (metrics count what the others do; a delivery ends in a status
 * change, whose write-back goes to the police). Built once from config by app.ts, closed once on
 * shutdown.
 */
export interface BridgeContext extends Infra {
  metrics: BridgeMetrics;
  /** Police write-backs of committed status changes: tried at once, queued when that fails. */
  writeBacks: WriteBacks;
  /** First delivery attempts, made as intake queues a referral (queues/first-deliveries.ts). */
  deliveries: FirstDeliveries;
}
