import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { demo, parseDemoArgs } from '../../simulators/demo';

/** Issue #19: `npm run demo -- --records abc` is a usage error; `--keep-running` leaves it all up for an operator. */
describe('npm run demo options', () => {
  it.each([['abc'], ['0'], ['1.5'], ['12abc'], ['']])('--records %j is a usage error', (value) => {
    expect(() => parseDemoArgs(['--records', value])).toThrow(/^--records must be a whole number from 1 to 100000/);
  });

  it('reads --records N and --keep-running, and refuses unknown options', () => {
    expect(parseDemoArgs([])).toEqual({ keepRunning: false });
    expect(parseDemoArgs(['--records', '40', '--keep-running'])).toEqual({ records: 40, keepRunning: true });
    expect(() => parseDemoArgs(['--record', '40'])).toThrow(/Unknown option '--record'/);
  });

  it('exits 2 with one clear line for --records abc, starting nothing', () => {
    const root = join(__dirname, '../..');
    const run = spawnSync(join(root, 'node_modules/.bin/tsx'), ['simulators/demo.ts', '--records', 'abc'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'demo: --records must be a whole number from 1 to 100000 (got "abc")\nusage: npm run demo -- [--records N] [--keep-running]\n',
    );
  });

  it('--keep-running leaves the bridge and the simulators up with an admin token until told to stop', async () => {
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk) => (printed += String(chunk)));
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const run = demo({ records: 12, timeoutMs: 60_000, out, keepRunningUntil: stopped });
    const deadline = Date.now() + 80_000;
    while (!/operator token/.test(printed)) {
      if (Date.now() > deadline) throw new Error(`no keep-running banner in:\n${printed}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const api = /bridge API\s+(\S+)/.exec(printed)![1]!;
    const token = /operator token \(admin, 12 h\): (\S+)/.exec(printed)![1]!;
    expect(printed).toContain(`console        ${api}/console`);
    const charity = /charity\s+(http\S+)/.exec(printed)![1]!;
    expect((await fetch(`${api}/v1/reconciliation`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${api}/metrics`)).status).toBe(401);
    // The simulators answer too (any HTTP status: they are up).
    expect((await fetch(charity)).status).toBeGreaterThan(0);
    stop();
    const result = await run;
    expect(result.lost).toBe(0);
    await expect(fetch(`${api}/health/live`)).rejects.toThrow();
  }, 120_000);
});
