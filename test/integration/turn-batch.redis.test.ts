import IORedis from 'ioredis';
import { Counters } from '../../src/store/counters';
import { Keys } from '../../src/store/keys';
import { TurnBatch } from '../../src/store/turn-batch';
import { REDIS_URL } from '../helpers/bridge';

/** Writes of one turn sent as one, on real Redis: each caller still waits for its own write. */
describe('TurnBatch', () => {
  const prefix = `{iasu-test-batch-${process.pid}-${Date.now()}}`;
  const key = `${prefix}:outbox`;
  let redis: IORedis;
  beforeAll(() => {
    redis = new IORedis(REDIS_URL);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  });
  afterAll(() => redis.disconnect());

  const removals = () => new TurnBatch<string>((members) => redis.zrem(key, ...members));

  test('outbox acks made together are one ZREM, and every entry is gone when each caller resolves', async () => {
    await redis.zadd(key, 1, 'a|1', 2, 'b|1', 3, 'c|2', 4, 'other|1');
    const zrem = jest.spyOn(redis, 'zrem');
    const acks = removals();
    await Promise.all(['a|1', 'b|1', 'c|2'].map((m) => acks.add(m)));
    expect(zrem).toHaveBeenCalledTimes(1);
    expect(zrem).toHaveBeenCalledWith(key, 'a|1', 'b|1', 'c|2');
    expect(await redis.zrange(key, 0, -1)).toEqual(['other|1']);
    // A later one is a batch of its own.
    await acks.add('other|1');
    expect(zrem).toHaveBeenCalledTimes(2);
    expect(await redis.exists(key)).toBe(0);
  });

  test('one awaited alone resolves only after its write is done', async () => {
    await redis.zadd(key, 1, 'a|1');
    await removals().add('a|1');
    expect(await redis.zscore(key, 'a|1')).toBeNull();
  });

  test('a batch that fails rejects each of its callers, and the next batch goes on', async () => {
    await redis.set(key, 'not a sorted set');
    const acks = removals();
    const results = await Promise.allSettled([acks.add('a|1'), acks.add('b|1')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    await redis.del(key);
    await redis.zadd(key, 1, 'c|1');
    await acks.add('c|1');
    expect(await redis.exists(key)).toBe(0);
  });

  test("counters added in one turn are one HINCRBY per counter, with each counter's sum", async () => {
    const counters = new Counters(redis, new Keys(prefix));
    const hincrby = jest.spyOn(redis, 'hincrby');
    await Promise.all([
      counters.add('recordsQueued'),
      counters.add('recordsQueued'),
      counters.add('recordsRead', 5),
      counters.add('recordsQueued'),
      counters.add('recordsStale', 0),
    ]);
    expect(hincrby).toHaveBeenCalledTimes(2);
    expect(await counters.all()).toMatchObject({ recordsQueued: 3, recordsRead: 5, recordsStale: 0 });
  });
});
