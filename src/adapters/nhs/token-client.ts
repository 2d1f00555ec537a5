import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PartnerError, isNetworkError, parseRetryAfter, tlsFailure } from '../partner-error';

/**
 * nhs-fhir.md Mode B "Auth": OAuth 2.0 client credentials with a signed JWT client assertion
 * (`private_key_jwt`, RS512), as NHS England's API platform expects. I/O only; every failure
 * leaves as a PartnerError('NHS'). Neither the assertion, the token nor the key ever appears in
 * an error (or anywhere else that could reach a log).
 */
export interface PrivateKeyJwtOptions {
  tokenUrl: string;
  clientId: string;
  /** JWT header `kid` (NHS England's API platform requires it). */
  keyId?: string;
  /** PKCS#8 or PKCS#1 PEM RSA private key. */
  privateKeyPem: string;
  timeoutMs: number;
  /** Refresh this long before expiry; default 60_000 (and never cache beyond half of a very short expires_in). */
  refreshMarginMs?: number;
  /** Injectable clock (ms). */
  now?: () => number;
}

/** What the NHS clients need: a bearer token, and a way to drop one the server refused. */
export interface AccessTokenSource {
  accessToken(): Promise<string>;
  invalidate(token: string): void;
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const ASSERTION_LIFETIME_SECONDS = 300; // exp ≤ 5 min (spec)
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;
/** OAuth makes expires_in optional; without one, assume the assertion's own lifetime. */
const DEFAULT_EXPIRES_IN_SECONDS = ASSERTION_LIFETIME_SECONDS;
/** RFC 6749 error codes are short ASCII words; anything else is not copied into `detail`. */
const OAUTH_ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

type AssertionOptions = Pick<PrivateKeyJwtOptions, 'tokenUrl' | 'clientId' | 'keyId' | 'privateKeyPem'>;

export function buildClientAssertion(opts: AssertionOptions, nowMs: number, jti: string): string {
  return signAssertion(opts, parseKey(opts.privateKeyPem), nowMs, jti);
}

function signAssertion(opts: Omit<AssertionOptions, 'privateKeyPem'>, key: KeyObject, nowMs: number, jti: string): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'RS512', typ: 'JWT', ...(opts.keyId ? { kid: opts.keyId } : {}) };
  const payload = { iss: opts.clientId, sub: opts.clientId, aud: opts.tokenUrl, jti, iat, exp: iat + ASSERTION_LIFETIME_SECONDS };
  const signingInput = `${base64url(header)}.${base64url(payload)}`;
  // RS512 = RSASSA-PKCS1-v1_5 with SHA-512, node's default padding for an RSA key.
  const signature = sign('sha512', Buffer.from(signingInput), key).toString('base64url');
  return `${signingInput}.${signature}`;
}

export class PrivateKeyJwtTokenSource implements AccessTokenSource {
  private readonly key: KeyObject;
  private readonly now: () => number;
  private readonly marginMs: number;
  private cached?: { token: string; refreshAt: number };
  /** Single flight: concurrent callers share one token request. */
  private inFlight?: Promise<string>;

  constructor(private readonly opts: PrivateKeyJwtOptions) {
    // Parsed once, so a bad key fails at start-up rather than on the first referral.
    this.key = parseKey(opts.privateKeyPem);
    this.now = opts.now ?? Date.now;
    this.marginMs = opts.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  }

  accessToken(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return Promise.resolve(this.cached.token);
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Drops the cached token only if it is the one refused: a stale refusal must not drop a fresh token. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetchToken(): Promise<string> {
    const startedAt = this.now();
    const assertion = signAssertion(this.opts, this.key, startedAt, randomUUID());
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    });

    let response: Response;
    let text: string;
    try {
      response = await fetch(this.opts.tokenUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: body.toString(),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw transportError(err);
    }

    if (!response.ok) throw httpError(response.status, response.headers.get('retry-after'), text, this.now());

    const { token, expiresInSeconds } = usableToken(text, response.status);
    const lifetimeMs = expiresInSeconds * 1000;
    // Refresh `margin` before expiry, but a very short-lived token is still cached for half its life
    // (never past it), rather than fetched anew on every call.
    const cacheForMs = Math.max(lifetimeMs - this.marginMs, lifetimeMs / 2);
    this.cached = { token, refreshAt: startedAt + cacheForMs };
    return token;
  }
}

