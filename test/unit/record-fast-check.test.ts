import fc from 'fast-check';
import { parseFeed } from '../../src/adapters/police/feed-parser';
import { fastCheckRecord } from '../../src/adapters/police/record-fast-check';
import { normaliseRecord } from '../../src/adapters/police/record-normalise';
import { validateWithSchema } from '../../src/adapters/police/record-schema';
import * as validator from '../../src/adapters/police/record-validator';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';

/**
 * The fast check against the joi schema it stands in for: whenever the fast check answers, joi
 * accepts the same candidate and returns a deep-equal value; it may only ever say "not sure".
 * Candidates come from generated feeds read by parseFeed (real nodes), and from those mutated
 * field by field with the values the schema is most particular about.
 */

type Plain = Record<string, unknown>;
type Path = (string | number)[];

/** The nodes parseFeed hands to parseCrimeRecord for a generated document. */
async function nodesOf(records: number, seed: number): Promise<unknown[]> {
  const spy = jest.spyOn(validator, 'parseCrimeRecord');
  try {
    const doc = feedDocument(generateFeedRecords({ records, seed }).map((r) => r.xml));
    const parsed = await parseFeed(doc, { maxBytes: 64 * 1024 * 1024 });
    expect(spy).toHaveBeenCalledTimes(parsed.records.length);
    return spy.mock.calls.map((call) => call[0]);
  } finally {
    spy.mockRestore();
  }
}

/** True when the fast check answered; fails the test if its answer is not joi's. */
function agreesWithJoi(candidate: unknown): boolean {
  const before = deepCopy(candidate);
  const fast = fastCheckRecord(candidate);
  expect(candidate).toStrictEqual(before);
  if (fast === undefined) return false;
  const { error, value } = validateWithSchema(candidate);
  expect(error?.details[0]).toBeUndefined();
  expect(fast).toStrictEqual(value);
  return true;
}

const nodes: unknown[] = [];
const candidates: unknown[] = [];

beforeAll(async () => {
  // One feed at a time: each reads its own spy's calls.
  for (const seed of [1, 2, 3, 7, 20261122]) nodes.push(...(await nodesOf(400, seed)));
  candidates.push(...nodes.map(normaliseRecord));
});

describe('the fast record check', () => {
  it('agrees with joi on every record of generated feeds, and answers for nearly all the valid ones', () => {
    let valid = 0;
    let answered = 0;
    for (const candidate of candidates) {
      const joiValid = validateWithSchema(candidate).error === undefined;
      if (joiValid) valid++;
      if (agreesWithJoi(candidate)) answered++;
    }
    const share = answered / valid;
    console.log(
      `fast check answered ${answered} of ${valid} joi-valid generated records (${(share * 100).toFixed(1)} %), ${candidates.length} in all`,
    );
    expect(valid).toBeGreaterThan(candidates.length * 0.8);
    expect(share).toBeGreaterThanOrEqual(0.95);
  });

  it('leaves parseCrimeRecord giving what joi alone gave, with and without a force pattern', () => {
    let joiOnly: typeof validator.parseCrimeRecord = validator.parseCrimeRecord;
    jest.isolateModules(() => {
      jest.doMock('../../src/adapters/police/record-fast-check', () => ({ fastCheckRecord: () => undefined }));
      joiOnly = (jest.requireActual('../../src/adapters/police/record-validator') as typeof validator).parseCrimeRecord;
    });
    expect(joiOnly).not.toBe(validator.parseCrimeRecord);
    const quarantined = [undefined, /^CC-26-00001/].map((pattern) => {
      const results = nodes.map((node, i) => validator.parseCrimeRecord(node, i, pattern));
      nodes.forEach((node, i) => expect(results[i]).toStrictEqual(joiOnly(node, i, pattern)));
      return results.filter((r) => !r.ok).length;
    });
    expect(quarantined[1]).toBeGreaterThan(quarantined[0]!);
  });

  it('agrees with joi on generated candidates mutated field by field', () => {
    let answered = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        fc.nat(candidates.length - 1),
        fc.array(fc.tuple(fc.nat(), mutationArb), { minLength: 1, maxLength: 3 }),
        (pick, mutations) => {
          const candidate = deepCopy(candidates[pick]) as Plain;
          for (const [where, mutation] of mutations) applyMutation(candidate, where, mutation);
          runs++;
          if (agreesWithJoi(candidate)) answered++;
        },
      ),
      { numRuns: 4000 },
    );
    console.log(`mutated candidates: fast check answered ${answered} of ${runs}`);
    // Both sides of the check are exercised: some mutants stay valid, most do not.
    expect(answered).toBeGreaterThan(runs * 0.05);
    expect(answered).toBeLessThan(runs * 0.8);
  });
});

