import { PartnerError, parseRetryAfter } from '../partner-error';

/** What the classifier needs of response headers; the fetch `Headers` class fits. */
export interface HeaderReader {
  get(name: string): string | null;
}

/** The longest `detail` kept from a charity error body (dead-letter records stay small). */
export const MAX_DETAIL_CHARS = 500;

/**
 * Pure. The charity's response table (charity-api.md "Responses") as a PartnerError, or
 * undefined for a 2xx. Calls with their own meaning for a status (404 on GET, 409 on cancel)
 * handle it before asking here.
 */
export function classifyCharityResponse(
  status: number,
  headers: HeaderReader,
  body: unknown,
  now: number = Date.now(),
): PartnerError | undefined {
  if (status >= 200 && status < 300) return undefined;

  if (status === 401 || status === 403) {
    return new PartnerError('CHARITY', 'auth', `charity refused the credentials (${status})`, {
      status,
      code: status === 401 ? 'unauthorized' : 'forbidden',
    });
  }
  if (status === 409 && errorCodeOf(body) === 'idempotency_conflict') {
    return new PartnerError('CHARITY', 'permanent', 'charity reported an idempotency conflict (409)', {
      status,
      code: 'idempotency_conflict',
      // charity-api.md: dead-letter and alert. A changed body under one key is a bridge bug to fix.
      alert: true,
      detail: 'idempotency conflict: the same Idempotency-Key was sent with a different body',
    });
  }
  if (status === 422) {
    return new PartnerError('CHARITY', 'permanent', 'charity rejected the referral as invalid (422)', {
      status,
      code: 'validation',
      ...validationDetail(body),
    });
  }
  if (status === 429) {
    return new PartnerError('CHARITY', 'transient', 'charity throttled the request (429)', {
      status,
      code: 'throttled',
      retryAfterMs: parseRetryAfter(headers.get('retry-after'), now),
    });
  }
  if (status >= 500) {
    // A 503 may also carry Retry-After; honouring it costs nothing.
    return new PartnerError('CHARITY', 'transient', `charity server error (${status})`, {
      status,
      code: 'server_error',
      retryAfterMs: parseRetryAfter(headers.get('retry-after'), now),
    });
  }
  const code = errorCodeOf(body);
  return new PartnerError('CHARITY', 'permanent', `charity answered an unexpected status (${status})`, {
    status,
    code: 'unexpected_status',
    detail: code ? `error: ${safeToken(code)}` : undefined,
  });
}

function errorCodeOf(body: unknown): string | undefined {
  const error = (body as { error?: unknown } | null | undefined)?.error;
  return typeof error === 'string' ? error : undefined;
}

/**
 * A 422 body in two parts: the field paths, kept in clear (`detail`), and the validator's
 * messages (`partnerText`), which quote or name the offending values ("Alex Morgan is not a
 * valid …") and so are only ever stored sealed. Both capped at MAX_DETAIL_CHARS.
 */
function validationDetail(body: unknown): { detail: string; partnerText?: string } {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return { detail: 'validation failed (no error list in the response)' };
  const paths: string[] = [];
  const messages: string[] = [];
  for (const e of errors as unknown[]) {
    const item = (e ?? {}) as { path?: unknown; message?: unknown };
    const path = pathText(item.path);
    paths.push(path);
    if (typeof item.message === 'string' && item.message.trim() !== '')
      messages.push(`${path}: ${item.message.replace(/[\u0000-\u001f\u007f]/g, ' ')}`);
  }
  const partnerText = truncate(messages.join('; '), MAX_DETAIL_CHARS);
  return { detail: truncate(paths.join(', '), MAX_DETAIL_CHARS), ...(partnerText ? { partnerText } : {}) };
}

function pathText(path: unknown): string {
  const raw = Array.isArray(path) ? path.map(String).join('.') : typeof path === 'string' ? path : '?';
  return safeToken(raw) || '?';
}

/** Field names and error codes: keep only characters a path or code can have. */
function safeToken(text: string): string {
  return text.replace(/[^A-Za-z0-9_.\[\]-]/g, '').slice(0, 100);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
