import type { Job, Worker } from 'bullmq';
import { AT_PARTNER_STATUSES } from '../../domain/lifecycle';
import type { Referral } from '../../domain/referral';
import type { PartnerCode, ReferralMeta } from '../../domain/referral-state';
import { startBridgeWorker, type WorkerDeps } from '../../queues/bridge-worker';
import { PermanentError } from '../../queues/dead-letter';
import { enqueueCancel, type JobQueues } from './delivery-jobs';
import { changeStatus, type StatusChangeDeps } from '../status-changes';
import type { DeliveryJob, QueueName } from '../../queues/topology';
import { lazyChild, type JobLog } from '../../logger';

/** A delivery's worker, store, queues and the status change it ends in. */
export type DeliveryDeps = WorkerDeps & JobQueues & StatusChangeDeps;

/**
 * What differs between partners; everything else about delivery (status checks, frozen
 * payloads, retries, dead letters, races with cancellation) is the same and lives here.
 */
export interface PartnerDelivery<Payload> {
  partner: PartnerCode;
  queue: QueueName;
  /** Pure: the exact payload for the partner, through its allow-list. */
  build(referral: Referral): Payload;
  send(payload: Payload, call: { referralId: string; correlationId: string }): Promise<{ partnerRef: string; partnerStatus?: string }>;
  /**
   * `already-closed`: the partner had finished with the referral before the cancel reached it,
   * so its own final status (applied by polling or its responses) is the truth, not CANCELLED.
   */
  cancel(
    meta: ReferralMeta,
    reason: 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN',
    call: { correlationId: string },
  ): Promise<'cancelled' | 'already-closed'>;
}

/** A delivery job, or a first attempt made without one (first-deliveries.ts): its id and data. */
export type DeliveryRun = Pick<Job<DeliveryJob>, 'id' | 'data'>;

/**
 * A new referral as intake has just committed it QUEUED, still in hand: its first attempt, if
 * it finds the referral unchanged since, sends it without reading it back (the details were a
 * read and a decryption per referral).
 */
export interface JustQueued {
  meta: ReferralMeta;
  referral: Referral;
}

export async function processDelivery<P>(
  ctx: DeliveryDeps,
  ops: PartnerDelivery<P>,
  job: DeliveryRun,
  inHand?: JustQueued,
): Promise<string> {
  const { referralId } = job.data;
  const log = lazyChild(ctx.logger, { correlationId: job.data.correlationId, referralId, partner: ops.partner, jobId: job.id });
  if (job.data.action === 'deliver' && inHand) {
    const payload = await frozenFromHand(ctx, ops, inHand);
    if (payload !== undefined) return sendQueued(ctx, ops, job.data, inHand.meta, payload, log);
  }
  // A delivery reads its referral's state and what to send in one round trip (the second is
  // used only if the referral is still QUEUED).
  const [meta, stored] = await Promise.all([
    ctx.referrals.get(referralId),
    job.data.action === 'deliver' ? ctx.referrals.loadForDelivery<P>(referralId) : undefined,
  ]);
  if (!meta) throw new PermanentError('unknown referral');
  if (job.data.action === 'cancel') return cancelAtPartner(ctx, ops, meta, job.data);
  if (job.data.action === 'resend') return resendToPartner(ctx, ops, meta, job.data);

  if (meta.status !== 'QUEUED') {
    log.info({ status: meta.status }, 'delivery skipped: referral no longer queued');
    return `skipped:${meta.status}`;
  }
  return sendQueued(ctx, ops, job.data, meta, await outboundPayload(ctx, ops, referralId, stored ?? {}), log);
}

/** Sends the frozen payload and commits SENT; a referral withdrawn or held meanwhile is then cancelled at the partner. */
async function sendQueued<P>(
  ctx: DeliveryDeps,
  ops: PartnerDelivery<P>,
  { referralId, correlationId }: DeliveryJob,
  meta: ReferralMeta,
  payload: P,
  log: JobLog,
): Promise<string> {
  const result = await ops.send(payload, { referralId, correlationId });
  const sent = await changeStatus(
    ctx,
    referralId,
    {
      to: 'SENT',
      source: ops.partner,
      expectFrom: ['QUEUED'],
      known: meta,
      detail: 'partner confirmed receipt',
      patch: { partnerRef: result.partnerRef, partnerStatus: result.partnerStatus },
    },
    [{ actor: 'system', action: 'referral.sent', partner: ops.partner, status: 'SENT', outcome: 'delivered' }],
  );
  if (!sent.applied) {
    // Withdrawn or held while we were sending: the partner has it, so it must cancel it.
    await ctx.referrals.patch(referralId, { partnerRef: result.partnerRef });
    const now = await ctx.referrals.get(referralId);
    if (now && (now.status === 'CANCELLED' || now.status === 'HELD')) {
      await enqueueCancel(
        ctx,
        referralId,
        ops.partner,
        correlationId,
        now.cancelReason === 'RECORD_WITHDRAWN' ? 'RECORD_WITHDRAWN' : 'CONSENT_WITHDRAWN',
      );
    }
    return `sent-but-${now?.status}`;
  }
  log.info({ partnerRef: result.partnerRef }, 'referral delivered');
  ctx.metrics.observeDelivery(ops.partner, Math.max(0, (Date.now() - Date.parse(meta.updatedAt)) / 1000));
  return 'sent';
}

