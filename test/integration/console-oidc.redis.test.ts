import Hapi, { type Server } from '@hapi/hapi';
import { createHash } from 'node:crypto';
import { issueOperatorToken, SCOPE } from '../../src/api/auth';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * Console sign-in through an identity provider (OpenID Connect code flow with PKCE), against a
 * small provider of our own over real HTTP: it checks the PKCE verifier as a real one would.
 */
describe('console sign-in through the identity provider', () => {
  let idp: Server;
  let ctx: BridgeContext;
  let bridge: Server;
  let authorizeQueries: URLSearchParams[];
  let tokenAnswer: 'token' | 'refuse' | 'not-a-jwt';

  beforeAll(async () => {
    idp = Hapi.server({ port: 0, host: '127.0.0.1' });
    const challenges = new Map<string, string>();
    idp.route({
      method: 'GET',
      path: '/.well-known/openid-configuration',
      handler: () => ({
        issuer: idp.info.uri,
        authorization_endpoint: `${idp.info.uri}/authorize`,
        token_endpoint: `${idp.info.uri}/token`,
      }),
    });
    idp.route({
      method: 'GET',
      path: '/authorize',
      handler: (request, h) => {
        const q = new URLSearchParams(request.query as Record<string, string>);
        authorizeQueries.push(q);
        const code = `code-${authorizeQueries.length}`;
        challenges.set(code, q.get('code_challenge')!);
        return h.redirect(`${q.get('redirect_uri')}?code=${code}&state=${q.get('state')}`);
      },
    });
    idp.route({
      method: 'POST',
      path: '/token',
      handler: (request, h) => {
        const body = request.payload as Record<string, string>;
        const verified =
          challenges.get(body.code!) ===
          createHash('sha256')
            .update(body.code_verifier ?? '')
            .digest('base64url');
        if (!verified || tokenAnswer === 'refuse') return h.response({ error: 'invalid_grant' }).code(400);
        const accessToken =
          tokenAnswer === 'not-a-jwt' ? 'opaque-token' : issueOperatorToken(ctx.config, 'idp-alice', [SCOPE.referralsRead]);
        return { access_token: accessToken, token_type: 'Bearer', expires_in: 3600 };
      },
    });
    await idp.start();
    ctx = createContext(
      testConfig({
        CONSOLE_OIDC_ISSUER: idp.info.uri,
        CONSOLE_OIDC_CLIENT_ID: 'iasu-console',
        CONSOLE_PUBLIC_URL: 'https://bridge.example',
      }),
      capturedLogger().logger,
    );
    bridge = await createServer(ctx, { port: 0 });
  });
  beforeEach(() => {
    authorizeQueries = [];
    tokenAnswer = 'token';
  });
  afterAll(async () => {
    await bridge.stop();
    await idp.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const cookieOf = (setCookie: unknown, name: string) =>
    ([] as string[])
      .concat((setCookie as string[] | string | undefined) ?? [])
      .map((c) => c.split(';')[0]!)
      .find((c) => c.startsWith(`${name}=`));

  /** Start, let the provider answer, and come back: the bridge's answer to the callback. */
  async function signIn(tamper?: (callback: URL) => void) {
    const start = await bridge.inject({ url: '/console/oidc/start?next=%2Fconsole%2Fheld' });
    expect(start.statusCode).toBe(302);
    const pending = cookieOf(start.headers['set-cookie'], 'iasu_console_oidc')!;
    const atProvider = await fetch(start.headers.location as string, { redirect: 'manual' });
    const callback = new URL(atProvider.headers.get('location')!);
    tamper?.(callback);
    return bridge.inject({ url: `${callback.pathname}${callback.search}`, headers: { cookie: pending } });
  }

  it('the login page offers the provider; the code flow with PKCE ends in a console session', async () => {
    expect((await bridge.inject('/console/login')).payload).toContain('/console/oidc/start?next=%2Fconsole');
    const back = await signIn();
    expect([back.statusCode, back.headers.location]).toEqual([303, '/console/held']);
    const q = authorizeQueries[0]!;
    expect(Object.fromEntries(q)).toMatchObject({
      response_type: 'code',
      client_id: 'iasu-console',
      redirect_uri: 'https://bridge.example/console/oidc/callback',
      code_challenge_method: 'S256',
    });
    const session = cookieOf(back.headers['set-cookie'], 'iasu_console')!;
    const held = await bridge.inject({ url: '/console/held', headers: { cookie: session, accept: 'text/html' } });
    expect(held.statusCode).toBe(200);
    expect(held.payload).toContain('operator:idp-alice');
  });

  it('a callback whose state is not the one this browser started with is refused', async () => {
    const res = await signIn((cb) => cb.searchParams.set('state', 'someone-elses-state'));
    expect(res.statusCode).toBe(400);
    expect(cookieOf(res.headers['set-cookie'], 'iasu_console')).toBeUndefined();
    const noCookie = await bridge.inject('/console/oidc/callback?code=x&state=y');
    expect(noCookie.statusCode).toBe(400);
  });

  it('a provider that refuses, or answers without a JWT, sends the browser back to sign in with a message', async () => {
    for (const answer of ['refuse', 'not-a-jwt'] as const) {
      tokenAnswer = answer;
      const res = await signIn();
      expect([answer, res.statusCode, res.headers.location, cookieOf(res.headers['set-cookie'], 'iasu_console')]).toEqual([
        answer,
        303,
        '/console/login?error=idp',
        undefined,
      ]);
    }
    const denied = await signIn((cb) => {
      cb.search = '?error=access_denied';
    });
    expect(denied.headers.location).toBe('/console/login?error=idp');
    expect((await bridge.inject('/console/login?error=idp')).payload).toContain('did not sign you in');
  });
});
