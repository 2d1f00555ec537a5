import type { BridgeContext } from '../context';
import { outcomeFor } from '../mappings/referral-to-outcome';
import type { TransitionRequest, TransitionResult } from '../store/referral-store';

/**
 * The one door for status changes: the state machine decides (in the store's atomic commit),
 * and every applied change is written back to the police (queues/write-backs.ts). The store's
 * outbox keeps the change pending until the RMS has it, so a crash after the commit loses nothing.
 */
/** The sources that name a partner channel are actors in their own right; the rest is the bridge. */
const CHANNEL_ACTORS: ReadonlySet<string> = new Set(['charity-webhook', 'charity-poll', 'nhs-bars', 'nhs-poll', 'reconcile']);

function auditActor(source: string): string {
  return CHANNEL_ACTORS.has(source) ? source : 'system';
}

export async function changeStatus(ctx: BridgeContext, referralId: string, req: TransitionRequest): Promise<TransitionResult> {
  const result = await ctx.referrals.transition(referralId, req);
  if (result.applied) {
    const { correlationId, crimeReference } = result;
    ctx.logger.info({ correlationId, referralId, crimeReference, from: result.from, to: req.to, source: req.source }, 'referral status changed');
    // Together: the audit append and the write-back travel in one round trip.
    await Promise.all([
      ctx.writeBacks.dispatch(outcomeFor({ referralId, crimeReference, partner: result.partner, partnerRef: result.partnerRef }, result.entry), correlationId),
      ctx.audit.record({ actor: auditActor(req.source), action: 'referral.status_changed', referralId, crimeReference, status: req.to, ...(result.from ? { outcome: `from_${result.from}` } : {}) }),
    ]);
  }
  return result;
}
