import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { publicRoute } from './auth';

/** Liveness (the process answers) and readiness (Redis answers within a second). */
export const healthPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-health',
  register(server, { ctx }) {
    server.route({ method: 'GET', path: '/health/live', options: { ...publicRoute() }, handler: () => ({ status: 'ok' }) });
    server.route({
      method: 'GET',
      path: '/health/ready',
      options: { ...publicRoute() },
      handler: async (_req, h) => {
        const redis = await Promise.race([
          ctx.redis.ping().then(() => true, () => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref()),
        ]);
        return h.response({ status: redis ? 'ready' : 'not-ready', checks: { redis: redis ? 'ok' : 'unreachable' } }).code(redis ? 200 : 503);
      },
    });
  },
};
