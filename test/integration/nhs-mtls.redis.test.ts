import type { Server } from '@hapi/hapi';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { barsMessageId } from '../../src/mappings/referral-to-bars';
import { barsIntegrityHeaders, trustResponse } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * NHS_INBOUND_AUTH=mtls: the trust's responses are authenticated by its client certificate
 * (signed by HTTP_TLS_CLIENT_CA_FILE, subject CN = NHS_INBOUND_CLIENT_CN), not a bearer token.
 * Certificates are generated per run; none live in the repo.
 */
type Pems = Awaited<ReturnType<typeof generate>>;
const TRUST_CN = 'rtv-bars-responder';
const referral = clinicalReferral();
const ID = referral.referralId;

describe('mTLS on POST /fhir/$process-message', () => {
  let dir: string;
  let ca: Pems & { clientcert: string; clientprivate: string };
  let wrongCn: Pems;
  let otherCa: Pems & { clientcert: string; clientprivate: string };
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iasu-mtls-'));
    // The CA doubles as the bridge's server certificate; the trust's client certificate is signed by it.
    ca = (await generate([{ name: 'commonName', value: 'localhost' }], {
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
      ],
      clientCertificate: { cn: TRUST_CN },
    })) as typeof ca;
    wrongCn = await generate([{ name: 'commonName', value: 'someone-else' }], {
      algorithm: 'sha256',
      ca: { key: ca.private, cert: ca.cert },
    });
    otherCa = (await generate([{ name: 'commonName', value: 'other-ca' }], {
      algorithm: 'sha256',
      clientCertificate: { cn: TRUST_CN },
    })) as typeof otherCa;
    writeFileSync(join(dir, 'server.crt'), ca.cert);
    writeFileSync(join(dir, 'server.key'), ca.private);
    writeFileSync(join(dir, 'client-ca.crt'), ca.cert);

    ctx = createContext(
      testConfig({
        NHS_MODE: 'bars',
        NHS_BARS_TARGET_SERVICE_ID: 'svc-1',
        NHS_INBOUND_AUTH: 'mtls',
        NHS_INBOUND_CLIENT_CN: TRUST_CN,
        NHS_INBOUND_TOKEN: 'a-token-that-must-not-work',
        HTTP_HOST: '127.0.0.1',
        HTTP_TLS_CERT_FILE: join(dir, 'server.crt'),
        HTTP_TLS_KEY_FILE: join(dir, 'server.key'),
        HTTP_TLS_CLIENT_CA_FILE: join(dir, 'client-ca.crt'),
      }),
      capturedLogger().logger,
    );
    server = await createServer(ctx, { port: 0 });
    await server.start();

    await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: ID,
        type: 'CLINICAL',
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: 'c0ffee00-0000-4000-8000-000000000000',
      },
    });
    await ctx.referrals.transition(ID, { to: 'SENT', source: 'test' });
    await ctx.messages.remember(barsMessageId(ID), { referralId: ID, kind: 'new' });
  });

  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function post(
    client: { cert: string; key: string } | undefined,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: { resourceType?: string; issue?: { details?: { coding?: { code?: string }[] } }[] } }> {
    const body = JSON.stringify(trustResponse({ id: 'mtls-resp-1', respondsTo: barsMessageId(ID), referralId: ID, encounter: 'planned' }));
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${server.info.uri}/fhir/$process-message`,
        {
          method: 'POST',
          ca: ca.cert,
          ...(client ?? {}),
          headers: { 'content-type': 'application/fhir+json', ...barsIntegrityHeaders(), ...headers },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const codeOf = (body: Awaited<ReturnType<typeof post>>['body']) => body.issue?.[0]?.details?.coding?.[0]?.code;

  test('the server speaks HTTPS', () => {
    expect(server.info.uri).toMatch(/^https:/);
  });

  test('the trust’s certificate (our CA, its CN) is accepted and the response applied', async () => {
    const res = await post({ cert: ca.clientcert, key: ca.clientprivate });
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('Bundle');
    expect((await ctx.referrals.get(ID))?.status).toBe('ACCEPTED');
  });

  test('no client certificate: 401, and a bearer token does not stand in for one', async () => {
    const res = await post(undefined, { authorization: 'Bearer a-token-that-must-not-work' });
    expect(res.status).toBe(401);
    expect(codeOf(res.body)).toBe('REC_UNAUTHORIZED');
  });

  test('a certificate from another CA: 401', async () => {
    const res = await post({ cert: otherCa.clientcert, key: otherCa.clientprivate });
    expect(res.status).toBe(401);
  });

  test('our CA but another subject: 403', async () => {
    const res = await post({ cert: wrongCn.cert, key: wrongCn.private });
    expect(res.status).toBe(403);
    expect(codeOf(res.body)).toBe('REC_FORBIDDEN');
  });
});
