import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { CharityClient } from '../../src/adapters/charity/charity-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { charityView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload, type CharityReferralPayload } from '../../src/mappings/referral-to-charity';
import { charityStatusToBridgeStatus } from '../../src/mappings/charity-status';
import {
  signCharityWebhook,
  startCharitySimulator,
  type CharitySimulator,
  type CharitySimulatorOptions,
  type CharityWebhookEvent,
} from '../../simulators/charity';
import { advocacyReferral } from '../helpers/referrals';

const API_KEY = 'e2e-key';
const ORG = { referrerOrganisation: 'Cheshire Constabulary IASU' };

function payloadFor(n: number): CharityReferralPayload {
  const referralId = `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`;
  return referralToCharityPayload(charityView(advocacyReferral({ referralId })), ORG);
}
const ctxFor = (p: CharityReferralPayload) => ({ idempotencyKey: p.externalReference, correlationId: crypto.randomUUID() });
const read = () => ({ correlationId: crypto.randomUUID() });

/** The socket-level code a connection attempt to `url` fails with (undefined if it connects). */
async function connectError(url: string): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
  });
}

async function failure(promise: Promise<unknown>): Promise<PartnerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PartnerError)) throw new Error(`expected a PartnerError, got ${String(err)}`);
  return err;
}

