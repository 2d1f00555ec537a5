import Boom from '@hapi/boom';
import type { Plugin, RouteOptions } from '@hapi/hapi';
import Jwt from '@hapi/jwt';
import { timingSafeEqual } from 'node:crypto';
import type { BridgeConfig } from '../config';
import { isAuditableActor, UNKNOWN_OPERATOR } from '../store/audit-log';
import { CLOCK_SKEW_SECONDS, MAX_TOKEN_LIFETIME_SECONDS, operatorActor, subjectProblem, tokenTimesProblem } from './operator-claims';

/**
 * Who may call what. Operators carry a JWT (from the unit's identity provider via its JWKS, or
 * signed with API_JWT_SECRET in a small deployment) whose `scope` claim lists their scopes.
 * It is the server's default strategy, so a route is protected unless it says otherwise, and
 * every route must then name the scopes it needs (a test walks the route table to hold that).
 * Partner routes (police push, charity webhook, the trust's $process-message) carry their own
 * credential, a strategy of its own (partner-auth.ts), and are marked as such; health and the API
 * description are public.
 */
export const SCOPE = {
  /** Referral status and timeline, the reconciliation report. */
  referralsRead: 'referrals:read',
  /** Dead letters: list, inspect (metadata), redrive, discard. */
  dlqRedrive: 'dlq:redrive',
  /** Prometheus metrics. */
  metricsRead: 'metrics:read',
  /** Everything, including personal data in a dead letter, the audit trail and the queue dashboard. */
  admin: 'admin',
} as const;
export type Scope = (typeof SCOPE)[keyof typeof SCOPE];

export const OPERATOR_STRATEGY = 'operator-jwt';
/** The same token in an HttpOnly cookie, for the browser dashboard only (it cannot send headers). */
export const OPERATOR_COOKIE_STRATEGY = 'operator-jwt-cookie';
export const OPERATOR_COOKIE = 'iasu_admin';
/** The operator console's session: the same token in an HttpOnly cookie scoped to /console. */
export const CONSOLE_COOKIE_STRATEGY = 'operator-jwt-console';
export const CONSOLE_COOKIE = 'iasu_console';

/** Route options for an operator route: `admin` always may, plus the scopes listed. */
export function operatorAuth(...scopes: Scope[]): NonNullable<RouteOptions['auth']> {
  return { strategy: OPERATOR_STRATEGY, access: operatorAccess(...scopes) };
}

/** Who may pass an operator route, whichever strategies read the token: these scopes, and `admin`. */
export function operatorAccess(...scopes: Scope[]): { scope: string[] } {
  return { scope: [...new Set<string>([...scopes, SCOPE.admin])] };
}

/** A partner's own credential; each is an auth strategy of the same name (partner-auth.ts). */
export type PartnerCredential = 'police-push-token' | 'charity-signature' | 'nhs-inbound';

/** How a route without operator auth is authenticated instead; the route-table test checks each. */
export type RouteCredential = { public: true } | { partnerCredential: PartnerCredential };

export function publicRoute(): Pick<RouteOptions, 'auth' | 'app'> {
  return { auth: false, app: { credential: { public: true } satisfies RouteCredential } };
}

/**
 * A partner route: its credential is an auth strategy, so hapi checks it before reading the body
 * (a check in the handler would come after the whole body was buffered).
 */
export function partnerRoute(credential: PartnerCredential): Pick<RouteOptions, 'auth' | 'app'> {
  return { auth: { strategy: credential }, app: { credential: { partnerCredential: credential } satisfies RouteCredential } };
}

/** A partner's shared bearer token, compared in constant time (the police push, the trust's responses). */
export function bearerTokenMatches(authorization: unknown, expected: string): boolean {
  const header = String(authorization ?? '');
  return sameSecret(header.startsWith('Bearer ') ? header.slice(7) : '', expected);
}

