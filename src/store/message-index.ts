import type { Redis } from 'ioredis';
import type { BarsMessageKind } from '../mappings/referral-to-bars';
import type { Keys } from './keys';

/**
 * Which referral each BaRS message belongs to (those the bridge sent, and the trust's answers to
 * them), so the trust's response (`MessageHeader.response.identifier`) finds its referral. Ids only, no
 * personal data; kept as long as the referral's data.
 */
export interface SentMessage {
  referralId: string;
  kind: BarsMessageKind;
}

export class MessageIndex {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly ttlSeconds: number,
  ) {}

  /** Written before the message is sent: a response can arrive before the send returns. */
  async remember(messageId: string, sent: SentMessage): Promise<void> {
    await this.redis.set(this.keys.barsMessage(messageId), entryOf(sent), 'EX', this.ttlSeconds);
  }

  /**
   * The trust's own message, so one that answers it (BaRS VALRESP01B answers VALRESP01A) finds
   * the referral too. Never over an id already held: a message id cannot re-point another referral.
   */
  async link(messageId: string, sent: SentMessage): Promise<void> {
    await this.redis.set(this.keys.barsMessage(messageId), entryOf(sent), 'EX', this.ttlSeconds, 'NX');
  }

  async lookup(messageId: string): Promise<SentMessage | undefined> {
    const value = await this.redis.get(this.keys.barsMessage(messageId));
    if (!value) return undefined;
    const [kind, referralId] = value.split('|');
    return kind && referralId && (kind === 'new' || kind === 'cancel') ? { kind, referralId } : undefined;
  }
}

/** How an entry is stored (lookup reads it back). */
function entryOf(sent: SentMessage): string {
  return `${sent.kind}|${sent.referralId}`;
}
