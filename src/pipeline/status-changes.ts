import type { Infra } from '../infra';
import type { WriteBacks } from './write-back/write-backs';
import { writeBackFor } from '../mappings/referral-to-write-back';
import type { TransitionRequest, TransitionResult } from '../store/referral-store';

/** The store the change commits to, and the write-back it then asks for. */
export type StatusChangeDeps = Pick<Infra, 'logger' | 'referrals'> & { writeBacks: Pick<WriteBacks, 'dispatch'> };

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

/** `alsoAudit`: further events about this referral, committed with the change (e.g. `referral.sent`). */
export async function changeStatus(
  ctx: StatusChangeDeps,
  referralId: string,
  req: Omit<TransitionRequest, 'audit'>,
  alsoAudit?: NonNullable<TransitionRequest['audit']>['also'],
): Promise<TransitionResult> {
  // The audit event is committed with the change, so neither is ever recorded without the other.
  const result = await ctx.referrals.transition(referralId, {
    ...req,
    audit: { actor: auditActor(req.source), ...(alsoAudit ? { also: alsoAudit } : {}) },
  });
  if (result.applied) {
    const { correlationId, crimeReference } = result;
    ctx.logger.info(
      { correlationId, referralId, crimeReference, from: result.from, to: req.to, source: req.source },
      'referral status changed',
    );
    await ctx.writeBacks.dispatch(
      writeBackFor({ referralId, crimeReference, partner: result.partner, partnerRef: result.partnerRef }, result.entry),
      correlationId,
    );
  }
  return result;
}
