import type { Server } from '@hapi/hapi';
import type { Bundle, MessageHeader, OperationOutcome } from '@medplum/fhirtypes';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import { fhirXmlToJson } from '../conformance/fhir-xml';
import { STANDARDS_DIR } from '../conformance/published';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';
import { barsIntegrityHeaders, indexR4Definitions } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';

/**
 * Every servicerequest-response message NHS England publishes (the BaRS API's JSON example and
 * the BaRS project's XML examples, read as FHIR JSON) posted over HTTP to the bridge's
 * `POST /fhir/$process-message`, each answering a message the bridge is seeded as having sent:
 * the status it must answer, what it must do to the referral, and 409 / duplicate on a replay
 * with nothing changed.
 */
const TOKEN = 'trust-inbound-token';
const EVENT = 'https://fhir.nhs.uk/CodeSystem/message-events-bars|servicerequest-response';
const referral = clinicalReferral();
const ID = referral.referralId;

interface Expected {
  /** The referral's status once the message is applied. */
  status: ReferralStatus;
  /** Posted first, as the trust's earlier message in the same exchange. */
  after?: string;
  why: string;
}

const EXPECTED: Readonly<Record<string, Expected>> = {
  'bars-api/ValidationResponse (POST) .json': { status: 'COMPLETED', why: "the receiver's (focused) Encounter is finished" },
  'REFRESP01 - Referral Service Request Response New Full - ED to 111 Safeguarding DNA Feedback.xml': {
    status: 'REJECTED',
    why: 'ServiceRequest revoked, unprompted',
  },
  'REFRESP02- Referral Service Request Reponse Short - CAD Mutual Aid Rejection.xml': {
    status: 'REJECTED',
    why: 'the only Encounter with a BaRS rejection reason is cancelled',
  },
  'REFRESP03 - Referral Service Request Response - CAD Out of Area Response.xml': {
    status: 'SENT',
    why: "two Encounters under one system, no focus, no serviceProvider: which is the receiver's cannot be told, so nothing is guessed",
  },
  'VALRESP01A - Validation Response New Interim - CAS to 999 In-progress (1 of 2).xml': {
    status: 'IN_PROGRESS',
    why: 'focused Encounter in-progress',
  },
  'VALRESP01B - Validation Response Update Full - CAS to 999 Finished (2 of 2).xml': {
    status: 'COMPLETED',
    after: 'VALRESP01A - Validation Response New Interim - CAS to 999 In-progress (1 of 2).xml',
    why: "answers the trust's own 01A, which the bridge linked to the referral",
  },
  'VALRESP02 - Validation Response New Full - CAS to 999 Finished.xml': { status: 'COMPLETED', why: 'focused Encounter finished' },
  'VALRESP03 - Validation Response New Full - CAS to 999 Finished Inc New CADid Cat 1-2.xml': {
    status: 'COMPLETED',
    why: 'focused Encounter finished',
  },
  'VALRESP04 - Validation Response Interim - Reject Validation Request.xml': {
    status: 'REJECTED',
    why: 'focused Encounter cancelled: a decline',
  },
  'VALRESP05 - Validation Response - Falls to 999 Finished copy.xml': { status: 'COMPLETED', why: 'focused Encounter finished' },
};

async function publishedResponses(): Promise<Map<string, Bundle>> {
  indexR4Definitions();
  const found = new Map<string, Bundle>();
  const json = join(STANDARDS_DIR, 'bars-api', 'specification', 'examples', 'process_message');
  for (const folder of ['request', 'response']) {
    for (const file of readdirSync(join(json, folder)).filter((f) => f.endsWith('.json'))) {
      found.set(`bars-api/${file}`, JSON.parse(readFileSync(join(json, folder, file), 'utf8')) as Bundle);
    }
  }
  for (const file of readdirSync(json).filter((f) => f.endsWith('.json')))
    found.set(`bars-api/${file}`, JSON.parse(readFileSync(join(json, file), 'utf8')) as Bundle);
  const xml = join(STANDARDS_DIR, 'bars', 'Examples');
  for (const file of readdirSync(xml).filter((f) => f.endsWith('.xml'))) {
    found.set(file, (await fhirXmlToJson(readFileSync(join(xml, file), 'utf8'))) as unknown as Bundle);
  }
  const responses = new Map<string, Bundle>();
  for (const [name, resource] of found) {
    const header = resource.resourceType === 'Bundle' ? (resource.entry?.[0]?.resource as MessageHeader | undefined) : undefined;
    if (header?.resourceType === 'MessageHeader' && `${header.eventCoding?.system}|${header.eventCoding?.code}` === EVENT)
      responses.set(name, resource);
  }
  return responses;
}

