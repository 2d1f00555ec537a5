import { generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { CLIENT_ASSERTION_TYPE, PrivateKeyJwtTokenSource, type PrivateKeyJwtOptions } from '../../src/adapters/nhs/token-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { partnerFailure, useStrictNock } from '../helpers/nock';

const ORIGIN = 'https://auth.nhs.test';
const TOKEN_PATH = '/oauth2/token';
const TOKEN_URL = `${ORIGIN}${TOKEN_PATH}`;
const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const START = Date.UTC(2026, 10, 22, 10, 0, 0);

/** A controllable clock. */
function clock(start = START) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function source(extra: Partial<PrivateKeyJwtOptions> = {}): PrivateKeyJwtTokenSource {
  return new PrivateKeyJwtTokenSource({
    tokenUrl: TOKEN_URL,
    clientId: 'client-123',
    keyId: 'kid-1',
    privateKeyPem: PEM,
    timeoutMs: 2000,
    ...extra,
  });
}

/** The token endpoint; `bodies` collects every posted form. */
function tokenEndpoint(bodies: URLSearchParams[] = []) {
  return nock(ORIGIN)
    .post(TOKEN_PATH, (body: unknown) => {
      // nock hands over an urlencoded body as a string or as an already parsed object.
      bodies.push(new URLSearchParams(typeof body === 'string' ? body : (body as Record<string, string>)));
      return true;
    })
    .matchHeader('content-type', /^application\/x-www-form-urlencoded/);
}

function token(accessToken: string, expiresIn: number | string = 600) {
  return { access_token: accessToken, expires_in: expiresIn, token_type: 'Bearer' };
}

/** Neither the signed assertion nor any token may appear in what an error carries. */
function expectNoSecrets(err: PartnerError, secrets: string[]) {
  const carried = JSON.stringify({ message: err.message, options: err.options, stack: err.stack });
  for (const secret of secrets) {
    expect(carried).not.toContain(secret);
    // The signature alone is as sensitive as the whole assertion.
    const signature = secret.split('.')[2];
    if (signature) expect(carried).not.toContain(signature);
  }
}

useStrictNock();

describe('PrivateKeyJwtTokenSource: the token request', () => {
  it('posts grant_type, client_assertion_type and a signed client_assertion as a form', async () => {
    const bodies: URLSearchParams[] = [];
    tokenEndpoint(bodies).reply(200, token('tok-1'));
    await expect(source().accessToken()).resolves.toBe('tok-1');
    expect(bodies).toHaveLength(1);
    const form = bodies[0]!;
    expect([...form.keys()].sort()).toEqual(['client_assertion', 'client_assertion_type', 'grant_type']);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('client_assertion_type')).toBe(CLIENT_ASSERTION_TYPE);
    const [header, payload] = form
      .get('client_assertion')!
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: 'RS512', kid: 'kid-1' });
    expect(payload).toMatchObject({ iss: 'client-123', sub: 'client-123', aud: TOKEN_URL });
  });

  it('accepts expires_in as a string, as NHS England’s platform sends it', async () => {
    const c = clock();
    tokenEndpoint().reply(200, token('tok-1', '599'));
    const s = source({ now: c.now });
    await s.accessToken();
    c.advance(500_000);
    await expect(s.accessToken()).resolves.toBe('tok-1'); // still cached: no second interceptor
  });
});

