import Boom from '@hapi/boom';
import type { Lifecycle, Plugin } from '@hapi/hapi';
import Joi from 'joi';
import type { BridgeContext } from '../context';
import { STATUS_ORDER } from '../domain/lifecycle';
import {
  crimeStory,
  InvalidCursor,
  listReferrals,
  MAX_PAGE,
  releaseQuarantined,
  serviceLevelView,
  type ReferralFilter,
} from '../operations/worklists';
import { lastReport } from '../reconcile/reconciler';
import { operatorAuth, operatorOf, SCOPE } from './auth';
import { auditOrWithhold, includePersonalQuery, wantsPersonalData } from './personal-data';

/**
 * The operators' worklists as JSON (the console and `iasu-bridge` show the same): referrals by
 * crime, status, partner and time; a crime's story; the quarantine; service levels. Metadata
 * only; a quarantined record's raw content is for administrators, audited before it is shown.
 */
export const CRIME_REFERENCE = Joi.string()
  .max(64)
  .pattern(/^[A-Za-z0-9/_.-]+$/);

/** Why an operator discards a quarantined record: codes, so no free text reaches the audit trail. */
export const QUARANTINE_DISCARD_REASONS = ['fixed-at-source', 'duplicate', 'test-data', 'out-of-scope'] as const;

/** A query error names the field and the rule (hapi's default says only "invalid query"). */
export const namingFailAction: Lifecycle.Method = (_request, _h, err) => {
  throw Boom.badRequest(err?.message ?? 'invalid request');
};

export const referralQuery = Joi.object({
  crimeReference: CRIME_REFERENCE,
  status: Joi.string().valid(...STATUS_ORDER),
  partner: Joi.string().valid('NHS', 'CHARITY'),
  updatedSince: Joi.string().isoDate(),
  limit: Joi.number().integer().min(1).max(MAX_PAGE).default(50),
  cursor: Joi.string().max(400),
});

export const worklistsPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-worklists',
  register(server, { ctx }) {
    server.route({
      method: 'GET',
      path: '/v1/referrals',
      options: { auth: operatorAuth(SCOPE.referralsRead), validate: { query: referralQuery, failAction: namingFailAction } },
      handler: async (request) => {
        const { limit, cursor, ...filter } = request.query as unknown as ReferralFilter & { limit: number; cursor?: string };
        await ctx.audit.record({ actor: operatorOf(request.auth.credentials), action: 'admin.read', target: '/v1/referrals' });
        try {
          return await listReferrals(ctx, filter, { limit, ...(cursor ? { cursor } : {}) });
        } catch (err) {
          if (err instanceof InvalidCursor) throw Boom.badRequest(`"cursor" ${err.message}`);
          throw err;
        }
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/crimes/{crimeReference}',
      options: {
        auth: operatorAuth(SCOPE.referralsRead),
        validate: { params: Joi.object({ crimeReference: CRIME_REFERENCE.required() }), failAction: namingFailAction },
      },
      handler: async (request) => {
        const { crimeReference } = request.params as { crimeReference: string };
        await ctx.audit.record({
          actor: operatorOf(request.auth.credentials),
          action: 'admin.read',
          crimeReference,
          target: '/v1/crimes/{crimeReference}',
        });
        const story = await crimeStory(ctx, crimeReference);
        if (!story) throw Boom.notFound('the bridge holds nothing for that crime reference');
        return story;
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/quarantine',
      options: {
        auth: operatorAuth(SCOPE.referralsRead),
        validate: { query: Joi.object({ limit: Joi.number().integer().min(1).max(MAX_PAGE).default(100) }), failAction: namingFailAction },
      },
      handler: async (request) => {
        await ctx.audit.record({ actor: operatorOf(request.auth.credentials), action: 'admin.read', target: '/v1/quarantine' });
        const { limit } = request.query as { limit: number };
        return { items: await ctx.quarantine.list(limit), total: await ctx.quarantine.count() };
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/quarantine/{id}',
      options: {
        auth: operatorAuth(SCOPE.referralsRead),
        validate: {
          params: Joi.object({ id: Joi.string().hex().length(32).required() }),
          query: includePersonalQuery,
          failAction: namingFailAction,
        },
      },
      handler: async (request) => {
        const { id } = request.params as { id: string };
        const actor = operatorOf(request.auth.credentials);
        const personal = wantsPersonalData(request, 'a quarantined record');
        const entry = await ctx.quarantine.get(id);
        if (!entry) throw Boom.notFound('no quarantine entry with that id');
        if (!personal) {
          await ctx.audit.record({ actor, action: 'admin.read', target: `quarantine:${id}` });
          return entry;
        }
        await auditOrWithhold(
          ctx.logger,
          () => ctx.audit.recordOrThrow({ actor, action: 'admin.read', outcome: 'personal', target: `quarantine:${id}` }),
          {},
        );
        return { ...entry, record: await ctx.quarantine.raw(id) };
      },
    });

    server.route({
      method: 'POST',
      path: '/v1/quarantine/{id}/discard',
      options: {
        auth: operatorAuth(SCOPE.dlqRedrive),
        validate: {
          params: Joi.object({ id: Joi.string().hex().length(32).required() }),
          payload: Joi.object({
            reason: Joi.string()
              .valid(...QUARANTINE_DISCARD_REASONS)
              .required(),
          }),
          failAction: namingFailAction,
        },
      },
      handler: async (request) => {
        const { id } = request.params as { id: string };
        const { reason } = request.payload as { reason: string };
        if (!(await ctx.quarantine.remove(id))) throw Boom.notFound('no quarantine entry with that id');
        await ctx.audit.record({
          actor: operatorOf(request.auth.credentials),
          action: 'quarantine.discarded',
          outcome: reason,
          target: `quarantine:${id}`,
        });
        ctx.logger.info({ quarantineId: id, reason }, 'quarantine entry discarded by an operator');
        return { id, outcome: 'discarded' };
      },
    });

    server.route({
      method: 'POST',
      path: '/v1/quarantine/{id}/release',
      options: {
        auth: operatorAuth(SCOPE.dlqRedrive),
        validate: { params: Joi.object({ id: Joi.string().hex().length(32).required() }), failAction: namingFailAction },
      },
      handler: async (request, h) => {
        const { id } = request.params as { id: string };
        const actor = operatorOf(request.auth.credentials);
        const result = await releaseQuarantined(ctx, id, actor);
        if (result.outcome === 'refused') return h.response(result).code(result.notFound ? 404 : 409);
        await ctx.audit.record({
          actor,
          action: 'quarantine.released',
          outcome: result.queued ? 'queued' : 'quarantined',
          target: `quarantine:${id}`,
        });
        return result;
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/service-levels',
      options: { auth: operatorAuth(SCOPE.referralsRead) },
      handler: async () => serviceLevelView(await lastReport(ctx)),
    });
  },
};
