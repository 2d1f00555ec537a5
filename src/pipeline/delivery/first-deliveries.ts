import type { BridgeConfig } from '../../config';
import type { PartnerCode } from '../../domain/referral-state';
import { AttemptsInFlight } from '../../queues/attempts-in-flight';
import { partnerBackoff } from '../../queues/backoff';
import { charityDelivery } from './charity-delivery';
import { judgeError } from '../../queues/dead-letter';
import { processDelivery, type DeliveryDeps, type JustQueued, type PartnerDelivery } from './delivery';
import { deliveryJobId, enqueueDelivery } from './delivery-jobs';
import { nhsDelivery, type NhsDeliveryDeps } from './nhs-delivery';

/**
 * How long a referral must have been QUEUED before the status poll makes sure it has a delivery
 * job: longer than any first attempt can still be running (the partner timeout bounds it).
 */
export function deliverySweepAfterMs(config: BridgeConfig): number {
  return Math.min(60_000, Math.max(config.nhs.timeoutMs, config.charity.timeoutMs) + 10_000);
}

/**
 * Deliveries, first attempt at once, from the process that committed the referral QUEUED: a
 * delivery job's round trips were over a third of Redis's work per referral. Over the in-flight
 * limit an attempt waits briefly for a slot; one that fails, waits too long or meets a stopping
 * process becomes the delivery job it would have been. Intake never waits for a partner's answer,
 * only, briefly, for a long line to shorten (back-pressure, `WAITING_LINE.holdFrom`). A
 * process that dies mid-attempt leaves the referral QUEUED, which the status poll sweeps; the
 * partners' idempotency keys make a repeat harmless.
 */
export class FirstDeliveries {
  private readonly inFlight = new AttemptsInFlight();
  private readonly backoff: ReturnType<typeof partnerBackoff>;
  private ops: Record<PartnerCode, PartnerDelivery<unknown>> | undefined;

  constructor(private readonly ctx: DeliveryDeps & NhsDeliveryDeps) {
    this.backoff = partnerBackoff(ctx.config.delivery.backoffMs);
  }

  /** `inHand`: the new referral as just committed, which the attempt sends if nothing has changed it meanwhile. */
  async dispatch(referralId: string, correlationId: string, queuedSeq: number, partner: PartnerCode, inHand?: JustQueued): Promise<void> {
    await this.inFlight.offer(partner, this.ctx.config.delivery.firstAttemptInFlight, {
      start: () => this.attempt(referralId, correlationId, queuedSeq, partner, inHand),
      queue: () => enqueueDelivery(this.ctx, referralId, correlationId, queuedSeq, partner),
      lost: (err) => this.couldNotQueue(referralId, correlationId, partner, err),
    });
  }

  /** Graceful stop: no new first attempts; queues those waiting and waits for those under way (each bounded by the partner timeout). */
  close(): Promise<void> {
    return this.inFlight.close();
  }

  /** Resolves when every first attempt under way has ended (delivered, or queued for retry). */
  idle(): Promise<void> {
    return this.inFlight.idle();
  }

  private async attempt(
    referralId: string,
    correlationId: string,
    queuedSeq: number,
    partner: PartnerCode,
    inHand: JustQueued | undefined,
  ): Promise<void> {
    const ops = this.partnerOps()[partner];
    try {
      await processDelivery(
        this.ctx,
        ops,
        { id: deliveryJobId(referralId, queuedSeq), data: { referralId, correlationId, action: 'deliver' } },
        inHand,
      );
    } catch (err) {
      const { kind, reason, alert } = judgeError(err, false);
      this.ctx.metrics.countRetry(ops.queue, partner, kind);
      const log = this.ctx.logger.child({ correlationId, referralId, partner, queue: ops.queue });
      log.warn({ attempt: 1, kind, reason, ...(alert ? { alert: true } : {}) }, 'delivery attempt failed; queued for retry');
      // The queue's worker judges it again: a retry after backoff, or the dead-letter queue.
      const delay = kind === 'transient' ? this.backoff(1, undefined, err as Error) : 0;
      await enqueueDelivery(this.ctx, referralId, correlationId, queuedSeq, partner, delay).catch((e: unknown) =>
        this.couldNotQueue(referralId, correlationId, partner, e),
      );
    }
  }

  private couldNotQueue(referralId: string, correlationId: string, partner: PartnerCode, err: unknown): void {
    this.ctx.logger
      .child({ correlationId, referralId, partner, queue: this.partnerOps()[partner].queue })
      .error({ alert: true, err: (err as Error).message }, 'delivery could not be queued; the QUEUED sweep will queue it');
  }

  private partnerOps(): Record<PartnerCode, PartnerDelivery<unknown>> {
    this.ops ??= { NHS: nhsDelivery(this.ctx) as PartnerDelivery<unknown>, CHARITY: charityDelivery(this.ctx) as PartnerDelivery<unknown> };
    return this.ops;
  }
}
