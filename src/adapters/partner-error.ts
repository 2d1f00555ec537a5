/**
 * How a partner call failed, in the terms the queues act on:
 * - `transient`: retry with backoff (honour `retryAfterMs` when the partner sent Retry-After)
 * - `permanent`: dead-letter with `detail`; retrying cannot help
 * - `auth`: credentials refused; dead-letter and alert, never a retry storm
 * `detail` is structured and kept in clear (status, codes, FHIRPath expressions, field paths),
 * so it must never carry the partner's own words: those often quote the patient back. They go
 * in `partnerText`, which is not enumerable (a logged error never shows it) and is stored only
 * sealed with the referral's data (ReferralStore.savePartnerText, a dead letter's sealed partnerText).
 */
export type PartnerErrorKind = 'transient' | 'permanent' | 'auth';
export type PartnerName = 'POLICE' | 'NHS' | 'CHARITY';

export interface PartnerErrorOptions {
  status?: number;
  retryAfterMs?: number;
  detail?: string;
  code?: string;
  /** Operators must act even though the kind alone would not say so (e.g. an idempotency conflict). */
  alert?: boolean;
}

export class PartnerError extends Error {
  readonly options: PartnerErrorOptions;
  readonly #partnerText: string | undefined;

  constructor(
    readonly partner: PartnerName,
    readonly kind: PartnerErrorKind,
    message: string,
    options: PartnerErrorOptions & { partnerText?: string } = {},
  ) {
    super(message);
    this.name = 'PartnerError';
    const { partnerText, ...clear } = options;
    this.options = clear;
    this.#partnerText = partnerText || undefined;
  }

  /** The partner's free text about the failure: may hold personal data, so never logged or kept in clear. */
  get partnerText(): string | undefined {
    return this.#partnerText;
  }

  get status(): number | undefined {
    return this.options.status;
  }

  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }
}

/** Parses a Retry-After header (delta-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Network-level failures (refused, reset, timeout, DNS) are transient for every partner. */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: string; name?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return true;
  return (
    typeof code === 'string' &&
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'ENOTFOUND',
      'EAI_AGAIN',
      'UND_ERR_SOCKET',
      'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'ECONNABORTED',
      'ERR_TLS_HANDSHAKE_TIMEOUT',
    ].includes(code)
  );
}

/** OpenSSL's certificate verification results, as node names them in `err.code`. */
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/**
 * The TLS error code of a failure, or undefined: a certificate the bridge refused (OpenSSL's
 * codes, node's ERR_TLS_CERT_*), or a TLS alert or protocol error (ERR_SSL_*, e.g. the partner
 * refusing our client certificate). Found on the error itself or, as fetch reports it, on its `cause`.
 */
export function tlsErrorCode(err: unknown): string | undefined {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; depth < 3 && e !== null && typeof e === 'object'; depth++) {
    const code = e.code;
    if (typeof code === 'string' && (CERTIFICATE_CODES.has(code) || /^ERR_(TLS_CERT|SSL)_[A-Z0-9_]{1,80}$/.test(code))) return code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * A TLS failure as a PartnerError, or undefined when `err` is not one. An expired or untrusted
 * certificate is an operator's problem, not the referral's: retried with backoff like any
 * transport failure (it works again once the certificate or trust store is fixed), with an alert
 * so people hear of it at once. The reason names the code only: never a URL or anything sent.
 */
export function tlsFailure(partner: PartnerName, who: string, err: unknown): PartnerError | undefined {
  const code = tlsErrorCode(err);
  if (code === undefined) return undefined;
  return new PartnerError(partner, 'transient', `${who} TLS error (${code}): the certificate or trust store needs an operator`, {
    code: 'tls',
    alert: true,
  });
}
