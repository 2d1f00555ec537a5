import Boom from '@hapi/boom';
import Joi from 'joi';
import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { operatorAuth, operatorOf, SCOPE } from './auth';

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
        validate: { params: Joi.object({ id: Joi.string().guid({ version: 'uuidv5' }).required() }), query: Joi.object({ include: Joi.string().valid('personal') }) },
      },
      handler: async (request) => {
        const id = (request.params as { id: string }).id;
        const personal = (request.query as { include?: string }).include === 'personal';
        const actor = operatorOf(request.auth.credentials);
        if (personal) {
          const scopes = (request.auth.credentials as { scope?: unknown }).scope;
          if (!Array.isArray(scopes) || !scopes.includes(SCOPE.admin)) throw Boom.forbidden('personal data in a referral needs the admin scope');
          try {
            await ctx.audit.recordOrThrow({ actor, action: 'admin.read', referralId: id, outcome: 'personal', target: '/v1/referrals/{id}' });
          } catch (err) {
            ctx.logger.error({ alert: true, err: (err as Error)?.message, referralId: id }, 'audit write failed; personal data withheld');
            throw Boom.serverUnavailable('personal data cannot be shown: the audit trail could not be written');
          }
        } else {
          await ctx.audit.record({ actor, action: 'admin.read', referralId: id, target: '/v1/referrals/{id}' });
        }
        const meta = await ctx.referrals.get(id);
        if (!meta) throw Boom.notFound('no referral with that id');
        const timeline = await ctx.referrals.timeline(id);
        const partnerText = personal ? await ctx.referrals.loadPartnerText(id) : undefined;
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
          lastError: meta.lastError || undefined,
          createdAt: meta.createdAt,
          updatedAt: meta.updatedAt,
          timeline: timeline.map((e) => ({ at: e.at, status: e.status, from: e.from, source: e.source, detail: e.detail })),
          ...(partnerText !== undefined ? { partnerText } : {}),
        };
      },
    });
  },
};
