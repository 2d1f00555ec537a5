import { CharityClient } from '../../src/adapters/charity/charity-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { charityView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload, type CharityReferralPayload } from '../../src/mappings/referral-to-charity';
import { charityStatusToBridgeStatus } from '../../src/mappings/charity-status';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import { advocacyReferral } from '../helpers/referrals';

const API_KEY = 'e2e-key';
const ORG = { referrerOrganisation: 'Cheshire Constabulary IASU' };

function payloadFor(n: number): CharityReferralPayload {
  const referralId = `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`;
  return referralToCharityPayload(charityView(advocacyReferral({ referralId })), ORG);
}
const ctxFor = (p: CharityReferralPayload) => ({ idempotencyKey: p.externalReference, correlationId: crypto.randomUUID() });
const read = () => ({ correlationId: crypto.randomUUID() });

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
    expect(sim.stats()).toEqual({ created: 1, replays: 1, conflicts: 0, distinctKeys: 1, cancels: 0 });
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
      expect(await failure(client.createReferral(payload, ctxFor(payload)))).toMatchObject({ kind: 'transient', options: { code: 'timeout' } });
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
