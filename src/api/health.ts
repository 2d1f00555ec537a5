import type { Plugin } from '@hapi/hapi';
import type { BridgeContext } from '../context';
import { publicRoute } from './auth';

const PROBE_TIMEOUT_MS = 1000;
/** Long enough to outlive a probe interval's worth of probes, short enough to leave nothing behind. */
const PROBE_TTL_MS = 30_000;
const REASON_MAX = 200;

type RedisCheck = { ok: true } | { ok: false; check: 'unreachable' | 'refusing-writes'; reason: string };

/**
 * Liveness (the process answers) and readiness (Redis takes a write within a second). A Redis
 * that answers PING but refuses writes (OOM at maxmemory with noeviction, a read-only replica,
 * MISCONF after a failed save) cannot take a single referral, so the bridge is not ready.
 */
export const healthPlugin: Plugin<{ ctx: BridgeContext }> = {
  name: 'iasu-health',
  register(server, { ctx }) {
    server.route({ method: 'GET', path: '/health/live', options: { ...publicRoute() }, handler: () => ({ status: 'ok' }) });
    server.route({
      method: 'GET',
      path: '/health/ready',
      options: { ...publicRoute() },
      handler: async (_req, h) => {
        const redis = await redisWritable(ctx);
        if (redis.ok) return h.response({ status: 'ready', checks: { redis: 'ok' } }).code(200);
        return h.response({ status: 'not-ready', checks: { redis: redis.check }, reason: redis.reason }).code(503);
      },
    });
  },
};

/** One small SET with expiry under the bridge's prefix: proves Redis answers and accepts writes. */
async function redisWritable(ctx: Pick<BridgeContext, 'redis' | 'keys'>): Promise<RedisCheck> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<RedisCheck>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, check: 'unreachable', reason: `Redis did not answer within ${PROBE_TIMEOUT_MS} ms` }),
      PROBE_TIMEOUT_MS,
    );
    timer.unref();
  });
  const probe = ctx.redis.set(ctx.keys.readyProbe(), String(Date.now()), 'PX', PROBE_TTL_MS).then(
    (): RedisCheck => ({ ok: true }),
    (err: unknown): RedisCheck => {
      const message = String((err as Error).message ?? err)
        .split('\n')[0]!
        .slice(0, REASON_MAX);
      // An error reply is Redis answering "no"; anything else is not reaching it.
      return (err as Error).name === 'ReplyError'
        ? { ok: false, check: 'refusing-writes', reason: `Redis refuses writes: ${message}` }
        : { ok: false, check: 'unreachable', reason: `Redis unreachable: ${message}` };
    },
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