// ---- mutations ---------------------------------------------------------------------------

const ENUM_VALUES = [
  'ACTIVE',
  'WITHDRAWN',
  'VICTIM',
  'SUSPECT',
  'WITNESS',
  'OTHER',
  'FEMALE',
  'MALE',
  'UNKNOWN',
  'ADVOCACY_REFERRAL',
  'CLINICAL_REFERRAL',
  'GIVEN',
  'REFUSED',
  'NOT_ASKED',
  'DPA2018-S8-P1',
  'CDA1998-S115',
  'STANDARD',
  'MEDIUM',
  'HIGH',
  'DASH',
  'S-DASH',
  'SASH',
  'SRP',
  'CLINICAL',
  'ADVOCACY',
  'active',
  'High',
  'STALKING',
  'EX_PARTNER',
  'lower_case',
  'A'.repeat(40),
  'A'.repeat(41),
];
const CODES = [
  '8Q',
  '8L',
  '195',
  '195A',
  '1956',
  '8q',
  '8/65',
  '195/12',
  '1/1',
  '1234/1',
  '8/',
  'P1',
  'P2',
  'P 1',
  'P_1-x',
  'x'.repeat(20),
  'x'.repeat(21),
  'CC-26-0000001',
  'CC/26/1',
  'CC 26',
  'a'.repeat(40),
  'a'.repeat(41),
];
const DATES = [
  '2026-02-28',
  '2026-02-29',
  '2026-02-30',
  '2024-02-29',
  '2026-13-01',
  '2026-00-10',
  '2026-04-31',
  '0000-01-01',
  '9999-12-31',
  '2026-1-01',
  '2026-11-22T09:58:00Z',
  '2026-11-22T09:58Z',
  '2026-11-22T09:58:00.123456789+01:00',
  '2026-11-22T09:58:00.1234567890Z',
  '2026-11-22T25:00:00Z',
  '2026-11-22T09:60:00Z',
  '2026-11-22T23:59:60Z',
  '2026-02-30T10:00:00Z',
  '2026-11-22T09:58:00+24:00',
  '2026-11-22 09:58:00Z',
];
const NHS_NUMBERS = [
  '9000000009',
  '900 000 0009',
  ' 9000000009 ',
  '\t9000000009\n',
  '9000000008',
  '9434765919',
  '943 476 5919',
  '4010232137',
  '123',
  '12345678901',
  '900000000X',
  '   ',
  '9000000009\u00a0',
  '9\u200b000000009',
];
const NUMBERS: unknown[] = [
  '0',
  '1',
  '2',
  '9',
  '1000',
  '1001',
  '-1',
  '-0',
  '1.0',
  '1.5',
  '01',
  '00',
  '+1',
  '1e3',
  ' 3 ',
  '0x10',
  '9007199254740991',
  '9007199254740992',
  '999999999999999',
  '1000000000000000',
  '3',
  3,
  3.5,
  -0,
  0,
  NaN,
  Infinity,
  1e21,
];
const BOOLEANS: unknown[] = [true, false, 'true', 'false', 'TRUE', 'False', 'yes', '1', 1, 0];
const PHONES = [
  '07700900123',
  '+44 (0)1606 000000',
  '0770',
  '0'.repeat(20),
  '0'.repeat(21),
  '07700-900123',
  '07700.900123',
  '0'.repeat(30),
  '0'.repeat(31),
];
const LANGUAGES = ['en', 'cy', 'eng', 'en-GB', 'en-gb', 'EN', 'e', 'engl', 'en-', 'en-G', 'pt-BR-x1'];
const WRONG_TYPES: unknown[] = [null, undefined, {}, [], 42, ['a'], { a: 1 }, '{}', '[]', '{"code":"STALKING"}', new Date(0)];

