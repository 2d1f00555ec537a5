import Boom from '@hapi/boom';
import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { lastReport, reconcile } from '../reconcile/reconciler';
import { operatorAuth, operatorOf, SCOPE } from './auth';

/**
 * `GET /v1/reconciliation`: the last report any process stored (scheduled or on demand).
 * `POST /v1/reconciliation`: run one now and answer its report (409 while another runs).
 * Ids, crime references, statuses and times only.
 */
export const reconciliationPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-reconciliation',
  register(server, { ctx }) {
    server.route({
      method: 'GET',
      path: '/v1/reconciliation',
      options: { auth: operatorAuth(SCOPE.referralsRead) },
      handler: async (request) => {
        await ctx.audit.record({ actor: operatorOf(request.auth.credentials), action: 'admin.read', target: '/v1/reconciliation' });
        const report = await lastReport(ctx);
        if (!report) throw Boom.notFound('no reconciliation has run yet; POST /v1/reconciliation runs one');
        return report;
      },
    });
    server.route({
      method: 'POST',
      path: '/v1/reconciliation',
      // It acts (applies statuses, resends): administrators only.
      options: { auth: operatorAuth(), payload: { parse: false, maxBytes: 1024 } },
      handler: async () => {
        const report = await reconcile(ctx);
        if (!report) throw Boom.conflict('a reconciliation is already running');
        return report;
      },
    });
  },
};
