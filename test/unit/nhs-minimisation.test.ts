import type { Bundle } from '@medplum/fhirtypes';
import type { CrimeRecord, Person } from '../../src/domain/crime-record';
import { isValidNhsNumber } from '../../src/domain/nhs-number';
import { nhsView } from '../../src/mappings/allow-lists';
import { mapCrimeRecord } from '../../src/mappings/police-to-referral';
import { referralToBarsMessage } from '../../src/mappings/referral-to-bars';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { NHS_BARS_OPTIONS, NHS_FHIR_OPTIONS } from '../helpers/nhs';
import { plantedPerson, stringLeaves } from '../helpers/records';

/**
 * nhs-fhir.md "Never the victim's contact details in a suspect referral", end to end: from a
 * crime record through mapCrimeRecord and nhsView to both NHS Bundles. Every field of every
 * person other than the subject carries a unique planted value; none may reach either Bundle,
 * while the suspect's own planted values must (the control that proves the check can fail).
 */
const FORCE = 'CHESHIRE';

const VICTIM_REF = 'PLANT-VICTIM-REF-7f3a';
const planted = (
  tag: string,
  ref: string,
  role: Person['role'],
  u: { dob: string; nhs: string; at: string; postcode: string },
  victimRef: string,
) => plantedPerson({ tag, ref, role, ...u, victimRef, marker: '7f3a' });
const victim = planted(
  'VICTIM',
  VICTIM_REF,
  'VICTIM',
  { dob: '1971-03-17', nhs: '4857773163', at: '2026-11-19T06:11', postcode: 'ZZ6 9PL' },
  'PLANT-VICTIM-SELFREF-7f3a',
);
const witness = planted(
  'WITNESS',
  'PLANT-WITNESS-REF-7f3a',
  'WITNESS',
  { dob: '1958-07-29', nhs: '6128409571', at: '2026-11-18T05:12', postcode: 'ZZ7 9PL' },
  VICTIM_REF,
);
const other = planted(
  'OTHER',
  'PLANT-OTHER-REF-7f3a',
  'OTHER',
  { dob: '2003-12-05', nhs: '7382051641', at: '2026-11-17T04:13', postcode: 'ZZ5 9PL' },
  VICTIM_REF,
);
const coSuspect = planted(
  'COSUSPECT',
  'PLANT-COSUSPECT-REF-7f3a',
  'SUSPECT',
  { dob: '1964-10-02', nhs: '4010231181', at: '2026-11-16T03:14', postcode: 'ZZ9 9PL' },
  VICTIM_REF,
);

/** The subject: the suspect, who refused, referred on a complete lawful basis. */
const SUSPECT = {
  forename: 'OWN-SUSPECT-FORENAME-5c1e',
  surname: 'OWN-SUSPECT-SURNAME-5c1e',
  dateOfBirth: '1986-01-30',
  nhsNumber: '9912003888',
  addressLine: 'OWN-SUSPECT-ADDRESS-5c1e',
  town: 'OWN-SUSPECT-TOWN-5c1e',
  postcode: 'WA7 2AB',
  clinicalIndicators: 'OWN-SUSPECT-CLINICAL-5c1e',
  authorisedBy: 'OWN-BASIS-AUTHORISEDBY-5c1e',
};
/** The suspect's own fields the NHS allow-list leaves out. */
const SUSPECT_EXCLUDED = {
  phone: 'PLANT-SUSPECT-PHONE-7f3a',
  email: 'plant-suspect-7f3a@example.org',
  safeTime: 'PLANT-SUSPECT-SAFETIME-7f3a',
  language: 'PLANT-SUSPECT-LANGUAGE-7f3a',
  relationship: 'PLANT-SUSPECT-RELATIONSHIP-7f3a',
  consentBy: 'PLANT-SUSPECT-RECORDEDBY-7f3a',
};
/** Record fields outside the NHS allow-list (officer, assessor, flags). */
const RECORD_EXCLUDED = {
  collar: 'PLANT-OFFICER-COLLAR-7f3a',
  officerName: 'PLANT-OFFICER-NAME-7f3a',
  officerEmail: 'plant-officer-7f3a@police.example',
  officerPhone: 'PLANT-OFFICER-PHONE-7f3a',
  assessor: 'PLANT-RISK-ASSESSOR-7f3a',
  flagBy: 'PLANT-FLAG-RAISEDBY-7f3a',
  advocacyReason: 'PLANT-ADVOCACY-REASON-7f3a',
};

const suspect: Person = {
  ref: 'P2',
  role: 'SUSPECT',
  forename: SUSPECT.forename,
  surname: SUSPECT.surname,
  dateOfBirth: SUSPECT.dateOfBirth,
  gender: 'MALE',
  nhsNumber: SUSPECT.nhsNumber,
  address: { lines: [SUSPECT.addressLine], town: SUSPECT.town, postcode: SUSPECT.postcode },
  safeContact: {
    phone: SUSPECT_EXCLUDED.phone,
    email: SUSPECT_EXCLUDED.email,
    safeTimeToCall: SUSPECT_EXCLUDED.safeTime,
    voicemailSafe: false,
  },
  language: SUSPECT_EXCLUDED.language,
  consents: [
    { purpose: 'CLINICAL_REFERRAL', status: 'REFUSED', recordedAt: '2026-11-22T08:00:00Z', recordedBy: SUSPECT_EXCLUDED.consentBy },
  ],
  lawfulBasis: { code: 'DPA2018-S8-P1', authorisedBy: SUSPECT.authorisedBy, authorisedAt: '2026-11-22T09:35:00Z' },
  clinicalIndicators: SUSPECT.clinicalIndicators,
  relationshipToVictim: { victimRef: VICTIM_REF, relationship: SUSPECT_EXCLUDED.relationship },
};

