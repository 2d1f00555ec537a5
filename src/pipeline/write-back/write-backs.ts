import type { BridgeConfig } from '../../config';
import type { WriteBack } from '../../mappings/referral-to-write-back';
import { AttemptsInFlight } from '../../queues/attempts-in-flight';
import { partnerBackoff } from '../../queues/backoff';
import { judgeError } from '../../queues/dead-letter';
import { enqueueWriteBack } from './write-back-jobs';
import { sendWriteBack, type WriteBackDeps } from './write-back-worker';
import { QUEUE } from '../../queues/topology';

/**
 * How old an outbox entry must be before the status poll queues it again: older than any first
 * attempt can still be running (the RMS timeout bounds it), so one cut off by a process dying
 * waits seconds, not a minute, and one under way is not sent twice. At most a minute, as before.
 */
export function writeBackSweepAfterMs(config: BridgeConfig): number {
  return Math.min(60_000, config.police.timeoutMs + 10_000);
}

/**
 * Police write-backs, first attempt at once: the status change and its outbox entry are already
 * committed, so one POST replaces a queue job (write-back jobs were over half of the bridge's
 * jobs). Over the in-flight limit a write-back waits briefly for a slot; one that fails or waits
 * too long becomes a job in the police-outcomes queue. A process that dies mid-attempt leaves the
 * outbox entry, which the status poll re-queues; the RMS's idempotency makes a repeat harmless.
 */
export class WriteBacks {
  private readonly inFlight = new AttemptsInFlight();
  private readonly backoff: ReturnType<typeof partnerBackoff>;

  constructor(private readonly ctx: WriteBackDeps) {
    this.backoff = partnerBackoff(ctx.config.delivery.backoffMs);
  }

  /**
   * Resolves once the write-back is under way, waiting for a free slot, or queued; never waits
   * for the RMS. The first attempt sends `committed` as it is, with no read; a queued retry reads
   * the change back.
   */
  async dispatch(committed: WriteBack, correlationId: string): Promise<void> {
    const { referralId, seq } = committed;
    await this.inFlight.offer('POLICE', this.ctx.config.police.writeBackInFlight, {
      start: () => this.attempt(committed, correlationId),
      queue: () => enqueueWriteBack(this.ctx, referralId, seq, correlationId),
      lost: (err) => this.couldNotQueue(referralId, correlationId, err),
    });
  }

  /** Graceful stop: no new first attempts; queues those waiting and waits for those under way (each bounded by the RMS timeout). */
  close(): Promise<void> {
    return this.inFlight.close();
  }

  /** Resolves when every first attempt under way has ended (reported, or queued for retry). */
  idle(): Promise<void> {
    return this.inFlight.idle();
  }

  private async attempt(committed: WriteBack, correlationId: string): Promise<void> {
    const { referralId, seq } = committed;
    try {
      await sendWriteBack(this.ctx, committed, correlationId);
    } catch (err) {
      const { kind, reason } = judgeError(err, false);
      this.ctx.metrics.countRetry(QUEUE.policeWriteBacks, 'POLICE', kind);
      const log = this.ctx.logger.child({ correlationId, referralId, queue: QUEUE.policeWriteBacks });
      log.warn({ attempt: 1, kind, reason }, 'write-back attempt failed; queued for retry');
      // The queue's worker judges it again: a retry after backoff, or the dead-letter queue.
      const delay = kind === 'transient' ? this.backoff(1, undefined, err as Error) : 0;
      await enqueueWriteBack(this.ctx, referralId, seq, correlationId, delay).catch((e: unknown) =>
        this.couldNotQueue(referralId, correlationId, e),
      );
    }
  }

  private couldNotQueue(referralId: string, correlationId: string, err: unknown): void {
    this.ctx.logger
      .child({ correlationId, referralId, queue: QUEUE.policeWriteBacks })
      .error({ alert: true, err: (err as Error).message }, 'write-back could not be queued; the outbox sweep will queue it');
  }
}
