import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import { runScript } from './scripts';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

/** A short Redis lock (SET NX PX) so that one process at a time polls the feed or handles one crime. */
export class RedisLock {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async acquire(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const key = this.keys.lock(name);
    if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') return token;
    // When Redis restarts, ioredis resends a command whose reply was lost: the resent SET NX then
    // finds the lock our own first SET took. The token is ours alone, so holding it means we hold the lock.
    return (await this.redis.get(key)) === token ? token : undefined;
  }

  /** Waits briefly for a lock another quick holder has (up to about a second); undefined if it stays taken. */
  async acquireWaiting(name: string, ttlMs: number, attempts = 50, waitMs = 20): Promise<string | undefined> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const token = await this.acquire(name, ttlMs);
      if (token) return token;
      await new Promise((r) => setTimeout(r, waitMs));
    }
    return undefined;
  }

  /** Runs `work` holding the lock (waiting briefly for it, as acquireWaiting); 'busy' if it stays taken. */
  async withLock<T>(name: string, ttlMs: number, work: () => Promise<T>): Promise<T | 'busy'> {
    const token = await this.acquireWaiting(name, ttlMs);
    if (!token) return 'busy';
    try {
      return await work();
    } finally {
      await this.release(name, token);
    }
  }

  /** Holds the lock for another ttlMs from now; false when it is no longer ours (it expired, maybe taken since). */
  async extend(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await runScript(this.redis, EXTEND, 1, this.keys.lock(name), token, String(ttlMs))) === 1;
  }

  /**
   * Renews the lock every third of its TTL while a long run holds it, so it cannot expire under
   * the run and let a second process in. Returns the function that stops renewing.
   */
  keepAlive(name: string, token: string, ttlMs: number): () => void {
    const heartbeat = setInterval(() => void this.extend(name, token, ttlMs).catch(() => undefined), ttlMs / 3);
    heartbeat.unref();
    return () => clearInterval(heartbeat);
  }

  async release(name: string, token: string): Promise<void> {
    await runScript(this.redis, RELEASE, 1, this.keys.lock(name), token);
  }
}
