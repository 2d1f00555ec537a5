import fc from 'fast-check';
import { parseCrimeRecord } from '../../src/adapters/police/record-validator';

/**
 * Quarantine reasons name the element and the rule, never a value (police-feed.md: a rejected
 * record is kept with its reason; the reason is shown and logged in clear). Every field of an
 * xml2js-shaped CrimeRecord may carry a planted canary, shaped so it passes as much validation
 * as it can (a ref, a code, a name), and no reason may contain any canary.
 */
type Slot = { path: string; value: string };

/** The example record's fields, each a slot a canary can take, with its valid value. */
const SLOTS: Slot[] = [
  { path: 'CrimeReference', value: 'CC-26-0001234' },
  { path: 'RecordVersion', value: '3' },
  { path: 'RecordStatus', value: 'ACTIVE' },
  { path: 'LastModified', value: '2026-11-22T09:58:00Z' },
  ...[
    'HomeOfficeClass=8Q',
    'OffenceCode=8/65',
    'Description=Stalking',
    'Legislation=PHA 1997 s4A',
    'CommittedFrom=2026-09-01',
    'CommittedTo=2026-11-20',
  ].map(slot('Offence')),
  ...['code=STALKING', 'raisedAt=2026-11-21T16:00:00Z', 'raisedBy=4521'].map(slot('Flag@')),
  ...['tool=S-DASH', 'level=HIGH', 'score=9', 'assessedAt=2026-11-21T17:30:00Z', 'assessor=4521'].map(slot('Risk@')),
  { path: 'Mdt@decidedAt', value: '2026-11-22T09:30:00Z' },
  ...['type=CLINICAL', 'subject=P2', 'reason=Fixation'].map(slot('Referral0@')),
  ...['type=ADVOCACY', 'subject=P1'].map(slot('Referral1@')),
  ...[0, 1].flatMap((i) => [
    ...[`ref=P${i + 1}`, `role=${i === 0 ? 'VICTIM' : 'SUSPECT'}`].map(slot(`Person${i}@`)),
    ...[
      'Forename=Alex',
      'Surname=Morgan',
      'DateOfBirth=1990-04-12',
      'Gender=FEMALE',
      'NhsNumber=9000000009',
      'Language=en',
      'ClinicalIndicators=Low mood',
    ].map(slot(`Person${i}`)),
    ...['Line=1 Example Street', 'Town=Warrington', 'Postcode=WA1 1AA'].map(slot(`Person${i}Address`)),
    ...['phone=07700900123', 'email=alex@example.org', 'safeTimeToCall=weekdays', 'voicemailSafe=false'].map(slot(`Person${i}Safe@`)),
    ...['purpose=ADVOCACY_REFERRAL', 'status=GIVEN', 'recordedAt=2026-11-21T17:40:00Z', 'recordedBy=4521'].map(slot(`Person${i}Consent@`)),
    ...['code=DPA2018-S8-P1', 'authorisedBy=Insp 0771', 'authorisedAt=2026-11-22T09:35:00Z'].map(slot(`Person${i}Basis@`)),
    ...[`victim=P${2 - i}`, 'text=EX_PARTNER'].map(slot(`Person${i}Rel@`)),
  ]),
  { path: 'Summary', value: 'Repeated unwanted contact.' },
  ...['collar=4521', 'name=DC Jordan Lee', 'email=jordan.lee@police.example', 'phone=01606000000'].map(slot('Officer@')),
];

function slot(prefix: string) {
  return (spec: string): Slot => {
    const at = spec.indexOf('=');
    return { path: `${prefix}${prefix.endsWith('@') ? '' : '.'}${spec.slice(0, at)}`, value: spec.slice(at + 1) };
  };
}

