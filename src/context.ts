import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CharityClient } from './adapters/charity/charity-client';
import { NhsFhirClient } from './adapters/nhs/fhir-client';
import { PoliceFeedClient } from './adapters/police/feed-client';
import { PoliceOutcomeClient } from './adapters/police/outcome-client';
import type { BridgeConfig } from './config';
import { createLogger } from './logger';
import { createQueues, type BridgeQueues } from './queues/topology';
import { DataCipher } from './store/crypto';
import { CursorStore } from './store/cursor';
import { Keys } from './store/keys';
import { RedisLock } from './store/lock';
import { QuarantineStore } from './store/quarantine';
import { createRedis } from './store/redis';
import { ReferralStore } from './store/referral-store';
import { Counters } from './store/counters';

/** Everything a process of the bridge shares: built once from config, closed once on shutdown. */
export interface BridgeContext {
  config: BridgeConfig;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  cipher: DataCipher;
  referrals: ReferralStore;
  quarantine: QuarantineStore;
  cursor: CursorStore;
  lock: RedisLock;
  counters: Counters;
  queues: BridgeQueues;
  partners: {
    nhs: NhsFhirClient;
    charity: CharityClient;
    policeFeed: PoliceFeedClient;
    policeOutcomes: PoliceOutcomeClient;
  };
  close(): Promise<void>;
}

export function createContext(config: BridgeConfig, logger: Logger = createLogger(config.logLevel)): BridgeContext {
  const redis = createRedis(config.redis.url, 'worker');
  const keys = new Keys(config.redis.prefix);
  const cipher = new DataCipher(config.dataKeys);
  const day = 24 * 3600;
  const queues = createQueues(redis, config);
  return {
    config,
    logger,
    redis,
    keys,
    cipher,
    referrals: new ReferralStore(redis, keys, cipher, config.retention.days * day),
    quarantine: new QuarantineStore(redis, keys, cipher, config.retention.quarantineDays * day),
    cursor: new CursorStore(redis, keys),
    lock: new RedisLock(redis, keys),
    counters: new Counters(redis, keys),
    queues,
    partners: {
      nhs: new NhsFhirClient({ baseUrl: config.nhs.baseUrl, timeoutMs: config.nhs.timeoutMs, referralIdSystem: config.nhs.referralIdSystem }),
      charity: new CharityClient({ baseUrl: config.charity.baseUrl, apiKey: config.charity.apiKey, timeoutMs: config.charity.timeoutMs }),
      policeFeed: new PoliceFeedClient({
        baseUrl: config.police.feedUrl,
        token: config.police.feedToken,
        timeoutMs: config.police.timeoutMs,
        pageLimit: config.police.pageLimit,
      }),
      policeOutcomes: new PoliceOutcomeClient({ baseUrl: config.police.feedUrl, token: config.police.feedToken, timeoutMs: config.police.timeoutMs }),
    },
    async close() {
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
