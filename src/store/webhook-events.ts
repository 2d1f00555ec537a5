import type { Redis } from 'ioredis';
import type { Keys } from './keys';

/**
 * Partner callback ids already applied (charity webhook events, the trust's BaRS message ids), so
 * a repeated delivery is recognised and applied once.
 * An id is claimed (`pending`, for a short while) before it is applied and marked `applied` once
 * it has been; if applying fails the claim is released. A process that dies mid-apply leaves only
 * the short claim: until it expires a repeat is told to retry later, afterwards it is applied.
 * Ids only; applied ones expire after the partner's retry window.
 */
export type WebhookClaim = 'claimed' | 'applied' | 'in-progress';

const PENDING = 'pending';
const APPLIED = 'applied';

export class WebhookEvents {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
    /** Longer than any apply takes (its lock wait is about a second). */
    private readonly pendingSeconds = 60,
  ) {}

  async claim(partner: string, eventId: string): Promise<WebhookClaim> {
    const key = this.keys.webhookEvent(partner, eventId);
    if ((await this.redis.set(key, PENDING, 'EX', this.pendingSeconds, 'NX')) === 'OK') return 'claimed';
    const held = await this.redis.get(key);
    // Gone between the two calls: released by a failed apply, or the claim ran out. Try once more.
    if (held === null) return (await this.redis.set(key, PENDING, 'EX', this.pendingSeconds, 'NX')) === 'OK' ? 'claimed' : 'in-progress';
    // Any other value (an older bridge wrote '1') is an applied id.
    return held === PENDING ? 'in-progress' : 'applied';
  }

  /** The event has been applied: a repeat is a duplicate for the rest of the retry window. */
  async applied(partner: string, eventId: string): Promise<void> {
    await this.redis.set(this.keys.webhookEvent(partner, eventId), APPLIED, 'EX', this.ttlSeconds);
  }

  async release(partner: string, eventId: string): Promise<void> {
    await this.redis.del(this.keys.webhookEvent(partner, eventId));
  }
}
