/**
 * How a partner call failed, in the terms the queues act on:
 * - `transient`: retry with backoff (honour `retryAfterMs` when the partner sent Retry-After)
 * - `permanent`: dead-letter with `detail`; retrying cannot help
 * - `auth`: credentials refused; dead-letter and alert, never a retry storm
 * `detail` must not contain personal data: partners' error texts are reduced before use.
 */
export type PartnerErrorKind = 'transient' | 'permanent' | 'auth';
export type PartnerName = 'POLICE' | 'NHS' | 'CHARITY';

export class PartnerError extends Error {
  constructor(
    readonly partner: PartnerName,
    readonly kind: PartnerErrorKind,
    message: string,
    /** `alert`: operators must act even though the kind alone would not say so (e.g. an idempotency conflict). */
    readonly options: { status?: number; retryAfterMs?: number; detail?: string; code?: string; alert?: boolean } = {},
  ) {
    super(message);
    this.name = 'PartnerError';
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