describe('PrivateKeyJwtTokenSource: caching', () => {
  it('one token call serves many accessToken() calls', async () => {
    const scope = tokenEndpoint().once().reply(200, token('tok-1'));
    const s = source();
    for (let i = 0; i < 10; i += 1) await expect(s.accessToken()).resolves.toBe('tok-1');
    expect(scope.isDone()).toBe(true);
  });

  it('fetches a new token once the clock passes expiry minus the margin', async () => {
    const c = clock();
    const bodies: URLSearchParams[] = [];
    tokenEndpoint(bodies).reply(200, token('tok-1', 600));
    tokenEndpoint(bodies).reply(200, token('tok-2', 600));
    const s = source({ now: c.now, refreshMarginMs: 60_000 });
    await expect(s.accessToken()).resolves.toBe('tok-1');
    c.advance(540_000 - 1); // just inside expires_in − margin
    await expect(s.accessToken()).resolves.toBe('tok-1');
    c.advance(1);
    await expect(s.accessToken()).resolves.toBe('tok-2');
    expect(bodies).toHaveLength(2);
    // The new assertion is stamped with the injected clock.
    const iat = (body: URLSearchParams) =>
      (JSON.parse(Buffer.from(body.get('client_assertion')!.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
    expect(iat(bodies[1]!) - iat(bodies[0]!)).toBe(540);
  });

  it('a very short expires_in is cached for half its life, not past it', async () => {
    const c = clock();
    tokenEndpoint().reply(200, token('short-1', 30));
    tokenEndpoint().reply(200, token('short-2', 30));
    const s = source({ now: c.now }); // default margin 60 s > expires_in
    await expect(s.accessToken()).resolves.toBe('short-1');
    c.advance(14_999);
    await expect(s.accessToken()).resolves.toBe('short-1');
    c.advance(1);
    await expect(s.accessToken()).resolves.toBe('short-2');
  });

  it('invalidate(token) forces a new fetch', async () => {
    tokenEndpoint().reply(200, token('tok-1'));
    tokenEndpoint().reply(200, token('tok-2'));
    const s = source();
    const first = await s.accessToken();
    s.invalidate(first);
    await expect(s.accessToken()).resolves.toBe('tok-2');
  });

  it('invalidating an old token does not drop the current one', async () => {
    tokenEndpoint().reply(200, token('tok-1'));
    tokenEndpoint().reply(200, token('tok-2'));
    const s = source();
    const first = await s.accessToken();
    s.invalidate(first);
    const second = await s.accessToken();
    s.invalidate(first); // a late 401 for a request made with the old token
    s.invalidate('never-issued');
    await expect(s.accessToken()).resolves.toBe(second); // no third interceptor: nock would refuse
  });

  it('5 concurrent accessToken() calls make one HTTP call', async () => {
    const scope = tokenEndpoint().once().delay(50).reply(200, token('tok-1'));
    const s = source();
    const tokens = await Promise.all(Array.from({ length: 5 }, () => s.accessToken()));
    expect(tokens).toEqual(['tok-1', 'tok-1', 'tok-1', 'tok-1', 'tok-1']);
    expect(scope.isDone()).toBe(true);
  });

  it('concurrent callers share a failure, and the failure is not cached', async () => {
    tokenEndpoint().once().delay(20).reply(503);
    tokenEndpoint().once().reply(200, token('tok-1'));
    const s = source();
    const results = await Promise.allSettled([s.accessToken(), s.accessToken(), s.accessToken()]);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof PartnerError && r.reason.kind === 'transient')).toBe(true);
    await expect(s.accessToken()).resolves.toBe('tok-1');
  });
});

describe('PrivateKeyJwtTokenSource: failures are PartnerError(NHS)', () => {
  /** Captures the assertion that was posted, to check it never reaches the error. */
  function capture() {
    const bodies: URLSearchParams[] = [];
    return { bodies, assertions: () => bodies.map((b) => b.get('client_assertion')!) };
  }

  it('401 invalid_client → auth with detail invalid_client only', async () => {
    const { bodies, assertions } = capture();
    tokenEndpoint(bodies).reply(401, {
      error: 'invalid_client',
      error_description: 'Invalid jwt: kid kid-1 not found for client-123',
      message_id: 'abc',
    });
    const err = await partnerFailure(source().accessToken());
    expect(err).toMatchObject({ partner: 'NHS', kind: 'auth', status: 401 });
    expect(err.options.detail).toBe('invalid_client');
    expect(err.message).not.toContain('kid-1');
    expectNoSecrets(err, assertions());
  });

  it.each([400, 403])('%i → auth with the OAuth error code', async (status) => {
    const { bodies, assertions } = capture();
    tokenEndpoint(bodies).reply(status, { error: 'invalid_request', error_description: `Invalid client_assertion ${'x'.repeat(20)}` });
    const err = await partnerFailure(source().accessToken());
    expect(err).toMatchObject({ partner: 'NHS', kind: 'auth', status });
    expect(err.options.detail).toBe('invalid_request');
    expectNoSecrets(err, assertions());
  });

  it('an error body echoing the assertion is never copied', async () => {
    const bodies: URLSearchParams[] = [];
    let echoed = '';
    tokenEndpoint(bodies).reply(400, () => {
      echoed = bodies[0]!.get('client_assertion')!;
      return { error: echoed, error_description: `bad assertion ${echoed}` };
    });
    const err = await partnerFailure(source().accessToken());
    expect(echoed).not.toBe('');
    expect(err.kind).toBe('auth');
    expect(err.options.detail).toBeUndefined();
    expectNoSecrets(err, [echoed]);
  });

  it('503 with Retry-After → transient with retryAfterMs', async () => {
    const { bodies, assertions } = capture();
    tokenEndpoint(bodies).reply(503, 'Service Unavailable', { 'Retry-After': '7' });
    const err = await partnerFailure(source().accessToken());
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient', status: 503, retryAfterMs: 7000 });
    expectNoSecrets(err, assertions());
  });

  it('429 with an HTTP-date Retry-After → transient, delay measured on the injected clock', async () => {
    const c = clock();
    tokenEndpoint().reply(429, { error: 'rate_limited' }, { 'Retry-After': new Date(START + 30_000).toUTCString() });
    const err = await partnerFailure(source({ now: c.now }).accessToken());
    expect(err).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 30_000 });
  });

  it.each([500, 502, 504])('%i → transient', async (status) => {
    tokenEndpoint().reply(status);
    expect(await partnerFailure(source().accessToken())).toMatchObject({ kind: 'transient', status });
  });

  it('connection reset → transient', async () => {
    const { bodies, assertions } = capture();
    tokenEndpoint(bodies).replyWithError({ code: 'ECONNRESET', message: 'socket hang up' });
    const err = await partnerFailure(source().accessToken());
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient' });
    expect(err.options.detail).toBe('ECONNRESET');
    expectNoSecrets(err, assertions());
  });

  it('a slow token endpoint times out → transient', async () => {
    tokenEndpoint().delay(1000).reply(200, token('late'));
    const err = await partnerFailure(source({ timeoutMs: 100 }).accessToken());
    expect(err).toMatchObject({ kind: 'transient' });
    expect(err.options.detail).toBe('timeout');
  });

  it.each([
    ['no access_token', { token_type: 'Bearer', expires_in: 600 }],
    ['an empty access_token', { access_token: '', expires_in: 600 }],
    ['a non-string access_token', { access_token: 42, expires_in: 600 }],
    ['a non-bearer token_type', { access_token: 'tok-mac', token_type: 'mac', expires_in: 600 }],
  ])('200 with %s → auth', async (_label, body) => {
    tokenEndpoint().reply(200, body);
    const err = await partnerFailure(source().accessToken());
    expect(err).toMatchObject({ partner: 'NHS', kind: 'auth', status: 200 });
    expectNoSecrets(err, ['tok-mac']);
  });

  it('200 with a non-JSON body → auth', async () => {
    tokenEndpoint().reply(200, '<html>login</html>', { 'Content-Type': 'text/html' });
    expect(await partnerFailure(source().accessToken())).toMatchObject({ kind: 'auth', status: 200 });
  });

  it('a failed fetch is not cached: the next call tries again', async () => {
    tokenEndpoint().reply(401, { error: 'invalid_client' });
    tokenEndpoint().reply(200, token('tok-1'));
    const s = source();
    await partnerFailure(s.accessToken());
    await expect(s.accessToken()).resolves.toBe('tok-1');
  });
});
