import { CharityClient } from '../../src/adapters/charity/charity-client';
import { NhsFhirClient } from '../../src/adapters/nhs/fhir-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { PoliceFeedClient } from '../../src/adapters/police/feed-client';
import { PoliceWriteBackClient } from '../../src/adapters/police/write-back-client';
import { charityView, nhsView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload } from '../../src/mappings/referral-to-charity';
import type { FhirMappingOptions } from '../../src/mappings/referral-to-fhir';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import type { WriteBack } from '../../src/mappings/referral-to-write-back';
import { startCharitySimulator, type CharitySimulator } from '../../simulators/charity';
import type { FaultKind } from '../../simulators/faults';
import { feedDocument } from '../../simulators/feed-generator';
import { startFhirServer, type FhirServer } from '../../simulators/fhir-server';
import { startPoliceFeedSimulator, type PoliceSimulator } from '../../simulators/police-feed';
import { advocacyReferral, clinicalReferral } from '../helpers/referrals';

/**
 * Every fault kind of every simulator, seen through the bridge's own clients: each stateless
 * kind is a transient PartnerError and leaves nothing behind at the partner; 'lost-answer' is
 * transient too, the partner did the work, and the client's retry finds it without a duplicate.
 */
const CLIENT_TIMEOUT_MS = 300;
const HOLD_MS = 1500;
const STATELESS: FaultKind[] = ['500', '503', '429', 'timeout', 'reset'];

/** What the client makes of each kind (status, Retry-After, or a timeout/network code). */
function expectTransient(err: PartnerError, kind: FaultKind): void {
  expect(err.kind).toBe('transient');
  if (kind === '500' || kind === '503') expect(err.status).toBe(Number(kind));
  if (kind === '429') {
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBe(1000);
  }
  if (kind === 'timeout' || kind === 'reset' || kind === 'lost-answer') expect(err.status).toBeUndefined();
}

async function failure(promise: Promise<unknown>): Promise<PartnerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PartnerError)) throw new Error(`expected a PartnerError, got ${String(err)}`);
  return err;
}

const fhirMapping: FhirMappingOptions = {
  trustOdsCode: 'RTV',
  trustName: 'North West Boroughs Healthcare NHS Foundation Trust',
  policeOrgName: 'Cheshire Constabulary',
  policeOrgCode: 'CHESHIRE',
  referralIdSystem: 'https://iasu.example/Id/referral',
  crimeReferenceSystem: 'https://iasu.example/Id/crime-reference',
};

describe('charity simulator faults through CharityClient', () => {
  let sim: CharitySimulator;
  let client: CharityClient;
  const payload = referralToCharityPayload(charityView(advocacyReferral()), { referrerOrganisation: 'Cheshire Constabulary IASU' });
  const create = () => client.createReferral(payload, { idempotencyKey: payload.externalReference, correlationId: crypto.randomUUID() });

  beforeEach(async () => {
    sim = await startCharitySimulator({ apiKey: 'k', faults: { errorRate: 0, holdMs: HOLD_MS } });
    client = new CharityClient({ baseUrl: sim.url, apiKey: 'k', timeoutMs: CLIENT_TIMEOUT_MS });
  });
  afterEach(async () => {
    await sim.stop();
  });

  it.each(STATELESS)('%s on a create is transient and creates nothing; the retry creates it once', async (kind) => {
    sim.setFaults({ errorRate: 1, kinds: [kind] });
    const err = await failure(create());
    expectTransient(err, kind);
    if (kind === 'timeout') expect(err.options.code).toBe('timeout');
    if (kind === 'reset') expect(err.options.code).toBe('network');
    expect(sim.idempotency()).toEqual({ creates: 0, distinctKeys: 0, referrals: 0, distinctExternalReferences: 0 });

    sim.setFaults({ errorRate: 0 });
    await expect(create()).resolves.toMatchObject({ replayed: false });
    expect(sim.idempotency()).toEqual({ creates: 1, distinctKeys: 1, referrals: 1, distinctExternalReferences: 1 });
    expect(sim.faultStats().injected[kind]).toBe(1);
  });

  it.each(STATELESS)('%s on a read is transient too', async (kind) => {
    sim.setFaults({ errorRate: 1, kinds: [kind] });
    expectTransient(await failure(client.getReferral('CH-000001', { correlationId: 'c' })), kind);
    expectTransient(await failure(client.listUpdated('2026-01-01T00:00:00Z')), kind);
  });

  it('lost-answer: the charity created it, the answer was lost; the retry replays the same referral', async () => {
    sim.setFaults({ errorRate: 1, kinds: ['lost-answer'] });
    const err = await failure(create());
    expectTransient(err, 'lost-answer');
    expect(err.options.code).toBe('network');
    expect(sim.idempotency()).toMatchObject({ creates: 1, referrals: 1 });

    sim.setFaults({ errorRate: 0 });
    const retried = await create();
    expect(retried).toEqual({ id: 'CH-000001', status: 'RECEIVED', replayed: true });
    expect(sim.idempotency()).toEqual({ creates: 1, distinctKeys: 1, referrals: 1, distinctExternalReferences: 1 });
    expect(sim.stats()).toMatchObject({ created: 1, replays: 1, conflicts: 0 });
  });

  it('draws faults from the injected random source over the listed kinds', async () => {
    const draws = [0.1, 0.0, 0.1, 0.99, 0.9];
    const scripted = await startCharitySimulator({
      apiKey: 'k',
      random: () => draws.shift() ?? 0.9,
      faults: { errorRate: 0.5, kinds: ['500', '429'] },
    });
    try {
      const c = new CharityClient({ baseUrl: scripted.url, apiKey: 'k', timeoutMs: CLIENT_TIMEOUT_MS });
      const read = () => c.getReferral('CH-000001', { correlationId: 'c' });
      expect(await failure(read())).toMatchObject({ status: 500 });
      expect(await failure(read())).toMatchObject({ status: 429 });
      await expect(read()).resolves.toBeUndefined();
      expect(scripted.faultStats()).toEqual({
        eligible: 3,
        injected: { '500': 1, '503': 0, '429': 1, timeout: 0, reset: 0, 'lost-answer': 0, garbled: 0 },
      });
    } finally {
      await scripted.stop();
    }
  });
});

