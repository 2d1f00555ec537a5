import type { Server } from '@hapi/hapi';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';

/** The bull-board dashboard at /admin/queues: administrators only, read-only, cookie only there. */
describe('queue dashboard', () => {
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('the board and its API: 401 without a token, 403 without admin, 200 for an administrator', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      expect((await server.inject(url)).statusCode).toBe(401);
      expect(
        (await server.inject({ url, headers: operatorHeader(ctx.config, ['referrals:read', 'dlq:redrive', 'metrics:read']) })).statusCode,
      ).toBe(403);
      expect((await server.inject({ url, headers: operatorHeader(ctx.config, ['admin']) })).statusCode).toBe(200);
    }
  });

  test('shows every queue, read-only: actions go through the audited dead-letter API', async () => {
    const res = await server.inject({ url: '/admin/queues/api/queues', headers: operatorHeader(ctx.config, ['admin']) });
    const body = JSON.parse(res.payload) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual([
      'charity-delivery',
      'dead-letter',
      'intake',
      'nhs-delivery',
      'police-outcomes',
      'reconcile',
    ]);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    // Its action routes exist but refuse: read-only is enforced by the server, not only hidden in the UI.
    await ctx.queues.intake.add(
      'record',
      { sealed: 'x', crimeReference: 'CC-26-1', recordVersion: 1, force: 'CHESHIRE', correlationId: 'c', source: 'push' },
      { jobId: 'dash-1' },
    );
    for (const url of [
      '/admin/queues/api/queues/intake/empty',
      '/admin/queues/api/queues/intake/pause',
      '/admin/queues/api/queues/dead-letter/retry/failed',
    ]) {
      const refused = await server.inject({ method: 'PUT', url, headers: operatorHeader(ctx.config, ['admin']) });
      expect([url, refused.statusCode >= 400]).toEqual([url, true]);
    }
    expect(await ctx.queues.intake.getJob('dash-1')).toBeDefined();
  });

  test('a browser session: the token becomes an HttpOnly, SameSite=Strict cookie accepted by the dashboard only', async () => {
    expect((await server.inject('/admin/login')).statusCode).toBe(200);
    expect(
      (await server.inject({ method: 'POST', url: '/admin/session', headers: operatorHeader(ctx.config, ['referrals:read']) })).statusCode,
    ).toBe(403);
    const session = await server.inject({ method: 'POST', url: '/admin/session', headers: operatorHeader(ctx.config, ['admin']) });
    expect(session.statusCode).toBe(204);
    const setCookie = String(session.headers['set-cookie']);
    expect(setCookie).toMatch(/^iasu_admin=ey/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/admin/);
    const cookie = setCookie.split(';')[0]!;
    expect((await server.inject({ url: '/admin/queues/api/queues', headers: { cookie } })).statusCode).toBe(200);
    // Everywhere else the cookie is not a credential: bearer tokens only (no CSRF surface).
    expect((await server.inject({ url: '/v1/reconciliation', headers: { cookie } })).statusCode).toBe(401);
  });
});
