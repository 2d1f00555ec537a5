import { HttpTimeoutError, KeepAliveHttp } from '../keep-alive-http';
import { PartnerError, isNetworkError, tlsFailure } from '../partner-error';
import type { CharityReferralPayload } from '../../mappings/referral-to-charity';
import { classifyCharityResponse } from './errors';

/** GET /v1/referrals/{id} and each item of the list (charity-api.md). */
export interface CharityReferralState {
  id: string;
  externalReference: string;
  status: string;
  statusReason: string | null;
  updatedAt: string;
}

export interface CharityCallContext {
  correlationId: string;
}

export interface CharityCreateContext extends CharityCallContext {
  /** The referral id: the same at every resend, so the charity creates one referral. */
  idempotencyKey: string;
}

export type CharityCancelReason = 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN';

export interface CharityClientOptions {
  /** Without `/v1`: `CHARITY_API_URL`. */
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
}

interface RawResponse {
  status: number;
  headers: Pick<Headers, 'get'>;
  body: unknown;
}

/**
 * HTTP only: no mapping, no retries. Every failure is a PartnerError('CHARITY', …) whose kind
 * tells the delivery queue what to do (classification in ./errors.ts).
 */
export class CharityClient {
  private readonly apiBase: string;

  constructor(
    private readonly opts: CharityClientOptions,
    private readonly http = new KeepAliveHttp(),
  ) {
    this.apiBase = `${opts.baseUrl.replace(/\/+$/, '')}/v1`;
  }

  async createReferral(
    payload: CharityReferralPayload,
    ctx: CharityCreateContext,
  ): Promise<{ id: string; status: string; replayed: boolean }> {
    const res = await this.request('POST', '/referrals', ctx.correlationId, payload, { 'Idempotency-Key': ctx.idempotencyKey });
    // 200 is the charity replaying the first 201 for the same key and body: still "created".
    if (res.status === 201 || res.status === 200) {
      const body = res.body as { id?: unknown; status?: unknown } | undefined;
      if (typeof body?.id !== 'string' || body.id === '' || typeof body.status !== 'string') throw outcomeUnknown(res.status);
      return { id: body.id, status: body.status, replayed: res.status === 200 };
    }
    throw this.failure(res);
  }

  async getReferral(id: string, ctx: CharityCallContext): Promise<CharityReferralState | undefined> {
    const res = await this.request('GET', `/referrals/${encodeURIComponent(id)}`, ctx.correlationId);
    if (res.status === 404) return undefined;
    if (res.status === 200) {
      if (!isReferralState(res.body)) throw badResponse(res.status);
      return pickState(res.body);
    }
    throw this.failure(res);
  }

  async listUpdated(
    updatedSince: string,
    cursor?: string,
    limit?: number,
    ctx: CharityCallContext = { correlationId: crypto.randomUUID() },
  ): Promise<{ items: CharityReferralState[]; nextCursor: string | null }> {
    const query = new URLSearchParams({ updatedSince });
    if (cursor !== undefined) query.set('cursor', cursor);
    if (limit !== undefined) query.set('limit', String(limit));
    const res = await this.request('GET', `/referrals?${query.toString()}`, ctx.correlationId);
    if (res.status === 200) {
      const body = res.body as { items?: unknown; nextCursor?: unknown } | undefined;
      const items = body?.items;
      const nextCursor = body?.nextCursor ?? null;
      if (!Array.isArray(items) || !items.every(isReferralState) || (nextCursor !== null && typeof nextCursor !== 'string')) {
        throw badResponse(res.status);
      }
      return { items: items.map(pickState), nextCursor };
    }
    throw this.failure(res);
  }

  /** 409 means the charity had already closed or cancelled it: nothing left to cancel. */
  async cancelReferral(id: string, reason: CharityCancelReason, ctx: CharityCallContext): Promise<{ alreadyClosed: boolean }> {
    const res = await this.request('POST', `/referrals/${encodeURIComponent(id)}/cancel`, ctx.correlationId, { reason });
    if (res.status === 200) return { alreadyClosed: false };
    if (res.status === 409) return { alreadyClosed: true };
    throw this.failure(res);
  }

  private failure(res: RawResponse): PartnerError {
    return classifyCharityResponse(res.status, res.headers, res.body) ?? badResponse(res.status);
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    correlationId: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<RawResponse> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.opts.apiKey}`,
      Accept: 'application/json',
      'X-Correlation-Id': correlationId,
      ...extraHeaders,
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';

    try {
      const res = await this.http.request(`${this.apiBase}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: this.opts.timeoutMs,
      });
      return { status: res.status, headers: { get: (name) => res.header(name) }, body: parseJson(res.body.toString('utf8')) };
    } catch (err) {
      if (err instanceof HttpTimeoutError) {
        throw new PartnerError('CHARITY', 'transient', `charity did not answer within ${this.opts.timeoutMs} ms`, { code: 'timeout' });
      }
      const tls = tlsFailure('CHARITY', 'charity', err);
      if (tls) throw tls;
      // Any socket failure counts as transient: wrongly dead-lettering a victim's referral costs more than a retry.
      if (isNetworkError(err) || isSocketFailure(err)) {
        throw new PartnerError('CHARITY', 'transient', `charity unreachable (${networkCode(err)})`, { code: 'network' });
      }
      // What is left could not be sent at all (HttpRequestError: an invalid header value, a bad URL).
      throw new PartnerError('CHARITY', 'permanent', 'charity request could not be made', { code: 'request_failed' });
    }
  }

  close(): void {
    this.http.close();
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // e.g. an HTML error page from a proxy: the status still classifies it
  }
}

/**
 * A 2xx to a create whose body cannot be read (truncated, an HTML page, `{}`, no id): the
 * charity may well hold the case, so this is not a failure but an unknown outcome. Resending
 * under the same Idempotency-Key is safe and returns the existing case (charity-api.md).
 */
function outcomeUnknown(status: number): PartnerError {
  return new PartnerError(
    'CHARITY',
    'transient',
    `charity answered ${status} with an unreadable body: outcome unknown, resending under the same Idempotency-Key`,
    {
      status,
      code: 'outcome_unknown',
    },
  );
}

function badResponse(status: number): PartnerError {
  return new PartnerError('CHARITY', 'permanent', `charity answered ${status} with a body outside the contract`, {
    status,
    code: 'bad_response',
  });
}

function isReferralState(value: unknown): value is CharityReferralState {
  const v = value as Partial<Record<keyof CharityReferralState, unknown>> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.id === 'string' &&
    typeof v.externalReference === 'string' &&
    typeof v.status === 'string' &&
    (v.statusReason === null || v.statusReason === undefined || typeof v.statusReason === 'string') &&
    typeof v.updatedAt === 'string'
  );
}

/** Only the contract's fields, so nothing else the charity adds travels further. */
function pickState(v: CharityReferralState): CharityReferralState {
  return {
    id: v.id,
    externalReference: v.externalReference,
    status: v.status,
    statusReason: v.statusReason ?? null,
    updatedAt: v.updatedAt,
  };
}

/** node:http's own socket and parser failures carry a code (ECONNRESET, HPE_…). */
function isSocketFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(E[A-Z]+|HPE_[A-Z_]+)$/.test(code);
}

function networkCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'network error';
}