describe('FHIR server faults through NhsFhirClient', () => {
  let fhir: FhirServer;
  let client: NhsFhirClient;
  const referral = clinicalReferral();
  const bundle = referralToTransactionBundle(nhsView(referral), fhirMapping);
  const send = () => client.sendTransaction(bundle, { correlationId: 'c' });

  beforeEach(async () => {
    fhir = await startFhirServer({ faults: { errorRate: 0, holdMs: HOLD_MS } });
    client = new NhsFhirClient({ baseUrl: fhir.url, timeoutMs: CLIENT_TIMEOUT_MS, referralIdSystem: fhirMapping.referralIdSystem });
  });
  afterEach(async () => {
    await fhir.stop();
  });

  it.each(STATELESS)('%s on the transaction is transient and creates nothing; the retry creates it once', async (kind) => {
    fhir.setFaults({ errorRate: 1, kinds: [kind] });
    expectTransient(await failure(send()), kind);
    expect((await fhir.counts()).ServiceRequest).toBe(0);
    expect(fhir.idempotency()).toMatchObject({ serviceRequestCreates: 0, taskCreates: 0 });

    fhir.setFaults({ errorRate: 0 });
    const refs = await send();
    expect(refs.serviceRequestRef).toMatch(/^ServiceRequest\//);
    expect(fhir.idempotency()).toEqual({
      serviceRequestCreates: 1,
      serviceRequestReferralIds: 1,
      taskCreates: 1,
      taskReferralIds: 1,
      serviceRequests: 1,
      distinctServiceRequestReferralIds: 1,
      tasks: 1,
      distinctTaskReferralIds: 1,
    });
    expect(fhir.faultStats().injected[kind]).toBe(1);
  });

  it.each(STATELESS)('%s on a Task search is transient too', async (kind) => {
    fhir.setFaults({ errorRate: 1, kinds: [kind] });
    expectTransient(await failure(client.getTaskStatus(referral.referralId, { correlationId: 'c' })), kind);
  });

  it('lost-answer: the transaction committed, the answer was lost; the retry finds it and creates nothing more', async () => {
    fhir.setFaults({ errorRate: 1, kinds: ['lost-answer'] });
    expectTransient(await failure(send()), 'lost-answer');
    expect(fhir.idempotency()).toMatchObject({ serviceRequestCreates: 1, taskCreates: 1 });

    fhir.setFaults({ errorRate: 0 });
    const refs = await send();
    const held = await fhir.repo.searchResources({ resourceType: 'ServiceRequest' });
    expect(held).toHaveLength(1);
    expect(refs.serviceRequestRef).toBe(`ServiceRequest/${held[0]!.id}`);
    expect(fhir.idempotency()).toEqual({
      serviceRequestCreates: 1,
      serviceRequestReferralIds: 1,
      taskCreates: 1,
      taskReferralIds: 1,
      serviceRequests: 1,
      distinctServiceRequestReferralIds: 1,
      tasks: 1,
      distinctTaskReferralIds: 1,
    });
    expect(await fhir.counts()).toMatchObject({ Patient: 1, ServiceRequest: 1, Task: 1 });
  });

  it('the identifier index answers as the full scan does (any case, system only, after an update and a delete)', async () => {
    await send();
    const system = fhirMapping.referralIdSystem;
    const search = (value: string) =>
      fhir.repo.searchResources({ resourceType: 'Task', filters: [{ code: 'identifier', operator: 'eq' as never, value }] });
    expect(await search(`${system}|${referral.referralId}`)).toHaveLength(1);
    expect(await search(`${system.toUpperCase()}|${referral.referralId.toUpperCase()}`)).toHaveLength(1);
    expect(await search(`${system}|`)).toHaveLength(1); // system only: the full scan
    await fhir.setTaskStatus(referral.referralId, 'accepted');
    expect((await search(`${system}|${referral.referralId}`))[0]).toMatchObject({ status: 'accepted' });
    expect(await fhir.forgetReferral(referral.referralId)).toBe(2);
    expect(await search(`${system}|${referral.referralId}`)).toHaveLength(0);
  });
});

describe('police RMS faults through PoliceFeedClient and PoliceWriteBackClient', () => {
  let police: PoliceSimulator;
  const record = `<CrimeRecord><CrimeReference>CC-26-0000001</CrimeReference></CrimeRecord>`;
  const feed = () => new PoliceFeedClient({ baseUrl: police.url, token: 't', timeoutMs: CLIENT_TIMEOUT_MS, pageLimit: 10 });
  const outcomes = () => new PoliceWriteBackClient({ baseUrl: police.url, token: 't', timeoutMs: CLIENT_TIMEOUT_MS });
  const outcome: WriteBack = {
    crimeReference: 'CC-26-0000001',
    referralId: '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10',
    partner: 'NHS',
    status: 'SENT',
    statusAt: '2026-11-22T10:00:00Z',
    seq: 2,
  };

  beforeEach(async () => {
    police = await startPoliceFeedSimulator({ token: 't', records: [record], faults: { errorRate: 0, holdMs: HOLD_MS } });
  });
  afterEach(async () => {
    await police.stop();
  });

  it('defaults to 503 on the feed, and a page that failed is served again in full', async () => {
    const defaults = await startPoliceFeedSimulator({ token: 't', records: [record], faults: { errorRate: 1 } });
    try {
      const client = new PoliceFeedClient({ baseUrl: defaults.url, token: 't', timeoutMs: CLIENT_TIMEOUT_MS, pageLimit: 10 });
      expectTransient(await failure(client.fetchPage(undefined, { correlationId: 'c' })), '503');
      defaults.setFaults({ errorRate: 0 });
      const page = (await client.fetchPage(undefined, { correlationId: 'c' })).toString();
      expect(page).toBe(feedDocument([record], { cursor: { next: '0000000000000001', more: false } }));
    } finally {
      await defaults.stop();
    }
  });

  it.each(STATELESS)('%s on a feed page is transient', async (kind) => {
    police.setFaults({ errorRate: 1, kinds: [kind] });
    expectTransient(await failure(feed().fetchPage(undefined, { correlationId: 'c' })), kind);
    expect(police.served()).toBe(0);
  });

  it.each(STATELESS)('%s on a write-back is transient and stores nothing', async (kind) => {
    police.setFaults({ errorRate: 1, kinds: [kind] });
    expectTransient(await failure(outcomes().post(outcome, { correlationId: 'c' })), kind);
    expect(police.stats()).toMatchObject({ distinctOutcomeKeys: 0 });
  });

  it('lost-answer on a write-back: stored, answer lost; the retry is a harmless replay', async () => {
    police.setFaults({ errorRate: 1, kinds: ['lost-answer'] });
    expectTransient(await failure(outcomes().post(outcome, { correlationId: 'c' })), 'lost-answer');
    expect(police.stats()).toMatchObject({ distinctOutcomeKeys: 1, outcomeReplays: 0 });
    police.setFaults({ errorRate: 0 });
    await outcomes().post(outcome, { correlationId: 'c' });
    expect(police.stats()).toMatchObject({ distinctOutcomeKeys: 1, outcomeReplays: 1 });
  });

  it('a wrong token is still 401, never a fault', async () => {
    police.setFaults({ errorRate: 1, kinds: ['503'] });
    const client = new PoliceFeedClient({ baseUrl: police.url, token: 'wrong', timeoutMs: CLIENT_TIMEOUT_MS, pageLimit: 10 });
    expect(await failure(client.fetchPage(undefined, { correlationId: 'c' }))).toMatchObject({ kind: 'auth', status: 401 });
    expect(police.faultStats().eligible).toBe(0);
  });
});
