import IORedis from 'ioredis';
import { OutboxAcks } from '../../src/store/outbox-acks';
import { REDIS_URL } from '../helpers/bridge';

/** Write-back acks on real Redis: those of one turn go as one ZREM; each caller waits for its own entry to go. */
describe('OutboxAcks', () => {
  const key = `{iasu-test-acks-${process.pid}-${Date.now()}}:outbox`;
  let redis: IORedis;
  beforeAll(() => {
    redis = new IORedis(REDIS_URL);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await redis.del(key);
  });
  afterAll(() => redis.disconnect());

  test('acks made together are one ZREM, and every entry is gone when each caller resolves', async () => {
    await redis.zadd(key, 1, 'a|1', 2, 'b|1', 3, 'c|2', 4, 'other|1');
    const zrem = jest.spyOn(redis, 'zrem');
    const acks = new OutboxAcks(redis, key);
    await Promise.all(['a|1', 'b|1', 'c|2'].map((m) => acks.ack(m)));
    expect(zrem).toHaveBeenCalledTimes(1);
    expect(zrem).toHaveBeenCalledWith(key, 'a|1', 'b|1', 'c|2');
    expect(await redis.zrange(key, 0, -1)).toEqual(['other|1']);
    // A later ack is a batch of its own.
    await acks.ack('other|1');
    expect(zrem).toHaveBeenCalledTimes(2);
    expect(await redis.exists(key)).toBe(0);
  });

  test('one awaited alone resolves only after its entry is removed', async () => {
    await redis.zadd(key, 1, 'a|1');
    await new OutboxAcks(redis, key).ack('a|1');
    expect(await redis.zscore(key, 'a|1')).toBeNull();
  });

  test('a batch that fails rejects each of its callers, and the next batch goes on', async () => {
    await redis.set(key, 'not a sorted set');
    const acks = new OutboxAcks(redis, key);
    const results = await Promise.allSettled([acks.ack('a|1'), acks.ack('b|1')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    await redis.del(key);
    await redis.zadd(key, 1, 'c|1');
    await acks.ack('c|1');
    expect(await redis.exists(key)).toBe(0);
  });
});
