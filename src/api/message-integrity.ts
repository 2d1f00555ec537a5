import type { Lifecycle, Request, ResponseObject, ResponseToolkit, RouteOptions } from '@hapi/hapi';
import { barsOutcome, boomAsOutcome } from './fhir-outcome';

/**
 * BaRS Core 1.2.2 "Transactional integrity", receiver responsibilities: every message carries an
 * `X-Request-Id` and an `X-Correlation-Id` (UUIDs, as the BaRS API's header parameters say); one
 * without them is refused with REC_BAD_REQUEST (by the route's auth scheme, once the credential
 * is accepted and before the body is read: hapi reads the body before any later extension
 * point); and both are mirrored on every answer, refusals included.
 */
export const INTEGRITY_HEADERS = ['x-request-id', 'x-correlation-id'] as const;
type IntegrityHeader = (typeof INTEGRITY_HEADERS)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DISPLAY: Record<IntegrityHeader, string> = { 'x-request-id': 'X-Request-Id', 'x-correlation-id': 'X-Correlation-Id' };

export type IntegrityCheck =
  { ok: true; requestId: string; correlationId: string } | { ok: false; issueCode: 'required' | 'value'; problem: string };

/** Pure: the two headers of a request, or what is wrong with them. */
export function checkIntegrityHeaders(headers: Readonly<Record<string, unknown>>): IntegrityCheck {
  const missing = INTEGRITY_HEADERS.filter((name) => single(headers[name]) === undefined);
  if (missing.length)
    return {
      ok: false,
      issueCode: 'required',
      problem: `${missing.map((n) => DISPLAY[n]).join(' and ')} ${missing.length > 1 ? 'headers are' : 'header is'} required`,
    };
  const malformed = INTEGRITY_HEADERS.filter((name) => !UUID.test(single(headers[name]) as string));
  if (malformed.length)
    return { ok: false, issueCode: 'value', problem: `${malformed.map((n) => DISPLAY[n]).join(' and ')} must be a UUID` };
  return { ok: true, requestId: single(headers['x-request-id']) as string, correlationId: single(headers['x-correlation-id']) as string };
}

/** Only a well-formed id is mirrored: anything else a client sends stays out of our answers. */
function mirrored(request: Request): [string, string][] {
  return INTEGRITY_HEADERS.flatMap((name) => {
    const value = single(request.headers[name]);
    return value !== undefined && UUID.test(value) ? [[DISPLAY[name], value] as [string, string]] : [];
  });
}

function single(value: unknown): string | undefined {
  const one: unknown = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  return typeof one === 'string' && one.trim() !== '' ? one.trim() : undefined;
}

/** The 400 for a request without good integrity headers, or undefined when they are good. */
export function integrityRefusal(request: Request, h: ResponseToolkit): ResponseObject | undefined {
  const checked = checkIntegrityHeaders(request.headers);
  return checked.ok ? undefined : barsOutcome(h, 400, 'REC_BAD_REQUEST', checked.issueCode, checked.problem);
}

/** Mirrors the ids on the answer; a hapi error on this route becomes an OperationOutcome first. */
const answerAsReceiver: Lifecycle.Method = (request, h) => {
  const raw = request.response;
  const response = 'isBoom' in raw && raw.isBoom ? boomAsOutcome(h, raw) : (raw as ResponseObject);
  for (const [name, value] of mirrored(request)) response.header(name, value);
  return 'isBoom' in raw && raw.isBoom ? response : h.continue;
};

/**
 * The route extension for a BaRS receiving endpoint: every answer is an OperationOutcome or the
 * handler's own, and mirrors the integrity ids (Core 1.2.2 error handling and transactional
 * integrity, receiver responsibilities).
 */
export function barsReceiverAnswers(): NonNullable<RouteOptions['ext']> {
  return { onPreResponse: { method: answerAsReceiver } };
}
