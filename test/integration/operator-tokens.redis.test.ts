import type { Server } from '@hapi/hapi';
import Jwt from '@hapi/jwt';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig, TEST_JWT_SECRET } from '../helpers/bridge';

/**
 * What an operator token must claim: subjects as identity providers really issue them are
 * accepted and audited under their own name (never as someone unknown), or the token is refused;
 * and a token's lifetime is bounded (exp required, not issued in the future, at most 12 hours).
 */
const now = () => Math.floor(Date.now() / 1000);

describe('operator tokens', () => {
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

  /** A token with exactly these claims (no iat/exp added unless given). */
  const token = (claims: Record<string, unknown>) =>
    Jwt.token.generate({ scope: 'admin', aud: 'iasu-bridge', ...claims }, { key: TEST_JWT_SECRET, algorithm: 'HS256' }, { iat: false });
  const fresh = (sub: string) => token({ sub, iat: now(), exp: now() + 600 });
  const read = (referralId: string, bearer: string) =>
    server.inject({ url: `/v1/referrals/${referralId}`, headers: { authorization: `Bearer ${bearer}` } });
  let n = 0;
  const nextReferralId = () => `6f1c0000-0000-5000-8000-${String(++n).padStart(12, '0')}`;

  describe('subjects', () => {
    test.each([
      ['an Auth0 database user', 'auth0|5f7c8ec7c33c6c004bbafe82'],
      ['a Google account through Auth0 (a 21-digit id)', 'google-oauth2|103547991597142817347'],
      ['a SAML subject with + / =', 'samlp|corp|ops+a1/Zm9v='],
      ['an Entra ID pairwise subject', 'AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ'],
      ['a 255-character subject', `u-${'x'.repeat(253)}`],
      ['HTML-looking characters', 'op<b>&"\'x'],
    ])('%s is accepted and audited as itself', async (_what, sub) => {
      const referralId = nextReferralId();
      const res = await read(referralId, fresh(sub));
      expect(res.statusCode).toBe(404); // through authentication; there is no such referral
      const events = await ctx.audit.query({ referralId });
      expect(events.map((e) => [e.action, e.actor, e.rejected])).toEqual([['admin.read', `operator:${sub}`, undefined]]);
      // Rendered as JSON, escaped like any string.
      const audit = await server.inject({
        url: `/v1/audit?referralId=${referralId}`,
        headers: { authorization: `Bearer ${fresh('auditor')}` },
      });
      expect(JSON.parse(audit.payload).events[0].actor).toBe(`operator:${sub}`);
    });

    test.each([
      ['an email address', 'jane.doe@example.com'],
      ['a phone number', '07700900123'],
      ['a 256-character subject', 'x'.repeat(256)],
      ['a subject with a space', 'Jane Doe'],
      ['a subject with a newline', 'alice\nsystem'],
      ['a non-ASCII subject', 'jürgen'],
      ['an empty subject', ''],
    ])('%s is refused with 401, and nothing is audited', async (_what, sub) => {
      const referralId = nextReferralId();
      expect((await read(referralId, fresh(sub))).statusCode).toBe(401);
      expect(await ctx.audit.query({ referralId })).toEqual([]);
    });

    test('a token without sub is refused', async () => {
      expect((await read(nextReferralId(), token({ iat: now(), exp: now() + 600 }))).statusCode).toBe(401);
    });
  });

  describe('lifetime', () => {
    test.each([
      ['no exp', { iat: now() }],
      ['iat in the future and no exp', { iat: now() + 3600 }],
      ['iat in the future beyond the skew', { iat: now() + 300, exp: now() + 600 }],
      ['nbf in the future beyond the skew', { iat: now(), nbf: now() + 300, exp: now() + 600 }],
      ['exp more than 12 hours after iat', { iat: now(), exp: now() + 12 * 3600 + 60 }],
      ['no iat', { exp: now() + 600 }],
      ['expired', { iat: now() - 600, exp: now() - 120 }],
    ])('%s: 401', async (_what, times) => {
      expect((await read(nextReferralId(), token({ sub: 'alice', ...times }))).statusCode).toBe(401);
    });

    test.each([
      ['an hour-long token', { iat: now(), exp: now() + 3600 }],
      ['exactly 12 hours', { iat: now(), exp: now() + 12 * 3600 }],
      ['iat a little ahead (clock skew)', { iat: now() + 30, exp: now() + 600 }],
      ['nbf a little ahead (clock skew)', { iat: now(), nbf: now() + 30, exp: now() + 600 }],
    ])('%s: accepted', async (_what, times) => {
      expect((await read(nextReferralId(), token({ sub: 'alice', ...times }))).statusCode).toBe(404);
    });
  });
});
