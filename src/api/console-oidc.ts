import Boom from '@hapi/boom';
import type { Plugin } from '@hapi/hapi';
import Joi from 'joi';
import { createHash, randomBytes } from 'node:crypto';
import type { BridgeConfig } from '../config';
import { CONSOLE_COOKIE, JWT_SHAPE, publicRoute, sameSecret } from './auth';

/**
 * The console's sign-in through the unit's identity provider: OpenID Connect authorization code
 * flow with PKCE (RFC 7636). The provider's access token, a JWT for this API's audience with the
 * operator's scopes, becomes the console session, verified like any operator token (API_JWT_*).
 * The state, the PKCE verifier and where to go next wait in a short-lived HttpOnly cookie for
 * /console/oidc, SameSite=Lax so that it survives the provider's redirect back.
 */
export const OIDC_COOKIE = 'iasu_console_oidc';
export const OIDC_START = '/console/oidc/start';
const CALLBACK = '/console/oidc/callback';

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

interface Pending {
  state: string;
  verifier: string;
  next: string;
}

export const consoleOidcPlugin: Plugin<{
  config: NonNullable<BridgeConfig['http']['consoleOidc']>;
  secure: boolean;
  safeNext: (n?: string) => string;
}> = {
  name: 'iasu-console-oidc',
  register(server, { config, secure, safeNext }) {
    server.state(OIDC_COOKIE, {
      isSecure: secure,
      isHttpOnly: true,
      isSameSite: 'Lax',
      path: '/console/oidc',
      ttl: 10 * 60_000,
      encoding: 'base64json',
      strictHeader: true,
    });
    let discovery: Promise<Discovery> | undefined;
    const discover = () => {
      discovery ??= readDiscovery(config.issuer).catch((err: unknown) => {
        discovery = undefined;
        throw err;
      });
      return discovery;
    };
    const redirectUri = `${config.publicUrl}${CALLBACK}`;

    server.route({
      method: 'GET',
      path: OIDC_START,
      options: { ...publicRoute(), validate: { query: Joi.object({ next: Joi.string().max(200) }) } },
      handler: async (request, h) => {
        const { authorization_endpoint } = await discover();
        const pending: Pending = { state: token(), verifier: token(), next: safeNext((request.query as { next?: string }).next) };
        const url = new URL(authorization_endpoint);
        url.search = new URLSearchParams({
          response_type: 'code',
          client_id: config.clientId,
          redirect_uri: redirectUri,
          scope: 'openid',
          state: pending.state,
          code_challenge: createHash('sha256').update(pending.verifier).digest('base64url'),
          code_challenge_method: 'S256',
        }).toString();
        return h.redirect(url.toString()).code(302).state(OIDC_COOKIE, pending);
      },
    });

    server.route({
      method: 'GET',
      path: CALLBACK,
      options: {
        ...publicRoute(),
        validate: {
          query: Joi.object({
            code: Joi.string().max(2048),
            state: Joi.string().max(200),
            error: Joi.string().max(200),
            error_description: Joi.string().max(1000),
          }),
        },
      },
      handler: async (request, h) => {
        const { code, state, error } = request.query as { code?: string; state?: string; error?: string };
        const pending = (request.state as Record<string, unknown> | undefined)?.[OIDC_COOKIE] as Partial<Pending> | undefined;
        const back = (why: string) => h.redirect(`/console/login?error=${why}`).code(303).unstate(OIDC_COOKIE);
        if (error) return back('idp');
        if (!pending?.state || !pending.verifier || !state || !code || !sameSecret(state, pending.state)) {
          throw Boom.badRequest('this sign-in was not started here, or it expired: start again from the sign-in page');
        }
        const { token_endpoint } = await discover();
        const res = await fetch(token_endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: redirectUri,
            client_id: config.clientId,
            code_verifier: pending.verifier,
            ...(config.clientSecret ? { client_secret: config.clientSecret } : {}),
          }),
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined);
        const body = res?.ok ? ((await res.json().catch(() => undefined)) as { access_token?: unknown } | undefined) : undefined;
        const accessToken = typeof body?.access_token === 'string' && JWT_SHAPE.test(body.access_token) ? body.access_token : undefined;
        if (!accessToken) return back('idp');
        return h.redirect(safeNext(pending.next)).code(303).unstate(OIDC_COOKIE).state(CONSOLE_COOKIE, accessToken);
      },
    });
  },
};

async function readDiscovery(issuer: string): Promise<Discovery> {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) });
  const doc = (res.ok ? await res.json() : undefined) as Partial<Discovery> | undefined;
  if (typeof doc?.authorization_endpoint !== 'string' || typeof doc.token_endpoint !== 'string') {
    throw Boom.badGateway('the identity provider did not answer its OpenID configuration');
  }
  return { authorization_endpoint: doc.authorization_endpoint, token_endpoint: doc.token_endpoint };
}

function token(): string {
  return randomBytes(32).toString('base64url');
}
