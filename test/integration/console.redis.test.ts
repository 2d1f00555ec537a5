import type { Server } from '@hapi/hapi';
import { issueOperatorToken, SCOPE, type Scope } from '../../src/api/auth';
import { csrfFor } from '../../src/api/console';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/** The console's HTTP behaviour an attacker would try: redirects, cookies, CSRF, escaping. */
describe('operator console over HTTP', () => {
  let ctx: BridgeContext;
  let server: Server;
  const HTML = { accept: 'text/html,application/xhtml+xml' };

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const token = (scopes: Scope[] = [SCOPE.referralsRead]) => issueOperatorToken(ctx.config, 'tester', scopes);

  it('a browser without a session is sent to sign in and back; an API client gets 401', async () => {
    const browser = await server.inject({ url: '/console/held', headers: HTML });
    expect([browser.statusCode, browser.headers.location]).toEqual([302, '/console/login?next=%2Fconsole%2Fheld']);
    expect((await server.inject({ url: '/console/held' })).statusCode).toBe(401);
  });

  it('sign-in sets an HttpOnly, SameSite=Strict cookie for /console only, and never redirects off the console', async () => {
    for (const [next, to] of [
      ['/console/held', '/console/held'],
      ['https://evil.example/', '/console'],
      ['//evil.example/console', '/console'],
      ['/admin/queues', '/console'],
    ]) {
      const res = await server.inject({ method: 'POST', url: '/console/session', payload: { token: token(), next } });
      expect([next, res.statusCode, res.headers.location]).toEqual([next, 303, to]);
    }
    const res = await server.inject({ method: 'POST', url: '/console/session', payload: { token: token() } });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^iasu_console=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/console/);
    const junk = await server.inject({ method: 'POST', url: '/console/session', payload: { token: 'not a token; Path=/' } });
    expect([junk.statusCode, junk.headers['set-cookie']]).toEqual([303, undefined]);
  });

  it('every page an operator opens is in the audit trail, a crime with its reference', async () => {
    const cookie = `iasu_console=${token()}`;
    for (const url of ['/console/held', '/console/crimes/CC-26-0000404']) await server.inject({ url, headers: { ...HTML, cookie } });
    const events = await ctx.audit.query({});
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'operator:tester', action: 'admin.read', target: '/console/held' }),
        expect.objectContaining({ actor: 'operator:tester', target: '/console/crimes/{crimeReference}', crimeReference: 'CC-26-0000404' }),
      ]),
    );
  });

  it('a cookie session acts only with its form token', async () => {
    const session = token([SCOPE.referralsRead, SCOPE.dlqRedrive]);
    const post = (csrf?: string) =>
      server.inject({
        method: 'POST',
        url: '/console/dead-letters/none/redrive',
        headers: { cookie: `iasu_console=${session}` },
        payload: csrf ? { csrf } : {},
      });
    expect((await post()).statusCode).toBe(403);
    expect((await post(csrfFor(issueOperatorToken(ctx.config, 'someone-else', [SCOPE.admin])))).statusCode).toBe(403);
    const ok = await post(csrfFor(session));
    expect([ok.statusCode, ok.headers.location]).toEqual([303, expect.stringMatching(/^\/console\/dead-letters\?notice=Not%20redriven/)]);
  });

  it('what a visitor types comes back escaped, and every page carries the security headers', async () => {
    // Joi's own message repeats the value it refused.
    const res = await server.inject({
      url: `/console/crimes/${encodeURIComponent('<script>alert(1)</script>')}`,
      headers: { ...HTML, cookie: `iasu_console=${token()}` },
    });
    expect(res.statusCode).toBe(400);
    expect(res.payload).not.toContain('<script>');
    expect(res.payload).toContain('&lt;script&gt;');
    for (const url of ['/console', '/console/login']) {
      const page = await server.inject({ url, headers: { ...HTML, cookie: `iasu_console=${token()}` } });
      expect([url, page.headers['content-security-policy'], page.headers['cache-control'], page.headers['x-frame-options']]).toEqual([
        url,
        expect.stringContaining("default-src 'none'"),
        'no-store',
        'DENY',
      ]);
    }
  });
});
