import type { BridgeContext } from '../../context';
import { decideCharityUpdate, type CharityUpdate } from '../../mappings/charity-status';
import type { ReferralMeta } from '../../domain/referral-state';
import { changeStatus } from '../status-changes';
import { lazyChild } from '../../logger';

/**
 * The one place a charity status reaches a referral, whichever way it came (webhook or
 * polling): the charity's own order first, then the bridge's state machine, under a
 * per-referral lock so a webhook and a poll cannot interleave their reads and writes.
 */
export type CharityUpdateSource = 'charity-webhook' | 'charity-poll' | 'reconcile';
export type CharityUpdateResult = 'applied' | 'recorded' | 'ignored' | 'busy';

export async function applyCharityUpdate(
  ctx: BridgeContext,
  referralId: string,
  update: CharityUpdate & { charityId: string },
  source: CharityUpdateSource,
): Promise<CharityUpdateResult> {
  // Short waits: the holder is another update for the same referral, all quick.
  return ctx.lock.withLock(`charity-status:${referralId}`, 10_000, async () => {
    const meta = await ctx.referrals.get(referralId);
    return meta ? apply(ctx, meta, update, source) : 'ignored';
  });
}

async function apply(
  ctx: BridgeContext,
  meta: ReferralMeta,
  update: CharityUpdate & { charityId: string },
  source: CharityUpdateSource,
): Promise<CharityUpdateResult> {
  const log = lazyChild(ctx.logger, {
    correlationId: meta.correlationId,
    referralId: meta.referralId,
    crimeReference: meta.crimeReference,
    partner: 'CHARITY',
    source,
  });
  if (meta.status === 'HELD') {
    // Never sent (no consent): a status for it must not move it on. Reconciliation's orphan case.
    log.error({ alert: true, partnerStatus: update.status.slice(0, 40) }, 'charity reports a referral the bridge is holding back; ignored');
    return 'ignored';
  }
  const decision = decideCharityUpdate(meta, update);
  if (decision.kind === 'ignore') {
    if (decision.why === 'unknown-status')
      log.warn({ partnerStatus: update.status.slice(0, 40) }, 'charity reported a status outside its contract; ignored');
    return 'ignored';
  }
  if (decision.kind === 'outcome') {
    await ctx.referrals.patch(meta.referralId, { partnerOutcome: decision.partnerOutcome });
    return 'recorded';
  }
  const patch = {
    partnerStatus: decision.partnerStatus,
    partnerStatusAt: decision.partnerStatusAt,
    ...(decision.partnerOutcome ? { partnerOutcome: decision.partnerOutcome } : {}),
    // A status can arrive before the delivery recorded the charity's id (webhook racing the 201).
    ...(meta.partnerRef ? {} : { partnerRef: update.charityId }),
  };
  const result = await changeStatus(ctx, meta.referralId, { to: decision.to, source, detail: decision.detail, patch });
  if (result.applied) return 'applied';
  // The bridge status does not move (same, terminal or backwards), but the charity's own
  // progress (CONTACTED → ENGAGED, DECLINED → CLOSED) is still worth keeping.
  await ctx.referrals.patch(meta.referralId, patch);
  return 'recorded';
}
