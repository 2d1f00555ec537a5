import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { v5 as uuidv5, validate as uuidValidate, version as uuidVersion } from 'uuid';
import { parseFeed } from '../../src/adapters/police/feed-parser';
import { decideBasis } from '../../src/domain/consent';
import {
  CONSENT_STATUSES,
  LAWFUL_BASIS_CODES,
  PERSON_ROLES,
  REFERRAL_TYPES,
  type Consent,
  type ConsentStatus,
  type CrimeRecord,
  type LawfulBasis,
  type Person,
  type ReferralType,
} from '../../src/domain/crime-record';
import { REFERRAL_ID_NAMESPACE, referralIdFor } from '../../src/domain/referral-id';
import type { DecidedReferral } from '../../src/domain/referral';
import { countHeld, mapCrimeRecord } from '../../src/mappings/police-to-referral';
import { minimalRecord, person } from '../helpers/records';

const EXAMPLE = readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml'));
const FORCE = 'CHESHIRE';

let example: CrimeRecord;
beforeAll(async () => {
  const feed = await parseFeed(EXAMPLE, { maxBytes: 10 * 1024 * 1024 });
  const first = feed.records[0]!;
  if (!first.ok) throw new Error(`fixture did not parse: ${first.reason}`);
  example = first.record;
});

/** A deep copy of the example record, changed by `edit`. */
function variant(edit: (r: CrimeRecord) => void = () => undefined): CrimeRecord {
  const copy = structuredClone(example);
  edit(copy);
  return copy;
}

