import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from '@hapi/hapi';
import IORedis from 'ioredis';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, testConfig } from '../helpers/bridge';

/**
 * Readiness means Redis takes writes, not only that it answers PING. On a Redis server of the
 * test's own (the shared one's maxmemory is never touched), filled to maxmemory with noeviction.
 */
const REDIS_ARGS = ['--save', '', '--appendonly', 'no', '--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'];

describe('GET /health/ready when Redis refuses writes', () => {
  let redisServer: ChildProcess;
  let port: number;
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    ({ child: redisServer, port } = await startRedisServer(REDIS_ARGS));
    ctx = createContext(testConfig({ REDIS_URL: `redis://127.0.0.1:${port}` }), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
    await ctx?.close();
    if (redisServer && redisServer.exitCode === null) {
      const exited = new Promise((r) => redisServer.once('exit', r));
      redisServer.kill('SIGKILL');
      await exited;
    }
  });

  test('ready is 503 with the reason while Redis is out of memory, live stays 200; ready again once it has room', async () => {
    expect((await server.inject('/health/ready')).statusCode).toBe(200);

    const filler = new IORedis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      // Large values first, then smaller ones, until even a tiny SET is refused: a big command's
      // own query buffer can be what tips Redis over, and is freed when it is refused.
      let oom = false;
      let i = 0;
      for (const size of [100_000, 10_000, 1_000, 100, 1]) {
        oom = false;
        for (let n = 0; n < 500 && !oom; n++) {
          await filler.set(`fill:${i++}`, 'x'.repeat(size)).catch((err: Error) => {
            if (!/^OOM/.test(err.message)) throw err;
            oom = true;
          });
        }
      }
      expect(oom).toBe(true);
      // Redis still answers: what the old PING check saw.
      expect(await ctx.redis.ping()).toBe('PONG');

      const ready = await server.inject('/health/ready');
      expect(ready.statusCode).toBe(503);
      expect(JSON.parse(ready.payload)).toEqual({
        status: 'not-ready',
        checks: { redis: 'refusing-writes' },
        reason: expect.stringMatching(/^Redis refuses writes: OOM command not allowed when used memory > 'maxmemory'/),
      });
      const live = await server.inject('/health/live');
      expect(live.statusCode).toBe(200);

      await filler.flushdb(); // the test's own server
      expect((await server.inject('/health/ready')).statusCode).toBe(200);
    } finally {
      filler.disconnect();
    }
  });

  test('ready is 503 unreachable once Redis is gone; live stays 200', async () => {
    redisServer.kill('SIGKILL');
    await new Promise((r) => redisServer.once('exit', r));
    const ready = await server.inject('/health/ready');
    expect(ready.statusCode).toBe(503);
    expect(JSON.parse(ready.payload)).toMatchObject({ status: 'not-ready', checks: { redis: 'unreachable' } });
    expect((await server.inject('/health/live')).statusCode).toBe(200);
    // Back on the same port, so the bridge's connections reconnect and close cleanly.
    ({ child: redisServer } = await startRedisServer(REDIS_ARGS, port));
  });
});

/** A redis-server of the test's own on `fixedPort`, or a free port in 6400-6499 (tries a few). */
async function startRedisServer(args: string[], fixedPort?: number): Promise<{ child: ChildProcess; port: number }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = fixedPort ?? 6400 + Math.floor(Math.random() * 100);
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      child.once('exit', () => (clearTimeout(timer), resolve(false)));
      child.stdout!.on('data', () => {
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    if (started) return { child, port };
    child.kill('SIGKILL');
  }
  throw new Error('could not start a redis-server on a free port in 6400-6499');
}
