import nock from 'nock';
import { NhsFhirClient } from '../../src/adapters/nhs/fhir-client';
import { nhsView } from '../../src/mappings/allow-lists';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { NHS_FHIR_OPTIONS } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';
import { FakeTokens, partnerFailure, socketError, useStrictNock } from '../helpers/nock';

const ORIGIN = 'https://trust.nhs.test';
const BASE = `${ORIGIN}/fhir/R4`;
const REFERRAL_SYSTEM = 'https://iasu.example/Id/referral';
const referral = clinicalReferral();
const REFERRAL_ID = referral.referralId;
const bundle = referralToTransactionBundle(nhsView(referral), NHS_FHIR_OPTIONS);
const ctx = { correlationId: '0b6b0f4e-4f7c-4d0e-9a59-3f1c6c1d2e3f' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const identifierQuery = { identifier: `${REFERRAL_SYSTEM}|${REFERRAL_ID}` };

let tokens: FakeTokens;
beforeEach(() => {
  tokens = new FakeTokens();
});

function client(timeoutMs = 2000): NhsFhirClient {
  return new NhsFhirClient({ baseUrl: BASE, timeoutMs, referralIdSystem: REFERRAL_SYSTEM, auth: tokens });
}

/** Every call must carry the correlation id, a fresh request id and the current bearer token. */
function trust(token = 'test-token') {
  return nock(ORIGIN, {
    reqheaders: {
      'x-correlation-id': ctx.correlationId,
      'x-request-id': (v: string) => UUID.test(v),
      authorization: `Bearer ${token}`,
    },
  });
}

function outcome(code: string, diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'invalid',
        details: { coding: [{ system: 'https://fhir.nhs.uk/Codesystem/http-error-codes', code }] },
        diagnostics,
      },
    ],
  };
}

function searchset(resources: object[]) {
  return { resourceType: 'Bundle', type: 'searchset', total: resources.length, entry: resources.map((resource) => ({ resource })) };
}

useStrictNock();

