import nock from 'nock';
import { PoliceFeedClient } from '../../src/adapters/police/feed-client';
import { PoliceWriteBackClient } from '../../src/adapters/police/write-back-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { writeBackToXml, type WriteBack } from '../../src/mappings/referral-to-write-back';
import { restoreNockAfterAll, socketError } from '../helpers/nock';

restoreNockAfterAll();

const BASE = 'http://rms.test';
const TOKEN = 'rms-static-token';
const CORRELATION = '5d1c9a7e-2b3f-4c6d-8e9f-0a1b2c3d4e5f';
const ctx = { correlationId: CORRELATION };

const outcome: WriteBack = {
  crimeReference: 'CC-26-0001234',
  referralId: 'b1f6f6b4-3d2e-5b7a-9c1d-0e2f3a4b5c6d',
  partner: 'NHS',
  partnerReference: 'ServiceRequest/123',
  status: 'ACCEPTED',
  statusAt: '2026-11-22T11:02:00Z',
  seq: 3,
};
const KEY = `${outcome.referralId}:ACCEPTED:3`;
const XML = writeBackToXml(outcome);

beforeAll(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

async function rejection(promise: Promise<unknown>): Promise<PartnerError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PartnerError) return err;
    throw err;
  }
  throw new Error('expected a PartnerError');
}

