import { connect } from 'node:net';
import { Operator } from '@medplum/core';
import type { Consent, Patient, ServiceRequest, Task } from '@medplum/fhirtypes';
import { NhsFhirClient } from '../../src/adapters/nhs/fhir-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { nhsView } from '../../src/mappings/allow-lists';
import type { FhirMappingOptions } from '../../src/mappings/referral-to-fhir';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import type { FhirServer } from '../../simulators/fhir-server';
import { startFhirServer } from '../../simulators/fhir-server';
import { clinicalReferral } from '../helpers/referrals';

const mapping: FhirMappingOptions = {
  trustOdsCode: 'RTV',
  trustName: 'North West Boroughs Healthcare NHS Foundation Trust',
  policeOrgName: 'Cheshire Constabulary',
  policeOrgCode: 'CHESHIRE',
  referralIdSystem: 'https://iasu.example/Id/referral',
  crimeReferenceSystem: 'https://iasu.example/Id/crime-reference',
};
const ctx = { correlationId: '5f0c1c5e-2b1e-4e8a-9d55-0c1f0a7b9e01' };
const referral = clinicalReferral();
const bundle = referralToTransactionBundle(nhsView(referral), mapping);

function clientFor(server: FhirServer): NhsFhirClient {
  return new NhsFhirClient({ baseUrl: server.url, timeoutMs: 5000, referralIdSystem: mapping.referralIdSystem });
}

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

