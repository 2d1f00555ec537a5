import IORedis, { type Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config';

/**
 * Redis connections per BullMQ's production guide: workers need `maxRetriesPerRequest: null`
 * (blocking commands must wait through reconnects); producers answering HTTP fail fast instead.
 * `onError` hears every error of the connection (without a listener ioredis prints each one with its stack).
 */
export function createRedis(
  redis: BridgeConfig['redis'],
  role: 'worker' | 'client',
  extra: RedisOptions = {},
  onError: (err: Error) => void = () => undefined,
): Redis {
  const client = new IORedis(redis.url, {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (times) => Math.min(times * 200, 5000),
    // With Sentinel, ioredis asks the sentinels for the current master and follows a failover;
    // REDIS_URL still supplies the password, db and TLS.
    ...(redis.sentinel ? { sentinels: redis.sentinel.sentinels, name: redis.sentinel.masterName } : {}),
    ...extra,
  });
  client.on('error', onError);
  return client;
}

/** Where Redis is, for an operator: host:port (or the sentinels), never the password. */
export function redisTarget(redis: BridgeConfig['redis']): string {
  if (redis.sentinel) {
    return `${redis.sentinel.masterName} via sentinels ${redis.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  }
  try {
    const url = new URL(redis.url);
    return `${url.hostname}:${url.port || '6379'}`;
  } catch {
    return 'REDIS_URL';
  }
}

/** Errors that mean "no connection" (as opposed to Redis answering with an error). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

function isConnectionError(err: Error & { code?: string }): boolean {
  return (
    (err.code !== undefined && CONNECTION_CODES.has(err.code)) ||
    /connection is closed|connect ETIMEDOUT|reached the max retries|All sentinels are unreachable/i.test(err.message)
  );
}

/**
 * While Redis is down every connection (the bridge's, BullMQ's, each worker's blocking one)
 * fails on every reconnect: this keeps it to one JSON line per connection kind per interval
 * ("cannot reach Redis at host:port, retrying"), without a stack, and one line when it answers again.
 */
export class RedisErrorLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly down = new Set<string>();

  constructor(
    private readonly logger: Logger,
    readonly target: string,
    private readonly intervalMs = 5000,
  ) {}

  report(kind: string, error: unknown): void {
    // Duck-typed: an error from another realm (a worker thread, a test sandbox) is no `instanceof Error`.
    const err = (typeof (error as Error)?.message === 'string' ? error : new Error(String(error))) as Error & { code?: string };
    const now = Date.now();
    const seen = this.last.get(kind);
    this.down.add(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(kind, { at: now, suppressed: 0 });
    const fields = { connection: kind, redis: this.target, ...(err.code ? { code: err.code } : {}), ...(suppressed ? { suppressed } : {}) };
    if (isConnectionError(err)) this.logger.error(fields, `cannot reach Redis at ${this.target}, retrying`);
    // Redis's own replies (NOAUTH, WRONGPASS, LOADING, READONLY) never quote the password.
    else this.logger.error({ ...fields, err: err.message.split('\n')[0] }, `Redis at ${this.target} answered with an error, retrying`);
  }

  /** The connection answers again: say so once, so the last line in the log is not a stale error. */
  recovered(kind: string): void {
    if (!this.down.delete(kind)) return;
    this.last.delete(kind);
    this.logger.info({ connection: kind, redis: this.target }, `Redis at ${this.target} reachable again`);
  }
}

/** Thrown when Redis does not answer a PING in time (the CLI's commands give up instead of hanging). */
export class RedisUnreachableError extends Error {}

/**
 * One PING within `timeoutMs` on a connection of its own (reconnecting meanwhile, silently),
 * so a command that needs Redis can refuse at once, in one line, when it is not there.
 */
export async function assertRedisReachable(redis: BridgeConfig['redis'], timeoutMs = 5000): Promise<void> {
  const client = createRedis(redis, 'worker');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisUnreachableError(`cannot reach Redis at ${redisTarget(redis)} within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([client.ping(), deadline]);
  } catch (err) {
    if (err instanceof RedisUnreachableError) throw err;
    // Redis answered, but refused: the password, TLS, a replica in the middle of loading.
    throw new RedisUnreachableError(`Redis at ${redisTarget(redis)} refused the connection: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
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
