import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import Hapi from '@hapi/hapi';
import type { Bundle, Encounter, MessageHeader, OperationOutcome, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { nhsView } from '../../src/mappings/allow-lists';
import { referralToBarsMessage } from '../../src/mappings/referral-to-bars';
import { BARS_ERROR_SYSTEM, startBarsReceiver, type BarsReceiver, type BarsReceiverOptions } from '../../simulators/bars-receiver';
import { expectValidR4, NHS_BARS_OPTIONS } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';

const CLIENT_ID = 'iasu-bridge-test';
const SERVICE_ID = 'iasu-trust-service';
const CALLBACK_TOKEN = 'callback-token';
const mapping = NHS_BARS_OPTIONS;

// Generated per run: no key material in the repo.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

// ---- a tiny JWT signer --------------------------------------------------------------------

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

function assertion(
  tokenUrl: string,
  opts: { header?: Record<string, unknown>; claims?: Record<string, unknown>; key?: KeyObject; digest?: string; unsigned?: boolean } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS512', typ: 'JWT', kid: 'test-1', ...opts.header };
  const claims = { iss: CLIENT_ID, sub: CLIENT_ID, aud: tokenUrl, jti: randomUUID(), iat: now, exp: now + 300, ...opts.claims };
  const input = `${b64url(header)}.${b64url(claims)}`;
  if (opts.unsigned) return `${input}.`;
  return `${input}.${sign(opts.digest ?? 'sha512', Buffer.from(input), opts.key ?? privateKey).toString('base64url')}`;
}

function tokenForm(clientAssertion: string, overrides: Record<string, string> = {}): string {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
    ...overrides,
  }).toString();
}