async function byReferralId<T extends ServiceRequest | Task>(
  server: FhirServer,
  resourceType: T['resourceType'],
  referralId: string,
): Promise<T[]> {
  return server.repo.searchResources<T>({
    resourceType,
    filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${mapping.referralIdSystem}|${referralId}` }],
  });
}

describe('NhsFhirClient against the FHIR simulator (Medplum router, in memory)', () => {
  let server: FhirServer;
  let client: NhsFhirClient;

  beforeAll(async () => {
    server = await startFhirServer();
    client = clientFor(server);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a resend of the same bundle creates nothing new', async () => {
    const first = await client.sendTransaction(bundle, ctx);
    const second = await client.sendTransaction(bundle, ctx);
    expect(first.serviceRequestRef).toMatch(/^ServiceRequest\/[\w-]+$/);
    expect(first.taskRef).toMatch(/^Task\/[\w-]+$/);
    expect(second).toEqual(first);
    expect(await server.counts()).toEqual({ Organization: 2, Patient: 1, Flag: 1, Consent: 1, ServiceRequest: 1, Task: 1 });
  });

  it('stores resources whose bundle-local references were resolved to server ids', async () => {
    const [sr] = await byReferralId<ServiceRequest>(server, 'ServiceRequest', referral.referralId);
    const [patient] = await server.repo.searchResources<Patient>({ resourceType: 'Patient' });
    expect(sr?.subject?.reference).toBe(`Patient/${patient?.id}`);
    const [consent] = await server.repo.searchResources<Consent>({ resourceType: 'Consent' });
    // policy.authority is a uri pointing at the police Organization's fullUrl: rewritten too
    expect(consent?.policy?.[0]?.authority).toBe(sr?.requester?.reference);
    expect(sr?.requester?.reference).toMatch(/^Organization\//);
  });

  it('a second referral for the same NHS number reuses the Patient and both Organizations', async () => {
    const other = clinicalReferral({ referralId: '11111111-2222-5333-8444-555555555555', crimeReference: 'CC-26-0009999' });
    await client.sendTransaction(referralToTransactionBundle(nhsView(other), mapping), ctx);
    expect(await server.counts()).toMatchObject({ Organization: 2, Patient: 1, ServiceRequest: 2, Task: 2 });
  });

  it('reports the Task status and follows the trust moving it', async () => {
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'requested' });
    await expect(server.advanceTasks()).resolves.toBe(2);
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'accepted' });
    await expect(client.getTaskStatus('00000000-0000-5000-8000-00000000dead', ctx)).resolves.toBeUndefined();
  });

  it('cancel sets the Task cancelled and the ServiceRequest revoked, and is idempotent', async () => {
    await client.cancel(referral.referralId, ctx);
    await client.cancel(referral.referralId, ctx);
    const [task] = await byReferralId<Task>(server, 'Task', referral.referralId);
    const [sr] = await byReferralId<ServiceRequest>(server, 'ServiceRequest', referral.referralId);
    expect(task?.status).toBe('cancelled');
    expect(sr?.status).toBe('revoked');
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'cancelled' });
    // the other referral is untouched
    const [otherTask] = await byReferralId<Task>(server, 'Task', '11111111-2222-5333-8444-555555555555');
    expect(otherTask?.status).toBe('accepted');
  });

  it('a bundle the server refuses is a permanent PartnerError carrying its OperationOutcome text', async () => {
    const err = await client.sendTransaction({ ...bundle, type: 'collection' }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartnerError);
    expect(err).toMatchObject({ partner: 'NHS', kind: 'permanent', status: 400 });
    expect((err as PartnerError).partnerText).toMatch(/Unrecognized bundle type/);
  });

  it('a server that is not there is a transient failure', async () => {
    const gone = await startFhirServer();
    const url = gone.url;
    await gone.stop();
    const err = await new NhsFhirClient({ baseUrl: url, timeoutMs: 2000, referralIdSystem: mapping.referralIdSystem })
      .getTaskStatus(referral.referralId, ctx)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient' });
  });
});

describe('simulated trust workflow', () => {
  it('moves Tasks requested → accepted → in-progress → completed, rejecting every Nth', async () => {
    const server = await startFhirServer({ rejectEvery: 2 });
    try {
      const client = clientFor(server);
      const ids = ['aaaaaaaa-0000-5000-8000-000000000001', 'aaaaaaaa-0000-5000-8000-000000000002'];
      for (const referralId of ids)
        await client.sendTransaction(referralToTransactionBundle(nhsView(clinicalReferral({ referralId })), mapping), ctx);
      await server.advanceTasks();
      const statuses = async () => Promise.all(ids.map(async (id) => (await client.getTaskStatus(id, ctx))?.taskStatus));
      expect(await statuses()).toEqual(['accepted', 'rejected']);
      await server.advanceTasks();
      expect(await statuses()).toEqual(['in-progress', 'rejected']);
      await server.advanceTasks();
      expect(await statuses()).toEqual(['completed', 'rejected']);
      await expect(server.advanceTasks()).resolves.toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('advances on its own timer when asked to', async () => {
    const server = await startFhirServer({ advanceEveryMs: 25 });
    try {
      const client = clientFor(server);
      await client.sendTransaction(bundle, ctx);
      const deadline = Date.now() + 5000;
      let status: string | undefined;
      while (Date.now() < deadline && status !== 'completed') {
        await new Promise((resolve) => setTimeout(resolve, 25));
        status = (await client.getTaskStatus(referral.referralId, ctx))?.taskStatus;
      }
      expect(status).toBe('completed');
    } finally {
      await server.stop();
    }
  });
});

describe('simulated trust outages and lost records', () => {
  let server: FhirServer;
  let client: NhsFhirClient;
  const otherId = '11111111-2222-5333-8444-555555555555';
  const otherBundle = referralToTransactionBundle(
    nhsView(clinicalReferral({ referralId: otherId, crimeReference: 'CC-26-0009999' })),
    mapping,
  );

  beforeEach(async () => {
    server = await startFhirServer();
    client = clientFor(server);
  });
  afterEach(async () => {
    await server.stop();
  });

  it('goDown refuses connections (a transient NHS PartnerError) and comeBack serves the same Task on the same port', async () => {
    const { taskRef } = await client.sendTransaction(bundle, ctx);
    // An idle connection held open across the outage, like a keep-alive socket in a pool.
    const { hostname, port } = new URL(server.url);
    const held = connect(Number(port), hostname);
    await new Promise((resolve) => held.once('connect', resolve));
    const heldClosed = new Promise((resolve) => held.once('close', resolve));
    const url = server.url;

    await server.goDown();
    await server.goDown(); // already down: no-op
    await heldClosed;
    expect(await connectError(url)).toBe('ECONNREFUSED');
    const err = await client.getTaskStatus(referral.referralId, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartnerError);
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient', options: { detail: 'ECONNREFUSED' } });
    await expect(client.sendTransaction(otherBundle, ctx)).rejects.toMatchObject({ partner: 'NHS', kind: 'transient' });
    // The trust keeps working on its side while unreachable.
    await expect(server.advanceTasks()).resolves.toBe(1);

    await server.comeBack();
    await server.comeBack(); // already up: no-op
    expect(server.url).toBe(url);
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toEqual({ taskStatus: 'accepted', taskRef });
    expect(await server.counts()).toMatchObject({ ServiceRequest: 1, Task: 1 });
  });

  it('can go down and come back repeatedly, and stop() works while down', async () => {
    await client.sendTransaction(bundle, ctx);
    for (let i = 0; i < 3; i++) {
      await server.goDown();
      await expect(client.getTaskStatus(referral.referralId, ctx)).rejects.toMatchObject({
        kind: 'transient',
        options: { detail: 'ECONNREFUSED' },
      });
      await server.comeBack();
      await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'requested' });
    }
    await server.goDown();
    await server.stop(); // afterEach stops it again: stop() twice must be harmless as well
    expect(await connectError(server.url)).toBe('ECONNREFUSED');
    await expect(server.comeBack()).rejects.toThrow(/stopped/);
  });

  it('forgetReferral deletes only that referral’s ServiceRequest and Task; a resend of the same bundle creates them again', async () => {
    const first = await client.sendTransaction(bundle, ctx);
    await client.sendTransaction(otherBundle, ctx);
    const before = await server.counts();
    expect(before).toMatchObject({ ServiceRequest: 2, Task: 2 });

    await expect(server.forgetReferral(referral.referralId, 'https://other.example/Id/referral')).resolves.toBe(0);
    await expect(server.forgetReferral(referral.referralId)).resolves.toBe(2);
    expect(await server.counts()).toEqual({ ...before, ServiceRequest: 1, Task: 1 });
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toBeUndefined();
    await expect(byReferralId<ServiceRequest>(server, 'ServiceRequest', referral.referralId)).resolves.toEqual([]);
    await expect(client.getTaskStatus(otherId, ctx)).resolves.toMatchObject({ taskStatus: 'requested' });
    await expect(server.forgetReferral(referral.referralId)).resolves.toBe(0);

    const again = await client.sendTransaction(bundle, ctx);
    expect(again.serviceRequestRef).not.toBe(first.serviceRequestRef);
    expect(again.taskRef).not.toBe(first.taskRef);
    expect(await server.counts()).toEqual(before);
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toEqual({ taskStatus: 'requested', taskRef: again.taskRef });
  });

  it('setTaskStatus sets the Task directly, seen through getTaskStatus, and touches nothing else', async () => {
    const { taskRef } = await client.sendTransaction(bundle, ctx);
    await client.sendTransaction(otherBundle, ctx);
    await server.setTaskStatus(referral.referralId, 'completed');
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toEqual({ taskStatus: 'completed', taskRef });
    await expect(client.getTaskStatus(otherId, ctx)).resolves.toMatchObject({ taskStatus: 'requested' });
    const [sr] = await byReferralId<ServiceRequest>(server, 'ServiceRequest', referral.referralId);
    expect(sr?.status).toBe('active');

    await server.setTaskStatus(referral.referralId, 'accepted', mapping.referralIdSystem);
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'accepted' });
    await expect(server.advanceTasks()).resolves.toBe(2); // the trust's workflow carries on from there
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'in-progress' });

    await expect(server.setTaskStatus(referral.referralId, 'done')).rejects.toThrow(/not a FHIR R4 Task status/);
    await expect(server.setTaskStatus(referral.referralId, 'completed', 'https://other.example/Id/referral')).rejects.toThrow(/no Task/);
    await expect(server.setTaskStatus('00000000-0000-5000-8000-00000000dead', 'completed')).rejects.toThrow(/no Task/);
    await expect(client.getTaskStatus(referral.referralId, ctx)).resolves.toMatchObject({ taskStatus: 'in-progress' });
  });
});