describe('PoliceWriteBackClient.post', () => {
  const client = new PoliceWriteBackClient({ baseUrl: BASE, token: TOKEN, timeoutMs: 2000 });

  /** Matches only when every contract header is right and the body is the outcome XML. */
  function post() {
    return nock(BASE, {
      reqheaders: {
        authorization: `Bearer ${TOKEN}`,
        'idempotency-key': KEY,
        'x-correlation-id': CORRELATION,
        'content-type': (value: string) => /^application\/xml\b/.test(value) && /charset=utf-8/i.test(value),
      },
    }).post('/referral-outcomes', (body) => body === XML);
  }

  it.each([200, 201, 204])('resolves on %i', async (status) => {
    const scope = post().reply(status);
    await expect(client.post(outcome, ctx)).resolves.toBeUndefined();
    expect(scope.isDone()).toBe(true);
  });

  it('sends the idempotency key, XML content type, correlation id, bearer token and the XML body', async () => {
    let seen: { headers: Record<string, string | string[]>; body: unknown } | undefined;
    nock(BASE)
      .post('/referral-outcomes')
      .reply(function (_uri, body) {
        seen = { headers: this.req.headers as Record<string, string | string[]>, body };
        return [204];
      });
    await client.post(outcome, ctx);
    expect(seen).toBeDefined();
    expect(seen!.headers['idempotency-key']).toBe(KEY);
    expect(seen!.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(seen!.headers['x-correlation-id']).toBe(CORRELATION);
    expect(seen!.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(seen!.body).toBe(XML);
    expect(String(seen!.body)).toContain('<ReferralOutcome xmlns="urn:iasu:police-feed:1">');
  });

  it('sends no Authorization header when no token is configured', async () => {
    const anonymous = new PoliceWriteBackClient({ baseUrl: BASE, token: '', timeoutMs: 2000 });
    const scope = nock(BASE, { badheaders: ['authorization'] })
      .post('/referral-outcomes')
      .matchHeader('idempotency-key', KEY)
      .reply(201);
    await anonymous.post(outcome, ctx);
    expect(scope.isDone()).toBe(true);
  });

  it.each([400, 404, 409, 422])('treats %i as permanent', async (status) => {
    post().reply(status, '<Error>nope</Error>');
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('permanent');
    expect(err.partner).toBe('POLICE');
    expect(err.status).toBe(status);
    expect(err.message).toBe(`outcome write-back: RMS answered ${status}`);
  });

  it.each([401, 403])('treats %i as auth', async (status) => {
    post().reply(status);
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('auth');
    expect(err.status).toBe(status);
  });

  it('treats 429 as transient and honours Retry-After seconds', async () => {
    post().reply(429, '', { 'Retry-After': '7' });
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('transient');
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBe(7000);
  });

  it.each([408, 500, 502, 503])('treats %i as transient', async (status) => {
    post().reply(status);
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('transient');
    expect(err.status).toBe(status);
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('treats 503 with an HTTP-date Retry-After as transient with a delay', async () => {
    post().reply(503, '', { 'Retry-After': new Date(Date.now() + 60_000).toUTCString() });
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('transient');
    expect(err.retryAfterMs).toBeGreaterThan(50_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('treats a connection reset as transient', async () => {
    post().replyWithError(socketError('ECONNRESET', 'socket hang up'));
    const err = await rejection(client.post(outcome, ctx));
    expect(err.kind).toBe('transient');
    expect(err.partner).toBe('POLICE');
    expect(err.status).toBeUndefined();
    expect(err.message).toBe('police RMS unreachable (ECONNRESET)');
  });

  it('treats a timeout as transient', async () => {
    const slow = new PoliceWriteBackClient({ baseUrl: BASE, token: TOKEN, timeoutMs: 50 });
    post().delay(500).reply(204);
    const err = await rejection(slow.post(outcome, ctx));
    expect(err.kind).toBe('transient');
    expect(err.message).toBe('police RMS unreachable (ETIMEDOUT)');
  });
});

describe('PoliceFeedClient.fetchPage', () => {
  const client = new PoliceFeedClient({ baseUrl: BASE, token: TOKEN, timeoutMs: 2000, pageLimit: 250 });
  const PAGE = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?><CrimeFlagFeed xmlns="urn:iasu:police-feed:1" force="CHESHIRE"><Cursor next="2" more="false"/></CrimeFlagFeed>',
  );

  function get(query: Record<string, string>) {
    return nock(BASE, { reqheaders: { authorization: `Bearer ${TOKEN}`, 'x-correlation-id': CORRELATION } })
      .get('/flags')
      .query(query);
  }

  it('sends cursor and limit and the bearer token, and returns the body bytes on 200', async () => {
    const scope = get({ cursor: '0000000000004711', limit: '250' }).reply(200, PAGE, { 'Content-Type': 'application/xml' });
    const body = await client.fetchPage('0000000000004711', ctx);
    expect(Buffer.isBuffer(body)).toBe(true);
    expect(body.equals(PAGE)).toBe(true);
    expect(scope.isDone()).toBe(true);
  });

  it('omits the cursor on the very first call', async () => {
    const scope = get({ limit: '250' }).reply(200, PAGE);
    expect((await client.fetchPage(undefined, ctx)).equals(PAGE)).toBe(true);
    expect(scope.isDone()).toBe(true);
  });

  it('URL-encodes an opaque cursor', async () => {
    const cursor = 'a b&c=d/e+f';
    const scope = get({ cursor, limit: '250' }).reply(200, PAGE);
    await client.fetchPage(cursor, ctx);
    expect(scope.isDone()).toBe(true);
  });

  it('returns bytes untouched (no text decoding in the client)', async () => {
    const bytes = Buffer.from([0x3c, 0xc3, 0x28, 0xff, 0x3e]);
    get({ limit: '250' }).reply(200, bytes);
    expect((await client.fetchPage(undefined, ctx)).equals(bytes)).toBe(true);
  });

  it.each([
    [429, '30', 30_000],
    [503, '5', 5_000],
  ])('treats %i with Retry-After as transient with retryAfterMs', async (status, retryAfter, ms) => {
    get({ cursor: 'c', limit: '250' }).reply(status, 'busy', { 'Retry-After': retryAfter });
    const err = await rejection(client.fetchPage('c', ctx));
    expect(err.kind).toBe('transient');
    expect(err.status).toBe(status);
    expect(err.retryAfterMs).toBe(ms);
    expect(err.message).toBe(`feed poll: RMS answered ${status}`);
  });

  it('treats 401 as auth', async () => {
    get({ limit: '250' }).reply(401);
    const err = await rejection(client.fetchPage(undefined, ctx));
    expect(err.kind).toBe('auth');
    expect(err.status).toBe(401);
  });

  it('treats 500 as transient', async () => {
    get({ limit: '250' }).reply(500, 'oops');
    const err = await rejection(client.fetchPage(undefined, ctx));
    expect(err.kind).toBe('transient');
    expect(err.status).toBe(500);
  });

  it.each([204, 304, 404])('treats an unexpected %i as an error for the poll', async (status) => {
    get({ limit: '250' }).reply(status);
    const err = await rejection(client.fetchPage(undefined, ctx));
    expect(err.status).toBe(status);
    expect(err.kind).toBe('permanent');
  });

  it('treats a connection reset as transient', async () => {
    get({ limit: '250' }).replyWithError(socketError('ECONNRESET'));
    const err = await rejection(client.fetchPage(undefined, ctx));
    expect(err.kind).toBe('transient');
    expect(err.message).toBe('police RMS unreachable (ECONNRESET)');
  });

  it('sends no Authorization header when no token is configured', async () => {
    const anonymous = new PoliceFeedClient({ baseUrl: BASE, token: '', timeoutMs: 2000, pageLimit: 10 });
    const scope = nock(BASE, { badheaders: ['authorization'] })
      .get('/flags')
      .query({ limit: '10' })
      .reply(200, PAGE);
    await anonymous.fetchPage(undefined, ctx);
    expect(scope.isDone()).toBe(true);
  });
});
