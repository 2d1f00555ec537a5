import type { Server } from '@hapi/hapi';
import { SCOPE, type Scope } from '../../src/api/auth';
import { RESPONSE_SCHEMAS } from '../../src/api/response-schemas';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { DeadLetterJob } from '../../src/queues/topology';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';
import { clinicalReferral } from '../helpers/referrals';

/** The dead-letter and reconciliation answers match the schemas /openapi.json publishes. */
describe('response schemas: dead letters and reconciliation', () => {
  let ctx: BridgeContext;
  let server: Server;
  const ID = '0e0e0e0e-0000-5000-8000-000000000d1e';

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
    const correlationId = 'c0ffee00-0000-4000-8000-000000000d1e';
    await ctx.referrals.saveData({ ...clinicalReferral(), referralId: ID });
    await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'intake',
      create: { referralId: ID, type: 'CLINICAL', crimeReference: 'CC-26-0000d1e', recordVersion: 1, correlationId },
    });
    await ctx.referrals.transition(ID, { to: 'FAILED', source: 'NHS', detail: 'permanent' });
    for (const n of [1, 2]) {
      const entry: DeadLetterJob = {
        queue: 'nhs-delivery',
        jobId: `${ID}-q${n}`,
        jobName: 'deliver',
        data: { referralId: ID, correlationId, action: 'deliver' },
        partner: 'NHS',
        errorKind: 'permanent',
        reason: 'NHS FHIR server answered 422',
        attempts: 1,
        failedAt: new Date().toISOString(),
        referralId: ID,
        crimeReference: 'CC-26-0000d1e',
        correlationId,
      };
      await ctx.queues.deadLetter.add('nhs-delivery:deliver', entry, { jobId: `dl-${n}` });
    }
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  async function check(route: string, method: string, url: string, scopes: Scope[], payload?: object) {
    const res = await server.inject({ method, url, headers: operatorHeader(ctx.config, scopes), ...(payload ? { payload } : {}) });
    expect([route, res.statusCode]).toEqual([route, 200]);
    expect([route, RESPONSE_SCHEMAS[route]!.validate(JSON.parse(res.payload)).error?.message]).toEqual([route, undefined]);
  }

  it('list, show (with and without personal data), redrive, discard, redrive by filter, reconciliation', async () => {
    await check('GET /v1/dead-letters', 'GET', '/v1/dead-letters', [SCOPE.dlqRedrive]);
    await check('GET /v1/dead-letters/{id}', 'GET', '/v1/dead-letters/dl-1', [SCOPE.dlqRedrive]);
    await check('GET /v1/dead-letters/{id}', 'GET', '/v1/dead-letters/dl-1?include=personal', [SCOPE.admin]);
    await check('POST /v1/dead-letters/{id}/discard', 'POST', '/v1/dead-letters/dl-2/discard', [SCOPE.dlqRedrive], {
      reason: 'a test entry',
    });
    await check('POST /v1/dead-letters/{id}/redrive', 'POST', '/v1/dead-letters/dl-1/redrive', [SCOPE.dlqRedrive]);
    await check('POST /v1/dead-letters/redrive', 'POST', '/v1/dead-letters/redrive', [SCOPE.dlqRedrive], { all: true });
    await check('POST /v1/reconciliation', 'POST', '/v1/reconciliation', [SCOPE.admin]);
    await check('GET /v1/reconciliation', 'GET', '/v1/reconciliation', [SCOPE.referralsRead]);
    await check('GET /v1/audit', 'GET', '/v1/audit', [SCOPE.admin]);
    await check('GET /health/ready', 'GET', '/health/ready', [SCOPE.admin]);
  });
});
