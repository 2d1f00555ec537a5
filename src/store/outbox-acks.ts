import type { Redis } from 'ioredis';

/**
 * Outbox entries cleared once the RMS has them, the acks of one turn of the event loop in one
 * ZREM: a backlog acks a couple of write-backs per referral, and each was a command of its own.
 * Each caller still resolves only once its entry is gone (or rejects with the batch's error).
 */
export class OutboxAcks {
  private members: string[] = [];
  private flushed?: Promise<void>;

  constructor(
    private readonly redis: Pick<Redis, 'zrem'>,
    private readonly key: string,
  ) {}

  ack(member: string): Promise<void> {
    this.members.push(member);
    this.flushed ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const members = this.members;
      this.members = [];
      this.flushed = undefined;
      return this.redis.zrem(this.key, ...members).then(() => undefined);
    });
    return this.flushed;
  }
}
