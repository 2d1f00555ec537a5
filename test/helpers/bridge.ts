import { Writable } from 'node:stream';
import IORedis from 'ioredis';
import pino from 'pino';
import { issueOperatorToken, type Scope } from '../../src/api/auth';
import { loadConfig, type BridgeConfig } from '../../src/config';
import { createLogger, type Logger } from '../../src/logger';
import { generateDataKeySpec } from '../../src/store/crypto';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_JWT_SECRET = 'test-operator-jwt-secret-0123456789abcdef';

/** `Authorization` header for an operator with these scopes (signed with the test config's secret). */
export function operatorHeader(config: BridgeConfig, scopes: Scope[], sub = 'tester'): { authorization: string } {
  return { authorization: `Bearer ${issueOperatorToken(config, sub, scopes)}` };
}

/** A config on the real test Redis under a prefix of its own, so suites never see each other's keys. */
export function testConfig(overrides: Record<string, string> = {}): BridgeConfig {
  const prefix = `{iasu-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}}`;
  return loadConfig({
    REDIS_URL,
    REDIS_PREFIX: prefix,
    HTTP_PORT: '0',
    DATA_KEYS: generateDataKeySpec('test'),
    LOG_LEVEL: 'info',
    DELIVERY_BACKOFF_MS: '50',
    DELIVERY_ATTEMPTS: '4',
    POLICE_PUSH_TOKEN: 'push-token',
    API_JWT_SECRET: TEST_JWT_SECRET,
    NHS_BARS_USE_CASE: 'a4t3',
    // Every suite starts on an empty prefix of its own: no "lost state" alarm.
    IASU_FIRST_START: '1',
    ...overrides,
  });
}

/** Deletes every key under the config's prefix. */
export async function dropKeys(config: BridgeConfig): Promise<void> {
  const redis = new IORedis(REDIS_URL);
  try {
    const stream = redis.scanStream({ match: `${config.redis.prefix}:*`, count: 500 });
    for await (const keys of stream as AsyncIterable<string[]>) if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/** Test teardown for a bridge with workers: the workers stop first, then its keys go, then its connections. */
export async function stopBridge(
  ctx: { config: BridgeConfig; close(): Promise<void> },
  workers: { close(): Promise<void> }[],
): Promise<void> {
  await Promise.all(workers.map((w) => w.close()));
  await dropKeys(ctx.config);
  await ctx.close();
}

/** A logger whose JSON lines are kept in memory, for tests that look for planted personal data. */
export function capturedLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger('debug', sink as unknown as pino.DestinationStream), text: () => chunks.join('') };
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