describe('charity simulator through CharityClient', () => {
  let sim: CharitySimulator;
  let client: CharityClient;

  beforeEach(async () => {
    sim = await startCharitySimulator({ apiKey: API_KEY });
    client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 2000 });
  });
  afterEach(async () => {
    await sim.stop();
  });

  it('creates once per idempotency key: a resend replays the same id', async () => {
    const payload = payloadFor(1);
    const first = await client.createReferral(payload, ctxFor(payload));
    expect(first).toEqual({ id: 'CH-000001', status: 'RECEIVED', replayed: false });

    const again = await client.createReferral(payloadFor(1), ctxFor(payload));
    expect(again).toEqual({ id: 'CH-000001', status: 'RECEIVED', replayed: true });
    expect(sim.stats()).toEqual({
      created: 1,
      replays: 1,
      conflicts: 0,
      distinctKeys: 1,
      cancels: 0,
      webhooksSent: 0,
      webhooksFailed: 0,
      webhooksDropped: 0,
      webhooksGivenUp: 0,
      webhooksBeforeAnswer: 0,
    });
    expect(sim.referrals()).toHaveLength(1);
  });

  it('numbers referrals CH-000001, CH-000002, …', async () => {
    const ids = [];
    for (const n of [1, 2, 3]) ids.push((await client.createReferral(payloadFor(n), ctxFor(payloadFor(n)))).id);
    expect(ids).toEqual(['CH-000001', 'CH-000002', 'CH-000003']);
  });

  it('answers a different body under the same key with a permanent idempotency conflict', async () => {
    const payload = payloadFor(1);
    await client.createReferral(payload, ctxFor(payload));
    const changed = { ...payload, summary: 'A different summary' };
    const err = await failure(client.createReferral(changed, ctxFor(payload)));
    expect(err).toMatchObject({ kind: 'permanent', status: 409, options: { code: 'idempotency_conflict' } });
    expect(sim.stats()).toMatchObject({ created: 1, conflicts: 1 });
  });

  it('rejects an invalid referral with 422 and the paths, and creates nothing', async () => {
    const payload = payloadFor(1);
    const invalid = { ...payload, client: { ...payload.client, forename: undefined } };
    const err = await failure(client.createReferral(invalid, ctxFor(payload)));
    expect(err).toMatchObject({ kind: 'permanent', status: 422 });
    expect(err.options.detail).toContain('client.forename');
    expect(sim.stats().created).toBe(0);
  });

  it('rejects a referral without GIVEN consent, or with a field outside the contract', async () => {
    const payload = payloadFor(1);
    const refused = { ...payload, consent: { status: 'REFUSED' } } as unknown as CharityReferralPayload;
    expect((await failure(client.createReferral(refused, ctxFor(payload)))).options.detail).toContain('consent.status');
    const leaky = { ...payload, client: { ...payload.client, nhsNumber: '9000000009' } } as CharityReferralPayload;
    expect((await failure(client.createReferral(leaky, ctxFor(payload)))).options.detail).toContain('client.nhsNumber');
  });

  it('accepts the mapping of the example referral as valid', async () => {
    const payload = referralToCharityPayload(charityView(advocacyReferral()), ORG);
    await expect(client.createReferral(payload, ctxFor(payload))).resolves.toMatchObject({ status: 'RECEIVED' });
  });

  it('refuses a wrong API key as an auth error', async () => {
    const wrong = new CharityClient({ baseUrl: sim.url, apiKey: 'wrong', timeoutMs: 2000 });
    const payload = payloadFor(1);
    expect(await failure(wrong.createReferral(payload, ctxFor(payload)))).toMatchObject({ kind: 'auth', status: 401 });
    expect(await failure(wrong.getReferral('CH-000001', read()))).toMatchObject({ kind: 'auth', status: 401 });
  });

  it('advances RECEIVED → ALLOCATED → … → CLOSED, keeping the outcome', async () => {
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      expect(sim.advance()).toBe(1);
      const state = await client.getReferral(id, read());
      seen.push(state!.status);
      if (i === 0) {
        expect(state).toMatchObject({ id, externalReference: payload.externalReference, status: 'ALLOCATED', statusReason: null });
        expect(charityStatusToBridgeStatus(state!.status)).toBe('ACCEPTED');
      }
    }
    expect(seen).toEqual(['ALLOCATED', 'CONTACTED', 'ENGAGED', 'CLOSED']);
    expect((await client.getReferral(id, read()))!.statusReason).toBe('ENGAGED');
    expect(sim.advance()).toBe(0);
  });

  it('sends a deterministic share to DECLINED and UNCONTACTABLE instead of ENGAGED', async () => {
    for (let n = 1; n <= 7; n++) await client.createReferral(payloadFor(n), ctxFor(payloadFor(n)));
    sim.advance();
    sim.advance();
    sim.advance();
    const statuses = sim.referrals().map((r) => r.status);
    expect(statuses).toEqual(['ENGAGED', 'ENGAGED', 'ENGAGED', 'ENGAGED', 'UNCONTACTABLE', 'ENGAGED', 'DECLINED']);
  });

  it('answers 404 → undefined for an unknown id', async () => {
    await expect(client.getReferral('CH-999999', read())).resolves.toBeUndefined();
  });

  it('pages listUpdated with updatedSince, cursor and limit, each referral exactly once', async () => {
    for (let n = 1; n <= 5; n++) await client.createReferral(payloadFor(n), ctxFor(payloadFor(n)));
    const since = new Date(Date.now() - 60_000).toISOString();
    const ids: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.listUpdated(since, cursor, 2);
      expect(page.items.length).toBeLessThanOrEqual(2);
      ids.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect([...ids].sort()).toEqual(['CH-000001', 'CH-000002', 'CH-000003', 'CH-000004', 'CH-000005']);

    const future = new Date(Date.now() + 60_000).toISOString();
    await expect(client.listUpdated(future)).resolves.toEqual({ items: [], nextCursor: null });
  });

  it('lists only referrals updated since the given time', async () => {
    for (let n = 1; n <= 2; n++) await client.createReferral(payloadFor(n), ctxFor(payloadFor(n)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const since = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const { id } = await client.createReferral(payloadFor(3), ctxFor(payloadFor(3)));
    const page = await client.listUpdated(since);
    expect(page.items.map((i) => i.id)).toEqual([id]);
  });

  it('cancels an open referral once; a second cancel finds it already closed', async () => {
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    await expect(client.cancelReferral(id, 'CONSENT_WITHDRAWN', read())).resolves.toEqual({ alreadyClosed: false });
    await expect(client.getReferral(id, read())).resolves.toMatchObject({ status: 'CANCELLED', statusReason: 'CONSENT_WITHDRAWN' });
    await expect(client.cancelReferral(id, 'RECORD_WITHDRAWN', read())).resolves.toEqual({ alreadyClosed: true });
    expect(sim.stats().cancels).toBe(1);
    expect(sim.advance()).toBe(0);
  });

  it('goDown refuses connections (a transient network PartnerError) and comeBack serves the same referrals on the same port', async () => {
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    // An idle connection held open across the outage, like a keep-alive socket in a pool.
    const { hostname, port } = new URL(sim.url);
    const held = connect(Number(port), hostname);
    await new Promise((resolve) => held.once('connect', resolve));
    const heldClosed = new Promise((resolve) => held.once('close', resolve));
    const url = sim.url;

    await sim.goDown();
    await sim.goDown(); // already down: no-op
    await heldClosed; // the open socket was cut, not left serving
    expect(await connectError(url)).toBe('ECONNREFUSED');
    const raw = await fetch(`${url}/v1/referrals/${id}`, { headers: { authorization: `Bearer ${API_KEY}` } }).catch((e: unknown) => e);
    expect((raw as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
    // The client's pooled keep-alive socket from the create above is gone too: every call is refused.
    const err = await failure(client.getReferral(id, read()));
    expect(err).toMatchObject({ partner: 'CHARITY', kind: 'transient', options: { code: 'network' } });
    expect(err.message).toContain('ECONNREFUSED');
    expect(await failure(client.createReferral(payloadFor(2), ctxFor(payloadFor(2))))).toMatchObject({
      kind: 'transient',
      options: { code: 'network' },
    });
    // The charity keeps working on its side while unreachable.
    expect(sim.advance()).toBe(1);
    expect(sim.referrals()).toEqual([expect.objectContaining({ id, status: 'ALLOCATED' })]);

    await sim.comeBack();
    await sim.comeBack(); // already up: no-op
    expect(sim.url).toBe(url);
    expect(await connectError(url)).toBeUndefined();
    await expect(client.getReferral(id, read())).resolves.toMatchObject({
      id,
      externalReference: payload.externalReference,
      status: 'ALLOCATED',
    });
    // Its idempotency memory survived too: a resend replays.
    await expect(client.createReferral(payload, ctxFor(payload))).resolves.toEqual({ id, status: 'RECEIVED', replayed: true });
    expect(sim.stats()).toMatchObject({ created: 1, replays: 1 });
  });

  it('can go down and come back repeatedly, and stop() works while down', async () => {
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    for (let i = 0; i < 3; i++) {
      await sim.goDown();
      expect(await failure(client.getReferral(id, read()))).toMatchObject({ kind: 'transient' });
      await sim.comeBack();
      await expect(client.getReferral(id, read())).resolves.toMatchObject({ id });
    }
    await sim.goDown();
    await sim.stop(); // afterEach stops it again: stop() twice must be harmless as well
    expect(await connectError(sim.url)).toBe('ECONNREFUSED');
    await expect(sim.comeBack()).rejects.toThrow(/stopped/);
  });

  it('forget loses a referral: 404, gone from the list, and a resend under its key creates it again with a new id', async () => {
    const [p1, p2] = [payloadFor(1), payloadFor(2)];
    const first = await client.createReferral(p1, ctxFor(p1));
    const second = await client.createReferral(p2, ctxFor(p2));
    const since = new Date(Date.now() - 60_000).toISOString();

    expect(sim.forget(first.id)).toBe(true);
    expect(sim.forget(first.id)).toBe(false);
    expect(sim.forget('CH-999999')).toBe(false);
    await expect(client.getReferral(first.id, read())).resolves.toBeUndefined();
    expect((await client.listUpdated(since)).items.map((i) => i.id)).toEqual([second.id]);
    expect(sim.referrals().map((r) => r.id)).toEqual([second.id]);
    expect(sim.stats()).toMatchObject({ created: 2, distinctKeys: 1 });
    await expect(client.cancelReferral(first.id, 'CONSENT_WITHDRAWN', read())).rejects.toMatchObject({ status: 404 });

    const again = await client.createReferral(p1, ctxFor(p1));
    expect(again).toEqual({ id: 'CH-000003', status: 'RECEIVED', replayed: false });
    await expect(client.getReferral(again.id, read())).resolves.toMatchObject({
      externalReference: p1.externalReference,
      status: 'RECEIVED',
    });
    await expect(client.getReferral(first.id, read())).resolves.toBeUndefined();
    // The other referral's key is untouched: still a replay.
    await expect(client.createReferral(p2, ctxFor(p2))).resolves.toEqual({ ...second, replayed: true });
    expect(sim.stats()).toMatchObject({ created: 3, replays: 1, distinctKeys: 2 });
    expect(sim.advance()).toBe(2); // a forgotten referral is not advanced
  });

  it('setStatus moves one referral straight to a status, visible through GET and the list', async () => {
    let clock = Date.parse('2026-11-22T11:00:00Z');
    const clocked = await startCharitySimulator({ apiKey: API_KEY, now: () => (clock += 1000) });
    try {
      const c = new CharityClient({ baseUrl: clocked.url, apiKey: API_KEY, timeoutMs: 2000 });
      const [p1, p2] = [payloadFor(1), payloadFor(2)];
      const { id } = await c.createReferral(p1, ctxFor(p1));
      const other = await c.createReferral(p2, ctxFor(p2));
      const before = (await c.getReferral(id, read()))!;

      clocked.setStatus(id, 'CLOSED', 'DECLINED');
      const after = (await c.getReferral(id, read()))!;
      expect(after).toMatchObject({ id, status: 'CLOSED', statusReason: 'DECLINED' });
      expect(after.updatedAt > before.updatedAt).toBe(true);
      expect((await c.listUpdated(after.updatedAt)).items.map((i) => i.id)).toEqual([id]);
      await expect(c.getReferral(other.id, read())).resolves.toMatchObject({ status: 'RECEIVED' });

      clocked.setStatus(other.id, 'CONTACTED');
      await expect(c.getReferral(other.id, read())).resolves.toMatchObject({ status: 'CONTACTED', statusReason: null });
      expect(() => clocked.setStatus('CH-999999', 'ALLOCATED')).toThrow(/CH-999999/);
      // From there the normal progression carries on; the closed one stays closed.
      expect(clocked.advance()).toBe(1);
      await expect(c.getReferral(other.id, read())).resolves.toMatchObject({ status: 'ENGAGED' });
    } finally {
      await clocked.stop();
    }
  });

  it('finds a CLOSED referral already closed on cancel', async () => {
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    for (let i = 0; i < 4; i++) sim.advance();
    await expect(client.cancelReferral(id, 'RECORD_WITHDRAWN', read())).resolves.toEqual({ alreadyClosed: true });
    expect(sim.stats().cancels).toBe(0);
  });
});

describe('charity simulator faults', () => {
  it('with errorRate 1 every create fails transiently (503, then 429 with Retry-After) and nothing is created', async () => {
    const sim = await startCharitySimulator({ apiKey: API_KEY, faults: { errorRate: 1 } });
    try {
      const client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 2000 });
      const payload = payloadFor(1);
      const first = await failure(client.createReferral(payload, ctxFor(payload)));
      expect(first).toMatchObject({ kind: 'transient', status: 503 });
      const second = await failure(client.createReferral(payload, ctxFor(payload)));
      expect(second).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 1000 });
      expect(sim.stats()).toMatchObject({ created: 0, distinctKeys: 0 });
      // Reads are not faulted.
      await expect(client.getReferral('CH-000001', read())).resolves.toBeUndefined();
    } finally {
      await sim.stop();
    }
  });

  it('uses the injected random source for the error rate', async () => {
    const draws = [0.1, 0.9];
    const sim = await startCharitySimulator({ apiKey: API_KEY, faults: { errorRate: 0.5 }, random: () => draws.shift() ?? 0.9 });
    try {
      const client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 2000 });
      const payload = payloadFor(1);
      expect(await failure(client.createReferral(payload, ctxFor(payload)))).toMatchObject({ kind: 'transient', status: 503 });
      await expect(client.createReferral(payload, ctxFor(payload))).resolves.toMatchObject({ id: 'CH-000001', replayed: false });
    } finally {
      await sim.stop();
    }
  });

  it('latency beyond the client timeout is a transient timeout', async () => {
    const sim = await startCharitySimulator({ apiKey: API_KEY, faults: { latencyMs: 300 } });
    try {
      const client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 100 });
      const payload = payloadFor(1);
      expect(await failure(client.createReferral(payload, ctxFor(payload)))).toMatchObject({
        kind: 'transient',
        options: { code: 'timeout' },
      });
    } finally {
      await sim.stop();
    }
  });

  it('advanceEveryMs moves referrals on its own', async () => {
    const sim = await startCharitySimulator({ apiKey: API_KEY, advanceEveryMs: 20 });
    try {
      const client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 2000 });
      const payload = payloadFor(1);
      const { id } = await client.createReferral(payload, ctxFor(payload));
      const deadline = Date.now() + 2000;
      let status = 'RECEIVED';
      while (status !== 'CLOSED' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        status = (await client.getReferral(id, read()))!.status;
      }
      expect(status).toBe('CLOSED');
    } finally {
      await sim.stop();
    }
  });
});

