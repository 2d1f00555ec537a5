import type { BridgeContext } from '../context';
import type { PartnerCode } from '../store/referral-store';

/** Delivery job ids are per QUEUED transition, so a redrive (a new QUEUED) gets a new job. */
export async function enqueueDelivery(ctx: BridgeContext, referralId: string, correlationId: string, queuedSeq: number): Promise<void> {
  const meta = await ctx.referrals.get(referralId);
  if (!meta) return;
  const queue = meta.partner === 'NHS' ? ctx.queues.nhsDelivery : ctx.queues.charityDelivery;
  await queue.add('deliver', { referralId, correlationId, action: 'deliver' }, { jobId: `${referralId}-q${queuedSeq}` });
}

export async function enqueueCancel(
  ctx: BridgeContext,
  referralId: string,
  partner: PartnerCode,
  correlationId: string,
  cancelReason: 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN',
): Promise<void> {
  const queue = partner === 'NHS' ? ctx.queues.nhsDelivery : ctx.queues.charityDelivery;
  await queue.add('cancel', { referralId, correlationId, action: 'cancel', cancelReason }, { jobId: `${referralId}-cancel`, priority: 1 });
}

/** Each committed status change is written back to the police once (outbox entry `{id}|{seq}`). */
export async function enqueueOutcome(ctx: BridgeContext, referralId: string, seq: number, correlationId: string): Promise<void> {
  await ctx.queues.policeOutcomes.add('outcome', { referralId, seq, correlationId }, { jobId: `${referralId}-s${seq}` });
}

/** The trust asked for a message again; one resend per asking response message. */
export async function enqueueResend(ctx: BridgeContext, referralId: string, partner: PartnerCode, correlationId: string, askedBy: string): Promise<void> {
  const queue = partner === 'NHS' ? ctx.queues.nhsDelivery : ctx.queues.charityDelivery;
  await queue.add('resend', { referralId, correlationId, action: 'resend' }, { jobId: `${referralId}-resend-${askedBy}` });
}
