import type { Worker } from 'bullmq';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { CharityClient } from '../../src/adapters/charity/charity-client';
import { NhsFhirClient } from '../../src/adapters/nhs/fhir-client';
import { PrivateKeyJwtTokenSource } from '../../src/adapters/nhs/token-client';
import { PartnerError } from '../../src/adapters/partner-error';
import { PoliceFeedClient } from '../../src/adapters/police/feed-client';
import { PoliceWriteBackClient } from '../../src/adapters/police/write-back-client';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { charityView, nhsView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload } from '../../src/mappings/referral-to-charity';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import { FirstDeliveries } from '../../src/pipeline/delivery/first-deliveries';
import type { DeadLetterJob } from '../../src/queues/topology';
import { capturedLogger, stopBridge, testConfig, waitFor } from '../helpers/bridge';
import { NHS_FHIR_OPTIONS } from '../helpers/nhs';
import { advocacyReferral, clinicalReferral, queueWithoutDelivery } from '../helpers/referrals';

/**
 * Every partner client against a real HTTPS server whose certificate node refuses (self-signed),
 * so the error is node's own, through node:https and through fetch alike: a transient failure
 * with an alert whose reason names the certificate error, not a permanent one.
 */
const CODE = 'DEPTH_ZERO_SELF_SIGNED_CERT';
const ctx = { correlationId: '0b6f4e1c-7a8d-4c2e-9f10-2a3b4c5d6e7f' };

let server: Server;
let base: string;
let requests = 0;

