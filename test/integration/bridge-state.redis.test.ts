import { createContext, startBridge } from '../../src/app';
import { ConfigError } from '../../src/config';
import { checkBridgeState } from '../../src/store/bridge-state';
import { generateDataKeySpec } from '../../src/store/crypto';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/** Issue #19: an emptied Redis is said out loud at start, and DATA_KEYS that cannot open the data refuse the start. */
describe('bridge state at start', () => {
  const lines = (text: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('a first start (IASU_FIRST_START) is quiet; a later start on an emptied Redis is an alert', async () => {
    const config = testConfig();
    const first = capturedLogger();
    const ctx = createContext(config, first.logger);
    try {
      await expect(checkBridgeState(ctx)).resolves.toBe('first-start');
      expect(lines(first.text()).filter((l) => l.level === 'error')).toEqual([]);
      await expect(checkBridgeState(ctx)).resolves.toBe('present');

      await dropKeys(config); // FLUSHALL, as far as this bridge can tell
      const later = capturedLogger();
      const again = createContext({ ...config, redis: { ...config.redis, firstStart: false } }, later.logger);
      try {
        await expect(checkBridgeState(again)).resolves.toBe('lost');
        const alert = lines(later.text()).find((l) => l.level === 'error');
        expect(alert).toMatchObject({ alert: true, msg: expect.stringContaining('Redis holds no bridge state (empty or flushed)') });
        // The marker is written again: the next start is quiet.
        await expect(checkBridgeState(again)).resolves.toBe('present');
      } finally {
        await again.close();
      }
    } finally {
      await dropKeys(config);
      await ctx.close();
    }
  });

  it('state written before the marker existed is not mistaken for a lost Redis', async () => {
    const config = testConfig({ IASU_FIRST_START: '0' });
    const { logger, text } = capturedLogger();
    const ctx = createContext(config, logger);
    try {
      await ctx.cursor.set('cursor-1');
      await expect(checkBridgeState(ctx)).resolves.toBe('earlier-version');
      expect(text()).not.toContain('"level":"error"');
    } finally {
      await dropKeys(config);
      await ctx.close();
    }
  });

  it('startBridge refuses DATA_KEYS that cannot open the data, naming the key id', async () => {
    const config = testConfig({ DATA_KEYS: generateDataKeySpec('k1') });
    const { logger } = capturedLogger();
    const opts = { api: false, workers: false, schedulers: false, logger };
    try {
      const bridge = await startBridge(config, opts);
      await bridge.stop();
      // k1 replaced by k2 instead of rotated ("k2,k1"): the canary sealed under k1 cannot be opened.
      const replaced = { ...config, dataKeys: [{ id: 'k2', key: Buffer.alloc(32, 2) }] };
      await expect(startBridge(replaced, opts)).rejects.toBeInstanceOf(ConfigError);
      await expect(startBridge(replaced, opts)).rejects.toThrow(/^configuration error: DATA_KEYS cannot open data sealed under key id k1 /);
      // Same id, another key (another environment's DATA_KEYS).
      const wrong = { ...config, dataKeys: [{ id: 'k1', key: Buffer.alloc(32, 1) }] };
      await expect(startBridge(wrong, opts)).rejects.toThrow(
        /DATA_KEYS cannot open data sealed under key id k1 .*not the one it was sealed with/,
      );
      // Rotated properly: starts, and the canary moves to the new key, so k1 can go later.
      const rotated = { ...config, dataKeys: [{ id: 'k2', key: Buffer.alloc(32, 2) }, ...config.dataKeys] };
      await (await startBridge(rotated, opts)).stop();
      await (await startBridge(replaced, opts)).stop();
      // Yet a referral's details sealed under k1 still need k1.
      const ctx = createContext(config, logger);
      try {
        await ctx.redis.sadd(ctx.keys.allReferrals(), 'r-1');
        await ctx.redis.set(ctx.keys.data('r-1'), ctx.cipher.sealJsonBytes({ planted: true }, 'r-1'));
      } finally {
        await ctx.close();
      }
      await expect(startBridge(replaced, opts)).rejects.toThrow(
        /^configuration error: DATA_KEYS cannot open data sealed under key id k1 \(referral r-1\): DATA_KEYS does not list/,
      );
    } finally {
      await dropKeys(config);
    }
  });
});
