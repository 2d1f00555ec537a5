import type { Server } from '@hapi/hapi';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * GET /openapi.json through a real linter (Redocly's recommended rules), not our own idea of
 * OpenAPI. Two things are accepted, by name: the description has no licence URL (the software is
 * proprietary), and public parameterless GETs (health, the description, the console's sign-in
 * page and stylesheet) have no client error to describe.
 */
const NO_CLIENT_ERROR = ['/openapi.json', '/admin/login', '/console/console.css', '/health/live', '/health/ready'].map(
  (p) => `#/paths/${p.replace(/\//g, '~1')}/get/responses`,
);

describe('OpenAPI description, linted', () => {
  let ctx: BridgeContext;
  let server: Server;
  let dir: string;

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'iasu-openapi-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  it('Redocly recommended: no problems beyond the two accepted', async () => {
    const doc = JSON.parse((await server.inject('/openapi.json')).payload) as { paths: Record<string, unknown>; servers: unknown[] };
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/admin/queues/'))).toBe(false);
    expect(doc.servers).toEqual([{ url: '/', description: 'this bridge' }]);
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const run = spawnSync(process.execPath, [join(__dirname, '..', 'helpers', 'redocly-lint.mjs'), file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(0);
    const problems = JSON.parse(run.stdout) as { rule: string; at: string; message: string }[];
    const accepted = (p: { rule: string; at: string }) =>
      p.rule === 'info-license-strict' || (p.rule === 'operation-4xx-response' && NO_CLIENT_ERROR.includes(p.at));
    expect(problems.filter((p) => !accepted(p))).toEqual([]);
  });
});
