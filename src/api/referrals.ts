import Boom from '@hapi/boom';
import Joi from 'joi';
import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { summaryOf } from '../operations/worklists';
import { operatorAuth, operatorOf, SCOPE } from './auth';
import { auditOrWithhold, includePersonalQuery, wantsPersonalData } from './personal-data';

/**
 * `GET /v1/referrals/{id}`: status, timeline and the last error's structured part; metadata
 * only. `?include=personal` adds the partner's own words about the last failure, which may
 * quote the patient: admin only, and audited before it is shown (no audit, no read).
 */
export const referralsPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-referrals',
  register(server, { ctx }) {
    server.route({
      method: 'GET',
      path: '/v1/referrals/{id}',
      options: {
        auth: operatorAuth(SCOPE.referralsRead),
        validate: { params: Joi.object({ id: Joi.string().guid({ version: 'uuidv5' }).required() }), query: includePersonalQuery },
      },
      handler: async (request) => {
        const id = (request.params as { id: string }).id;
        const personal = wantsPersonalData(request, 'a referral');
        const actor = operatorOf(request.auth.credentials);
        if (personal) {
          await auditOrWithhold(
            ctx.logger,
            () =>
              ctx.audit.recordOrThrow({ actor, action: 'admin.read', referralId: id, outcome: 'personal', target: '/v1/referrals/{id}' }),
            { referralId: id },
          );
        } else {
          await ctx.audit.record({ actor, action: 'admin.read', referralId: id, target: '/v1/referrals/{id}' });
        }
        const meta = await ctx.referrals.get(id);
        if (!meta) throw Boom.notFound('no referral with that id');
        const timeline = await ctx.referrals.timeline(id);
        const partnerText = personal ? await ctx.referrals.loadPartnerText(id) : undefined;
        return {
          ...summaryOf(meta),
          partnerReference: meta.partnerRef,
          timeline: timeline.map((e) => ({ at: e.at, status: e.status, from: e.from, source: e.source, detail: e.detail })),
          ...(partnerText !== undefined ? { partnerText } : {}),
        };
      },
    });
  },
};
