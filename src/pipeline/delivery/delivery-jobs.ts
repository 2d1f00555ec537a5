import type { Infra } from '../../infra';
import type { PartnerCode } from '../../domain/referral-state';
import type { BridgeQueues } from '../../queues/topology';

/** The queues and the referral store, all that queueing a job needs. */
export type JobQueues = Pick<Infra, 'queues' | 'referrals'>;

/**
 * Delivery job ids are per QUEUED transition, so a redrive (a new QUEUED) gets a new job.
 * `partner`: when the caller knows it, the referral is not read again.
 */
export async function enqueueDelivery(
  ctx: JobQueues,
  referralId: string,
  correlationId: string,
  queuedSeq: number,
  partner?: PartnerCode,
  delayMs = 0,
): Promise<void> {
  const to = partner ?? (await ctx.referrals.get(referralId))?.partner;
  if (!to) return;
  await deliveryQueue(ctx, to).add(
    'deliver',
    { referralId, correlationId, action: 'deliver' },
    { jobId: deliveryJobId(referralId, queuedSeq), ...(delayMs > 0 ? { delay: delayMs } : {}) },
  );
}

/** Each partner's deliveries, cancels and resends go through its own queue. */
function deliveryQueue(ctx: JobQueues, partner: PartnerCode): BridgeQueues['nhsDelivery'] {
  return partner === 'NHS' ? ctx.queues.nhsDelivery : ctx.queues.charityDelivery;
}

export function deliveryJobId(referralId: string, queuedSeq: number): string {
  return `${referralId}-q${queuedSeq}`;
}

/**
 * A referral QUEUED for longer than any first attempt can run, looked at again: with no delivery
 * job (a process died mid-attempt, or between commit and enqueue) it is queued; with one, in
 * whatever state, it is left to that job (a finished job is the dead-letter queue's business).
 */
export async function requeueDelivery(ctx: JobQueues, referralId: string): Promise<'requeued' | 'in-queue' | 'not-queued'> {
  const meta = await ctx.referrals.get(referralId);
  if (!meta || meta.status !== 'QUEUED') return 'not-queued';
  if (await deliveryQueue(ctx, meta.partner).getJob(deliveryJobId(referralId, meta.statusSeq))) return 'in-queue';
  await enqueueDelivery(ctx, referralId, meta.correlationId, meta.statusSeq, meta.partner);
  return 'requeued';
}

export async function enqueueCancel(
  ctx: JobQueues,
  referralId: string,
  partner: PartnerCode,
  correlationId: string,
  cancelReason: 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN',
): Promise<void> {
  await deliveryQueue(ctx, partner).add(
    'cancel',
    { referralId, correlationId, action: 'cancel', cancelReason },
    { jobId: `${referralId}-cancel`, priority: 1 },
  );
}

/** The trust asked for a message again; one resend per asking response message. */
export async function enqueueResend(
  ctx: JobQueues,
  referralId: string,
  partner: PartnerCode,
  correlationId: string,
  askedBy: string,
): Promise<void> {
  await deliveryQueue(ctx, partner).add(
    'resend',
    { referralId, correlationId, action: 'resend' },
    { jobId: `${referralId}-resend-${askedBy}` },
  );
}
