import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ASSERTION_LIFETIME_SECONDS,
  PrivateKeyJwtTokenSource,
  buildClientAssertion,
  readPrivateKey,
} from '../../src/adapters/nhs/token-client';

// Keys are generated here, never read from the repo.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PKCS8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PKCS1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
/** A line of the key body: any error text containing it would be leaking key material. */
const KEY_BODY_LINE = PKCS8.split('\n')[1]!;

const OPTS = { tokenUrl: 'https://auth.nhs.test/oauth2/token', clientId: 'client-123', keyId: 'kid-test-1', privateKeyPem: PKCS8 };
const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);

function decode(jwt: string) {
  const parts = jwt.split('.');
  expect(parts).toHaveLength(3);
  const [h, p, s] = parts as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, number | string>,
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

function verifies(jwt: string, key: KeyObject = publicKey): boolean {
  const { signingInput, signature } = decode(jwt);
  return verify('sha512', Buffer.from(signingInput), key, signature);
}

describe('buildClientAssertion (private_key_jwt, RS512)', () => {
  it('has the RS512 header with kid and the claims NHS England requires', () => {
    const jwt = buildClientAssertion(OPTS, NOW, 'jti-1');
    const { header, payload } = decode(jwt);
    expect(header).toEqual({ alg: 'RS512', typ: 'JWT', kid: 'kid-test-1' });
    expect(payload.iss).toBe('client-123');
    expect(payload.sub).toBe('client-123');
    expect(payload.aud).toBe(OPTS.tokenUrl);
    expect(payload.jti).toBe('jti-1');
    expect(payload.iat).toBe(Math.floor(NOW / 1000));
    const { iat, exp } = payload as { iat: number; exp: number };
    expect(exp - iat).toBeLessThanOrEqual(300);
    expect(exp - iat).toBe(ASSERTION_LIFETIME_SECONDS);
    expect(exp * 1000).toBeGreaterThan(NOW);
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
  });

  it('omits kid when no key id is configured', () => {
    const { header } = decode(buildClientAssertion({ ...OPTS, keyId: undefined }, NOW, 'j'));
    expect(header).toEqual({ alg: 'RS512', typ: 'JWT' });
  });

  it('is signed with SHA-512 RSA PKCS#1 v1.5: verifies with the public key, and only with it', () => {
    const jwt = buildClientAssertion(OPTS, NOW, 'jti-1');
    expect(verifies(jwt)).toBe(true);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(verifies(jwt, other)).toBe(false);
    // A tampered payload no longer verifies.
    const [h, , s] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decode(jwt).payload, sub: 'someone-else' })).toString('base64url');
    expect(verifies(`${h}.${forged}.${s}`)).toBe(false);
  });

  it('accepts a PKCS#1 key as well as PKCS#8', () => {
    expect(verifies(buildClientAssertion({ ...OPTS, privateKeyPem: PKCS1 }, NOW, 'j'))).toBe(true);
  });

  it('uses base64url without padding', () => {
    expect(buildClientAssertion(OPTS, NOW, 'jti-1')).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('two assertions from the token source carry different jti', async () => {
    const seen: string[] = [];
    const realFetch = global.fetch;
    global.fetch = (async (_url: string, init: { body: string }) => {
      seen.push(new URLSearchParams(init.body).get('client_assertion')!);
      return new Response(JSON.stringify({ access_token: `t${seen.length}`, expires_in: 600, token_type: 'Bearer' }), { status: 200 });
    }) as unknown as typeof fetch;
    try {
      const source = new PrivateKeyJwtTokenSource({ ...OPTS, timeoutMs: 1000, now: () => NOW });
      const first = await source.accessToken();
      source.invalidate(first);
      await source.accessToken();
    } finally {
      global.fetch = realFetch;
    }
    expect(seen).toHaveLength(2);
    const [a, b] = seen.map((jwt) => decode(jwt).payload.jti);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
    for (const jwt of seen) expect(verifies(jwt)).toBe(true);
  });

  it('refuses a non-RSA key without echoing it', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => new PrivateKeyJwtTokenSource({ ...OPTS, privateKeyPem: ec, timeoutMs: 1000 })).toThrow(/RSA/);
    expect(() => buildClientAssertion({ ...OPTS, privateKeyPem: 'not a key' }, NOW, 'j')).toThrow(/not a valid PEM/);
  });
});

