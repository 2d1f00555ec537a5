import Boom from '@hapi/boom';
import Joi from 'joi';
import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { operatorAuth, operatorOf, SCOPE } from './auth';

/** `GET /v1/referrals/{id}`: status and timeline. Metadata only, never personal data. */
export const referralsPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-referrals',
  register(server, { ctx }) {
    server.route({
      method: 'GET',
      path: '/v1/referrals/{id}',
      options: { auth: operatorAuth(SCOPE.referralsRead), validate: { params: Joi.object({ id: Joi.string().guid({ version: 'uuidv5' }).required() }) } },
      handler: async (request) => {
        const id = (request.params as { id: string }).id;
        await ctx.audit.record({ actor: operatorOf(request.auth.credentials), action: 'admin.read', referralId: id, target: '/v1/referrals/{id}' });
        const meta = await ctx.referrals.get(id);
        if (!meta) throw Boom.notFound('no referral with that id');
        const timeline = await ctx.referrals.timeline(id);
        return {
          referralId: meta.referralId,
          type: meta.type,
          partner: meta.partner,
          crimeReference: meta.crimeReference,
          recordVersion: meta.recordVersion,
          status: meta.status,
          heldReason: meta.heldReason || undefined,
          partnerReference: meta.partnerRef,
          partnerStatus: meta.partnerStatus,
          createdAt: meta.createdAt,
          updatedAt: meta.updatedAt,
          timeline: timeline.map((e) => ({ at: e.at, status: e.status, from: e.from, source: e.source, detail: e.detail })),
        };
      },
    });
  },
};
