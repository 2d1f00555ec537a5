import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

/** A full log destination (stdout on /dev/full: every write ENOSPC) must not stop the process. */
describe('log destination that refuses writes', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  test('the process keeps answering, counts the dropped lines, says so on stderr and stops promptly on SIGTERM', async () => {
    const full = openSync('/dev/full', 'w');
    const proc = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, '../fixtures/log-flood.ts')], {
      cwd: join(__dirname, '../..'),
      stdio: ['ignore', full, 'pipe'],
    });
    child = proc;
    closeSync(full);
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

    const port = await within(15_000, 'the child to listen', async () => /port (\d+)/.exec(stderr)?.[1]);
    // A hung event loop answers nothing: each probe has its own short timeout.
    let last: { status: string; dropped: number } | undefined;
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      last = JSON.parse(await get(Number(port), 2000)) as { status: string; dropped: number };
      expect(last.status).toBe('ok');
    }
    expect(last!.dropped).toBeGreaterThan(0);
    expect(stderr).toContain('log lines are being dropped (ENOSPC)');

    proc.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000).unref())]);
    expect(code).toBe(0);
  }, 30_000);
});

function get(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health/live', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function within<T>(ms: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