describe('readPrivateKey', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iasu-token-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The thrown error, checked for key material. */
  function thrown(fn: () => unknown): Error {
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    const message = (caught as Error).message;
    expect(message).not.toContain(KEY_BODY_LINE);
    expect(message).not.toContain('MII');
    return caught as Error;
  }

  it('reads a PEM file', () => {
    const file = join(dir, 'key.pem');
    writeFileSync(file, PKCS8, { mode: 0o600 });
    const pem = readPrivateKey({ file });
    expect(pem.trim()).toBe(PKCS8.trim());
    expect(verifies(buildClientAssertion({ ...OPTS, privateKeyPem: pem }, NOW, 'j'))).toBe(true);
  });

  it('reads PEM text with literal "\\n" escapes (one-line env var)', () => {
    const oneLine = PKCS1.trim().replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    const pem = readPrivateKey({ pem: oneLine });
    expect(pem.trim()).toBe(PKCS1.trim());
    expect(verifies(buildClientAssertion({ ...OPTS, privateKeyPem: pem }, NOW, 'j'))).toBe(true);
  });

  it('reads PEM text with real newlines and CRLF', () => {
    expect(readPrivateKey({ pem: PKCS8 }).trim()).toBe(PKCS8.trim());
    expect(readPrivateKey({ pem: PKCS8.replace(/\n/g, '\r\n') }).trim()).toBe(PKCS8.trim());
  });

  it('both given → error naming both variables, no key material', () => {
    const file = join(dir, 'both.pem');
    writeFileSync(file, PKCS8);
    const err = thrown(() => readPrivateKey({ pem: PKCS8, file }));
    expect(err.message).toMatch(/NHS_PRIVATE_KEY\b.*NHS_PRIVATE_KEY_FILE/);
  });

  it('neither given (or empty) → error naming the variables', () => {
    for (const source of [{}, { pem: '', file: '' }, { pem: '   ' }]) {
      expect(thrown(() => readPrivateKey(source)).message).toMatch(/NHS_PRIVATE_KEY.*NHS_PRIVATE_KEY_FILE/);
    }
  });

  it('reports the caller’s variable names when given', () => {
    expect(thrown(() => readPrivateKey({}, { pem: 'MY_KEY', file: 'MY_KEY_FILE' })).message).toMatch(/MY_KEY.*MY_KEY_FILE/);
  });

  it('a corrupt PEM → error naming the variable, without echoing the text', () => {
    const corrupt = PKCS8.replace(KEY_BODY_LINE, KEY_BODY_LINE.split('').reverse().join(''));
    const err = thrown(() => readPrivateKey({ pem: corrupt }));
    expect(err.message).toMatch(/^NHS_PRIVATE_KEY is not a PEM private key/);
    const file = join(dir, 'corrupt.pem');
    writeFileSync(file, corrupt);
    expect(thrown(() => readPrivateKey({ file })).message).toMatch(/^NHS_PRIVATE_KEY_FILE is not a PEM private key/);
  });

  it('a missing file → error naming the variable and the error code', () => {
    const err = thrown(() => readPrivateKey({ file: join(dir, 'absent.pem') }));
    expect(err.message).toMatch(/^NHS_PRIVATE_KEY_FILE: cannot read .*absent\.pem \(ENOENT\)/);
  });

  it('a public key or a non-RSA key is refused', () => {
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    thrown(() => readPrivateKey({ pem: pub }));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(thrown(() => readPrivateKey({ pem: ec })).message).toMatch(/must be an RSA private key/);
  });
});