const localArb = fc.constantFrom(
  'a',
  'a.b',
  '.a',
  'a.',
  'a..b',
  'a+b',
  'a_b',
  'a-b',
  "a'b",
  'a!b',
  'é',
  '"a b"',
  'a b',
  'x'.repeat(64),
  'x'.repeat(65),
  'A1',
  '',
);
const domainArb = fc.constantFrom(
  'example.org',
  'example',
  'ex-ample.org',
  '-ex.org',
  'ex-.org',
  'ex..org',
  'a.b.c.d',
  'example.o',
  'example.org1',
  '123.com',
  'example.123',
  'xn--abc.com',
  'xn--bcher-kva.example',
  'EXAMPLE.ORG',
  '例え.jp',
  `${'x'.repeat(63)}.org`,
  `${'x'.repeat(64)}.org`,
  '[1.2.3.4]',
  'example.org.',
  'ex_ample.org',
  `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.org`,
  `${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.${'d'.repeat(61)}.org`,
  '',
);
const EMAILS = [
  `${'x'.repeat(64)}@example.org`,
  `${'x'.repeat(65)}@example.org`,
  `a@${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.${'d'.repeat(61)}.org`,
  `ab@${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.${'d'.repeat(61)}.org`,
  `${'x'.repeat(64)}@${'a'.repeat(61)}.${'b'.repeat(61)}.${'c'.repeat(61)}.org`,
  `a@${'x'.repeat(63)}.org`,
  `a@${'x'.repeat(64)}.org`,
  'a@b.co',
  'a@b.c',
  'a@localhost',
  'a.b+c_d-e@mail.example.org',
];
const emailArb = fc.oneof(
  fc.tuple(localArb, fc.constantFrom('@', '@@', '', '@a@'), domainArb).map(([local, at, domain]) => `${local}${at}${domain}`),
  fc.constantFrom(...EMAILS),
);

const longTextArb = fc
  .tuple(
    fc.constantFrom('x', 'é', '\u{1F600}', ' '),
    fc.constantFrom(0, 1, 5, 10, 11, 30, 31, 100, 101, 199, 200, 201, 254, 255, 2000, 2001, 4000, 4001),
  )
  .map(([unit, n]) => unit.repeat(n));

const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...ENUM_VALUES, ...CODES, ...DATES, ...NHS_NUMBERS, ...PHONES, ...LANGUAGES),
  fc.constantFrom(...NUMBERS, ...BOOLEANS, ...WRONG_TYPES),
  { weight: 2, arbitrary: emailArb },
  longTextArb,
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);

type Mutation =
  | { kind: 'set'; value: unknown }
  | { kind: 'field'; field: string; value: unknown }
  | { kind: 'delete' }
  | { kind: 'unknown-key'; key: string }
  | { kind: 'grow'; length: number };

const DATE_FIELDS = [
  'lastModified',
  'committedFrom',
  'committedTo',
  'raisedAt',
  'assessedAt',
  'decidedAt',
  'dateOfBirth',
  'recordedAt',
  'authorisedAt',
];
const TEXT_FIELDS = [
  'description',
  'legislation',
  'raisedBy',
  'assessor',
  'reason',
  'forename',
  'surname',
  'town',
  'postcode',
  'safeTimeToCall',
  'recordedBy',
  'authorisedBy',
  'clinicalIndicators',
  'summary',
  'collar',
  'name',
  'phone',
];