const WEBHOOK_SECRET = 'whsec_e2e';

/** Checks `t=…,v1=…` against the raw bytes with our own HMAC; the simulator's signer is not used. */
function signatureValid(secret: string, header: string | undefined, raw: Buffer): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const expected = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${match[1]}.`, 'utf8'), raw]))
    .digest();
  const given = Buffer.from(match[2]!, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface Received {
  raw: Buffer;
  contentType: string | undefined;
  signature: string | undefined;
  t: number;
  valid: boolean;
  event: CharityWebhookEvent;
  answered: number;
}

/** A bare node:http receiver that keeps raw bytes and headers and answers `respond(n)` to the nth request. */
async function startReceiver(
  respond: (n: number) => number = () => 200,
): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = req.headers['x-charity-signature'] as string | undefined;
      const answered = respond(++n);
      got.push({
        raw,
        contentType: req.headers['content-type'],
        signature,
        t: Number(/^t=(\d+),/.exec(signature ?? '')?.[1]),
        valid: signatureValid(WEBHOOK_SECRET, signature, raw),
        event: JSON.parse(raw.toString('utf8')) as CharityWebhookEvent,
        answered,
      });
      res.writeHead(answered, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/webhooks/charity`,
    got,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

describe('charity simulator webhooks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let receiverOpen = false;
  let sim: CharitySimulator | undefined;
  let client: CharityClient;

  const start = async (opts: CharitySimulatorOptions = {}, respond?: (n: number) => number): Promise<CharitySimulator> => {
    receiver = await startReceiver(respond);
    receiverOpen = true;
    sim = await startCharitySimulator({ apiKey: API_KEY, webhook: { url: receiver.url, secret: WEBHOOK_SECRET }, ...opts });
    client = new CharityClient({ baseUrl: sim.url, apiKey: API_KEY, timeoutMs: 2000 });
    return sim;
  };
  const create = async (n: number) => (await client.createReferral(payloadFor(n), ctxFor(payloadFor(n)))).id;

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    if (receiverOpen) await receiver.close();
    receiverOpen = false;
  });

  it('sends one signed event per advance step with the status, id, externalReference and updatedAt', async () => {
    const sim = await start();
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(0); // creation has no event: the 201 says RECEIVED

    const expected = [
      { status: 'ALLOCATED', statusReason: null },
      { status: 'CONTACTED', statusReason: null },
      { status: 'ENGAGED', statusReason: null },
      { status: 'CLOSED', statusReason: 'ENGAGED' },
    ];
    for (const [i, want] of expected.entries()) {
      sim.advance();
      await sim.flushWebhooks();
      expect(receiver.got).toHaveLength(i + 1);
      const got = receiver.got[i]!;
      expect(got.valid).toBe(true);
      expect(got.contentType).toBe('application/json');
      expect(Math.abs(got.t - Date.now() / 1000)).toBeLessThan(10);
      expect(got.event).toEqual({
        eventId: expect.stringMatching(/^evt_\d{6}$/) as unknown,
        type: 'referral.status_changed',
        occurredAt: expect.any(String) as unknown,
        referral: { id, externalReference: payload.externalReference, ...want },
      });
      const state = await client.getReferral(id, read());
      expect(got.event.occurredAt).toBe(state!.updatedAt);
      // The bytes on the wire are exactly JSON.stringify of the recorded event.
      expect(got.raw.toString('utf8')).toBe(JSON.stringify(sim.events()[i]));
    }
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(4); // closed: no more steps, no more events

    const ids = receiver.got.map((r) => r.event.eventId);
    expect(new Set(ids).size).toBe(4);
    expect(sim.events().map((e) => e.eventId)).toEqual(ids);
    expect(sim.stats()).toMatchObject({ webhooksSent: 4, webhooksFailed: 0, webhooksDropped: 0, webhooksGivenUp: 0 });
  });

  it('webhookBeforeAnswerRate: the first step is delivered before the create is answered', async () => {
    const sim = await start({ faults: { webhookBeforeAnswerRate: 1 } });
    const payload = payloadFor(1);
    const created = await client.createReferral(payload, ctxFor(payload));
    // Already at the receiver when the 201 arrives, not after a flush.
    expect(receiver.got).toHaveLength(1);
    expect(receiver.got[0]!.event.referral).toEqual({
      id: created.id,
      externalReference: payload.externalReference,
      status: 'ALLOCATED',
      statusReason: null,
    });
    expect(created).toEqual({ id: 'CH-000001', status: 'RECEIVED', replayed: false });
    expect(sim.stats()).toMatchObject({ created: 1, webhooksSent: 1, webhooksBeforeAnswer: 1 });

    sim.setFaults({ webhookBeforeAnswerRate: 0 });
    const payload2 = payloadFor(2);
    await client.createReferral(payload2, ctxFor(payload2));
    expect(receiver.got).toHaveLength(1);
    expect(sim.stats()).toMatchObject({ created: 2, webhooksBeforeAnswer: 1 });
  });

  it('setStatus emits a signed event like a normal step, occurredAt = the new updatedAt', async () => {
    let clock = Date.parse('2026-11-22T11:00:00Z');
    const sim = await start({ now: () => (clock += 1000) });
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    sim.setStatus(id, 'CLOSED', 'UNCONTACTABLE');
    await sim.flushWebhooks();

    expect(receiver.got).toHaveLength(1);
    const got = receiver.got[0]!;
    expect(got.valid).toBe(true);
    expect(got.event).toEqual({
      eventId: 'evt_000001',
      type: 'referral.status_changed',
      occurredAt: (await client.getReferral(id, read()))!.updatedAt,
      referral: { id, externalReference: payload.externalReference, status: 'CLOSED', statusReason: 'UNCONTACTABLE' },
    });
    expect(sim.events()).toEqual([got.event]);
    expect(sim.stats()).toMatchObject({ webhooksSent: 1 });
  });

  it('keeps sending webhooks while down (its outbound side), and forget sends none', async () => {
    const sim = await start();
    const id = await create(1);
    await sim.goDown();
    expect(await failure(client.getReferral(id, read()))).toMatchObject({ kind: 'transient' });
    expect(sim.advance()).toBe(1);
    sim.setStatus(id, 'ENGAGED');
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event.referral.status)).toEqual(['ALLOCATED', 'ENGAGED']);
    expect(receiver.got.every((r) => r.valid)).toBe(true);

    expect(sim.forget(id)).toBe(true);
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(2);
    expect(sim.events()).toHaveLength(2);
    await sim.comeBack();
    await expect(client.getReferral(id, read())).resolves.toBeUndefined();
  });

  it('gives every event a unique id across referrals', async () => {
    const sim = await start();
    for (let n = 1; n <= 3; n++) await create(n);
    for (let i = 0; i < 4; i++) sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(12);
    expect(receiver.got.every((r) => r.valid)).toBe(true);
    expect(new Set(receiver.got.map((r) => r.event.eventId)).size).toBe(12);
  });

  it('sends a CANCELLED event with the reason on cancel, and none for a refused second cancel', async () => {
    // A clock far from the wall clock: occurredAt can only match updatedAt if it is taken from it.
    let clock = Date.parse('2026-11-22T11:00:00Z');
    const sim = await start({ now: () => (clock += 1000) });
    const payload = payloadFor(1);
    const { id } = await client.createReferral(payload, ctxFor(payload));
    sim.advance();
    await client.cancelReferral(id, 'CONSENT_WITHDRAWN', read());
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event.referral.status)).toEqual(['ALLOCATED', 'CANCELLED']);
    const cancelled = receiver.got[1]!;
    expect(cancelled.valid).toBe(true);
    expect(cancelled.event.referral).toEqual({
      id,
      externalReference: payload.externalReference,
      status: 'CANCELLED',
      statusReason: 'CONSENT_WITHDRAWN',
    });
    const state = await client.getReferral(id, read());
    expect(state!.updatedAt.startsWith('2026-11-22T11:')).toBe(true);
    expect(cancelled.event.occurredAt).toBe(state!.updatedAt);
    expect(receiver.got[0]!.event.occurredAt < cancelled.event.occurredAt).toBe(true);

    await expect(client.cancelReferral(id, 'RECORD_WITHDRAWN', read())).resolves.toEqual({ alreadyClosed: true });
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(2);
    expect(sim.events()).toHaveLength(2);
  });

  it('retries an event the receiver answered 500: same eventId and body, re-signed with a fresh t', async () => {
    let clock = Date.parse('2026-11-22T11:00:00Z');
    const sim = await start({ now: () => (clock += 1000) }, (n) => (n === 1 ? 500 : 200));
    await create(1);
    sim.advance();
    await sim.flushWebhooks();

    expect(receiver.got.map((r) => r.answered)).toEqual([500, 200]);
    const [first, retry] = receiver.got as [Received, Received];
    expect(retry.event.eventId).toBe(first.event.eventId);
    expect(retry.raw.equals(first.raw)).toBe(true);
    expect(retry.t).toBeGreaterThan(first.t);
    expect(retry.signature).not.toBe(first.signature);
    expect(first.valid && retry.valid).toBe(true);
    expect(sim.stats()).toMatchObject({ webhooksSent: 1, webhooksFailed: 1, webhooksGivenUp: 0 });
  });

  it('retries on its own timer, without advance() or flush', async () => {
    const sim = await start({}, (n) => (n === 1 ? 503 : 200));
    await create(1);
    sim.advance();
    const deadline = Date.now() + 5000;
    while (receiver.got.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(receiver.got.map((r) => r.answered)).toEqual([503, 200]);
    expect(receiver.got[1]!.event.eventId).toBe(receiver.got[0]!.event.eventId);
  });

  it('gives up after 5 attempts, and after 3 answered 404', async () => {
    const failing = await start({}, () => 500);
    await create(1);
    failing.advance();
    await failing.flushWebhooks();
    expect(receiver.got).toHaveLength(5);
    expect(new Set(receiver.got.map((r) => r.event.eventId)).size).toBe(1);
    expect(failing.stats()).toMatchObject({ webhooksSent: 0, webhooksFailed: 5, webhooksGivenUp: 1 });
    failing.advance(); // a later advance does not revive a given-up delivery
    await failing.flushWebhooks();
    expect(receiver.got.filter((r) => r.event.eventId === 'evt_000001')).toHaveLength(5);
    await failing.stop();
    await receiver.close();
    receiverOpen = false;

    const unknown = await start({}, () => 404);
    await create(1);
    unknown.advance();
    await unknown.flushWebhooks();
    expect(receiver.got).toHaveLength(3);
    expect(unknown.stats()).toMatchObject({ webhooksSent: 0, webhooksFailed: 3, webhooksGivenUp: 1 });
  });

  it('counts a network failure as a failed attempt', async () => {
    const sim = await start();
    const dead = await startReceiver();
    const deadUrl = dead.url;
    await dead.close();
    sim.setWebhook({ url: deadUrl, secret: WEBHOOK_SECRET });
    await create(1);
    sim.advance();
    await sim.flushWebhooks();
    expect(sim.stats()).toMatchObject({ webhooksSent: 0, webhooksFailed: 5, webhooksGivenUp: 1 });
  });

  it('dropWebhookRate 1: nothing is delivered, every event is counted dropped and still listed', async () => {
    const sim = await start({ faults: { dropWebhookRate: 1 } });
    for (let n = 1; n <= 2; n++) await create(n);
    sim.advance();
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(0);
    expect(sim.events()).toHaveLength(4);
    expect(sim.stats()).toMatchObject({ webhooksSent: 0, webhooksFailed: 0, webhooksDropped: 4 });
  });

  it('draws drops and duplicates from the injected random source', async () => {
    // Per event: the drop draw, then (if kept) the duplicate draw.
    const draws = [0.1, /* evt 1 dropped */ 0.9, 0.1, /* evt 2 kept, duplicated */ 0.9, 0.9 /* evt 3 kept, once */];
    const sim = await start({ faults: { dropWebhookRate: 0.5, duplicateWebhookRate: 0.5 }, random: () => draws.shift() ?? 0.9 });
    for (let n = 1; n <= 3; n++) await create(n);
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event.eventId)).toEqual(['evt_000002', 'evt_000002', 'evt_000003']);
    expect(sim.stats()).toMatchObject({ webhooksSent: 3, webhooksDropped: 1 });
  });

  it('duplicateWebhookRate 1: each event is delivered twice with the same eventId and body', async () => {
    const sim = await start({ faults: { duplicateWebhookRate: 1 } });
    await create(1);
    sim.advance();
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event.eventId)).toEqual(['evt_000001', 'evt_000001', 'evt_000002', 'evt_000002']);
    expect(receiver.got[0]!.raw.equals(receiver.got[1]!.raw)).toBe(true);
    expect(receiver.got.every((r) => r.valid)).toBe(true);
    expect(sim.events()).toHaveLength(2);
    expect(sim.stats()).toMatchObject({ webhooksSent: 4, webhooksDropped: 0 });
  });

  it('reorderWebhooks delivers each batch in reverse; without it, in order', async () => {
    const ordered = await start();
    for (let n = 1; n <= 3; n++) await create(n);
    ordered.advance();
    await ordered.flushWebhooks();
    expect(receiver.got.map((r) => r.event.referral.id)).toEqual(['CH-000001', 'CH-000002', 'CH-000003']);
    await ordered.stop();
    await receiver.close();
    receiverOpen = false;

    const sim = await start({ faults: { reorderWebhooks: true } });
    for (let n = 1; n <= 3; n++) await create(n);
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event.referral.id)).toEqual(['CH-000003', 'CH-000002', 'CH-000001']);

    // Two steps queued together arrive newest first: the older status comes in last.
    sim.advance();
    sim.advance();
    await sim.flushWebhooks();
    const forFirst = receiver.got.filter((r) => r.event.referral.id === 'CH-000001').map((r) => r.event.referral.status);
    expect(forFirst).toEqual(['ALLOCATED', 'ENGAGED', 'CONTACTED']);
    expect(receiver.got.slice(3).map((r) => r.event.eventId)).toEqual(
      sim
        .events()
        .slice(3)
        .map((e) => e.eventId)
        .reverse(),
    );
  });

  it('keeps events while no webhook is set and delivers the backlog in order on setWebhook', async () => {
    const sim = await start();
    sim.setWebhook(undefined);
    await create(1);
    await create(2);
    sim.advance();
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(0);
    expect(sim.events()).toHaveLength(4);

    sim.setWebhook({ url: receiver.url, secret: WEBHOOK_SECRET });
    await sim.flushWebhooks();
    expect(receiver.got.map((r) => r.event)).toEqual(sim.events());
    expect(receiver.got.every((r) => r.valid)).toBe(true);
    expect(sim.stats()).toMatchObject({ webhooksSent: 4, webhooksFailed: 0 });
  });

  it('signs with the secret given to setWebhook', async () => {
    const sim = await start();
    sim.setWebhook({ url: receiver.url, secret: 'some-other-secret' });
    await create(1);
    sim.advance();
    await sim.flushWebhooks();
    expect(receiver.got).toHaveLength(1);
    expect(receiver.got[0]!.valid).toBe(false);
    expect(signatureValid('some-other-secret', receiver.got[0]!.signature, receiver.got[0]!.raw)).toBe(true);
  });

  it('signCharityWebhook matches a known vector and an independent HMAC', () => {
    const body = '{"eventId":"evt_000001","referral":{"statusReason":"café"}}';
    const t = 1763809200;
    // Computed independently: printf '%s' "1763809200.$body" | openssl dgst -sha256 -hmac whsec_test
    const knownHex = '92012f4c5d56fd4446584f9ae1e0af0dada7b18f96b8777de7f8e049836ceacb';
    expect(createHmac('sha256', 'whsec_test').update(`${t}.${body}`).digest('hex')).toBe(knownHex);
    expect(signCharityWebhook('whsec_test', body, t)).toBe(`t=${t},v1=${knownHex}`);
    expect(signCharityWebhook('whsec_test', body, t + 1)).not.toContain(knownHex);
    // The test's verifier accepts it and refuses a wrong secret or a changed body.
    const header = signCharityWebhook(WEBHOOK_SECRET, body, t);
    expect(signatureValid(WEBHOOK_SECRET, header, Buffer.from(body, 'utf8'))).toBe(true);
    expect(signatureValid('wrong', header, Buffer.from(body, 'utf8'))).toBe(false);
    expect(signatureValid(WEBHOOK_SECRET, header, Buffer.from(body.replace('é', 'e'), 'utf8'))).toBe(false);
  });
});