/**
 * Key from PEM text (env; literal "\n" escapes allowed) or from a file path; exactly one must be
 * given. Throws a clear Error naming the variable, never printing key material.
 * `names` are the config variables reported in errors.
 */
export function readPrivateKey(
  source: { pem?: string; file?: string },
  names: { pem: string; file: string } = { pem: 'NHS_PRIVATE_KEY', file: 'NHS_PRIVATE_KEY_FILE' },
): string {
  const pem = source.pem?.trim() ? source.pem : undefined;
  const file = source.file?.trim() ? source.file.trim() : undefined;
  if (pem && file) throw new Error(`set either ${names.pem} or ${names.file}, not both`);
  if (!pem && !file)
    throw new Error(`the NHS OAuth private key is missing: set ${names.pem} (PEM text) or ${names.file} (path to a PEM file)`);

  let text: string;
  let variable: string;
  if (pem) {
    // Env vars often carry the PEM on one line with literal "\n" escapes.
    text = pem.replace(/\\r\\n|\\n/g, '\n');
    variable = names.pem;
  } else {
    variable = names.file;
    try {
      text = readFileSync(file!, 'utf8');
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'unknown error';
      throw new Error(`${variable}: cannot read the private key file ${file} (${code})`);
    }
  }
  text = text.replace(/\r\n/g, '\n').trim() + '\n';

  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    // node's message may describe the input; ours says only which variable is wrong.
    throw new Error(`${variable} is not a PEM private key (PKCS#8 or PKCS#1 RSA)`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(`${variable} must be an RSA private key (RS512), not ${key.asymmetricKeyType ?? 'unknown'}`);
  return text;
}

// ---- helpers ----------------------------------------------------------------------------

function parseKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error('NHS OAuth private key is not a valid PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new Error('NHS OAuth private key must be an RSA key (RS512)');
  return key;
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The token and its lifetime from a 2xx body; anything unusable is an auth failure (alert, no retry storm). */
function usableToken(text: string, status: number): { token: string; expiresInSeconds: number } {
  let body: { access_token?: unknown; expires_in?: unknown; token_type?: unknown } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const token = body?.access_token;
  if (typeof token !== 'string' || token.trim() === '') {
    throw new PartnerError('NHS', 'auth', 'NHS token endpoint answered without an access token', { status, detail: 'no_access_token' });
  }
  const tokenType = body?.token_type;
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    throw new PartnerError('NHS', 'auth', 'NHS token endpoint issued a token that is not a bearer token', {
      status,
      detail: 'unsupported_token_type',
    });
  }
  // NHS England's platform sends expires_in as a string ("599"); accept either form.
  const raw = body?.expires_in;
  const parsed = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  const expiresInSeconds = Number.isFinite(parsed) && parsed >= 0 ? parsed : DEFAULT_EXPIRES_IN_SECONDS;
  return { token, expiresInSeconds };
}

function httpError(status: number, retryAfter: string | null, text: string, now: number): PartnerError {
  const label = `NHS token endpoint answered ${status}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return new PartnerError('NHS', 'transient', label, { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  // 400/401/403 are refused credentials. Any other answer (404, 405, a redirect) means the token
  // URL or client is misconfigured: also alert-worthy, and retrying cannot help.
  const code = oauthErrorCode(text);
  return new PartnerError('NHS', 'auth', code ? `${label} (${code})` : label, { status, ...(code ? { detail: code } : {}) });
}

/** Only the RFC 6749 `error` code: `error_description` is free text and is never copied. */
function oauthErrorCode(text: string): string | undefined {
  try {
    const error = (JSON.parse(text) as { error?: unknown } | null)?.error;
    return typeof error === 'string' && OAUTH_ERROR_CODE.test(error) ? error : undefined;
  } catch {
    return undefined;
  }
}

function transportError(err: unknown): PartnerError {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new PartnerError('NHS', 'transient', 'NHS token request timed out', { detail: 'timeout' });
  }
  const tls = tlsFailure('NHS', 'NHS token endpoint', err);
  if (tls) return tls;
  // fetch reports every transport failure as TypeError('fetch failed') with the socket code in `cause`.
  if (isNetworkError(err) || (e?.name === 'TypeError' && e.message === 'fetch failed')) {
    return new PartnerError('NHS', 'transient', 'NHS token request failed on the network', {
      detail: e?.code ?? e?.cause?.code ?? 'network',
    });
  }
  return new PartnerError('NHS', 'transient', 'NHS token request failed', { detail: typeof e?.name === 'string' ? e.name : 'unknown' });
}
