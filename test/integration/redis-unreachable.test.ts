import { createContext } from '../../src/app';
import { main } from '../../src/cli/index';
import { startIntakeWorker } from '../../src/pipeline/intake';
import { generateDataKeySpec } from '../../src/store/crypto';
import { capturedLogger, testConfig } from '../helpers/bridge';

/** Issue #19: with Redis away, a few JSON lines an operator can act on, not a flood of stack traces. */
const CLOSED = 'redis://:redis-secret-pw@127.0.0.1:1';

describe('Redis unreachable', () => {
  afterEach(() => jest.restoreAllMocks());

  it('logs one line per connection kind every few seconds, naming host:port, without stack or password', async () => {
    const printed: string[] = [];
    jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
    jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
    const { logger, text } = capturedLogger();
    const ctx = createContext(testConfig({ REDIS_URL: CLOSED }), logger);
    const worker = startIntakeWorker(ctx);
    await new Promise((r) => setTimeout(r, 6500));
    const lines = text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const unreachable = lines.filter((l) => l.msg === 'cannot reach Redis at 127.0.0.1:1, retrying');
    const kinds = new Set(unreachable.map((l) => l.connection));
    expect(kinds).toEqual(new Set(['bridge', 'queues', 'workers']));
    // 6.5 s at one line per kind per 5 s: at most two each.
    for (const kind of kinds) expect(unreachable.filter((l) => l.connection === kind).length).toBeLessThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(8);
    expect(text()).not.toContain('redis-secret-pw');
    expect(text()).not.toMatch(/\n\s+at /);
    expect(printed).toEqual([]);
    ctx.redis.disconnect();
    ctx.queueRedis.disconnect();
    await Promise.all([worker.close(true), ...ctx.queues.all().map((q) => q.close()), ctx.feedParser.close()]);
  }, 20_000);

  describe('CLI commands that need Redis', () => {
    const saved = { ...process.env };
    let err: string;
    beforeEach(() => {
      Object.assign(process.env, { REDIS_URL: CLOSED, DATA_KEYS: generateDataKeySpec('cli'), REDIS_PREFIX: '{iasu-unreachable}' });
      err = '';
      jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
      jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    });
    afterEach(() => {
      process.env = { ...saved };
    });

    it.each([[['reconcile']], [['dlq', 'list']]])(
      '%j gives up within seconds with one line',
      async (argv) => {
        const started = Date.now();
        await expect(main(argv)).rejects.toThrow('cannot reach Redis at 127.0.0.1:1 within 5 s');
        expect(Date.now() - started).toBeLessThan(8000);
        expect(err).toBe('');
      },
      15_000,
    );
  });
});
