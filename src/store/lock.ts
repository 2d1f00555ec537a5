import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** A short Redis lock (SET NX PX) so that one process at a time polls the feed or handles one crime. */
export class RedisLock {
  constructor(private readonly redis: Redis, private readonly keys: Keys) {}

  async acquire(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const ok = await this.redis.set(this.keys.lock(name), token, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? token : undefined;
  }

  async release(name: string, token: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.keys.lock(name), token);
  }
}
