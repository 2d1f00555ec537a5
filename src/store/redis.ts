import IORedis, { type Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config';

/**
 * Redis connections per BullMQ's production guide: workers need `maxRetriesPerRequest: null`
 * (blocking commands must wait through reconnects); producers answering HTTP fail fast instead.
 */
export function createRedis(redis: BridgeConfig['redis'], role: 'worker' | 'client', extra: RedisOptions = {}): Redis {
  return new IORedis(redis.url, {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (times) => Math.min(times * 200, 5000),
    // With Sentinel, ioredis asks the sentinels for the current master and follows a failover;
    // REDIS_URL still supplies the password, db and TLS.
    ...(redis.sentinel ? { sentinels: redis.sentinel.sentinels, name: redis.sentinel.masterName } : {}),
    ...extra,
  });
}

/** BullMQ loses jobs if Redis evicts keys; warn loudly when the policy allows it. */
export async function checkEvictionPolicy(redis: Redis, logger: Logger): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy !== 'noeviction') {
      logger.warn({ maxmemoryPolicy: policy }, 'Redis maxmemory-policy is not noeviction: queued referrals could be evicted and lost');
    }
    return policy;
  } catch {
    logger.warn('could not read Redis maxmemory-policy (CONFIG may be disabled); make sure it is noeviction');
    return undefined;
  }
}