/** An xml2js node of the record, every value looked up by its slot path. */
function recordNode(v: (path: string) => string): unknown {
  const attrs = (prefix: string, names: string[]) => ({ $: Object.fromEntries(names.map((n) => [n, v(`${prefix}@${n}`)])) });
  const texts = (prefix: string, names: string[]) => Object.fromEntries(names.map((n) => [n, [v(`${prefix}.${n}`)]]));
  const person = (i: number) => ({
    ...attrs(`Person${i}`, ['ref', 'role']),
    ...texts(`Person${i}`, ['Forename', 'Surname', 'DateOfBirth', 'Gender', 'NhsNumber', 'Language', 'ClinicalIndicators']),
    Address: [{ Line: [v(`Person${i}Address.Line`)], Town: [v(`Person${i}Address.Town`)], Postcode: [v(`Person${i}Address.Postcode`)] }],
    SafeContact: [attrs(`Person${i}Safe`, ['phone', 'email', 'safeTimeToCall', 'voicemailSafe'])],
    Consent: [attrs(`Person${i}Consent`, ['purpose', 'status', 'recordedAt', 'recordedBy'])],
    LawfulBasis: [attrs(`Person${i}Basis`, ['code', 'authorisedBy', 'authorisedAt'])],
    RelationshipToVictim: [{ _: v(`Person${i}Rel@text`), $: { victim: v(`Person${i}Rel@victim`) } }],
  });
  return {
    CrimeReference: [v('CrimeReference')],
    RecordVersion: [v('RecordVersion')],
    RecordStatus: [v('RecordStatus')],
    LastModified: [v('LastModified')],
    Offence: [texts('Offence', ['HomeOfficeClass', 'OffenceCode', 'Description', 'Legislation', 'CommittedFrom', 'CommittedTo'])],
    Flags: [{ Flag: [attrs('Flag', ['code', 'raisedAt', 'raisedBy'])] }],
    RiskAssessment: [attrs('Risk', ['tool', 'level', 'score', 'assessedAt', 'assessor'])],
    MdtDecision: [
      {
        $: { decidedAt: v('Mdt@decidedAt') },
        Referral: [attrs('Referral0', ['type', 'subject', 'reason']), attrs('Referral1', ['type', 'subject'])],
      },
    ],
    Person: [person(0), person(1)],
    Summary: [v('Summary')],
    OfficerInCase: [attrs('Officer', ['collar', 'name', 'email', 'phone'])],
  };
}

/** Letters only, so a canary never occurs inside a reason's own digits or words by chance. */
const tag = (i: number) => String.fromCharCode(65 + Math.floor(i / 26), 65 + (i % 26));

/** How a slot is planted: kept valid, or a canary shaped as a ref or code, a name, an email address. */
type Plant = 'keep' | 'code' | 'name' | 'email';
// Few plants per record: a reason is about the first invalid field, so many plants would hide the later checks.
const plantArb = fc.oneof(
  { weight: 40, arbitrary: fc.constant<Plant>('keep') },
  { weight: 1, arbitrary: fc.constantFrom<Plant>('code', 'name', 'email') },
);

function canary(i: number, how: Exclude<Plant, 'keep'>): string {
  if (how === 'code') return `QZCANARY_${tag(i)}`;
  if (how === 'email') return `qzcanary${tag(i).toLowerCase()}@example.org`;
  return `Qzcanary ${tag(i)}ville`;
}

describe('quarantine reasons', () => {
  it('the unplanted record is valid (so each planted field is what a reason is about)', () => {
    const base = new Map(SLOTS.map((s) => [s.path, s.value]));
    expect(
      parseCrimeRecord(
        recordNode((p) => base.get(p)!),
        0,
      ),
    ).toMatchObject({ ok: true });
  });

  it('never contain a value planted in any field of the record', () => {
    fc.assert(
      fc.property(fc.array(plantArb, { minLength: SLOTS.length, maxLength: SLOTS.length }), fc.boolean(), (plants, sameRefs) => {
        const values = new Map<string, string>();
        const planted: string[] = [];
        SLOTS.forEach((s, i) => {
          const how = plants[i]!;
          const value = how === 'keep' ? s.value : canary(i, how);
          if (how !== 'keep') planted.push(value);
          values.set(s.path, value);
        });
        // Two persons sharing one planted ref, and referrals naming it: the duplicate and the link checks.
        if (sameRefs && values.get('Person0@ref') !== 'P1') values.set('Person1@ref', values.get('Person0@ref')!);
        const node = recordNode((path) => {
          const value = values.get(path);
          if (value === undefined) throw new Error(`test setup: no slot ${path}`);
          return value;
        });
        const result = parseCrimeRecord(node, 0);
        if (result.ok) return;
        for (const value of planted) {
          expect(result.reason.toLowerCase()).not.toContain(value.toLowerCase());
        }
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['an MDT referral subject naming no Person', { 'Referral1@subject': 'AliceVictimName' }],
    ['a RelationshipToVictim naming no Person', { 'Person1Rel@victim': 'AliceVictimName' }],
    [
      'a repeated Person ref',
      {
        'Person0@ref': 'AliceVictimName',
        'Person1@ref': 'AliceVictimName',
        'Referral0@subject': 'AliceVictimName',
        'Referral1@subject': 'AliceVictimName',
        'Person1Rel@victim': 'AliceVictimName',
      },
    ],
    [
      'an invalid field of a Person whose ref is a name',
      {
        'Person0@ref': 'AliceVictimName',
        'Referral1@subject': 'AliceVictimName',
        'Person1Rel@victim': 'AliceVictimName',
        'Person0.Gender': 'WOMAN',
      },
    ],
  ] as [string, Record<string, string>][])('%s names the field and the rule, not the ref', (_label, overrides) => {
    const base = new Map(SLOTS.map((s) => [s.path, s.value]));
    for (const [k, v] of Object.entries(overrides)) base.set(k, v);
    const result = parseCrimeRecord(
      recordNode((p) => base.get(p)!),
      0,
    );
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).not.toContain('AliceVictimName');
  });
});