describe('NhsFhirClient.sendTransaction', () => {
  it('posts the bundle with correlation headers and returns the refs from the transaction-response', async () => {
    let posted: unknown;
    trust()
      .post('/fhir/R4/', (body) => {
        posted = body;
        return true;
      })
      .matchHeader('content-type', /application\/fhir\+json/)
      .reply(200, {
        resourceType: 'Bundle',
        type: 'transaction-response',
        entry: [
          { response: { status: '200 OK', location: 'Organization/o1/_history/1' } },
          { response: { status: '200 OK', location: 'Organization/o2/_history/1' } },
          { response: { status: '201 Created', location: 'Patient/p1/_history/1' } },
          { response: { status: '201 Created', location: 'Flag/f1/_history/1' } },
          { response: { status: '201 Created', location: 'Consent/c1/_history/1' } },
          { response: { status: '201 Created', location: `${BASE}/ServiceRequest/sr-1/_history/1` } },
          { response: { status: '201 Created', location: 'Task/task-1/_history/1' } },
        ],
      });
    await expect(client().sendTransaction(bundle, ctx)).resolves.toEqual({
      serviceRequestRef: 'ServiceRequest/sr-1',
      taskRef: 'Task/task-1',
    });
    expect(posted).toEqual(JSON.parse(JSON.stringify(bundle)));
  });

  it.each([400, 404, 422])('%i is permanent, keeps the BaRS code in clear and the OperationOutcome text apart', async (status) => {
    trust().post('/fhir/R4/').reply(status, outcome('REC_BAD_REQUEST', 'ServiceRequest.subject: reference could not be resolved'));
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'permanent', status });
    expect(err.options.detail).toBe('REC_BAD_REQUEST (invalid)');
    expect(err.partnerText).toBe('ServiceRequest.subject: reference could not be resolved');
    expect(err.options.code).toBe('REC_BAD_REQUEST');
    expect(err.message).not.toContain(BASE);
  });

  it('truncates a long OperationOutcome text to 500 characters', async () => {
    trust()
      .post('/fhir/R4/')
      .reply(422, outcome('REC_UNPROCESSABLE_ENTITY', 'x'.repeat(2000)));
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err.options.detail).toBe('REC_UNPROCESSABLE_ENTITY (invalid)');
    expect(err.partnerText).toHaveLength(500);
  });

  it.each([401, 403])('%i refreshes the token once, then is an auth failure (dead-letter and alert)', async (status) => {
    trust().post('/fhir/R4/').reply(status, outcome('SEND_UNAUTHORIZED', 'token expired'));
    trust('test-token-2').post('/fhir/R4/').reply(status, outcome('SEND_UNAUTHORIZED', 'still no'));
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'auth', status });
    expect(err.message).toMatch(/after a token refresh/);
    expect(err.options.code).toBe('SEND_UNAUTHORIZED');
    expect(tokens.invalidated).toEqual(['test-token']);
    expect(tokens.issued).toBe(2);
  });

  it('a 401 cured by the refreshed token delivers, with no second refresh', async () => {
    trust().post('/fhir/R4/').reply(401, outcome('SEND_UNAUTHORIZED', 'token expired'));
    trust('test-token-2')
      .post('/fhir/R4/')
      .reply(200, {
        resourceType: 'Bundle',
        type: 'transaction-response',
        entry: bundle.entry!.map((e) => ({ response: { status: '201 Created', location: `${e.resource!.resourceType}/x1/_history/1` } })),
      });
    await expect(client().sendTransaction(bundle, ctx)).resolves.toEqual({ serviceRequestRef: 'ServiceRequest/x1', taskRef: 'Task/x1' });
    expect(tokens.invalidated).toEqual(['test-token']);
  });

  it('a BaRS code decides over the HTTP status: REC_BAD_REQUEST on a 500 is permanent', async () => {
    trust().post('/fhir/R4/').reply(500, outcome('REC_BAD_REQUEST', 'missing Consent'));
    expect(await partnerFailure(client().sendTransaction(bundle, ctx))).toMatchObject({ kind: 'permanent', status: 500 });
  });

  it('409 on the referral id counts as delivered and looks the referral up', async () => {
    trust().post('/fhir/R4/').reply(409, outcome('REC_CONFLICT', 'duplicate ServiceRequest identifier'));
    trust()
      .get('/fhir/R4/ServiceRequest')
      .query(identifierQuery)
      .reply(200, searchset([{ resourceType: 'ServiceRequest', id: 'sr-9', status: 'active' }]));
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([{ resourceType: 'Task', id: 'task-9', status: 'accepted' }]));
    await expect(client().sendTransaction(bundle, ctx)).resolves.toEqual({
      serviceRequestRef: 'ServiceRequest/sr-9',
      taskRef: 'Task/task-9',
    });
  });

  it('429 is transient and honours Retry-After', async () => {
    trust().post('/fhir/R4/').reply(429, outcome('SEND_TOO_MANY_REQUESTS', 'slow down'), { 'Retry-After': '7' });
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient', status: 429, retryAfterMs: 7000 });
  });

  it.each([408, 500, 502, 503, 504])('%i is transient', async (status) => {
    trust().post('/fhir/R4/').reply(status, outcome('REC_SERVER_ERROR', 'upstream unavailable'));
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient', status });
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('a 503 with a non-FHIR body is still transient, with no detail invented', async () => {
    trust().post('/fhir/R4/').reply(503, '<html>gateway</html>', { 'Content-Type': 'text/html', 'Retry-After': '2' });
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ kind: 'transient', status: 503, retryAfterMs: 2000 });
    expect(err.options.detail).toBeUndefined();
  });

  it('a 200 whose body is not JSON is transient: nothing says the trust has the referral', async () => {
    trust().post('/fhir/R4/').reply(200, '<html>portal login</html>', { 'Content-Type': 'text/html' });
    expect(await partnerFailure(client().sendTransaction(bundle, ctx))).toMatchObject({ kind: 'transient', status: 200 });
  });

  // The charity's unreadable-2xx flaw checked here: the trust's garbled success is never permanent.
  it('a 201 with truncated JSON is transient', async () => {
    trust().post('/fhir/R4/').reply(201, '{"resourceType":"Bundle","type":"transaction-resp', { 'Content-Type': 'application/fhir+json' });
    expect(await partnerFailure(client().sendTransaction(bundle, ctx))).toMatchObject({ kind: 'transient', status: 201 });
  });

  it('a 200 with {} is asked about by the referral id: delivered if the trust has it, transient if not', async () => {
    trust().post('/fhir/R4/').reply(200, {});
    trust()
      .get('/fhir/R4/ServiceRequest')
      .query(identifierQuery)
      .reply(200, searchset([{ resourceType: 'ServiceRequest', id: 'sr-7', status: 'active' }]));
    trust().get('/fhir/R4/Task').query(identifierQuery).reply(200, searchset([]));
    await expect(client().sendTransaction(bundle, ctx)).resolves.toEqual({ serviceRequestRef: 'ServiceRequest/sr-7' });
    trust().post('/fhir/R4/').reply(200, {});
    trust().get('/fhir/R4/ServiceRequest').query(identifierQuery).reply(200, searchset([]));
    expect(await partnerFailure(client().sendTransaction(bundle, ctx))).toMatchObject({ kind: 'transient' });
  });

  it('a connection reset is transient', async () => {
    trust().post('/fhir/R4/').replyWithError(socketError('ECONNRESET', 'socket hang up'));
    const err = await partnerFailure(client().sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient' });
    expect(err.options.detail).toBe('ECONNRESET');
  });

  it('a response slower than the timeout is aborted and transient', async () => {
    trust().post('/fhir/R4/').delay(1000).reply(200, { resourceType: 'Bundle', type: 'transaction-response' });
    const err = await partnerFailure(client(100).sendTransaction(bundle, ctx));
    expect(err).toMatchObject({ partner: 'NHS', kind: 'transient' });
    expect(err.options.detail).toBe('timeout');
  });
});

