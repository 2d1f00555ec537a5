import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';

/**
 * `map --json` through a real pipe whose reader is slow: stdout to a pipe is asynchronous, so a
 * process.exit before it drains cut the output at the pipe buffer (64 KiB) and still exited 0.
 */
describe('iasu-bridge map --json into a pipe', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iasu-map-pipe-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes all of a report far over 64 KiB, parseable, and exits 0', async () => {
    const feed = join(dir, 'feed.xml');
    writeFileSync(feed, feedDocument(generateFeedRecords({ records: 120, seed: 11 }).map((r) => r.xml)));
    const proc = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, '../../src/cli/index.ts'), 'map', feed, '--json'], {
      cwd: join(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    const chunks: Buffer[] = [];
    // Let the pipe fill before reading, as a slow consumer (less, a network copy) would.
    proc.stdout.pause();
    setTimeout(() => proc.stdout.resume(), 1500);
    proc.stdout.on('data', (c: Buffer) => chunks.push(c));
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    const out = Buffer.concat(chunks).toString('utf8');
    expect([code, stderr]).toEqual([0, '']);
    expect(out.length).toBeGreaterThan(256 * 1024);
    const report = JSON.parse(out) as { referrals: unknown[] };
    expect(report.referrals.length).toBeGreaterThan(50);
  }, 60000);
});