/** A value of the kind a field's rule is about, set on that field wherever it occurs. */
const fieldArb: fc.Arbitrary<{ field: string; value: unknown }> = fc.oneof(
  fc.record({ field: fc.constant('email'), value: emailArb }),
  fc.record({ field: fc.constant('nhsNumber'), value: fc.constantFrom(...NHS_NUMBERS) }),
  fc.record({ field: fc.constantFrom('recordVersion', 'score'), value: fc.constantFrom(...NUMBERS) }),
  fc.record({ field: fc.constant('voicemailSafe'), value: fc.constantFrom(...BOOLEANS) }),
  fc.record({ field: fc.constantFrom(...DATE_FIELDS), value: fc.constantFrom(...DATES) }),
  fc.record({ field: fc.constantFrom('phone', 'language'), value: fc.constantFrom(...PHONES, ...LANGUAGES) }),
  fc.record({ field: fc.constantFrom(...TEXT_FIELDS), value: longTextArb }),
  fc.record({
    field: fc.constantFrom('crimeReference', 'homeOfficeClass', 'offenceCode', 'code', 'ref', 'subjectRef', 'victimRef', 'relationship'),
    value: fc.constantFrom(...CODES, ...ENUM_VALUES),
  }),
  fc.record({
    field: fc.constantFrom('recordStatus', 'tool', 'level', 'type', 'role', 'gender', 'purpose', 'status'),
    value: fc.constantFrom(...ENUM_VALUES),
  }),
);

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: valueArb.map((value) => ({ kind: 'set' as const, value })) },
  { weight: 6, arbitrary: fieldArb.map(({ field, value }) => ({ kind: 'field' as const, field, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('extra', 'Summary', '__proto__', 'constructor', 'ref').map((key) => ({ kind: 'unknown-key' as const, key })),
  },
  { weight: 1, arbitrary: fc.constantFrom(0, 2, 10, 11, 50, 51).map((length) => ({ kind: 'grow' as const, length })) },
);

/** Every path to a value inside the candidate (objects, arrays and leaves), the root excluded. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (!value || typeof value !== 'object') return [];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return entries.flatMap(([key, v]) => [[...prefix, key], ...pathsOf(v, [...prefix, key])]);
}

function applyMutation(candidate: Plain, where: number, mutation: Mutation): void {
  const paths = pathsOf(candidate);
  if (mutation.kind === 'unknown-key') {
    const objects = [[], ...paths].filter((p) => isObject(at(candidate, p)));
    const target = at(candidate, objects[where % objects.length]!) as Plain;
    Object.defineProperty(target, mutation.key, { value: 'x', enumerable: true, writable: true, configurable: true });
    return;
  }
  if (mutation.kind === 'grow') {
    const arrays = paths.filter((p) => Array.isArray(at(candidate, p)));
    if (arrays.length === 0) return;
    const list = at(candidate, arrays[where % arrays.length]!) as unknown[];
    const first = list[0];
    list.length = 0;
    for (let i = 0; i < mutation.length && first !== undefined; i++) list.push(deepCopy(first));
    return;
  }
  const targets = mutation.kind === 'field' ? paths.filter((p) => p[p.length - 1] === mutation.field) : paths;
  if (targets.length === 0) return;
  const path = targets[where % targets.length]!;
  const parent = at(candidate, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (mutation.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    parent[key] = mutation.value;
  }
}

/** A copy made in this realm (structuredClone's objects have another Object.prototype under jest). */
function deepCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(deepCopy) as T;
  if (!isObject(value) || value instanceof Date) return value;
  const out: Plain = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, { value: deepCopy(value[key]), enumerable: true, writable: true, configurable: true });
  }
  return out as T;
}

function at(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, key) => (v as Record<string | number, unknown>)[key], value);
}

function isObject(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
