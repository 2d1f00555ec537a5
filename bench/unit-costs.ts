import { spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import IORedis from 'ioredis';
import { Pool } from 'undici';
import { KeepAliveHttp } from '../src/adapters/keep-alive-http';
import { randomBytes } from 'node:crypto';
import { DataCipher } from '../src/store/crypto';
import { runScript } from '../src/store/scripts';
import { findOrStartRedis } from '../simulators/local-redis';

/**
 * `npm run bench:costs`: what the operations every referral needs cost in CPU on this machine,
 * each alone, warm, 16 at a time (the bench's concurrency): a partner HTTP call, a Redis
 * command and a status-commit-sized script, sealing and opening a payload. With the counts per
 * referral the bench reports (partner calls, status changes), they give the floor under the
 * bridge's CPU per referral that the contracts set, whatever the code around them does.
 */
const ROUNDS = 4;
const PER_ROUND = 4000;
const CONCURRENCY = 16;

async function cpuPerOp(op: () => Promise<unknown> | unknown): Promise<number> {
  const results: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage();
    let started = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (started++ < PER_ROUND) await op();
      }),
    );
    const used = process.cpuUsage(before);
    results.push((used.user + used.system) / PER_ROUND);
  }
  // The first round warms the JIT; the best of the rest is the least disturbed by neighbours.
  return Math.round(Math.min(...results.slice(1)));
}

async function main(): Promise<void> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // The server runs in its own process, as the partners do: only the client's CPU is counted here.
  const server = spawn(
    process.execPath,
    [
      '-e',
      "require('http').createServer((q,s)=>{q.resume();q.on('end',()=>{s.writeHead(201,{'content-type':'application/json','content-length':2});s.end('{}')})}).listen(0,'127.0.0.1',function(){console.log(this.address().port)})",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const redis = await findOrStartRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6391');
  const client = new IORedis(redis.url, { enableAutoPipelining: true });
  const http = new KeepAliveHttp();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
  const body = `<ReferralOutcome xmlns="urn:iasu:police-feed:1">${'<Field>value</Field>'.repeat(14)}</ReferralOutcome>`;
  const headers = {
    'content-type': 'application/xml',
    'idempotency-key': '8c6f0a52-5f7e-5d6b-9a39-0c3a7f1c2b11:SENT:2',
    'x-correlation-id': 'c0ffee',
    authorization: 'Bearer token',
  };
  const cipher = new DataCipher([{ id: 'costs', key: randomBytes(32) }]);
  // About the size of a sealed referral, between the charity payload and an NHS Bundle.
  const payload = {
    items: Array.from({ length: 40 }, (_, i) => ({
      code: `code-${i}`,
      display: `A coded value number ${i}`,
      system: 'https://fhir.example.org/CodeSystem/x',
    })),
  };
  const sealed = cipher.sealJson(payload, 'id');
  const prefix = `{iasu-costs-${Date.now().toString(36)}}`;
  // A script of the status commit's shape: eight keys, a dozen arguments, a handful of writes.
  const commitLike =
    "redis.call('HSET', KEYS[1], 'status', ARGV[1]) redis.call('RPUSH', KEYS[2], ARGV[2]) redis.call('ZADD', KEYS[3], 1, ARGV[3]) redis.call('SADD', KEYS[4], ARGV[3]) return 1";
  let n = 0;
  try {
    const costs = {
      httpCallKeepAliveHttp: await cpuPerOp(() =>
        http.request(`http://127.0.0.1:${port}/referral-outcomes`, { method: 'POST', headers, body, timeoutMs: 5000 }),
      ),
      httpCallRawNodeHttp: await cpuPerOp(
        () =>
          new Promise<void>((resolve, reject) => {
            const req = httpRequest(
              {
                host: '127.0.0.1',
                port,
                path: '/referral-outcomes',
                method: 'POST',
                agent,
                headers: { ...headers, 'content-length': Buffer.byteLength(body) },
              },
              (res) => {
                res.resume();
                res.on('end', resolve);
              },
            );
            req.on('error', reject);
            req.end(body);
          }),
      ),
      // issue #20's candidate replacement for keep-alive-http.ts, measured the same way.
      httpCallUndiciPool: await cpuPerOp(async () => {
        const res = await pool.request({ path: '/referral-outcomes', method: 'POST', headers, body });
        await res.body.dump();
      }),
      redisCommand: await cpuPerOp(() => client.hset(`${prefix}:h:${n++ % 1000}`, 'status', 'QUEUED')),
      redisCommitScript: await cpuPerOp(() =>
        runScript(
          client,
          commitLike,
          8,
          ...Array.from({ length: 8 }, (_, i) => `${prefix}:k${i}:${n++ % 1000}`),
          'SENT',
          JSON.stringify({ seq: 2, at: new Date().toISOString(), status: 'SENT', source: 'NHS' }),
          'r|2',
          'add',
          'x',
          '0',
          'existing',
          '1',
          '2',
          '3',
        ),
      ),
      sealJson: await cpuPerOp(() => cipher.sealJson(payload, 'id')),
      openJson: await cpuPerOp(() => cipher.openJson(sealed, 'id')),
    };
    const result = { machine: { node: process.version }, sealedBytes: sealed.length, cpuMicrosecondsPerOperation: costs };
    say('');
    for (const [k, v] of Object.entries(costs)) say(`${k.padEnd(24)}${v} µs CPU`);
    say(`(sealed payload ${sealed.length} bytes)\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    const keys = await client.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
    client.disconnect();
    http.close();
    agent.destroy();
    await pool.close();
    server.kill();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`costs failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
