import type { Logger } from 'pino';
import type { BridgeConfig } from './config';
import { createInfra, type Infra } from './infra';
import { createLogger } from './logger';
import { BridgeMetrics } from './observability/metrics';
import { FirstDeliveries } from './pipeline/delivery/first-deliveries';
import { WriteBacks } from './pipeline/write-back/write-backs';

/**
 * Everything a process of the bridge shares: the infrastructure, and the three services built on
 * it in the order data flows (metrics count what the others do; a delivery ends in a status
 * change, whose write-back goes to the police). Built once from config, closed once on shutdown.
 */
export interface BridgeContext extends Infra {
  metrics: BridgeMetrics;
  /** Police write-backs of committed status changes: tried at once, queued when that fails. */
  writeBacks: WriteBacks;
  /** First delivery attempts, made as intake queues a referral (queues/first-deliveries.ts). */
  deliveries: FirstDeliveries;
}

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