/**
 * The payload built from the referral in hand and frozen, in one call with the check that the
 * referral is as intake committed it (no status change since, no newer record version's
 * details); undefined, with nothing frozen, when it is not.
 */
async function frozenFromHand<P>(ctx: DeliveryDeps, ops: PartnerDelivery<P>, { meta, referral }: JustQueued): Promise<P | undefined> {
  const payload = build(ops, referral);
  return (await ctx.referrals.saveOutboundIfUnchanged(meta, payload)) ? payload : undefined;
}

function build<P>(ops: PartnerDelivery<P>, referral: Referral): P {
  try {
    return ops.build(referral);
  } catch (err) {
    throw new PermanentError(`referral cannot be mapped for ${ops.partner}: ${(err as Error).message}`);
  }
}

/** The payload is built once and frozen, so every retry sends byte-identical content. */
async function outboundPayload<P>(
  ctx: DeliveryDeps,
  ops: PartnerDelivery<P>,
  referralId: string,
  stored: { outbound?: P; data?: Referral },
): Promise<P> {
  if (stored.outbound !== undefined) return stored.outbound;
  const referral = stored.data;
  if (!referral) throw new PermanentError('referral details have expired from the bridge; redrive after the police resend the record');
  const payload = build(ops, referral);
  await ctx.referrals.saveOutbound(referralId, payload);
  return payload;
}

/** The same frozen payload again (idempotent at the partner); only while the partner holds it. */
async function resendToPartner<P>(ctx: DeliveryDeps, ops: PartnerDelivery<P>, meta: ReferralMeta, job: DeliveryJob): Promise<string> {
  if (!AT_PARTNER_STATUSES.has(meta.status)) return `resend-skipped:${meta.status}`;
  const payload = await ctx.referrals.loadOutbound<P>(meta.referralId);
  if (payload === undefined) throw new PermanentError('the payload sent to the partner has expired from the bridge; it cannot be resent');
  const result = await ops.send(payload, { referralId: meta.referralId, correlationId: job.correlationId });
  // A partner that had lost the referral creates it again, possibly under a new reference.
  if (result.partnerRef !== meta.partnerRef) await ctx.referrals.patch(meta.referralId, { partnerRef: result.partnerRef });
  return 'resent';
}

/** A cancel has something to reach: the partner holds it, or was sent it and has not closed it. */
export function reachedPartner(meta: Pick<ReferralMeta, 'status' | 'partnerRef'>): boolean {
  return AT_PARTNER_STATUSES.has(meta.status) || (Boolean(meta.partnerRef) && meta.status !== 'COMPLETED' && meta.status !== 'REJECTED');
}

async function cancelAtPartner<P>(ctx: DeliveryDeps, ops: PartnerDelivery<P>, meta: ReferralMeta, job: DeliveryJob): Promise<string> {
  const reason = job.cancelReason ?? 'CONSENT_WITHDRAWN';
  if (!reachedPartner(meta)) return `cancel-skipped:${meta.status}`;
  const outcome = await ops.cancel(meta, reason, { correlationId: job.correlationId });
  if (outcome === 'already-closed') {
    await ctx.referrals.patch(meta.referralId, { cancelReason: reason });
    ctx.logger.info(
      { correlationId: job.correlationId, referralId: meta.referralId, partner: ops.partner },
      'partner had already closed the referral; its final status stands',
    );
    return 'cancel-already-closed';
  }
  await changeStatus(ctx, meta.referralId, { to: 'CANCELLED', source: ops.partner, detail: reason, patch: { cancelReason: reason } });
  return 'cancelled';
}

export function startDeliveryWorker<P>(ctx: DeliveryDeps, ops: PartnerDelivery<P>): Worker<DeliveryJob> {
  return startBridgeWorker<DeliveryJob>(ctx, {
    queue: ops.queue,
    process: (job) => processDelivery(ctx, ops, job),
    describe: async (job) => ({
      referralId: job.data.referralId,
      crimeReference: (await ctx.referrals.get(job.data.referralId))?.crimeReference,
      correlationId: job.data.correlationId,
    }),
    afterDeadLetter: async (job, verdict) => {
      // A cancel that fails leaves the status where it is; a delivery that fails is FAILED.
      if (job.data.action !== 'deliver') return;
      const failed = await changeStatus(ctx, job.data.referralId, {
        to: 'FAILED',
        source: 'bridge',
        expectFrom: ['QUEUED'],
        detail: verdict.reason.slice(0, 200),
        patch: { lastError: verdict.reason },
      });
      if (failed.applied && verdict.partnerText) await ctx.referrals.savePartnerText(job.data.referralId, verdict.partnerText);
    },
  });
}
