import type { Redis } from 'ioredis';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { Keys } from '../../src/store/keys';
import { RedisLock } from '../../src/store/lock';
import { ReferralStore } from '../../src/store/referral-store';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * What `npm run chaos` found when Redis restarts: ioredis resends a command whose reply was lost,
 * so a command the old Redis had already run runs again. A lock and a status commit must treat
 * their own first run as done. Also the lock's renewal (the feed poll's heartbeat).
 */
describe('RedisLock', () => {
  let ctx: BridgeContext;

  beforeEach(() => {
    ctx = createContext(testConfig(), capturedLogger().logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('a SET NX resent after a reconnect, finding the lock its own first attempt took, still holds it', async () => {
    // ioredis resends a command whose reply was lost when Redis restarted: the first SET went
    // through, the resent one answers null. Played here by a client that does exactly that.
    const keys = new Keys(ctx.config.redis.prefix);
    const replayingRedis = {
      set: async (key: string, value: string, ...args: string[]) => {
        await ctx.redis.set(key, value, 'PX', Number(args[1]), 'NX');
        return null;
      },
      get: (key: string) => ctx.redis.get(key),
    } as unknown as Redis;
    const token = await new RedisLock(replayingRedis, keys).acquire('crime:CC-1', 30_000);
    expect(token).toBeDefined();
    expect(await ctx.redis.get(keys.lock('crime:CC-1'))).toBe(token);
    // Someone else's lock is still refused.
    expect(await new RedisLock(replayingRedis, keys).acquire('crime:CC-1', 30_000)).toBeUndefined();
  });

  test('extend keeps a lock held by its token, and refuses any other token', async () => {
    const token = (await ctx.lock.acquire('police-poll', 200))!;
    expect(await ctx.lock.extend('police-poll', token, 5_000)).toBe(true);
    expect(await ctx.redis.pttl(ctx.keys.lock('police-poll'))).toBeGreaterThan(1_000);
    expect(await ctx.lock.extend('police-poll', 'not-the-token', 60_000)).toBe(false);
    await ctx.lock.release('police-poll', token);
    expect(await ctx.lock.extend('police-poll', token, 5_000)).toBe(false);
  });
});

/** The status commit, on the same point: its reply lost when Redis restarted, ioredis resends it. */
describe('ReferralStore.transition when the commit is resent after a Redis restart', () => {
  let ctx: BridgeContext;

  beforeEach(() => {
    ctx = createContext(testConfig(), capturedLogger().logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('the resent commit reports it applied (the first run did), and commits nothing twice', async () => {
    // A client on which every script runs twice and only the second reply comes back: what the
    // caller sees when the first reply was lost in the restart and ioredis resent the command.
    const resending = new Proxy(ctx.redis, {
      get(target, prop, receiver) {
        if (prop === 'evalsha' || prop === 'eval') {
          const run = (target[prop] as (...a: unknown[]) => Promise<unknown>).bind(target);
          return async (...args: unknown[]) => {
            await run(...args);
            return run(...args);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const store = new ReferralStore(resending as Redis, new Keys(ctx.config.redis.prefix), ctx.cipher, 3600);
    const create = { referralId: 'r-1', type: 'ADVOCACY' as const, crimeReference: 'CC-1', recordVersion: 1, correlationId: 'c' };
    expect(await store.transition('r-1', { to: 'QUEUED', source: 'police', create })).toMatchObject({ applied: true, seq: 1 });
    expect(await store.transition('r-1', { to: 'SENT', source: 'CHARITY' })).toMatchObject({ applied: true, seq: 2, from: 'QUEUED' });
    expect((await ctx.referrals.timeline('r-1')).map((e) => e.status)).toEqual(['QUEUED', 'SENT']);
    expect(await ctx.referrals.outboxSize()).toBe(2);
    // A commit that is not its own (the status moved on since it was read) is still refused.
    expect(await store.transition('r-1', { to: 'SENT', source: 'CHARITY' })).toMatchObject({ applied: false });

    // The audit events committed with a change are not written twice either.
    const id = '00000000-0000-5000-8000-0000000000aa';
    const audited = new ReferralStore(resending as Redis, new Keys(ctx.config.redis.prefix), ctx.cipher, 3600, ctx.audit);
    await audited.transition(id, { to: 'QUEUED', source: 'police', create: { ...create, referralId: id }, audit: { actor: 'system' } });
    await audited.transition(id, {
      to: 'SENT',
      source: 'CHARITY',
      audit: { actor: 'system', also: [{ actor: 'system', action: 'referral.sent', partner: 'CHARITY' }] },
    });
    expect((await ctx.audit.query({ referralId: id })).map((e) => `${e.action} ${e.status ?? ''}`)).toEqual([
      'referral.status_changed QUEUED',
      'referral.status_changed SENT',
      'referral.sent ',
    ]);
  });
});
