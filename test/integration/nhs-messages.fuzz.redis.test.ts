import type { Server } from '@hapi/hapi';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { barsMessageId } from '../../src/mappings/referral-to-bars';
import { barsIntegrityHeaders, trustResponse } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * POST /fhir/$process-message fuzzed with mutated trust responses (wrong types, missing fields,
 * arrays and objects swapped, nulls, huge strings) and bodies that are not JSON: every answer
 * is 2xx or 4xx, never 5xx, and every 4xx is an OperationOutcome.
 */
const TOKEN = 'trust-inbound-token';
const referral = clinicalReferral();
const ID = referral.referralId;
const SENT_ID = barsMessageId(ID);
const RUNS = 300;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** The valid responses the mutations start from (all answer the message the bridge sent). */
const validResponse: fc.Arbitrary<Json> = fc
  .record({
    code: fc.constantFrom('ok', 'transient-error', 'fatal-error'),
    serviceRequest: fc.constantFrom('active', 'revoked', 'completed', 'entered-in-error', 'on-hold'),
    encounter: fc.option(fc.constantFrom('planned', 'in-progress', 'finished'), { nil: undefined }),
    outcome: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
    id: fc.stringMatching(/^[A-Za-z0-9\-.]{1,64}$/),
  })
  .map((o) => trustResponse({ ...o, respondsTo: SENT_ID, referralId: ID }) as unknown as Json);

/** A value of another shape than the one it replaces. */
function replacement(original: Json): fc.Arbitrary<Json | undefined> {
  const huge = fc.integer({ min: 10_000, max: 200_000 }).map((n) => 'x'.repeat(n));
  return fc.oneof<fc.Arbitrary<Json | undefined>[]>(
    fc.constant(undefined),
    fc.constant(null),
    fc.constant<Json>({}),
    fc.constant<Json>([]),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double()),
    fc.string({ maxLength: 20 }),
    huge,
    fc.constant<Json>(Array.isArray(original) ? (original[0] ?? null) : [original]),
    fc.constant<Json>(Array.isArray(original) ? Object.fromEntries(original.map((v, i) => [String(i), v])) : { value: original }),
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  );
}

function paths(value: Json, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [[...prefix, k], ...paths((value as Record<string | number, Json>)[k]!, [...prefix, k])]);
}

function at(value: Json, path: Path): Json {
  return path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, value);
}

function replaced(value: Json, path: Path, next: Json | undefined): Json {
  const copy = structuredClone(value);
  const parent = at(copy, path.slice(0, -1)) as Record<string | number, Json>;
  const key = path[path.length - 1]!;
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else parent[key] = next;
  return copy;
}

/** One valid response with one to three of its values replaced. */
const mutatedResponse: fc.Arbitrary<string> = validResponse
  .chain((base) => {
    const all = paths(base);
    const mutation = fc.constantFrom(...all).chain((p) => replacement(at(base, p)).map((v) => [p, v] as const));
    return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) =>
      ms.reduce<Json>((doc, [p, v]) => {
        try {
          return replaced(doc, p, v);
        } catch {
          return doc; // an earlier mutation removed the path
        }
      }, base),
    );
  })
  .map((doc) => JSON.stringify(doc));

const notJson: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  validResponse.chain((base) => {
    const text = JSON.stringify(base);
    return fc.integer({ min: 0, max: text.length - 1 }).map((n) => text.slice(0, n));
  }),
  fc.constantFrom('', 'null', '[]', '"Bundle"', '42', '{"resourceType":"Bundle"', '\u0000', '['.repeat(100_000)),
);

const body: fc.Arbitrary<string> = fc.oneof({ arbitrary: mutatedResponse, weight: 8 }, { arbitrary: notJson, weight: 2 });

describe('POST /fhir/$process-message, fuzzed', () => {
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    ctx = createContext(
      testConfig({ NHS_MODE: 'bars', NHS_INBOUND_TOKEN: TOKEN, NHS_BARS_TARGET_SERVICE_ID: 'svc-42' }),
      capturedLogger().logger,
    );
    server = await createServer(ctx, { port: 0 });
    // The referral the responses answer, sent (so the response finds it and is applied).
    await ctx.referrals.saveData(referral);
    const t = await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: {
        referralId: ID,
        type: 'CLINICAL',
        crimeReference: referral.crimeReference,
        recordVersion: 1,
        correlationId: 'c0ffee00-0000-4000-8000-000000000000',
      },
    });
    if (!t.applied) throw new Error('setup failed');
    await ctx.messages.remember(SENT_ID, { referralId: ID, kind: 'new' });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test(`every answer is 2xx or 4xx, 4xx with an OperationOutcome (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const res = await server.inject({
          method: 'POST',
          url: '/fhir/$process-message',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json', ...barsIntegrityHeaders() },
          payload,
        });
        const result = res.result as OperationOutcome | Bundle | null;
        // The body of a 5xx in the failure message says which error it was.
        expect(res.statusCode >= 500 ? { status: res.statusCode, result } : 'not 5xx').toBe('not 5xx');
        if (res.statusCode >= 400) {
          expect(result?.resourceType).toBe('OperationOutcome');
          expect((result as OperationOutcome).issue?.[0]?.details?.text).toEqual(expect.any(String));
        } else {
          expect(result?.resourceType).toBe('Bundle');
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);
});
