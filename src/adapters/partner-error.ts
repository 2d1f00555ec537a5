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
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ECONNABORTED'].includes(code)
  );
}