function byType(referrals: DecidedReferral[], type: ReferralType): DecidedReferral {
  const found = referrals.filter((r) => r.referral.type === type);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('mapCrimeRecord: the example record', () => {
  it('yields two in-scope referrals, both QUEUED', () => {
    const mapping = mapCrimeRecord(example, FORCE);
    expect(mapping).toMatchObject({ crimeReference: 'CC-26-0001234', recordVersion: 3, inScope: true });
    expect(mapping.referrals).toHaveLength(2);
    expect(mapping.referrals.map((r) => [r.referral.type, r.referral.subject.ref, r.decision])).toEqual([
      ['CLINICAL', 'P2', 'QUEUED'],
      ['ADVOCACY', 'P1', 'QUEUED'],
    ]);
    for (const r of mapping.referrals) expect(r.reason).toBeUndefined();
  });

  it('CLINICAL for the suspect P2 rests on the lawful basis despite the refused consent', () => {
    const clinical = byType(mapCrimeRecord(example, FORCE).referrals, 'CLINICAL');
    const r = clinical.referral;
    expect(r.subject).toEqual({
      ref: 'P2',
      role: 'SUSPECT',
      forename: 'Sam',
      surname: 'Taylor',
      dateOfBirth: '1986-01-30',
      gender: 'MALE',
      nhsNumber: '9912003888',
      address: { lines: ['9 Other Road'], town: 'Runcorn', postcode: 'WA7 2AB' },
      clinicalIndicators: 'Reports low mood; alcohol misuse',
    });
    expect(r.consent).toEqual({ purpose: 'CLINICAL_REFERRAL', status: 'REFUSED', recordedAt: '2026-11-22T08:00:00Z', recordedBy: '4521' });
    expect(r.lawfulBasis).toEqual({ code: 'DPA2018-S8-P1', authorisedBy: 'Insp 0771', authorisedAt: '2026-11-22T09:35:00Z' });
    expect(r.mdtReason).toBe('Fixation with ex-partner; possible untreated mental illness');
    expect(r.mdtDecidedAt).toBe('2026-11-22T09:30:00Z');
    expect(r.perpetrator).toBeUndefined();
    expect(r).toMatchObject({
      crimeReference: 'CC-26-0001234',
      recordVersion: 3,
      force: FORCE,
      recordLastModified: '2026-11-22T09:58:00Z',
    });
    expect(r.offence.homeOfficeClass).toBe('8Q');
    expect(r.risk).toEqual({ tool: 'S-DASH', level: 'HIGH', score: 9, assessedAt: '2026-11-21T17:30:00Z', assessor: '4521' });
    expect(r.officerInCase).toEqual({ collar: '4521', name: 'DC Jordan Lee', email: 'jordan.lee@police.example', phone: '01606000000' });
    expect(r.summary).toBe("Repeated unwanted contact and loitering outside the victim's workplace.");
  });

  it('ADVOCACY for the victim P1 rests on consent and carries the safe contact', () => {
    const advocacy = byType(mapCrimeRecord(example, FORCE).referrals, 'ADVOCACY');
    const r = advocacy.referral;
    expect(r.subject).toMatchObject({
      ref: 'P1',
      role: 'VICTIM',
      forename: 'Alex',
      surname: 'Morgan',
      safeContact: { phone: '07700900123', email: 'alex@example.org', safeTimeToCall: 'weekdays 10:00-14:00', voicemailSafe: false },
      language: 'en',
    });
    expect(r.consent).toEqual({ purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: '2026-11-21T17:40:00Z', recordedBy: '4521' });
    expect(r.lawfulBasis).toBeUndefined();
    expect(r.mdtReason).toBeUndefined();
  });

  it('other parties carry role and relationship only, never names or identifiers', () => {
    const mapping = mapCrimeRecord(example, FORCE);
    const clinical = byType(mapping.referrals, 'CLINICAL').referral;
    const advocacy = byType(mapping.referrals, 'ADVOCACY').referral;
    expect(clinical.otherParties).toEqual([{ ref: 'P1', role: 'VICTIM', relationshipToSubject: 'EX_PARTNER' }]);
    expect(advocacy.otherParties).toEqual([{ ref: 'P2', role: 'SUSPECT', relationshipToSubject: 'EX_PARTNER' }]);
    for (const party of [...clinical.otherParties, ...advocacy.otherParties]) {
      expect(Object.keys(party).sort()).toEqual(expect.arrayContaining(['ref', 'role']));
      expect(Object.keys(party).every((k) => ['ref', 'role', 'relationshipToSubject'].includes(k))).toBe(true);
    }
    const clinicalOthers = JSON.stringify(clinical.otherParties);
    for (const secret of ['Alex', 'Morgan', '1990-04-12', '9000000009', '07700900123', 'alex@example.org', 'Warrington']) {
      expect(clinicalOthers).not.toContain(secret);
    }
    const advocacyOthers = JSON.stringify(advocacy.otherParties);
    for (const secret of ['Sam', 'Taylor', '1986-01-30', '9912003888', 'Runcorn', 'low mood']) expect(advocacyOthers).not.toContain(secret);
  });

  it('the victim on a CLINICAL referral of the suspect is never in the subject', () => {
    const clinical = byType(mapCrimeRecord(example, FORCE).referrals, 'CLINICAL').referral;
    const text = JSON.stringify({ subject: clinical.subject, otherParties: clinical.otherParties, perpetrator: clinical.perpetrator });
    expect(text).not.toContain('07700900123');
    expect(text).not.toContain('Alex');
  });

  it('ADVOCACY names the perpetrator: suspect name and relationship only', () => {
    const advocacy = byType(mapCrimeRecord(example, FORCE).referrals, 'ADVOCACY').referral;
    expect(advocacy.perpetrator).toEqual({ forename: 'Sam', surname: 'Taylor', relationshipToVictim: 'EX_PARTNER' });
  });

  it('the perpetrator is the suspect related to this victim, else the first suspect', () => {
    const record = minimalRecord(
      [
        person('V', 'VICTIM', { consents: [{ purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN' }] }),
        person('S1', 'SUSPECT', { forename: 'First', surname: 'One' }),
        person('S2', 'SUSPECT', {
          forename: 'Second',
          surname: 'Two',
          relationshipToVictim: { victimRef: 'V', relationship: 'NEIGHBOUR' },
        }),
        person('W', 'WITNESS', { forename: 'Wit' }),
      ],
      { mdtDecision: { referrals: [{ type: 'ADVOCACY', subjectRef: 'V' }] } },
    );
    expect(mapCrimeRecord(record, FORCE).referrals[0]!.referral.perpetrator).toEqual({
      forename: 'Second',
      surname: 'Two',
      relationshipToVictim: 'NEIGHBOUR',
    });
    record.persons[2]!.relationshipToVictim = undefined;
    expect(mapCrimeRecord(record, FORCE).referrals[0]!.referral.perpetrator).toEqual({ forename: 'First', surname: 'One' });
    record.persons = record.persons.filter((p) => p.role !== 'SUSPECT');
    expect(mapCrimeRecord(record, FORCE).referrals[0]!.referral.perpetrator).toBeUndefined();
  });

  it('does not mutate its input', () => {
    const before = structuredClone(example);
    const mapping = mapCrimeRecord(example, FORCE);
    mapping.referrals[0]!.referral.subject.address!.lines.push('mutated');
    mapping.referrals[0]!.referral.offence.description = 'mutated';
    expect(example).toEqual(before);
  });
});

describe('referral ids', () => {
  const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('are UUID v5 of {force}:{crimeReference}:{type}:{subjectRef} under the fixed namespace', () => {
    const mapping = mapCrimeRecord(example, FORCE);
    const clinical = byType(mapping.referrals, 'CLINICAL').referral.referralId;
    const advocacy = byType(mapping.referrals, 'ADVOCACY').referral.referralId;
    expect(clinical).toMatch(UUID_V5);
    expect(uuidValidate(clinical) && uuidVersion(clinical)).toBe(5);
    expect(clinical).toBe(uuidv5('CHESHIRE:CC-26-0001234:CLINICAL:P2', REFERRAL_ID_NAMESPACE));
    expect(advocacy).toBe(uuidv5('CHESHIRE:CC-26-0001234:ADVOCACY:P1', REFERRAL_ID_NAMESPACE));
    expect(clinical).toBe(referralIdFor('CHESHIRE', 'CC-26-0001234', 'CLINICAL', 'P2'));
  });

  it('the namespace is uuidv5("urn:iasu:referral", URL namespace) and never changes', () => {
    expect(REFERRAL_ID_NAMESPACE).toBe(uuidv5('urn:iasu:referral', uuidv5.URL));
    expect(referralIdFor('CHESHIRE', 'CC-26-0001234', 'CLINICAL', 'P2')).toBe(
      uuidv5('CHESHIRE:CC-26-0001234:CLINICAL:P2', uuidv5('urn:iasu:referral', uuidv5.URL)),
    );
  });

  it('are the same across calls, record versions and consent changes', () => {
    const ids = (r: CrimeRecord) => mapCrimeRecord(r, FORCE).referrals.map((d) => d.referral.referralId);
    const first = ids(example);
    expect(ids(example)).toEqual(first);
    expect(
      ids(
        variant((r) => {
          r.recordVersion = 9;
          r.persons[0]!.consents[0]!.status = 'WITHDRAWN';
          r.recordStatus = 'WITHDRAWN';
          r.summary = 'changed';
        }),
      ),
    ).toEqual(first);
  });

  it('differ across subjects, types, crime references and forces', () => {
    const base = referralIdFor('CHESHIRE', 'CC-26-0001234', 'CLINICAL', 'P2');
    const others = [
      referralIdFor('CHESHIRE', 'CC-26-0001234', 'CLINICAL', 'P1'),
      referralIdFor('CHESHIRE', 'CC-26-0001234', 'ADVOCACY', 'P2'),
      referralIdFor('CHESHIRE', 'CC-26-0001235', 'CLINICAL', 'P2'),
      referralIdFor('MERSEYSIDE', 'CC-26-0001234', 'CLINICAL', 'P2'),
    ];
    expect(new Set([base, ...others]).size).toBe(5);
    const [a, b] = mapCrimeRecord(example, 'MERSEYSIDE').referrals.map((d) => d.referral.referralId);
    const [c, d] = mapCrimeRecord(example, FORCE).referrals.map((x) => x.referral.referralId);
    expect(a).not.toBe(c);
    expect(b).not.toBe(d);
  });
});

describe('scope', () => {
  it('class 8L without a STALKING flag is out of scope: no referrals', () => {
    const mapping = mapCrimeRecord(
      variant((r) => {
        r.offence.homeOfficeClass = '8L';
        r.flags = [];
      }),
      FORCE,
    );
    expect(mapping).toEqual({ crimeReference: 'CC-26-0001234', recordVersion: 3, inScope: false, referrals: [] });
  });

  it('class 8L with another flag only is out of scope', () => {
    const mapping = mapCrimeRecord(
      variant((r) => {
        r.offence.homeOfficeClass = '8L';
        r.flags = [{ code: 'DOMESTIC_ABUSE' }];
      }),
      FORCE,
    );
    expect(mapping.inScope).toBe(false);
    expect(mapping.referrals).toEqual([]);
  });

  it('class 8L with the STALKING flag is in scope', () => {
    const mapping = mapCrimeRecord(
      variant((r) => (r.offence.homeOfficeClass = '8L')),
      FORCE,
    );
    expect(mapping.inScope).toBe(true);
    expect(mapping.referrals).toHaveLength(2);
  });

  it('class 8Q without any flag is in scope', () => {
    const mapping = mapCrimeRecord(
      variant((r) => (r.flags = [])),
      FORCE,
    );
    expect(mapping.inScope).toBe(true);
    expect(mapping.referrals).toHaveLength(2);
  });

  it('an in-scope record with no MdtDecision is tracked with zero referrals', () => {
    const mapping = mapCrimeRecord(
      variant((r) => delete r.mdtDecision),
      FORCE,
    );
    expect(mapping).toEqual({ crimeReference: 'CC-26-0001234', recordVersion: 3, inScope: true, referrals: [] });
  });

  it('an MdtDecision with no Referral elements yields zero referrals', () => {
    const mapping = mapCrimeRecord(
      variant((r) => (r.mdtDecision = { decidedAt: '2026-11-22T09:30:00Z', referrals: [] })),
      FORCE,
    );
    expect(mapping.inScope).toBe(true);
    expect(mapping.referrals).toEqual([]);
  });
});

describe('decideBasis: the consent rules', () => {
  const victimWith = (purpose: Consent['purpose'], status?: ConsentStatus, extra: Partial<Person> = {}) =>
    person('P1', 'VICTIM', { consents: status ? [{ purpose, status }] : [], ...extra });
  const suspectWith = (status?: ConsentStatus, lawfulBasis?: LawfulBasis) =>
    person('P2', 'SUSPECT', { consents: status ? [{ purpose: 'CLINICAL_REFERRAL', status }] : [], lawfulBasis });
  const active = minimalRecord([]);
  const withdrawn = minimalRecord([], { recordStatus: 'WITHDRAWN' });
  const fullBasis: LawfulBasis = { code: 'DPA2018-S8-P4', authorisedBy: 'Insp 0771', authorisedAt: '2026-11-22T09:35:00Z' };

  it.each([
    ['GIVEN', { decision: 'QUEUED', basis: 'CONSENT' }],
    ['REFUSED', { decision: 'HELD', reason: 'CONSENT_REFUSED' }],
    ['NOT_ASKED', { decision: 'HELD', reason: 'CONSENT_NOT_ASKED' }],
    [undefined, { decision: 'HELD', reason: 'CONSENT_MISSING' }],
    ['WITHDRAWN', { decision: 'CANCELLED', reason: 'CONSENT_WITHDRAWN' }],
  ] as const)('victim ADVOCACY with consent %s', (status, expected) => {
    expect(decideBasis(active, 'ADVOCACY', victimWith('ADVOCACY_REFERRAL', status))).toEqual(expected);
  });

  it('victim ADVOCACY needs consent for that purpose: CLINICAL consent GIVEN does not count', () => {
    expect(decideBasis(active, 'ADVOCACY', victimWith('CLINICAL_REFERRAL', 'GIVEN'))).toEqual({
      decision: 'HELD',
      reason: 'CONSENT_MISSING',
    });
  });

  it.each([
    ['GIVEN', { decision: 'QUEUED', basis: 'CONSENT' }],
    ['REFUSED', { decision: 'HELD', reason: 'CONSENT_REFUSED' }],
    ['NOT_ASKED', { decision: 'HELD', reason: 'CONSENT_NOT_ASKED' }],
    [undefined, { decision: 'HELD', reason: 'CONSENT_MISSING' }],
    ['WITHDRAWN', { decision: 'CANCELLED', reason: 'CONSENT_WITHDRAWN' }],
  ] as const)('victim CLINICAL with consent %s', (status, expected) => {
    expect(decideBasis(active, 'CLINICAL', victimWith('CLINICAL_REFERRAL', status))).toEqual(expected);
  });

  it('victim CLINICAL with REFUSED and a complete LawfulBasis is HELD: a victim refusal is never overridden', () => {
    const victim = victimWith('CLINICAL_REFERRAL', 'REFUSED', { lawfulBasis: fullBasis });
    expect(decideBasis(active, 'CLINICAL', victim)).toEqual({ decision: 'HELD', reason: 'CONSENT_REFUSED' });
    const mapped = mapCrimeRecord(minimalRecord([victim], { mdtDecision: { referrals: [{ type: 'CLINICAL', subjectRef: 'P1' }] } }), FORCE);
    expect(mapped.referrals[0]!.decision).toBe('HELD');
    expect(mapped.referrals[0]!.referral.lawfulBasis).toBeUndefined();
  });

  it('victim ADVOCACY with REFUSED and a LawfulBasis is HELD', () => {
    expect(decideBasis(active, 'ADVOCACY', victimWith('ADVOCACY_REFERRAL', 'REFUSED', { lawfulBasis: fullBasis }))).toEqual({
      decision: 'HELD',
      reason: 'CONSENT_REFUSED',
    });
  });

  it.each([
    ['GIVEN, no basis', 'GIVEN', undefined, { decision: 'QUEUED', basis: 'CONSENT' }],
    ['REFUSED, complete basis', 'REFUSED', fullBasis, { decision: 'QUEUED', basis: 'LAWFUL_BASIS' }],
    ['NOT_ASKED, complete basis', 'NOT_ASKED', fullBasis, { decision: 'QUEUED', basis: 'LAWFUL_BASIS' }],
    ['no consent, complete basis', undefined, fullBasis, { decision: 'QUEUED', basis: 'LAWFUL_BASIS' }],
    [
      'REFUSED, basis missing authorisedBy',
      'REFUSED',
      { code: 'DPA2018-S8-P1', authorisedAt: '2026-11-22T09:35:00Z' },
      { decision: 'HELD', reason: 'LAWFUL_BASIS_INCOMPLETE' },
    ],
    [
      'REFUSED, basis missing authorisedAt',
      'REFUSED',
      { code: 'DPA2018-S8-P1', authorisedBy: 'Insp 0771' },
      { decision: 'HELD', reason: 'LAWFUL_BASIS_INCOMPLETE' },
    ],
    ['REFUSED, no basis', 'REFUSED', undefined, { decision: 'HELD', reason: 'CONSENT_REFUSED_NO_LAWFUL_BASIS' }],
    ['no consent, no basis', undefined, undefined, { decision: 'HELD', reason: 'CONSENT_MISSING_NO_LAWFUL_BASIS' }],
    ['WITHDRAWN, complete basis', 'WITHDRAWN', fullBasis, { decision: 'CANCELLED', reason: 'CONSENT_WITHDRAWN' }],
  ] as const)('suspect CLINICAL: %s', (_label, status, basis, expected) => {
    expect(decideBasis(active, 'CLINICAL', suspectWith(status, basis as LawfulBasis | undefined))).toEqual(expected);
  });

  it('record WITHDRAWN cancels every referral, whatever the consent or basis', () => {
    for (const [type, subject] of [
      ['ADVOCACY', victimWith('ADVOCACY_REFERRAL', 'GIVEN')],
      ['CLINICAL', suspectWith('GIVEN', fullBasis)],
      ['CLINICAL', victimWith('CLINICAL_REFERRAL', 'REFUSED')],
    ] as const) {
      expect(decideBasis(withdrawn, type, subject)).toEqual({ decision: 'CANCELLED', reason: 'RECORD_WITHDRAWN' });
    }
    expect(decideBasis(withdrawn, 'ADVOCACY', undefined)).toEqual({ decision: 'CANCELLED', reason: 'RECORD_WITHDRAWN' });
  });

  it('record WITHDRAWN through mapCrimeRecord: both example referrals CANCELLED with a reason', () => {
    const mapping = mapCrimeRecord(
      variant((r) => (r.recordStatus = 'WITHDRAWN')),
      FORCE,
    );
    expect(mapping.referrals.map((r) => [r.decision, r.reason])).toEqual([
      ['CANCELLED', 'RECORD_WITHDRAWN'],
      ['CANCELLED', 'RECORD_WITHDRAWN'],
    ]);
  });

  it.each(['SUSPECT', 'WITNESS', 'OTHER'] as const)('ADVOCACY for a %s subject is HELD even with consent GIVEN', (role) => {
    const subject = person('P9', role, { consents: [{ purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN' }] });
    expect(decideBasis(active, 'ADVOCACY', subject)).toEqual({ decision: 'HELD', reason: 'ADVOCACY_SUBJECT_NOT_VICTIM' });
  });

  it('an MDT subject not in the record is HELD', () => {
    expect(decideBasis(active, 'CLINICAL', undefined)).toEqual({ decision: 'HELD', reason: 'MDT_SUBJECT_NOT_IN_RECORD' });
  });

  it('a WITNESS clinical referral needs consent: a lawful basis is only for suspects', () => {
    const witness = person('W', 'WITNESS', { consents: [{ purpose: 'CLINICAL_REFERRAL', status: 'REFUSED' }], lawfulBasis: fullBasis });
    expect(decideBasis(active, 'CLINICAL', witness)).toEqual({ decision: 'HELD', reason: 'CONSENT_REFUSED' });
  });

  it('the example suspect with authorisedBy removed is HELD through mapCrimeRecord', () => {
    const mapping = mapCrimeRecord(
      variant((r) => delete r.persons[1]!.lawfulBasis!.authorisedBy),
      FORCE,
    );
    expect(byType(mapping.referrals, 'CLINICAL')).toMatchObject({ decision: 'HELD', reason: 'LAWFUL_BASIS_INCOMPLETE' });
    expect(byType(mapping.referrals, 'ADVOCACY').decision).toBe('QUEUED');
  });

  it('the example victim withdrawing consent cancels ADVOCACY only', () => {
    const mapping = mapCrimeRecord(
      variant((r) => (r.persons[0]!.consents[0]!.status = 'WITHDRAWN')),
      FORCE,
    );
    expect(byType(mapping.referrals, 'ADVOCACY')).toMatchObject({ decision: 'CANCELLED', reason: 'CONSENT_WITHDRAWN' });
    expect(byType(mapping.referrals, 'CLINICAL').decision).toBe('QUEUED');
  });
});

describe('mapCrimeRecord: consent property', () => {
  const REFS = ['P1', 'P2', 'P3', 'P4'];

  const consentArb: fc.Arbitrary<Consent> = fc.record({
    purpose: fc.constantFrom<Consent['purpose']>('ADVOCACY_REFERRAL', 'CLINICAL_REFERRAL'),
    status: fc.constantFrom(...CONSENT_STATUSES),
  });
  const lawfulBasisArb: fc.Arbitrary<LawfulBasis | undefined> = fc.option(
    fc.record(
      {
        code: fc.constantFrom(...LAWFUL_BASIS_CODES),
        authorisedBy: fc.constantFrom('Insp 0771', 'Sgt 12'),
        authorisedAt: fc.constantFrom('2026-11-22T09:35:00Z', '2026-11-22T09:35:00+01:00'),
      },
      { requiredKeys: ['code'] },
    ),
    { nil: undefined },
  );

  const personArb = (ref: string): fc.Arbitrary<Person> =>
    fc.record({
      ref: fc.constant(ref),
      role: fc.constantFrom(...PERSON_ROLES),
      // At most one consent per purpose (the feed's shape); duplicates are tested separately below.
      consents: fc.uniqueArray(consentArb, { maxLength: 2, selector: (c) => c.purpose }),
      lawfulBasis: lawfulBasisArb,
      forename: fc.constantFrom('Alex', 'Sam'),
    });

  const recordArb: fc.Arbitrary<CrimeRecord> = fc
    .record({
      persons: fc.subarray(REFS, { minLength: 0 }).chain((refs) => fc.tuple(...refs.map(personArb))),
      referrals: fc.array(fc.record({ type: fc.constantFrom(...REFERRAL_TYPES), subjectRef: fc.constantFrom(...REFS) }), { maxLength: 6 }),
      recordStatus: fc.constantFrom<CrimeRecord['recordStatus']>('ACTIVE', 'WITHDRAWN'),
      homeOfficeClass: fc.constantFrom('8Q', '8L', '8M'),
      stalkingFlag: fc.boolean(),
      hasMdt: fc.boolean(),
    })
    .map(({ persons, referrals, recordStatus, homeOfficeClass, stalkingFlag, hasMdt }) =>
      minimalRecord(persons, {
        recordStatus,
        offence: { homeOfficeClass },
        flags: stalkingFlag ? [{ code: 'STALKING' }] : [],
        mdtDecision: hasMdt ? { referrals } : undefined,
      }),
    );

  it('countHeld, which ingest reports, is the HELD count of the full mapping', () => {
    let held = 0;
    fc.assert(
      fc.property(recordArb, (record) => {
        const expected = mapCrimeRecord(record, FORCE).referrals.filter((r) => r.decision === 'HELD').length;
        expect(countHeld(record)).toBe(expected);
        held += expected;
      }),
      { numRuns: 300, seed: 11 },
    );
    expect(held).toBeGreaterThan(0);
  });

  /** The subject's one consent for the referral's purpose. */
  const consentFor = (p: Person, type: ReferralType) =>
    p.consents.find((c) => c.purpose === (type === 'ADVOCACY' ? 'ADVOCACY_REFERRAL' : 'CLINICAL_REFERRAL'));

  it('QUEUED only with consent GIVEN or a complete lawful basis for a suspect; never after a withdrawal or victim refusal', () => {
    const seen = { consent: 0, basis: 0, held: 0, cancelled: 0 };
    fc.assert(
      fc.property(recordArb, (record) => {
        const mapping = mapCrimeRecord(record, FORCE);
        const inScope = record.offence.homeOfficeClass === '8Q' || record.flags.some((f) => f.code === 'STALKING');
        expect(mapping.inScope).toBe(inScope);
        expect(mapping.referrals).toHaveLength(inScope ? (record.mdtDecision?.referrals.length ?? 0) : 0);
        for (const decided of mapping.referrals) {
          const { referral, decision } = decided;
          const subject = record.persons.find((p) => p.ref === referral.subject.ref);
          const consent = subject && consentFor(subject, referral.type);
          if (decision === 'QUEUED') {
            expect(subject).toBeDefined();
            const byConsent = consent?.status === 'GIVEN';
            const byBasis =
              referral.type === 'CLINICAL' &&
              subject!.role === 'SUSPECT' &&
              !!subject!.lawfulBasis?.authorisedBy &&
              !!subject!.lawfulBasis?.authorisedAt;
            expect(byConsent || byBasis).toBe(true);
            seen[byConsent ? 'consent' : 'basis'] += 1;
            expect(record.recordStatus).not.toBe('WITHDRAWN');
            expect(consent?.status).not.toBe('WITHDRAWN');
            if (referral.type === 'ADVOCACY') expect(subject!.role).toBe('VICTIM');
            expect(decided.reason).toBeUndefined();
          } else {
            expect(typeof decided.reason).toBe('string');
            seen[decision === 'HELD' ? 'held' : 'cancelled'] += 1;
          }
          if (subject?.role === 'VICTIM' && consent?.status === 'REFUSED') expect(decision).not.toBe('QUEUED');
          if (record.recordStatus === 'WITHDRAWN') expect(decided).toMatchObject({ decision: 'CANCELLED', reason: 'RECORD_WITHDRAWN' });
          // A withdrawal cancels; the only exception is an advocacy referral of a non-victim, a data error that is always held.
          if (consent?.status === 'WITHDRAWN' && !(referral.type === 'ADVOCACY' && subject?.role !== 'VICTIM'))
            expect(decision).toBe('CANCELLED');
          // The lawful basis only ever travels on a suspect's clinical referral.
          if (referral.lawfulBasis) expect(referral.type === 'CLINICAL' && subject?.role === 'SUSPECT').toBe(true);
          // Other parties: role and relationship only.
          for (const other of referral.otherParties) {
            expect(Object.keys(other).every((k) => ['ref', 'role', 'relationshipToSubject'].includes(k))).toBe(true);
          }
          expect(referral.referralId).toBe(referralIdFor(FORCE, record.crimeReference, referral.type, referral.subject.ref));
        }
      }),
      // Fixed seed: the coverage checks below need the rare lawful-basis path reached every run,
      // which a random seed does in most runs but not all (it failed about 1 run in 20).
      { numRuns: 300, seed: 20261122 },
    );
    // The generator must actually reach every outcome, or the property proves nothing.
    expect(seen.consent).toBeGreaterThan(0);
    expect(seen.basis).toBeGreaterThan(0);
    expect(seen.held).toBeGreaterThan(0);
    expect(seen.cancelled).toBeGreaterThan(0);
  });

  // A record may list consent history; the latest recordedAt wins, so a withdrawal is never overridden.
  it('a later WITHDRAWN consent for the same purpose is not overridden by an earlier GIVEN one', () => {
    const victim = person('P1', 'VICTIM', {
      consents: [
        { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: '2026-11-21T17:40:00Z' },
        { purpose: 'ADVOCACY_REFERRAL', status: 'WITHDRAWN', recordedAt: '2026-11-22T08:00:00Z' },
      ],
    });
    const mapping = mapCrimeRecord(
      minimalRecord([victim], { mdtDecision: { referrals: [{ type: 'ADVOCACY', subjectRef: 'P1' }] } }),
      FORCE,
    );
    expect(mapping.referrals[0]!.decision).toBe('CANCELLED');
  });

  it.each(['WITHDRAWN', 'REFUSED'] as const)('an undated %s next to a dated GIVEN is never overridden by it', (status) => {
    const victim = person('P1', 'VICTIM', {
      consents: [
        { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: '2026-11-21T17:40:00Z' },
        { purpose: 'ADVOCACY_REFERRAL', status },
      ],
    });
    const mapping = mapCrimeRecord(
      minimalRecord([victim], { mdtDecision: { referrals: [{ type: 'ADVOCACY', subjectRef: 'P1' }] } }),
      FORCE,
    );
    expect(mapping.referrals[0]!.decision).toBe(status === 'WITHDRAWN' ? 'CANCELLED' : 'HELD');
  });
});
