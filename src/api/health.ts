import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';

/** Liveness (the process answers) and readiness (Redis answers within a second). */
export const healthPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-health',
  register(server, { ctx }) {
    server.route({ method: 'GET', path: '/health/live', options: { auth: false }, handler: () => ({ status: 'ok' }) });
    server.route({
      method: 'GET',
      path: '/health/ready',
      options: { auth: false },
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
