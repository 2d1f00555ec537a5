import type { Redis } from 'ioredis';
import type { Keys } from './keys';

/**
 * Webhook event ids already applied, so a repeated delivery is answered 200 and applied once.
 * An id is claimed before it is applied and released if applying fails, so the partner's retry
 * is applied rather than swallowed. Ids only; they expire after the partner's retry window.
 */
export class WebhookEvents {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {}

  /** True when this call claimed the id; false when it was seen (or is being applied) already. */
  async claim(partner: string, eventId: string): Promise<boolean> {
    return (await this.redis.set(this.keys.webhookEvent(partner, eventId), '1', 'EX', this.ttlSeconds, 'NX')) === 'OK';
  }

  async release(partner: string, eventId: string): Promise<void> {
    await this.redis.del(this.keys.webhookEvent(partner, eventId));
  }
}
