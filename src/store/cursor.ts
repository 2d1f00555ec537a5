import type { Redis } from 'ioredis';
import type { Keys } from './keys';

/** The police feed cursor: saved only after every record of its page is queued or quarantined. */
export class CursorStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async get(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.cursor())) ?? undefined;
  }

  async set(cursor: string): Promise<void> {
    await this.redis.set(this.keys.cursor(), cursor);
  }
}
