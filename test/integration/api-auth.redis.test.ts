import type { Server } from '@hapi/hapi';
import Jwt from '@hapi/jwt';
import { createServer } from '../../src/api/server';
import { SCOPE, type RouteCredential, type Scope } from '../../src/api/auth';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, operatorHeader, testConfig, TEST_JWT_SECRET } from '../helpers/bridge';

/**
 * Access control, by walking the server's own route table: every route is an operator route
 * that names its scopes, a partner route with its own credential, or explicitly public. A new
 * route that is none of these fails here; and each is tried without, and with the wrong,
 * credentials.
 */
const ALL_SCOPES = Object.values(SCOPE);
const SAMPLE_ID = '6f1c0000-0000-5000-8000-000000000000';

interface RouteView {
  method: string;
  path: string;
  url: string;
  credential?: RouteCredential;
  scopes?: string[];
  strategies?: string[];
  authDisabled: boolean;
}

describe('access control on every route', () => {
  let ctx: BridgeContext;
  let server: Server;
  let routes: RouteView[];

  beforeAll(async () => {
    ctx = createContext(
      testConfig({
        CHARITY_WEBHOOK_SECRETS: 'whsec-0123456789abcdef-auth',
        NHS_INBOUND_TOKEN: 'trust-token',
        NHS_BARS_TARGET_SERVICE_ID: 'svc',
      }),
      capturedLogger().logger,
    );
    server = await createServer(ctx, { port: 0 });
    routes = server.table().map((r) => {
      const auth = r.settings.auth as false | { strategies?: string[]; access?: { scope?: { selection?: string[] } }[] } | undefined;
      const credential = (r.settings.app as { credential?: RouteCredential } | undefined)?.credential;
      const partner = credential && 'partnerCredential' in credential;
      return {
        method: r.method.toUpperCase(),
        path: r.path,
        url: r.path.replace(/\{[^}*]+\*?\d*\}/g, (p) => (p.includes('id') ? SAMPLE_ID : 'x')),
        credential,
        scopes: auth === false || partner ? undefined : auth?.access?.flatMap((a) => a.scope?.selection ?? []),
        strategies: auth === false ? undefined : auth?.strategies,
        authDisabled: auth === false,
      };
    });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const inject = (r: RouteView, headers: Record<string, string> = {}) =>
    server.inject({
      method: r.method,
      url: r.url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: r.method === 'GET' ? undefined : '{}',
    });

  test('the table is what this test expects to walk', () => {
    expect(routes.length).toBeGreaterThanOrEqual(8);
    expect(routes.some((r) => r.credential && 'partnerCredential' in r.credential)).toBe(true);
    expect(routes.some((r) => r.scopes?.length)).toBe(true);
  });

  test('every route is protected by operator scopes, a partner credential, or declared public', () => {
    for (const r of routes) {
      // A partner's credential is checked by its own auth strategy (before the body is read), a
      // public route has none, and every other route names operator scopes.
      const declared =
        r.credential && 'partnerCredential' in r.credential
          ? !r.authDisabled && r.strategies?.length === 1 && r.strategies[0] === r.credential.partnerCredential
          : r.authDisabled
            ? r.credential !== undefined
            : (r.scopes?.length ?? 0) > 0;
      expect({ route: `${r.method} ${r.path}`, declared }).toEqual({ route: `${r.method} ${r.path}`, declared: true });
      for (const s of r.scopes ?? []) expect(ALL_SCOPES).toContain(s);
      // Administrators may do everything an operator route allows.
      if (r.scopes) expect(r.scopes).toContain(SCOPE.admin);
    }
  });

  test('operator routes: 401 without a token, with a forged or expired one; 403 with the wrong scope; through with the right one', async () => {
    const operatorRoutes = routes.filter((r) => !r.authDisabled && !r.credential);
    expect(operatorRoutes.length).toBeGreaterThan(0);
    const forged = Jwt.token.generate(
      { sub: 'mallory', scope: 'admin', aud: 'iasu-bridge' },
      { key: 'another-secret-0123456789abcdef-xyz', algorithm: 'HS256' },
    );
    const expired = Jwt.token.generate(
      { sub: 'alice', scope: 'admin', aud: 'iasu-bridge', exp: Math.floor(Date.now() / 1000) - 60 },
      { key: TEST_JWT_SECRET, algorithm: 'HS256' },
    );
    const otherAudience = Jwt.token.generate(
      { sub: 'alice', scope: 'admin', aud: 'someone-else' },
      { key: TEST_JWT_SECRET, algorithm: 'HS256' },
    );
    for (const r of operatorRoutes) {
      const label = `${r.method} ${r.path}`;
      expect([label, (await inject(r)).statusCode]).toEqual([label, 401]);
      for (const token of [forged, expired, otherAudience])
        expect([label, (await inject(r, { authorization: `Bearer ${token}` })).statusCode]).toEqual([label, 401]);
      const wrong = ALL_SCOPES.filter((s) => !r.scopes!.includes(s)) as Scope[];
      if (wrong.length > 0) expect([label, (await inject(r, operatorHeader(ctx.config, wrong))).statusCode]).toEqual([label, 403]);
      const right = r.scopes!.filter((s) => s !== SCOPE.admin) as Scope[];
      for (const scopes of [right.length ? right : [SCOPE.admin], [SCOPE.admin]] as Scope[][]) {
        const status = (await inject(r, operatorHeader(ctx.config, scopes))).statusCode;
        expect([label, scopes, [401, 403].includes(status)]).toEqual([label, scopes, false]);
      }
    }
  });

  test('partner routes refuse a request without their credential', async () => {
    const partnerRoutes = routes.filter((r) => r.credential && 'partnerCredential' in r.credential);
    expect(partnerRoutes.map((r) => (r.credential as { partnerCredential: string }).partnerCredential).sort()).toEqual([
      'charity-signature',
      'nhs-inbound',
      'police-push-token',
    ]);
    for (const r of partnerRoutes) {
      const contentType = r.path.includes('police')
        ? 'application/xml'
        : r.path.includes('fhir')
          ? 'application/fhir+json'
          : 'application/json';
      const res = await server.inject({
        method: r.method,
        url: r.url,
        headers: { 'content-type': contentType },
        payload: r.path.includes('police') ? '<x/>' : '{}',
      });
      expect([r.path, res.statusCode]).toEqual([r.path, 401]);
      // An operator's token is not a partner credential.
      const withOperator = await server.inject({
        method: r.method,
        url: r.url,
        headers: { 'content-type': contentType, ...operatorHeader(ctx.config, ['admin']) },
        payload: r.path.includes('police') ? '<x/>' : '{}',
      });
      expect([r.path, withOperator.statusCode]).toEqual([r.path, 401]);
    }
  });

  test('without operator keys configured, operator routes answer 503 (closed, and saying why)', async () => {
    const closed = createContext(testConfig({ API_JWT_SECRET: '' }), capturedLogger().logger);
    await closed.redis.ping();
    const closedServer = await createServer(closed, { port: 0 });
    try {
      const res = await closedServer.inject({
        method: 'GET',
        url: `/v1/referrals/${SAMPLE_ID}`,
        headers: operatorHeader(ctx.config, ['admin']),
      });
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(res.payload).message).toMatch(/API_JWT_SECRET/);
    } finally {
      await closedServer.stop();
      await closed.close();
    }
  });
});