const record: CrimeRecord = {
  crimeReference: 'CC-26-0004242',
  recordVersion: 2,
  recordStatus: 'ACTIVE',
  lastModified: '2026-11-22T09:58:00Z',
  offence: { homeOfficeClass: '8Q', offenceCode: '8/65', description: 'Stalking involving fear of violence', committedFrom: '2026-09-01' },
  flags: [{ code: 'STALKING', raisedAt: '2026-11-21T17:00:00Z', raisedBy: RECORD_EXCLUDED.flagBy }],
  risk: { tool: 'S-DASH', level: 'HIGH', score: 9, assessedAt: '2026-11-21T17:30:00Z', assessor: RECORD_EXCLUDED.assessor },
  mdtDecision: {
    decidedAt: '2026-11-22T09:30:00Z',
    referrals: [
      { type: 'ADVOCACY', subjectRef: VICTIM_REF, reason: RECORD_EXCLUDED.advocacyReason },
      { type: 'CLINICAL', subjectRef: 'P2', reason: 'Fixation; possible untreated mental illness' },
    ],
  },
  persons: [victim, suspect, witness, other, coSuspect],
  summary: 'Repeated unwanted contact.',
  officerInCase: {
    collar: RECORD_EXCLUDED.collar,
    name: RECORD_EXCLUDED.officerName,
    email: RECORD_EXCLUDED.officerEmail,
    phone: RECORD_EXCLUDED.officerPhone,
  },
};

const NON_SUBJECTS = [victim, witness, other, coSuspect];
// The victim's ref recurs in the others' relationshipToVictim; each value is checked once.
const MUST_NOT_APPEAR = [
  ...new Set([...NON_SUBJECTS.flatMap((p) => stringLeaves(p)), ...Object.values(SUSPECT_EXCLUDED), ...Object.values(RECORD_EXCLUDED)]),
];

describe('NHS minimisation, from a crime record to both NHS Bundles', () => {
  const mapping = mapCrimeRecord(record, FORCE);
  const clinical = mapping.referrals.find((r) => r.referral.type === 'CLINICAL')!;
  const view = nhsView(clinical.referral);
  const modes: [string, Bundle][] = [
    ['fhir-rest transaction', referralToTransactionBundle(view, NHS_FHIR_OPTIONS)],
    ['bars message', referralToBarsMessage(view, NHS_BARS_OPTIONS)],
  ];

  it('the fixture is what it claims: a queued suspect referral on a lawful basis, real dates and NHS numbers, no collisions', () => {
    expect(clinical).toMatchObject({
      decision: 'QUEUED',
      referral: { subject: { ref: 'P2', role: 'SUSPECT' }, lawfulBasis: { authorisedBy: SUSPECT.authorisedBy } },
    });
    for (const p of [...NON_SUBJECTS, suspect]) {
      expect(isValidNhsNumber(p.nhsNumber!)).toBe(true);
      expect(Number.isNaN(Date.parse(p.dateOfBirth!))).toBe(false);
    }
    // Each person's planted values are distinct (one per field), and none contains an allowed value.
    for (const p of NON_SUBJECTS) {
      const leaves = stringLeaves(p).filter((v) => v !== VICTIM_REF);
      expect(new Set(leaves).size).toBe(leaves.length);
    }
    for (const secret of MUST_NOT_APPEAR)
      for (const own of Object.values(SUSPECT)) expect(secret.includes(own) || own.includes(secret)).toBe(false);
    // Every free field of the victim is planted, address and safe contact included.
    expect(stringLeaves(victim)).toEqual(
      expect.arrayContaining([
        'PLANT-VICTIM-FORENAME-7f3a',
        'PLANT-VICTIM-SURNAME-7f3a',
        '1971-03-17',
        '4857773163',
        'PLANT-VICTIM-ADDRESS1-7f3a',
        'PLANT-VICTIM-TOWN-7f3a',
        'ZZ6 9PL',
        'PLANT-VICTIM-PHONE-7f3a',
        'plant-victim-7f3a@example.org',
      ]),
    );
  });

  describe.each(modes)('%s', (_mode, bundle) => {
    const json = JSON.stringify(bundle);

    it.each(MUST_NOT_APPEAR)('does not contain %s', (secret) => {
      expect(json).not.toContain(secret);
    });

    it('does contain the suspect’s own details and the lawful basis (the control)', () => {
      for (const own of Object.values(SUSPECT)) expect(json).toContain(own);
    });

    it('has one Patient, and it is the suspect', () => {
      const patients = (bundle.entry ?? []).filter((e) => e.resource?.resourceType === 'Patient');
      expect(patients).toHaveLength(1);
      expect(JSON.stringify(patients[0])).toContain(SUSPECT.surname);
    });
  });

  it('the victim’s own advocacy referral in the same record is not NHS-mappable', () => {
    const advocacy = mapping.referrals.find((r) => r.referral.type === 'ADVOCACY')!;
    expect(advocacy.decision).toBe('QUEUED');
    // Its view has consent for ADVOCACY only: the NHS builders refuse it.
    expect(() => referralToTransactionBundle(nhsView(advocacy.referral), NHS_FHIR_OPTIONS)).toThrow(/neither consent/);
  });
});
