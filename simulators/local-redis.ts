import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import IORedis from 'ioredis';

/**
 * Finds Redis for the demo: the one at REDIS_URL if it answers, else a private `redis-server`
 * on a free port (no persistence), stopped again with the demo.
 */
export interface LocalRedis {
  url: string;
  started: boolean;
  stop(): Promise<void>;
}

export async function findOrStartRedis(url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'): Promise<LocalRedis> {
  if (await answers(url)) return { url, started: false, stop: async () => undefined };
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
      {
        stdio: 'ignore',
      },
    );
  } catch (err) {
    throw new Error(
      `no Redis answers at ${url} and redis-server could not be started (${(err as Error).message}); install Redis or set REDIS_URL`,
    );
  }
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new Error(`no Redis answers at ${url} and redis-server could not be started (${err.message}); install Redis or set REDIS_URL`),
      ),
    ),
  );
  const local = `redis://127.0.0.1:${port}`;
  const ready = (async () => {
    for (let i = 0; i < 50; i++) {
      if (await answers(local)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('redis-server started but did not answer within 5 s');
  })();
  await Promise.race([ready, spawnError]);
  return {
    url: local,
    started: true,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function answers(url: string): Promise<boolean> {
  const client = new IORedis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