async function requestToken(
  receiver: BarsReceiver,
  body: string,
  contentType = 'application/x-www-form-urlencoded',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(receiver.tokenUrl, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function accessToken(receiver: BarsReceiver): Promise<string> {
  const { status, body } = await requestToken(receiver, tokenForm(assertion(receiver.tokenUrl)));
  expect(status).toBe(200);
  return body.access_token as string;
}

// ---- messages and headers -----------------------------------------------------------------

let referralCounter = 0;
function newReferralId(): string {
  referralCounter += 1;
  return `00000000-0000-5000-8000-${String(referralCounter).padStart(12, '0')}`;
}

function newMessage(referralId = newReferralId()): Bundle {
  return referralToBarsMessage(nhsView(clinicalReferral({ referralId })), mapping);
}

/** The `update` that cancels: same resources, reason update, ServiceRequest revoked, a Bundle id of its own. */
function cancelMessage(sent: Bundle, id: string = randomUUID()): Bundle {
  return {
    ...sent,
    id,
    entry: sent.entry!.map((e, i) => {
      if (i === 0)
        return {
          ...e,
          resource: {
            ...(e.resource as MessageHeader),
            reason: { coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/message-reason-bars', code: 'update' }] },
          },
        };
      if (e.resource?.resourceType === 'ServiceRequest') return { ...e, resource: { ...e.resource, status: 'revoked' as const } };
      return e;
    }),
  };
}

const b64json = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64');

function barsHeaders(token: string | undefined, correlationId: string = randomUUID()): Record<string, string> {
  return {
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    'Content-Type': 'application/fhir+json',
    Accept: 'application/fhir+json; version=1.4.0',
    'X-Request-Id': randomUUID(),
    'X-Correlation-Id': correlationId,
    'NHSD-Target-Identifier': b64json({ value: SERVICE_ID, system: 'https://fhir.nhs.uk/Id/dos-service-id' }),
    'NHSD-End-User-Organisation': b64json({
      resourceType: 'Organization',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'CHESHIRE' }],
    }),
    'NHSD-Requesting-Software': b64json({ resourceType: 'Device', deviceName: [{ name: 'iasu-bridge', type: 'manufacturer-name' }] }),
    'use-context': 'stalking-mdt|referral|servicerequest-request|new',
  };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Resource;
}

async function post(receiver: BarsReceiver, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${receiver.url}/$process-message`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Resource };
}

function barsCodes(body: Resource): string[] {
  expect(body.resourceType).toBe('OperationOutcome');
  return (body as OperationOutcome).issue.flatMap((i) => i.details?.coding ?? []).map((c) => `${c.system}|${c.code}`);
}

const diagnostics = (body: Resource) => (body as OperationOutcome).issue.map((i) => i.diagnostics).join('; ');

// ---- R4 validation ------------------------------------------------------------------------

function expectValidMessage(bundle: Bundle): void {
  expectValidR4(bundle);
  for (const entry of bundle.entry ?? []) expectValidR4(entry.resource as Resource);
}

// ---- the bridge's side: a callback server -------------------------------------------------

interface Received {
  headers: Record<string, unknown>;
  bundle: Bundle;
}

const callbackServer = Hapi.server({ port: 0, host: '127.0.0.1' });
const received: Received[] = [];
let callbackStatus: () => number = () => 200;

callbackServer.route({
  method: 'POST',
  path: '/fhir/$process-message',
  handler: (request, h) => {
    received.push({ headers: request.headers, bundle: request.payload as Bundle });
    return h
      .response({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] })
      .code(callbackStatus());
  },
});

const callbackUrl = () => `http://127.0.0.1:${callbackServer.info.port}/fhir/$process-message`;

function parts(bundle: Bundle) {
  const find = <T extends Resource>(type: T['resourceType']) =>
    bundle.entry?.find((e) => e.resource?.resourceType === type)?.resource as T | undefined;
  return {
    header: bundle.entry?.[0]?.resource as MessageHeader,
    serviceRequest: find<ServiceRequest>('ServiceRequest'),
    patient: find<Patient>('Patient'),
    encounter: find<Encounter>('Encounter'),
  };
}

async function waitFor(condition: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------------------------------------

describe('BaRS receiver simulator (nhs-fhir.md Mode B)', () => {
  let receiver: BarsReceiver;
  const start = async (extra: Partial<BarsReceiverOptions> = {}) => {
    await receiver?.stop();
    receiver = await startBarsReceiver({
      clientId: CLIENT_ID,
      publicKeyPem,
      callback: { url: callbackUrl(), token: CALLBACK_TOKEN },
      ...extra,
    });
    return receiver;
  };

  beforeAll(async () => {
    await callbackServer.start();
  });
  afterAll(async () => {
    await receiver?.stop();
    await callbackServer.stop();
  });
  beforeEach(async () => {
    received.length = 0;
    callbackStatus = () => 200;
    await start();
  });

  describe('token endpoint (private_key_jwt, RS512)', () => {
    it('issues a bearer token for a valid assertion', async () => {
      const { status, body } = await requestToken(receiver, tokenForm(assertion(receiver.tokenUrl)));
      expect(status).toBe(200);
      expect(body).toEqual({ access_token: expect.stringMatching(/^[\w-]{32,}$/), expires_in: 600, token_type: 'bearer' });
      expect(receiver.stats().tokensIssued).toBe(1);
    });

    const now = () => Math.floor(Date.now() / 1000);
    it.each<[string, (tokenUrl: string) => string]>([
      ['alg RS256', (u) => assertion(u, { header: { alg: 'RS256' }, digest: 'sha256' })],
      ['alg none', (u) => assertion(u, { header: { alg: 'none' }, unsigned: true })],
      ['alg HS512', (u) => assertion(u, { header: { alg: 'HS512' } })],
      ['a signature by another key', (u) => assertion(u, { key: otherKey })],
      [
        'a tampered payload',
        (u) => {
          const [h, , s] = assertion(u).split('.');
          return `${h}.${b64url({ iss: CLIENT_ID, sub: CLIENT_ID, aud: u, jti: randomUUID(), exp: now() + 60 })}.${s}`;
        },
      ],
      ['the wrong aud', (u) => assertion(u, { claims: { aud: `${u}/` } })],
      ['aud as another URL', (u) => assertion(u, { claims: { aud: 'https://api.service.nhs.uk/oauth2/token' } })],
      ['the wrong iss', (u) => assertion(u, { claims: { iss: 'someone-else' } })],
      ['the wrong sub', (u) => assertion(u, { claims: { sub: 'someone-else' } })],
      ['exp more than 5 minutes ahead', (u) => assertion(u, { claims: { exp: now() + 360 } })],
      ['exp in the past', (u) => assertion(u, { claims: { exp: now() - 60 } })],
      ['no exp', (u) => assertion(u, { claims: { exp: undefined } })],
      ['no jti', (u) => assertion(u, { claims: { jti: undefined } })],
      ['not a JWT', () => 'not-a-jwt'],
    ])('refuses an assertion with %s: 401 invalid_client, assertion not echoed', async (_label, make) => {
      const bad = make(receiver.tokenUrl);
      const { status, body } = await requestToken(receiver, tokenForm(bad));
      expect(status).toBe(401);
      expect(body.error).toBe('invalid_client');
      expect(typeof body.error_description).toBe('string');
      expect(JSON.stringify(body)).not.toContain(bad.split('.')[1] ?? bad);
      expect(receiver.stats()).toMatchObject({ tokensIssued: 0, authFailures: 1 });
    });

    it('accepts exp exactly 5 minutes ahead (the limit), refuses a replayed jti', async () => {
      const jti = randomUUID();
      const first = await requestToken(receiver, tokenForm(assertion(receiver.tokenUrl, { claims: { jti } })));
      expect(first.status).toBe(200);
      const replay = await requestToken(receiver, tokenForm(assertion(receiver.tokenUrl, { claims: { jti } })));
      expect(replay).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(receiver.stats().tokensIssued).toBe(1);
    });

    it('400 for the wrong grant type, a missing assertion, the wrong assertion type or a JSON body', async () => {
      const valid = assertion(receiver.tokenUrl);
      expect(await requestToken(receiver, tokenForm(valid, { grant_type: 'password' }))).toMatchObject({
        status: 400,
        body: { error: 'unsupported_grant_type' },
      });
      expect(await requestToken(receiver, tokenForm(valid, { client_assertion_type: 'jwt' }))).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      });
      expect(await requestToken(receiver, 'grant_type=client_credentials')).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      });
      const json = JSON.stringify(Object.fromEntries(new URLSearchParams(tokenForm(valid))));
      expect(await requestToken(receiver, json, 'application/json')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      // None of these used up the assertion's jti.
      expect((await requestToken(receiver, tokenForm(valid))).status).toBe(200);
    });

    it('a token stops working when it expires', async () => {
      await start({ tokenTtlSeconds: 1 });
      const token = await accessToken(receiver);
      expect((await post(receiver, newMessage(), barsHeaders(token))).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const late = await post(receiver, newMessage(), barsHeaders(token));
      expect(late.status).toBe(401);
      expect(receiver.stats().referrals).toBe(1);
    });
  });

  describe('POST $process-message', () => {
    it('401 SEND_UNAUTHORIZED without a token or with one never issued', async () => {
      for (const token of [undefined, 'made-up-token']) {
        const answer = await post(receiver, newMessage(), barsHeaders(token));
        expect(answer.status).toBe(401);
        expect(barsCodes(answer.body)).toEqual([`${BARS_ERROR_SYSTEM}|SEND_UNAUTHORIZED`]);
        expect(BARS_ERROR_SYSTEM).toBe('https://fhir.nhs.uk/Codesystem/http-error-codes');
        expectValidR4(answer.body);
      }
      expect(receiver.stats()).toMatchObject({ referrals: 0, messages: 0, authFailures: 2 });
    });

    it('mirrors X-Request-Id and X-Correlation-Id on its answers, refusals included', async () => {
      for (const token of [undefined, await accessToken(receiver)]) {
        const headers = barsHeaders(token);
        const answer = await post(receiver, newMessage(), headers);
        const sent = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
        expect([answer.status, answer.headers.get('x-request-id'), answer.headers.get('x-correlation-id')]).toEqual([
          token ? 200 : 401,
          sent('x-request-id'),
          sent('x-correlation-id'),
        ]);
      }
    });

    it('revokeTokens(): the next call is 401; a fresh token works again', async () => {
      const token = await accessToken(receiver);
      receiver.revokeTokens();
      const refused = await post(receiver, newMessage(), barsHeaders(token));
      expect(refused.status).toBe(401);
      expect(barsCodes(refused.body)).toEqual([`${BARS_ERROR_SYSTEM}|SEND_UNAUTHORIZED`]);
      expect((await post(receiver, newMessage(), barsHeaders(await accessToken(receiver)))).status).toBe(200);
    });

    it.each([
      ['X-Request-Id', undefined],
      ['X-Correlation-Id', undefined],
      ['NHSD-Target-Identifier', undefined],
      ['NHSD-End-User-Organisation', undefined],
      ['NHSD-Requesting-Software', undefined],
      ['use-context', undefined],
      ['Accept', undefined],
      ['Content-Type', undefined],
      ['X-Request-Id', 'not-a-uuid'],
      ['X-Correlation-Id', '12345'],
      ['NHSD-Target-Identifier', b64json({ value: 'another-service', system: 'https://fhir.nhs.uk/Id/dos-service-id' })],
      ['NHSD-Target-Identifier', JSON.stringify({ value: SERVICE_ID, system: 'https://fhir.nhs.uk/Id/dos-service-id' })],
      ['NHSD-End-User-Organisation', b64json({ resourceType: 'Device' })],
      ['NHSD-Requesting-Software', b64json({ resourceType: 'Organization' })],
      ['use-context', 'stalking-mdt|referral|servicerequest-request'],
      ['use-context', '|referral|servicerequest-request|new'],
      ['Accept', 'application/fhir+json'],
      ['Accept', 'application/json; version=1.4.0'],
      ['Content-Type', 'application/json'],
    ])('400 REC_BAD_REQUEST naming %s when it is %p; nothing stored', async (name, value) => {
      const headers = barsHeaders(await accessToken(receiver));
      const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase())!;
      if (value === undefined) delete headers[key];
      else headers[key] = value;
      const answer = await post(receiver, newMessage(), headers);
      expect(answer.status).toBe(400);
      expect(barsCodes(answer.body)[0]).toBe(`${BARS_ERROR_SYSTEM}|REC_BAD_REQUEST`);
      expect(diagnostics(answer.body)).toContain(name);
      expectValidR4(answer.body);
      expect(receiver.stats()).toMatchObject({ referrals: 0, messages: 0 });
    });

    it('accepts a message: 200 acknowledgement whose response.identifier is the Bundle id; stored as received; no async receipt', async () => {
      const message = newMessage();
      const referralId = referralIdOf(message);
      const answer = await post(receiver, message, barsHeaders(await accessToken(receiver)));
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const ack = answer.body as Bundle;
      expect(ack).toMatchObject({ resourceType: 'Bundle', type: 'message' });
      const { header } = parts(ack);
      expect(header.eventCoding).toEqual({ system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-response' });
      expect(header.response).toEqual({ identifier: message.id, code: 'ok' });
      expect(header.destination?.[0]?.endpoint).toBe(mapping.sourceEndpoint);
      expectValidMessage(ack);
      expect(receiver.referral(referralId)).toEqual({ stage: 'received', messageId: message.id });
      expect(receiver.stats()).toMatchObject({ messages: 1, referrals: 1 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received).toHaveLength(0);
    });

    it('a resend of the same Bundle id is 200 again and stores nothing new', async () => {
      const token = await accessToken(receiver);
      const message = newMessage();
      expect((await post(receiver, message, barsHeaders(token))).status).toBe(200);
      const again = await post(receiver, message, barsHeaders(token));
      expect(again.status).toBe(200);
      expect(parts(again.body as Bundle).header.response?.identifier).toBe(message.id);
      expect(receiver.stats()).toMatchObject({ messages: 2, referrals: 1, duplicatesRefused: 0 });
    });

    it('a different Bundle id for a referral already held is 409 REC_CONFLICT', async () => {
      const token = await accessToken(receiver);
      const message = newMessage();
      expect((await post(receiver, message, barsHeaders(token))).status).toBe(200);
      const answer = await post(receiver, { ...message, id: randomUUID() }, barsHeaders(token));
      expect(answer.status).toBe(409);
      expect(barsCodes(answer.body)).toEqual([`${BARS_ERROR_SYSTEM}|REC_CONFLICT`]);
      expect(receiver.stats()).toMatchObject({ referrals: 1, duplicatesRefused: 1 });
      expect(receiver.referral(referralIdOf(message))?.messageId).toBe(message.id);
    });

    it.each<[string, number, (m: Bundle) => unknown]>([
      ['not JSON', 400, () => '{"resourceType":'],
      ['not a Bundle', 400, (m) => ({ ...(m.entry![0]!.resource as MessageHeader) })],
      ['a transaction Bundle', 422, (m) => ({ ...m, type: 'transaction' })],
      ['no BaRS profile', 422, (m) => ({ ...m, meta: {} })],
      ['no Bundle id', 422, (m) => ({ ...m, id: undefined })],
      ['the MessageHeader not first', 422, (m) => ({ ...m, entry: [...m.entry!.slice(1), m.entry![0]] })],
      [
        'the wrong event',
        422,
        (m) =>
          withHeader(m, { eventCoding: { system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-response' } }),
      ],
      ['no reason', 422, (m) => withHeader(m, { reason: undefined })],
      [
        'a focus that is not the ServiceRequest',
        422,
        (m) => withHeader(m, { focus: [{ reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' }] }),
      ],
      ['no source endpoint', 422, (m) => withHeader(m, { source: { name: 'bridge' } as MessageHeader['source'] })],
      [
        'no referral identifier',
        422,
        (m) =>
          mapResources(m, (r) =>
            r.resourceType === 'ServiceRequest' ? { ...r, identifier: [{ system: 'https://other.example/Id/x', value: '1' }] } : r,
          ),
      ],
      ['no Consent', 422, (m) => ({ ...m, entry: m.entry!.filter((e) => e.resource?.resourceType !== 'Consent') })],
      ['no Patient', 422, (m) => ({ ...m, entry: m.entry!.filter((e) => e.resource?.resourceType !== 'Patient') })],
    ])('refuses %s with %d and stores nothing', async (_label, status, make) => {
      const answer = await post(receiver, make(newMessage()), barsHeaders(await accessToken(receiver)));
      expect(answer.status).toBe(status);
      expect(barsCodes(answer.body)[0]).toBe(`${BARS_ERROR_SYSTEM}|${status === 400 ? 'REC_BAD_REQUEST' : 'REC_UNPROCESSABLE_ENTITY'}`);
      expect(receiver.stats().referrals).toBe(0);
    });

    it('errorRate 1: 503 REC_SERVER_ERROR with Retry-After, nothing stored', async () => {
      await start({ faults: { errorRate: 1 } });
      const answer = await post(receiver, newMessage(), barsHeaders(await accessToken(receiver)));
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('1');
      expect(barsCodes(answer.body)).toEqual([`${BARS_ERROR_SYSTEM}|REC_SERVER_ERROR`]);
      expect(receiver.stats()).toMatchObject({ referrals: 0, messages: 0 });
    });

    it('only $process-message is served', async () => {
      const headers = barsHeaders(await accessToken(receiver));
      expect((await post({ ...receiver, url: `${receiver.url}/Patient` } as BarsReceiver, newMessage(), headers)).status).toBe(404);
      const res = await fetch(`${receiver.url}/$process-message`, { method: 'GET', headers });
      expect(res.status).toBe(405);
    });
  });

  describe('cancellation (update, ServiceRequest revoked)', () => {
    it('cancels, answers 200 and sends a revoked response for the cancel message', async () => {
      const token = await accessToken(receiver);
      const message = newMessage();
      const referralId = referralIdOf(message);
      const correlationId = randomUUID();
      expect((await post(receiver, message, barsHeaders(token))).status).toBe(200);
      const cancel = cancelMessage(message);
      const answer = await post(receiver, cancel, barsHeaders(token, correlationId));
      expect(answer.status).toBe(200);
      expect(parts(answer.body as Bundle).header.response).toEqual({ identifier: cancel.id, code: 'ok' });
      expect(receiver.referral(referralId)).toEqual({ stage: 'cancelled', messageId: message.id, cancelMessageId: cancel.id });

      // The simulator counts a response once the bridge has answered it, a moment after the body arrives.
      await waitFor(() => received.length === 1 && receiver.stats().responsesSent === 1);
      const { headers, bundle } = received[0]!;
      expect(headers.authorization).toBe(`Bearer ${CALLBACK_TOKEN}`);
      expect(headers['x-correlation-id']).toBe(correlationId);
      const { header, serviceRequest, encounter } = parts(bundle);
      expect(header.response).toEqual({ identifier: cancel.id, code: 'ok' });
      expect(serviceRequest?.status).toBe('revoked');
      expect(encounter).toBeUndefined();
      expectValidMessage(bundle);
      expect(receiver.stats()).toMatchObject({ cancelled: 1, responsesSent: 1 });

      // The same cancel again: idempotent, nothing new sent; a cancelled referral never advances.
      expect((await post(receiver, cancel, barsHeaders(token))).status).toBe(200);
      expect(await receiver.advance()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received).toHaveLength(1);
      expect(receiver.stats()).toMatchObject({ cancelled: 1, referrals: 1 });
    });

    it('a cancel for an unknown referral is 422; an update that is not a cancel is 422', async () => {
      const token = await accessToken(receiver);
      const unknown = await post(receiver, cancelMessage(newMessage()), barsHeaders(token));
      expect(unknown.status).toBe(422);
      expect(barsCodes(unknown.body)).toEqual([`${BARS_ERROR_SYSTEM}|REC_UNPROCESSABLE_ENTITY`]);

      const message = newMessage();
      expect((await post(receiver, message, barsHeaders(token))).status).toBe(200);
      const notRevoked = mapResources(cancelMessage(message), (r) =>
        r.resourceType === 'ServiceRequest' ? { ...r, status: 'active' } : r,
      );
      expect((await post(receiver, notRevoked, barsHeaders(token))).status).toBe(422);
      expect(receiver.referral(referralIdOf(message))?.stage).toBe('received');
      expect(receiver.stats().cancelled).toBe(0);
    });

    it('a cancel that could not be delivered is retried by advance()', async () => {
      const token = await accessToken(receiver);
      const message = newMessage();
      await post(receiver, message, barsHeaders(token));
      callbackStatus = () => 503;
      const cancel = cancelMessage(message);
      await post(receiver, cancel, barsHeaders(token));
      await waitFor(() => received.length === 1);
      await waitFor(() => receiver.stats().responsesFailed === 1);
      callbackStatus = () => 200;
      await receiver.advance();
      expect(received).toHaveLength(2);
      expect(parts(received[1]!.bundle).header.response?.identifier).toBe(cancel.id);
      expect(receiver.stats()).toMatchObject({ responsesSent: 1, responsesFailed: 1 });
    });
  });

  describe('advance(): asynchronous servicerequest-response messages', () => {
    it('accepted → in-progress → finished, one valid R4 response per step, then nothing', async () => {
      const message = newMessage();
      const correlationId = randomUUID();
      expect((await post(receiver, message, barsHeaders(await accessToken(receiver), correlationId))).status).toBe(200);
      const sentPatient = message.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource as Patient;
      const sentSr = message.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;

      const expected: [string, ServiceRequest['status'], Encounter['status']][] = [
        ['accepted', 'active', 'planned'],
        ['in-progress', 'active', 'in-progress'],
        ['finished', 'completed', 'finished'],
      ];
      for (const [i, [stage, srStatus, encounterStatus]] of expected.entries()) {
        expect(await receiver.advance()).toBe(1);
        expect(received).toHaveLength(i + 1);
        expect(receiver.referral(referralIdOf(message))?.stage).toBe(stage);
        const { headers, bundle } = received[i]!;
        expect(headers).toMatchObject({
          authorization: `Bearer ${CALLBACK_TOKEN}`,
          'content-type': 'application/fhir+json',
          'x-correlation-id': correlationId,
        });
        expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        expect(bundle).toMatchObject({
          resourceType: 'Bundle',
          type: 'message',
          meta: { profile: ['https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage'] },
        });
        expect(bundle.id).not.toBe(message.id);
        const { header, serviceRequest, patient, encounter } = parts(bundle);
        expect(header).toMatchObject({
          meta: { profile: ['https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response'] },
          eventCoding: { system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-response' },
          source: { endpoint: receiver.url },
          destination: [{ endpoint: mapping.sourceEndpoint }],
          response: { identifier: message.id, code: 'ok' },
        });
        const srEntry = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!;
        expect(header.focus).toEqual([{ reference: srEntry.fullUrl }]);
        expect(serviceRequest).toMatchObject({ status: srStatus, intent: 'plan', identifier: [sentSr.identifier![0]] });
        const patientUrl = bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!.fullUrl;
        expect(serviceRequest?.subject).toEqual({ reference: patientUrl });
        // Identifiers only: the trust never echoes the person's details.
        expect(patient).toEqual({ resourceType: 'Patient', id: expect.any(String), identifier: sentPatient.identifier });
        expect(encounter).toMatchObject({
          status: encounterStatus,
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        });
        expect(encounter?.basedOn).toEqual([{ reference: srEntry.fullUrl }]);
        expectValidMessage(bundle);
      }
      expect(await receiver.advance()).toBe(0);
      expect(received).toHaveLength(3);
      expect(receiver.stats()).toMatchObject({ responsesSent: 3, responsesFailed: 0 });
    });

    it('rejectEvery 2: the second referral is declined (ServiceRequest revoked, no Encounter)', async () => {
      await start({ rejectEvery: 2 });
      const token = await accessToken(receiver);
      const first = newMessage();
      const second = newMessage();
      await post(receiver, first, barsHeaders(token));
      await post(receiver, second, barsHeaders(token));

      expect(await receiver.advance()).toBe(2);
      const byAnswer = (m: Bundle) =>
        received.filter((r) => parts(r.bundle).header.response?.identifier === m.id).map((r) => parts(r.bundle));
      expect(byAnswer(first).map((p) => p.serviceRequest?.status)).toEqual(['active']);
      const [declined] = byAnswer(second);
      expect(declined?.serviceRequest?.status).toBe('revoked');
      expect(declined?.encounter).toBeUndefined();
      expectValidMessage(received.find((r) => parts(r.bundle).header.response?.identifier === second.id)!.bundle);
      expect(receiver.referral(referralIdOf(second))?.stage).toBe('declined');

      // Declined is final; the first goes on.
      expect(await receiver.advance()).toBe(1);
      expect(byAnswer(second)).toHaveLength(1);
      expect(receiver.referral(referralIdOf(first))?.stage).toBe('in-progress');
    });

    it('a callback answering 500 keeps the step: the same response is retried on the next advance()', async () => {
      const message = newMessage();
      await post(receiver, message, barsHeaders(await accessToken(receiver)));
      callbackStatus = () => 500;
      expect(await receiver.advance()).toBe(0);
      expect(receiver.referral(referralIdOf(message))?.stage).toBe('received');
      expect(receiver.stats()).toMatchObject({ responsesFailed: 1, responsesSent: 0 });

      callbackStatus = () => 200;
      expect(await receiver.advance()).toBe(1);
      expect(received).toHaveLength(2);
      for (const r of received) expect(parts(r.bundle).encounter?.status).toBe('planned');
      expect(receiver.referral(referralIdOf(message))?.stage).toBe('accepted');
      expect(receiver.stats()).toMatchObject({ responsesFailed: 1, responsesSent: 1 });
    });

    it('a bridge answering 404 is given up on after 3 attempts', async () => {
      const message = newMessage();
      await post(receiver, message, barsHeaders(await accessToken(receiver)));
      callbackStatus = () => 404;
      for (let i = 0; i < 5; i++) expect(await receiver.advance()).toBe(0);
      expect(received).toHaveLength(3);
      expect(receiver.stats()).toMatchObject({ responsesFailed: 3, responsesSent: 0 });
    });

    it('without a callback nothing moves (no step is lost); setCallback() lets it go on', async () => {
      await start({ callback: undefined });
      const message = newMessage();
      await post(receiver, message, barsHeaders(await accessToken(receiver)));
      expect(await receiver.advance()).toBe(0);
      expect(receiver.referral(referralIdOf(message))?.stage).toBe('received');
      receiver.setCallback({ url: callbackUrl(), token: 'other-token' });
      expect(await receiver.advance()).toBe(1);
      expect(received[0]?.headers.authorization).toBe('Bearer other-token');
    });

    it('dropResponseRate 1: the stage moves on but nothing reaches the bridge', async () => {
      await start({ faults: { dropResponseRate: 1 } });
      const message = newMessage();
      await post(receiver, message, barsHeaders(await accessToken(receiver)));
      expect(await receiver.advance()).toBe(1);
      expect(receiver.referral(referralIdOf(message))?.stage).toBe('accepted');
      expect(received).toHaveLength(0);
      expect(receiver.stats()).toMatchObject({ responsesSent: 0, responsesFailed: 0 });
    });

    it('advanceEveryMs runs advance() on a timer', async () => {
      await start({ advanceEveryMs: 20 });
      const message = newMessage();
      await post(receiver, message, barsHeaders(await accessToken(receiver)));
      await waitFor(() => receiver.referral(referralIdOf(message))?.stage === 'finished');
      expect(received.map((r) => parts(r.bundle).encounter?.status)).toEqual(['planned', 'in-progress', 'finished']);
    });
  });
});

function referralIdOf(message: Bundle): string {
  const sr = message.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
  return sr.identifier!.find((i) => i.system === mapping.referralIdSystem)!.value!;
}

function withHeader(message: Bundle, change: Partial<MessageHeader>): Bundle {
  const [first, ...rest] = message.entry!;
  return { ...message, entry: [{ ...first, resource: { ...(first!.resource as MessageHeader), ...change } }, ...rest] };
}

function mapResources(message: Bundle, change: (r: Resource) => Resource): Bundle {
  return { ...message, entry: message.entry!.map((e) => ({ ...e, resource: change(e.resource!) })) };
}