beforeAll(async () => {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  server = createServer({ key: pems.private, cert: pems.cert }, (_req, res) => {
    requests++;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function failure(promise: Promise<unknown>): Promise<PartnerError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PartnerError) return err;
    throw err;
  }
  throw new Error('expected a PartnerError');
}

function expectTlsAlert(err: PartnerError, partner: PartnerError['partner']): void {
  expect(err).toMatchObject({ partner, kind: 'transient', options: { code: 'tls', alert: true } });
  expect(err.message).toContain(CODE);
  expect(err.message).not.toContain('127.0.0.1');
}

describe('a partner certificate node refuses, in every partner client', () => {
  it('charity (node:https)', async () => {
    const client = new CharityClient({ baseUrl: base, apiKey: 'k', timeoutMs: 2000 });
    try {
      const payload = referralToCharityPayload(charityView(advocacyReferral()), { referrerOrganisation: 'IASU' });
      expectTlsAlert(await failure(client.createReferral(payload, { ...ctx, idempotencyKey: 'key-1' })), 'CHARITY');
      expectTlsAlert(await failure(client.getReferral('CH-1', ctx)), 'CHARITY');
    } finally {
      client.close();
    }
  });

  it('NHS FHIR: the transaction POST (node:https) and a read through fhir-kit-client (fetch)', async () => {
    const client = new NhsFhirClient({ baseUrl: `${base}/fhir/R4`, timeoutMs: 2000, referralIdSystem: 'https://iasu.example/Id/referral' });
    try {
      const bundle = referralToTransactionBundle(nhsView(clinicalReferral()), NHS_FHIR_OPTIONS);
      expectTlsAlert(await failure(client.sendTransaction(bundle, ctx)), 'NHS');
      expectTlsAlert(await failure(client.getTaskStatus('r-1', ctx)), 'NHS');
    } finally {
      client.close();
    }
  });

  it('NHS token endpoint (fetch)', async () => {
    const privateKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const tokens = new PrivateKeyJwtTokenSource({ tokenUrl: `${base}/oauth2/token`, clientId: 'c', privateKeyPem, timeoutMs: 2000 });
    expectTlsAlert(await failure(tokens.accessToken()), 'NHS');
  });

  it('police feed and outcome clients (node:https)', async () => {
    const feed = new PoliceFeedClient({ baseUrl: base, token: 't', timeoutMs: 2000, pageLimit: 10 });
    const outcomes = new PoliceWriteBackClient({ baseUrl: base, token: 't', timeoutMs: 2000 });
    try {
      expectTlsAlert(await failure(feed.fetchPage(undefined, ctx)), 'POLICE');
      const outcome = {
        crimeReference: 'CC-26-0001234',
        referralId: 'b1f6f6b4-3d2e-5b7a-9c1d-0e2f3a4b5c6d',
        partner: 'NHS' as const,
        partnerReference: 'ServiceRequest/1',
        status: 'ACCEPTED' as const,
        statusAt: '2026-11-22T11:02:00Z',
        seq: 3,
      };
      expectTlsAlert(await failure(outcomes.post(outcome, ctx)), 'POLICE');
    } finally {
      feed.close();
      outcomes.close();
    }
  });

  it('no request ever reached the server', () => {
    expect(requests).toBe(0);
  });
});

describe('a charity delivery refused by TLS', () => {
  let bridge: BridgeContext;
  let workers: Worker[];
  let logs: () => string;

  beforeEach(() => {
    const captured = capturedLogger();
    logs = captured.text;
    bridge = createContext(
      testConfig({ CHARITY_API_URL: base, CHARITY_API_KEY: 'k', DELIVERY_ATTEMPTS: '3', DELIVERY_BACKOFF_MS: '20' }),
      captured.logger,
    );
    workers = [startDeliveryWorker(bridge, charityDelivery(bridge))];
  });
  afterEach(async () => {
    await stopBridge(bridge, workers);
  });

  const lines = (msg: string) =>
    logs()
      .split('\n')
      .filter((l) => l.includes(`"${msg}"`))
      .map((l) => JSON.parse(l) as { alert?: boolean; kind?: string; reason?: string });

  it('is retried with backoff, alerting from the first attempt; once attempts run out it is dead-lettered with the code and an alert', async () => {
    const referral = advocacyReferral();
    await queueWithoutDelivery(bridge, referral, 'c0ffee00-0000-4000-8000-000000000000');
    await enqueueDelivery(
      bridge,
      referral.referralId,
      'c0ffee00-0000-4000-8000-000000000000',
      (await bridge.referrals.get(referral.referralId))!.statusSeq,
    );
    await waitFor(async () => (await bridge.referrals.get(referral.referralId))?.status === 'FAILED', 'referral FAILED');

    const retries = lines('attempt failed; will retry');
    expect(retries).toHaveLength(2);
    for (const r of retries) expect(r).toMatchObject({ alert: true, kind: 'transient', reason: expect.stringContaining(CODE) });
    expect(lines('dead-lettered')).toEqual([
      expect.objectContaining({ alert: true, kind: 'transient', reason: expect.stringContaining(CODE) }),
    ]);
    const [letter] = (await bridge.queues.deadLetter.getJobs(['waiting'])).map((j) => j.data as DeadLetterJob);
    expect(letter).toMatchObject({ partner: 'CHARITY', errorKind: 'transient', attempts: 3, reason: expect.stringContaining(CODE) });
    expect(letter!.reason).not.toContain('127.0.0.1');
    const metrics = (await bridge.metrics.render()).body;
    expect(metrics).toMatch(/iasu_dead_letters_total\{[^}]*partner="CHARITY"[^}]*kind="transient"[^}]*\} 1/);
    expect(metrics).toMatch(/iasu_delivery_retries_total\{[^}]*partner="CHARITY"[^}]*kind="transient"[^}]*\} 2/);
  });

  it('a first attempt made at intake alerts too when it hands over to the queue', async () => {
    const referral = advocacyReferral();
    await queueWithoutDelivery(bridge, referral, 'c0ffee00-0000-4000-8000-000000000000');
    const first = new FirstDeliveries(bridge);
    await first.dispatch(
      referral.referralId,
      'c0ffee00-0000-4000-8000-000000000000',
      (await bridge.referrals.get(referral.referralId))!.statusSeq,
      'CHARITY',
    );
    await first.idle();
    await first.close();
    expect(lines('delivery attempt failed; queued for retry')).toEqual([
      expect.objectContaining({ alert: true, kind: 'transient', reason: expect.stringContaining(CODE) }),
    ]);
    await waitFor(async () => (await bridge.referrals.get(referral.referralId))?.status === 'FAILED', 'referral FAILED');
  });
});