describe('NhsFhirClient.getTaskStatus', () => {
  it('reads the Task by the referral id', async () => {
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([{ resourceType: 'Task', id: 'task-1', status: 'in-progress', intent: 'order' }]));
    await expect(client().getTaskStatus(REFERRAL_ID, ctx)).resolves.toEqual({ taskStatus: 'in-progress', taskRef: 'Task/task-1' });
  });

  it('is undefined when the trust has no Task', async () => {
    trust().get('/fhir/R4/Task').query(identifierQuery).reply(200, searchset([]));
    await expect(client().getTaskStatus(REFERRAL_ID, ctx)).resolves.toBeUndefined();
  });

  it('turns a 401 into an auth failure once a refreshed token is refused too', async () => {
    trust().get('/fhir/R4/Task').query(identifierQuery).reply(401, outcome('SEND_UNAUTHORIZED', 'no'));
    trust('test-token-2').get('/fhir/R4/Task').query(identifierQuery).reply(401, outcome('SEND_UNAUTHORIZED', 'no'));
    expect(await partnerFailure(client().getTaskStatus(REFERRAL_ID, ctx))).toMatchObject({ kind: 'auth', status: 401 });
  });
});

describe('NhsFhirClient.cancel', () => {
  const task = { resourceType: 'Task', id: 'task-1', meta: { versionId: 'v3' }, status: 'accepted', intent: 'order' };
  const serviceRequest = {
    resourceType: 'ServiceRequest',
    id: 'sr-1',
    meta: { versionId: 'v1' },
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/p1' },
  };

  it('cancels the Task and revokes the ServiceRequest, guarded by If-Match', async () => {
    const puts: Record<string, { status?: string }> = {};
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([task]));
    trust()
      .put('/fhir/R4/Task/task-1', (body: { status?: string }) => ((puts.task = body), true))
      .matchHeader('if-match', 'W/"v3"')
      .reply(200, (_uri, body) => body as object);
    trust()
      .get('/fhir/R4/ServiceRequest')
      .query(identifierQuery)
      .reply(200, searchset([serviceRequest]));
    trust()
      .put('/fhir/R4/ServiceRequest/sr-1', (body: { status?: string }) => ((puts.serviceRequest = body), true))
      .matchHeader('if-match', 'W/"v1"')
      .reply(200, (_uri, body) => body as object);
    await expect(client().cancel(REFERRAL_ID, ctx)).resolves.toEqual({ alreadySettled: false });
    expect(puts.task?.status).toBe('cancelled');
    expect(puts.serviceRequest).toMatchObject({ status: 'revoked', subject: { reference: 'Patient/p1' } });
  });

  it('leaves an outcome the trust already settled alone, ServiceRequest included, and says so', async () => {
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([{ ...task, status: 'completed' }]));
    await expect(client().cancel(REFERRAL_ID, ctx)).resolves.toEqual({ alreadySettled: true });
  });

  it('a Task our earlier cancel already cancelled is not "settled by the trust": the retry finishes the job', async () => {
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([{ ...task, status: 'cancelled' }]));
    trust()
      .get('/fhir/R4/ServiceRequest')
      .query(identifierQuery)
      .reply(200, searchset([serviceRequest]));
    trust()
      .put('/fhir/R4/ServiceRequest/sr-1')
      .reply(200, (_uri, body) => body as object);
    await expect(client().cancel(REFERRAL_ID, ctx)).resolves.toEqual({ alreadySettled: false });
  });

  it('a version race (412) on the update is transient, not permanent', async () => {
    trust()
      .get('/fhir/R4/Task')
      .query(identifierQuery)
      .reply(200, searchset([task]));
    trust().put('/fhir/R4/Task/task-1').reply(412, outcome('REC_PRECONDITION_FAILED', 'version mismatch'));
    expect(await partnerFailure(client().cancel(REFERRAL_ID, ctx))).toMatchObject({ kind: 'transient', status: 412 });
  });
});