/** Two secrets (tokens, form tokens, OAuth state) compared in constant time. */
export function sameSecret(given: string, wanted: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(wanted);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Shaped as a compact JWT: the only cookie value the console's session takes. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The operator named in the token, as the audit trail records it. Authentication only accepts a
 * subject the audit can record (operator-claims), so the placeholder is for credentials that did
 * not come from a token.
 */
export function operatorOf(credentials: unknown): string {
  const user = (credentials as { user?: unknown } | undefined)?.user;
  return typeof user === 'string' && isAuditableActor(operatorActor(user)) ? operatorActor(user) : UNKNOWN_OPERATOR;
}

export const authPlugin: Plugin<{ config: BridgeConfig }> = {
  name: 'iasu-auth',
  async register(server, { config }) {
    const jwt = config.http.jwt;
    if (!jwt.secret && !jwt.jwksUrl) {
      // Fail closed: without keys no operator route answers, and saying why beats a bare 401.
      server.auth.scheme(OPERATOR_STRATEGY, () => ({
        authenticate: () => {
          throw Boom.serverUnavailable('operator API authentication is not configured (set API_JWT_SECRET or API_JWT_JWKS_URL)');
        },
      }));
      server.auth.strategy(OPERATOR_STRATEGY, OPERATOR_STRATEGY);
      server.auth.strategy(OPERATOR_COOKIE_STRATEGY, OPERATOR_STRATEGY);
      server.auth.strategy(CONSOLE_COOKIE_STRATEGY, OPERATOR_STRATEGY);
    } else {
      await server.register(Jwt);
      const options = {
        keys: jwt.jwksUrl
          ? { uri: jwt.jwksUrl, algorithms: ['RS256', 'RS512', 'ES256', 'ES384', 'PS256'] }
          : { key: jwt.secret!, algorithms: ['HS256', 'HS512'] },
        verify: {
          aud: jwt.audience,
          iss: jwt.issuer ?? false,
          sub: false,
          nbf: true,
          exp: true,
          maxAgeSec: MAX_TOKEN_LIFETIME_SECONDS,
          timeSkewSec: CLOCK_SKEW_SECONDS,
        },
        validate: (artifacts: { decoded: { payload: Record<string, unknown> } }) => {
          const payload = artifacts.decoded.payload;
          const scope = scopesOf(payload);
          if (scope.length === 0) return { isValid: false };
          // The library checks `exp` and `nbf` only when present, and `iat` only for age.
          if (tokenTimesProblem(payload, Math.floor(Date.now() / 1000)) || subjectProblem(payload.sub)) return { isValid: false };
          return { isValid: true, credentials: { user: payload.sub as string, scope } };
        },
      };
      server.auth.strategy(OPERATOR_STRATEGY, 'jwt', options);
      server.auth.strategy(OPERATOR_COOKIE_STRATEGY, 'jwt', { ...options, cookieName: OPERATOR_COOKIE });
      server.auth.strategy(CONSOLE_COOKIE_STRATEGY, 'jwt', { ...options, cookieName: CONSOLE_COOKIE });
    }
    server.state(CONSOLE_COOKIE, {
      isSecure: config.http.tls !== undefined,
      isHttpOnly: true,
      isSameSite: 'Strict',
      path: '/console',
      ttl: 8 * 3600_000,
      encoding: 'none',
      strictHeader: true,
    });
    server.state(OPERATOR_COOKIE, {
      isSecure: config.http.tls !== undefined,
      isHttpOnly: true,
      isSameSite: 'Strict',
      path: '/admin',
      ttl: 8 * 3600_000,
      encoding: 'none',
      strictHeader: true,
    });
    server.auth.default(OPERATOR_STRATEGY);
  },
};

/** OAuth style `scope` (space-separated) or an `scp` array, reduced to the scopes this API knows. */
function scopesOf(payload: Record<string, unknown>): Scope[] {
  const raw = typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp : [];
  const known = new Set<string>(Object.values(SCOPE));
  return raw.filter((s): s is Scope => typeof s === 'string' && known.has(s));
}

/** A token for an operator, signed with API_JWT_SECRET (`iasu-bridge token`; tests; the demo). */
export function issueOperatorToken(config: BridgeConfig, sub: string, scopes: Scope[], ttlSeconds = 3600): string {
  const jwt = config.http.jwt;
  if (!jwt.secret) throw new Error('API_JWT_SECRET is not set: tokens come from the identity provider');
  return Jwt.token.generate(
    { sub, scope: scopes.join(' '), aud: jwt.audience, ...(jwt.issuer ? { iss: jwt.issuer } : {}) },
    { key: jwt.secret, algorithm: 'HS256' },
    { ttlSec: ttlSeconds },
  );
}
