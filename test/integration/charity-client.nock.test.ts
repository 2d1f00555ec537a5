import { createServer } from 'node:net';
import nock from 'nock';
import { CharityClient } from '../../src/adapters/charity/charity-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { charityView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload } from '../../src/mappings/referral-to-charity';
import { advocacyReferral } from '../helpers/referrals';
import { socketError, useStrictNock } from '../helpers/nock';

const BASE = 'http://charity.test';
const API_KEY = 'test-api-key';
const KEY = '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22';
const CORRELATION = '0b6f4e1c-7a8d-4c2e-9f10-2a3b4c5d6e7f';
const ctx = { idempotencyKey: KEY, correlationId: CORRELATION };
const payload = referralToCharityPayload(charityView(advocacyReferral()), { referrerOrganisation: 'Cheshire Constabulary IASU' });

const client = new CharityClient({ baseUrl: BASE, apiKey: API_KEY, timeoutMs: 200 });

/** The POST interceptor, matching only when every contract header is present and right. */
function post() {
  return nock(BASE, {
    reqheaders: {
      authorization: `Bearer ${API_KEY}`,
      'idempotency-key': KEY,
      'x-correlation-id': CORRELATION,
      'content-type': 'application/json',
    },
  }).post('/v1/referrals', (body) => JSON.stringify(body) === JSON.stringify(payload));
}

async function createError(): Promise<PartnerError> {
  try {
    await client.createReferral(payload, ctx);
  } catch (err) {
    if (err instanceof PartnerError) return err;
    throw err;
  }
  throw new Error('expected createReferral to fail');
}

