import { summariseOutcome } from '../../mappings/operation-outcome';
import { PartnerError, isNetworkError, parseRetryAfter, tlsFailure } from '../partner-error';

/**
 * nhs-fhir.md "Errors": what an NHS answer means for delivery. Pure, so every row of the
 * spec's table is unit-testable without HTTP.
 */

const PERMANENT = new Set([400, 404, 422]);
const AUTH = new Set([401, 403]);
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504]);

/** A 409 on the referral id means the trust already holds the referral: not a failure. */
export type NhsVerdict = { verdict: 'duplicate'; status: 409 } | { verdict: 'failed'; error: PartnerError };

export type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined> | undefined;

/**
 * BaRS error codes (issue.details.coding, system BARS_ERROR_CODE_SYSTEM) say what went wrong
 * more precisely than the status, so when one is present it decides (nhs-fhir.md "Errors").
 */
const BARS_CODE_CLASS: Readonly<Record<string, 'permanent' | 'auth' | 'transient' | 'duplicate'>> = {
  REC_BAD_REQUEST: 'permanent',
  SEND_BAD_REQUEST: 'permanent',
  REC_NOT_FOUND: 'permanent',
  SEND_NOT_FOUND: 'permanent',
  REC_UNPROCESSABLE_ENTITY: 'permanent',
  SEND_UNPROCESSABLE_ENTITY: 'permanent',
  REC_METHOD_NOT_ALLOWED: 'permanent',
  SEND_METHOD_NOT_ALLOWED: 'permanent',
  REC_NOT_ACCEPTABLE: 'permanent',
  SEND_NOT_ACCEPTABLE: 'permanent',
  REC_UNAUTHORIZED: 'auth',
  SEND_UNAUTHORIZED: 'auth',
  REC_FORBIDDEN: 'auth',
  SEND_FORBIDDEN: 'auth',
  REC_CONFLICT: 'duplicate',
  REC_TOO_MANY_REQUESTS: 'transient',
  SEND_TOO_MANY_REQUESTS: 'transient',
  REC_SERVER_ERROR: 'transient',
  SEND_SERVER_ERROR: 'transient',
  REC_BAD_GATEWAY: 'transient',
  SEND_BAD_GATEWAY: 'transient',
  REC_SERVICE_UNAVAILABLE: 'transient',
  SEND_SERVICE_UNAVAILABLE: 'transient',
  REC_GATEWAY_TIMEOUT: 'transient',
  SEND_GATEWAY_TIMEOUT: 'transient',
  REC_TIMEOUT: 'transient',
  SEND_TIMEOUT: 'transient',
};

export function classifyNhsResponse(status: number, headers: HeaderSource, body: unknown, now: number = Date.now()): NhsVerdict {
  const { detail, code, text } = summariseOutcome(body);
  const byCode = code !== undefined && Object.prototype.hasOwnProperty.call(BARS_CODE_CLASS, code) ? BARS_CODE_CLASS[code] : undefined;
  if (byCode === 'duplicate' || (byCode === undefined && status === 409)) return { verdict: 'duplicate', status: 409 };
  const options = { status, ...(detail ? { detail } : {}), ...(code ? { code } : {}), ...(text ? { partnerText: text } : {}) };
  const label = `NHS FHIR server answered ${status}${code ? ` (${code})` : ''}`;

  if (byCode === 'auth' || (byCode === undefined && AUTH.has(status))) return failed(new PartnerError('NHS', 'auth', label, options));
  if (
    byCode === 'permanent' ||
    (byCode === undefined && (PERMANENT.has(status) || (status >= 400 && status < 500 && !TRANSIENT.has(status))))
  ) {
    return failed(new PartnerError('NHS', 'permanent', label, options));
  }
  // 408/429/5xx, and anything else odd (a 2xx whose body was not JSON): retrying is safe because
  // every create is conditional on the referral id.
  const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), now);
  return failed(new PartnerError('NHS', 'transient', label, { ...options, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }));
}

/**
 * Any failure of a fhir-kit-client call as a verdict. fhir-kit-client 2.x rejects HTTP errors with
 * `{ response: { status, data }, config: { headers } }` (config.headers is the fetch Response's
 * Headers, so Retry-After is readable), and NhsRequester.post rejects in the same shape. Network
 * failures surface as fetch's TypeError ('fetch failed', cause with the socket code) or as
 * node:http's error with its code; timeouts as a TimeoutError (our AbortSignal or KeepAliveHttp).
 * Its own message contains the request URL, which may carry a search on an identifier, so it is
 * never copied.
 */
export function nhsVerdictFor(err: unknown, now: number = Date.now()): NhsVerdict {
  if (err instanceof PartnerError) return failed(err);
  const e = err as { response?: { status?: unknown; data?: unknown }; config?: { headers?: HeaderSource }; name?: string } | undefined;
  if (typeof e?.response?.status === 'number') return classifyNhsResponse(e.response.status, e.config?.headers, e.response.data, now);
  if (isTimeout(err)) return failed(new PartnerError('NHS', 'transient', 'NHS FHIR request timed out', { detail: 'timeout' }));
  const tls = tlsFailure('NHS', 'NHS FHIR server', err);
  if (tls) return failed(tls);
  if (isNetworkError(err) || isFetchFailure(err)) {
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    return failed(new PartnerError('NHS', 'transient', 'NHS FHIR request failed on the network', { detail: code ?? 'network' }));
  }
  // Unknown failure inside the client: retry (bounded by the queue), but report only its type.
  return failed(
    new PartnerError('NHS', 'transient', 'NHS FHIR request failed', { detail: typeof e?.name === 'string' ? e.name : 'unknown' }),
  );
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function')
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/**
 * Node's fetch rejects every transport failure with this TypeError (the cause may be absent).
 * Checked by name, not instanceof: fetch's TypeError may come from another realm (jest's vm).
 */
function isFetchFailure(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | undefined;
  return e?.name === 'TypeError' && e.message === 'fetch failed';
}

function failed(error: PartnerError): NhsVerdict {
  return { verdict: 'failed', error };
}