const headerOf = (bundle: Bundle) => bundle.entry![0]!.resource as MessageHeader;

describe("NHS England's published servicerequest-response messages, posted to the bridge", () => {
  let ctx: BridgeContext;
  let server: Server;
  let responses: Map<string, Bundle>;

  beforeAll(async () => {
    responses = await publishedResponses();
    ctx = createContext(
      testConfig({ NHS_MODE: 'bars', NHS_BARS_TARGET_SERVICE_ID: 'svc-42', NHS_INBOUND_TOKEN: TOKEN }),
      capturedLogger().logger,
    );
    server = await createServer(ctx, { port: 0, host: '127.0.0.1' });
    await server.start();
  });
  beforeEach(async () => {
    // Several examples share message ids (VALRESP01A and 04, 02 and 05): each starts afresh.
    await dropKeys(ctx.config);
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  /** The referral is SENT, the bridge having sent the message the example answers. */
  async function seed(answered: string): Promise<void> {
    await ctx.referrals.saveData(referral);
    await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: ID,
        type: 'CLINICAL',
        crimeReference: referral.crimeReference,
        recordVersion: 3,
        correlationId: 'c0ffee00-0000-4000-8000-000000000001',
      },
    });
    await ctx.referrals.transition(ID, { to: 'SENT', source: 'NHS' });
    await ctx.messages.remember(answered, { referralId: ID, kind: 'new' });
  }

  async function post(bundle: Bundle): Promise<{ status: number; body: Bundle | OperationOutcome; headers: Headers }> {
    const res = await fetch(`${server.info.uri}/fhir/$process-message`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json', ...barsIntegrityHeaders() },
      body: JSON.stringify(bundle),
    });
    return { status: res.status, body: (await res.json()) as Bundle | OperationOutcome, headers: res.headers };
  }

  it('every published servicerequest-response message is in the table below (none skipped, none invented)', () => {
    expect([...responses.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED).map(([name, expected]) => [name, expected.status, expected] as const))(
    '%s: 200, acknowledged, referral %s; a replay is 409 / duplicate',
    async (name, _status, expected) => {
      const bundle = responses.get(name)!;
      const first = expected.after ? responses.get(expected.after)! : bundle;
      await seed(headerOf(first).response!.identifier!);
      if (expected.after) expect((await post(first)).status).toBe(200);

      const answer = await post(bundle);
      expect([answer.status, answer.body.resourceType]).toEqual([200, 'Bundle']);
      const ack = headerOf(answer.body as Bundle);
      expect(ack.response).toEqual({ identifier: bundle.id, code: 'ok' });
      expect(ack.destination).toEqual([{ endpoint: headerOf(bundle).source!.endpoint }]);
      const meta = await ctx.referrals.get(ID);
      expect([meta?.status, expected.why]).toEqual([expected.status, expected.why]);

      const before = { meta, timeline: await ctx.referrals.timeline(ID) };
      const replay = await post(bundle);
      expect(replay.status).toBe(409);
      expect((replay.body as OperationOutcome).issue[0]).toMatchObject({
        code: 'duplicate',
        details: { coding: [{ code: 'REC_CONFLICT' }] },
      });
      expect({ meta: await ctx.referrals.get(ID), timeline: await ctx.referrals.timeline(ID) }).toEqual(before);
    },
  );
});