/** A port that was just free: connecting to it is refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

useStrictNock();

describe('CharityClient.createReferral: the charity-api.md response table', () => {
  it('201 → created, with the contract headers and the exact payload bytes', async () => {
    let rawBody = '';
    post().reply(201, (_uri, body) => {
      rawBody = typeof body === 'string' ? body : JSON.stringify(body);
      return { id: 'CH-000123', status: 'RECEIVED' };
    });
    await expect(client.createReferral(payload, ctx)).resolves.toEqual({ id: 'CH-000123', status: 'RECEIVED', replayed: false });
    expect(rawBody).toBe(JSON.stringify(payload));
  });

  it('200 same body → treated as created (a replay)', async () => {
    post().reply(200, { id: 'CH-000123', status: 'RECEIVED' });
    await expect(client.createReferral(payload, ctx)).resolves.toEqual({ id: 'CH-000123', status: 'RECEIVED', replayed: true });
  });

  it('409 idempotency_conflict → permanent with an alert, detail says idempotency conflict', async () => {
    post().reply(409, { error: 'idempotency_conflict' });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'permanent', status: 409 });
    expect(err.options.code).toBe('idempotency_conflict');
    expect(err.options.alert).toBe(true);
    expect(err.options.detail).toMatch(/idempotency conflict/i);
  });

  it('422 → permanent with the paths in clear and the messages apart (they quote values, or name them unquoted)', async () => {
    post().reply(422, {
      errors: [
        { path: 'client.forename', message: '"client.forename" is required' },
        { path: 'client.safeContact.phone', message: '"phone" with value "07700900123" fails to match the required pattern' },
        { path: ['client', 'surname'], message: 'Morgan is not the surname on file' },
      ],
    });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'permanent', status: 422 });
    expect(err.options.code).toBe('validation');
    expect(err.options.detail).toBe('client.forename, client.safeContact.phone, client.surname');
    expect(err.partnerText).toBe(
      'client.forename: "client.forename" is required; client.safeContact.phone: "phone" with value "07700900123" fails to match the required pattern; client.surname: Morgan is not the surname on file',
    );
    for (const clear of [err.message, JSON.stringify(err), JSON.stringify(err.options)]) {
      expect(clear).not.toContain('07700900123');
      expect(clear).not.toContain('Morgan');
    }
  });

  it('422 with a long error list → detail truncated to 500 characters', async () => {
    const errors = Array.from({ length: 40 }, (_, i) => ({ path: `field${i}`, message: 'must be a string of a certain length' }));
    post().reply(422, { errors });
    const err = await createError();
    expect(err.partnerText).toHaveLength(500);
    expect(err.partnerText).toMatch(/^field0: must be a string/);
    expect(err.options.detail).toMatch(/^field0, field1, /);
  });

  it.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
  ])('%i → auth (dead-letter and alert, no retry)', async (status, code) => {
    post().reply(status, { error: code });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'auth', status });
    expect(err.message).not.toContain(API_KEY);
  });

  it('429 with Retry-After → transient with retryAfterMs', async () => {
    post().reply(429, { error: 'rate_limited' }, { 'Retry-After': '7' });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient', status: 429, retryAfterMs: 7000 });
  });

  it('429 with an HTTP-date Retry-After → transient with a positive retryAfterMs', async () => {
    post().reply(429, '', { 'Retry-After': new Date(Date.now() + 30_000).toUTCString() });
    const err = await createError();
    expect(err.kind).toBe('transient');
    expect(err.retryAfterMs).toBeGreaterThan(25_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it.each([500, 502, 503])('%i → transient (even with a non-JSON body)', async (status) => {
    post().reply(status, '<html>Bad gateway</html>', { 'Content-Type': 'text/html' });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient', status });
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('timeout → transient', async () => {
    post().delay(2000).reply(201, { id: 'CH-000123', status: 'RECEIVED' });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient' });
    expect(err.options.code).toBe('timeout');
  });

  it('connection reset → transient', async () => {
    post().replyWithError(socketError('ECONNRESET', 'socket hang up'));
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient' });
    expect(err.options.code).toBe('network');
  });

  it('connection refused (nothing listening) → transient', async () => {
    nock.enableNetConnect('127.0.0.1');
    try {
      const closed = new CharityClient({ baseUrl: `http://127.0.0.1:${await closedPort()}`, apiKey: API_KEY, timeoutMs: 2000 });
      await expect(closed.createReferral(payload, ctx)).rejects.toMatchObject({
        partner: 'CHARITY',
        kind: 'transient',
        message: 'charity unreachable (ECONNREFUSED)',
      });
    } finally {
      nock.disableNetConnect();
    }
  });

  it('a request that cannot be built (invalid header value) → permanent, nothing sent', async () => {
    const err = await client.createReferral(payload, { ...ctx, idempotencyKey: 'bad\nkey' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'permanent', options: { code: 'request_failed' } });
  });

  it.each([400, 404, 410])('other 4xx (%i) → permanent', async (status) => {
    post().reply(status, { error: 'bad_request' });
    const err = await createError();
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'permanent', status });
  });

  it('409 that is not an idempotency conflict → permanent, not reported as one', async () => {
    post().reply(409, { error: 'something_else' });
    const err = await createError();
    expect(err.kind).toBe('permanent');
    expect(err.options.code).not.toBe('idempotency_conflict');
  });

  // A 2xx whose body cannot be read may well mean the charity holds the case: "outcome unknown",
  // retried under the same Idempotency-Key, never a permanent failure.
  it.each([
    ['truncated JSON', 201, '{"id":"CH-000123","sta', 'application/json'],
    ['an HTML page', 201, '<html><body>Welcome</body></html>', 'text/html'],
    ['{}', 201, '{}', 'application/json'],
    ['no id (missing case id)', 201, '{"status":"RECEIVED"}', 'application/json'],
    ['an empty id', 201, '{"id":"","status":"RECEIVED"}', 'application/json'],
    ['an empty body', 200, '', 'application/json'],
    ['a replay (200) with truncated JSON', 200, '{"id":"CH-0', 'application/json'],
  ])('%s in a %i → transient outcome_unknown, status kept', async (_what, status, body, type) => {
    post().reply(status, body, { 'Content-Type': type });
    const err = await createError();
    expect(err).toMatchObject({ kind: 'transient', status, partner: 'CHARITY' });
    expect(err.options.code).toBe('outcome_unknown');
    expect(err.message).not.toContain('CH-');
  });

  it('the retry after an unreadable 201 sends the same key and body and gets the existing case (200)', async () => {
    post().reply(201, '<html>proxy</html>', { 'Content-Type': 'text/html' });
    post().reply(200, { id: 'CH-000123', status: 'RECEIVED' });
    expect((await createError()).kind).toBe('transient');
    await expect(client.createReferral(payload, ctx)).resolves.toEqual({ id: 'CH-000123', status: 'RECEIVED', replayed: true });
  });
});

describe('CharityClient reads and cancels', () => {
  const state = { id: 'CH-000123', externalReference: KEY, status: 'ALLOCATED', statusReason: null, updatedAt: '2026-11-22T11:00:00.000Z' };
  const reads = () => nock(BASE, { reqheaders: { authorization: `Bearer ${API_KEY}`, 'x-correlation-id': CORRELATION } });

  it('getReferral 200 → the state, contract fields only', async () => {
    reads()
      .get('/v1/referrals/CH-000123')
      .reply(200, { ...state, caseworker: 'someone' });
    await expect(client.getReferral('CH-000123', { correlationId: CORRELATION })).resolves.toStrictEqual(state);
  });

  it('getReferral 404 → undefined', async () => {
    reads().get('/v1/referrals/CH-999999').reply(404, { error: 'not_found' });
    await expect(client.getReferral('CH-999999', { correlationId: CORRELATION })).resolves.toBeUndefined();
  });

  it('getReferral 503 → transient', async () => {
    reads().get('/v1/referrals/CH-000123').reply(503);
    await expect(client.getReferral('CH-000123', { correlationId: CORRELATION })).rejects.toMatchObject({ kind: 'transient', status: 503 });
  });

  it('listUpdated sends updatedSince, cursor and limit and returns the page', async () => {
    nock(BASE, { reqheaders: { authorization: `Bearer ${API_KEY}` } })
      .get('/v1/referrals')
      .query({ updatedSince: '2026-11-22T00:00:00Z', cursor: 'abc', limit: '2' })
      .reply(200, { items: [state], nextCursor: 'def' });
    await expect(client.listUpdated('2026-11-22T00:00:00Z', 'abc', 2)).resolves.toStrictEqual({ items: [state], nextCursor: 'def' });
  });

  it('listUpdated with a malformed item → permanent bad_response', async () => {
    nock(BASE)
      .get('/v1/referrals')
      .query(true)
      .reply(200, { items: [{ id: 1 }], nextCursor: null });
    await expect(client.listUpdated('2026-11-22T00:00:00Z')).rejects.toMatchObject({
      kind: 'permanent',
      options: { code: 'bad_response' },
    });
  });

  it('cancelReferral 200 → not already closed, sending the reason', async () => {
    reads()
      .post('/v1/referrals/CH-000123/cancel', { reason: 'CONSENT_WITHDRAWN' })
      .reply(200, { ...state, status: 'CANCELLED' });
    await expect(client.cancelReferral('CH-000123', 'CONSENT_WITHDRAWN', { correlationId: CORRELATION })).resolves.toEqual({
      alreadyClosed: false,
    });
  });

  it('cancelReferral 409 → already closed', async () => {
    reads().post('/v1/referrals/CH-000123/cancel', { reason: 'RECORD_WITHDRAWN' }).reply(409, { error: 'already_closed' });
    await expect(client.cancelReferral('CH-000123', 'RECORD_WITHDRAWN', { correlationId: CORRELATION })).resolves.toEqual({
      alreadyClosed: true,
    });
  });

  it('cancelReferral 401 → auth', async () => {
    reads().post('/v1/referrals/CH-000123/cancel').reply(401);
    await expect(client.cancelReferral('CH-000123', 'RECORD_WITHDRAWN', { correlationId: CORRELATION })).rejects.toMatchObject({
      kind: 'auth',
    });
  });
});
