import type { Plugin } from '@hapi/hapi';
import Joi from 'joi';
import type { BridgeContext } from '../context';
import type { AuditFilter } from '../store/audit-log';
import { operatorAuth, operatorOf, SCOPE } from './auth';

/**
 * What operators watch and prove: `GET /metrics` (Prometheus text, scope metrics:read) and the
 * audit trail, `GET /v1/audit` (JSON) and `GET /v1/audit/export` (JSON lines), administrators
 * only, each read itself audited.
 */
const auditQuery = Joi.object({
  referralId: Joi.string().guid(),
  from: Joi.date().iso(),
  to: Joi.date().iso(),
  limit: Joi.number().integer().min(1).max(10_000),
});

export const operationsPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-operations',
  register(server, { ctx }) {
    server.route({
      method: 'GET',
      path: '/metrics',
      options: { auth: operatorAuth(SCOPE.metricsRead) },
      handler: async (_request, h) => {
        const { contentType, body } = await ctx.metrics.render();
        return h.response(body).type(contentType);
      },
    });

    const filterOf = (query: Record<string, unknown>): AuditFilter => ({
      ...(query.referralId ? { referralId: query.referralId as string } : {}),
      ...(query.from ? { from: query.from as Date } : {}),
      ...(query.to ? { to: query.to as Date } : {}),
      ...(query.limit ? { limit: query.limit as number } : {}),
    });

    server.route({
      method: 'GET',
      path: '/v1/audit',
      options: { auth: operatorAuth(), validate: { query: auditQuery } },
      handler: async (request) => {
        await ctx.audit.record({
          actor: operatorOf(request.auth.credentials),
          action: 'admin.read',
          target: '/v1/audit',
          ...refOf(request.query),
        });
        return { events: await ctx.audit.query(filterOf(request.query)) };
      },
    });

    server.route({
      method: 'GET',
      path: '/v1/audit/export',
      options: { auth: operatorAuth(), validate: { query: auditQuery } },
      handler: async (request, h) => {
        await ctx.audit.record({
          actor: operatorOf(request.auth.credentials),
          action: 'admin.read',
          target: '/v1/audit/export',
          ...refOf(request.query),
        });
        const lines: string[] = [];
        await ctx.audit.exportJsonLines(filterOf(request.query), (line) => {
          lines.push(line);
        });
        return h.response(lines.join('')).type('application/x-ndjson');
      },
    });
  },
};

function refOf(query: Record<string, unknown>): { referralId?: string } {
  return typeof query.referralId === 'string' ? { referralId: query.referralId } : {};
}
