import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { loadConfig } from '../../src/config';
import { generateDataKeySpec } from '../../src/store/crypto';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { generateFeedRecords } from '../../simulators/feed-generator';
import { startFhirServer, type FhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { capturedLogger, dropKeys, REDIS_URL, waitFor } from '../helpers/bridge';

/**
 * Three bridge processes (`iasu-bridge start`) on one Redis: the feed is polled once per tick,
 * not three times; delivery work is shared; one is stopped with SIGTERM mid-run and exits
 * cleanly, its work finished or handed over; nothing is lost or duplicated at the partners.
 */
const ROOT = join(__dirname, '..', '..');

interface Bridge {
  child: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

describe('three bridge processes on one Redis', () => {
  let police: PoliceSimulator;
  let fhir: FhirServer;
  let charity: CharitySimulator;
  let view: BridgeContext;
  let bridges: Bridge[];
  const generated = generateFeedRecords({ records: 30, seed: 1234, prefix: 'SCALE' });
  const env: Record<string, string> = {};

  beforeAll(async () => {
    police = await startPoliceFeedSimulator({ records: generated.map((g) => g.xml), token: 'feed' });
    fhir = await startFhirServer({ advanceEveryMs: 300 });
    charity = await startCharitySimulator({ apiKey: 'charity', advanceEveryMs: 300 });
    Object.assign(env, {
      REDIS_URL,
      REDIS_PREFIX: `{iasu-scale-${process.pid}}`,
      DATA_KEYS: generateDataKeySpec('scale'),
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      POLICE_FEED_URL: police.url,
      POLICE_FEED_TOKEN: 'feed',
      POLICE_PAGE_LIMIT: '5',
      POLICE_POLL_CRON: '* * * * * *',
      STATUS_POLL_CRON: '* * * * * *',
      RECONCILE_CRON: '* * * * * *',
      NHS_FHIR_BASE_URL: fhir.url,
      CHARITY_API_URL: charity.url,
      CHARITY_API_KEY: 'charity',
      DELIVERY_BACKOFF_MS: '100',
      WORKER_CONCURRENCY: '2',
    });
    view = createContext(loadConfig(env), capturedLogger().logger);
    bridges = [0, 1, 2].map(() => startProcess(env));
    await Promise.all(
      bridges.map((b) => waitFor(async () => b.lines.some((l) => l.includes('HTTP API listening')), 'a bridge process to start', 30_000)),
    );
  }, 60_000);

  afterAll(async () => {
    for (const b of bridges) if (b.child.exitCode === null) b.child.kill('SIGTERM');
    await Promise.all(bridges.map((b) => b.exit));
    await dropKeys(view.config);
    await view.close();
    await Promise.all([police.stop(), fhir.stop(), charity.stop()]);
  });

  test('share the work, survive a SIGTERM, poll once per tick, and lose or duplicate nothing', async () => {
    const latest = new Map(generated.map((g) => [g.crimeReference, g]));
    const expected = [...latest.values()].flatMap((g) => g.expectedReferrals);
    // Stop one process once deliveries are under way: it must finish or hand back what it holds.
    await waitFor(async () => bridges.some((b) => b.lines.some((l) => l.includes('"referral delivered"'))), 'first deliveries', 30_000);
    bridges[2]!.child.kill('SIGTERM');
    expect(await bridges[2]!.exit).toBe(0);
    expect(bridges[2]!.lines.some((l) => l.includes('stopping: no new work taken'))).toBe(true);

    const settled = new Set(['HELD', 'COMPLETED', 'REJECTED', 'CANCELLED']);
    await waitFor(
      async () => {
        const s = await view.referrals.statuses();
        return expected.every((r) => settled.has(s.get(r.referralId) ?? '')) && (await view.referrals.outboxSize()) === 0;
      },
      'every referral settled and written back',
      60_000,
    ).catch(async (err) => {
      const s = await view.referrals.statuses();
      const open = expected
        .filter((r) => !settled.has(s.get(r.referralId) ?? ''))
        .map((r) => `${r.type}:${r.decision}:${s.get(r.referralId) ?? 'missing'}`);
      throw new Error(
        `${(err as Error).message}: unsettled ${JSON.stringify(open)}, outbox ${await view.referrals.outboxSize()}, locks ${JSON.stringify(await view.redis.keys(`${view.config.redis.prefix}:lock:*`))}`,
      );
    });

    // Work was shared: deliveries by more than one process.
    const delivering = bridges.filter((b) => b.lines.some((l) => l.includes('"referral delivered"')));
    expect(delivering.length).toBeGreaterThanOrEqual(2);

    // Nothing duplicated at the partners.
    let nhsSent = 0;
    let charitySent = 0;
    for (const id of await view.referrals.allIds()) {
      const meta = await view.referrals.get(id);
      if (meta?.partnerRef && meta.partner === 'NHS') nhsSent++;
      else if (meta?.partnerRef) charitySent++;
    }
    const counts = await fhir.counts();
    expect(counts.ServiceRequest).toBe(nhsSent);
    expect(counts.Task).toBe(nhsSent);
    expect(charity.stats().created).toBe(charitySent);
    expect(police.stats().distinctOutcomeKeys).toBeGreaterThan(0);

    // Idle now: two live processes poll the feed once per second between them, not twice.
    const before = police.stats().pagesServed;
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 4000));
    const seconds = (Date.now() - started) / 1000;
    expect(police.stats().pagesServed - before).toBeLessThanOrEqual(Math.ceil(seconds) + 1);

    // One reconciliation per minute tick across all processes.
    const runs = bridges.flatMap((b) => b.lines.filter((l) => l.includes('"reconciliation done"'))).length;
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(3);
  }, 120_000);
});

function startProcess(env: Record<string, string>): Bridge {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'start'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exit };
}
