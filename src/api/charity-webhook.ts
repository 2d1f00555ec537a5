import Boom from '@hapi/boom';
import type { Plugin } from '@hapi/hapi';
import Joi from 'joi';
import type { BridgeContext } from '../context';
import { applyCharityUpdate, type CharityUpdateResult } from '../pipeline/partner-status/charity-updates';
import { partnerRoute } from './auth';

/**
 * `POST /v1/webhooks/charity` (charity-api.md "Webhook to the bridge"). The signature is checked
 * by the route's auth strategy, its header before the body is read and its HMAC over the raw
 * bytes before anything is parsed; a repeated eventId is answered 200 and applied
 * once (503 while its first copy is still being applied); an older status never overwrites a
 * newer one (applyCharityUpdate); an unknown referral is 404. Polling catches whatever webhooks
 * are lost.
 */
export const CHARITY_WEBHOOK_PATH = '/v1/webhooks/charity';
const MAX_EVENT_BYTES = 64 * 1024;

export interface CharityWebhookEvent {
  eventId: string;
  type: 'referral.status_changed';
  occurredAt: string;
  referral: { id: string; externalReference: string; status: string; statusReason: string | null };
}

const eventSchema = Joi.object<CharityWebhookEvent>({
  eventId: Joi.string()
    .pattern(/^[A-Za-z0-9_.-]{1,100}$/)
    .required(),
  type: Joi.string().valid('referral.status_changed').required(),
  occurredAt: Joi.string().isoDate().required(),
  referral: Joi.object({
    id: Joi.string().max(100).required(),
    externalReference: Joi.string().guid().required(),
    status: Joi.string().max(40).required(),
    statusReason: Joi.string().max(500).allow(null).default(null),
  })
    .unknown(true)
    .required(),
}).unknown(true);

export const charityWebhookPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-charity-webhook',
  register(server, { ctx }) {
    server.route({
      method: 'POST',
      path: CHARITY_WEBHOOK_PATH,
      options: {
        ...partnerRoute('charity-signature'),
        payload: { parse: false, output: 'data', maxBytes: MAX_EVENT_BYTES, allow: ['application/json'] },
      },
      handler: async (request) => {
        // The signature was verified over these bytes by the route's strategy (partner-auth.ts).
        const raw = request.payload as Buffer;
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw Boom.badRequest('body is not JSON');
        }
        const { error, value: event } = eventSchema.validate(body, { convert: false });
        if (error)
          throw Boom.badRequest(`invalid event: ${error.details[0]?.path.join('.') || 'body'} ${error.details[0]?.type ?? ''}`.trim());

        const referralId = event.referral.externalReference;
        const meta = await ctx.referrals.get(referralId);
        // The charity names both ids; a mismatch with the id we hold is not our referral, and a
        // HELD referral was never sent, so the charity cannot hold it.
        if (
          !meta ||
          meta.partner !== 'CHARITY' ||
          meta.status === 'HELD' ||
          (meta.partnerRef !== undefined && meta.partnerRef !== event.referral.id)
        ) {
          throw Boom.notFound('unknown referral');
        }

        const claim = await ctx.webhookEvents.claim('charity', event.eventId);
        if (claim === 'applied') return { eventId: event.eventId, result: 'duplicate' };
        // Not applied yet (another request has it, or a process died with it): a 200 would end
        // the charity's retries before the status is in, so it is asked to try again.
        if (claim === 'in-progress') throw Boom.serverUnavailable('this event is being applied; retry');
        let result: CharityUpdateResult;
        try {
          result = await applyCharityUpdate(
            ctx,
            referralId,
            {
              charityId: event.referral.id,
              status: event.referral.status,
              statusReason: event.referral.statusReason,
              at: event.occurredAt,
            },
            'charity-webhook',
          );
          // Another update held the referral too long: let the charity retry the event.
          if (result === 'busy') throw Boom.serverUnavailable('referral busy; retry');
        } catch (err) {
          await ctx.webhookEvents.release('charity', event.eventId);
          throw err;
        }
        await ctx.webhookEvents.applied('charity', event.eventId);
        return { eventId: event.eventId, result };
      },
    });
  },
};
