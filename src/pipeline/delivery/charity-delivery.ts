import type { Infra } from '../../infra';
import { charityView } from '../../mappings/allow-lists';
import { referralToCharityPayload, type CharityReferralPayload } from '../../mappings/referral-to-charity';
import { PermanentError } from '../../queues/dead-letter';
import type { PartnerDelivery } from './delivery';
import { QUEUE } from '../../queues/topology';

/** Advocacy referrals to the charity (charity-api.md), Idempotency-Key = referral id. */
export function charityDelivery(ctx: Pick<Infra, 'config' | 'partners'>): PartnerDelivery<CharityReferralPayload> {
  const referrerOrganisation = ctx.config.charity.referrerOrganisation;
  return {
    partner: 'CHARITY',
    queue: QUEUE.charityDelivery,
    build: (referral) => referralToCharityPayload(charityView(referral), { referrerOrganisation }),
    send: async (payload, call) => {
      const created = await ctx.partners.charity.createReferral(payload, {
        idempotencyKey: call.referralId,
        correlationId: call.correlationId,
      });
      return { partnerRef: created.id, partnerStatus: created.status };
    },
    cancel: async (meta, reason, call) => {
      if (!meta.partnerRef) throw new PermanentError('charity reference unknown; cannot cancel');
      const { alreadyClosed } = await ctx.partners.charity.cancelReferral(meta.partnerRef, reason, { correlationId: call.correlationId });
      return alreadyClosed ? 'already-closed' : 'cancelled';
    },
  };
}
