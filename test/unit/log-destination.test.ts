import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogDestination, logLinesDropped } from '../../src/log-destination';

/** drain(): what a process awaits before it exits, so its last lines are not cut off mid-write. */
describe('LogDestination.drain', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iasu-logdest-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves once every line written so far is in the file, a write still in flight included', async () => {
    const file = join(dir, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const dest = new LogDestination({ fd, notice: () => undefined });
      for (let i = 0; i < 500; i++) dest.write(`{"i":${i}}\n`);
      dest.write('{"msg":"shutdown failed"}\n');
      await dest.drain(5000);
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(501);
      expect(lines.at(-1)).toBe('{"msg":"shutdown failed"}');
    } finally {
      closeSync(fd);
    }
  });

  it('resolves at once with nothing to write, and promptly on a full disk (the lines are dropped)', async () => {
    await new LogDestination({ fd: 1, notice: () => undefined }).drain(5000);
    const fd = openSync('/dev/full', 'w');
    try {
      const dest = new LogDestination({ fd, notice: () => undefined });
      const before = logLinesDropped();
      dest.write('{"a":1}\n');
      dest.write('{"b":2}\n');
      const started = Date.now();
      await dest.drain(5000);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(logLinesDropped() - before).toBe(2);
    } finally {
      closeSync(fd);
    }
  });
});
