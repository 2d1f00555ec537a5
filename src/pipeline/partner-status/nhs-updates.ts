import type { NhsUpdate } from '../../domain/nhs-update';
import type { ReferralMeta } from '../../domain/referral-state';
import type { Infra } from '../../infra';
import { lazyChild } from '../../logger';
import type { BridgeMetrics } from '../../observability/metrics';
import { PartnerError } from '../../adapters/partner-error';
import { deadLetter, judgeError } from '../../queues/dead-letter';
import { QUEUE } from '../../queues/topology';
import { changeStatus, type StatusChangeDeps } from '../status-changes';

/**
 * The one place an NHS trust's status reaches a referral, whichever way it came: the Task poll
 * (REST mode), the trust's BaRS response messages, or the reconciler. Each source is read into
 * an NhsUpdate by a pure mapping (mappings/fhir-status.ts, mappings/bars-response.ts); the rules are
 * here: under a per-referral lock, a HELD referral is never moved, the state machine decides,
 * the trust's own status is kept even when the bridge's does not move, and a refusal that
 * fails the referral is dead-lettered once, where operators find the other failed deliveries.
 */
export type NhsUpdateSource = 'nhs-poll' | 'nhs-bars' | 'reconcile';
export type NhsUpdateResult = 'applied' | 'recorded' | 'ignored' | 'busy';

export type NhsUpdateDeps = StatusChangeDeps &
  Pick<Infra, 'lock' | 'queues' | 'cipher'> & { metrics: Pick<BridgeMetrics, 'countDeadLetter'> };

export async function applyNhsUpdate(
  ctx: NhsUpdateDeps,
  referralId: string,
  update: NhsUpdate,
  source: NhsUpdateSource,
): Promise<NhsUpdateResult> {
  // Short waits: the holder is another update for the same referral, all quick.
  return ctx.lock.withLock(`nhs-status:${referralId}`, 10_000, async () => {
    const meta = await ctx.referrals.get(referralId);
    return meta ? apply(ctx, meta, update, source) : 'ignored';
  });
}

async function apply(ctx: NhsUpdateDeps, meta: ReferralMeta, update: NhsUpdate, source: NhsUpdateSource): Promise<NhsUpdateResult> {
  const partnerStatus = update.partnerStatus.slice(0, 80);
  if (meta.status === 'HELD') {
    // Never sent (no consent or lawful basis): a status for it must not move it on.
    const log = lazyChild(ctx.logger, {
      correlationId: meta.correlationId,
      referralId: meta.referralId,
      crimeReference: meta.crimeReference,
      partner: 'NHS',
      source,
    });
    log.error({ alert: true, partnerStatus }, 'the trust reports a referral the bridge is holding back; ignored');
    return 'ignored';
  }
  const unchanged = partnerStatus === meta.partnerStatus;
  if (!update.to || (unchanged && update.to === meta.status)) {
    if (unchanged) return 'ignored';
    await ctx.referrals.patch(meta.referralId, { partnerStatus });
    return 'recorded';
  }
  const failed = update.to === 'FAILED';
  const result = await changeStatus(ctx, meta.referralId, {
    to: update.to,
    source,
    detail: update.detail.slice(0, 200),
    patch: { partnerStatus, ...(failed ? { lastError: update.detail } : {}) },
  });
  if (!result.applied) {
    if (!unchanged) await ctx.referrals.patch(meta.referralId, { partnerStatus });
    return 'recorded';
  }
  if (failed && update.refusal) await deadLetterRefusal(ctx, meta, update.refusal);
  return 'applied';
}

/** The refusal as a failed delivery, through the same dead-letter path as the delivery worker's. */
async function deadLetterRefusal(ctx: NhsUpdateDeps, meta: ReferralMeta, refusal: NonNullable<NhsUpdate['refusal']>): Promise<void> {
  if (refusal.partnerText) await ctx.referrals.savePartnerText(meta.referralId, refusal.partnerText);
  // Judged as the worker judges a partner's refusal, so the reason and the sealed words take one path.
  const refused = new PartnerError('NHS', 'permanent', 'NHS BaRS receiver answered fatal-error', {
    alert: true,
    ...(refusal.detail ? { detail: refusal.detail } : {}),
    ...(refusal.partnerText ? { partnerText: refusal.partnerText } : {}),
  });
  const verdict = judgeError(refused, true);
  const work = {
    id: refusal.id,
    name: 'deliver',
    data: { referralId: meta.referralId, correlationId: meta.correlationId, action: 'deliver' },
    attemptsMade: 0,
  };
  await deadLetter(
    ctx.queues,
    QUEUE.nhsDelivery,
    work,
    verdict,
    { referralId: meta.referralId, crimeReference: meta.crimeReference, correlationId: meta.correlationId },
    ctx.cipher,
  );
  ctx.metrics.countDeadLetter(QUEUE.nhsDelivery, 'NHS', 'permanent');
}
