import { LAWFUL_BASIS_CODES, type CrimeRecord, type Person } from '../../src/domain/crime-record';
import { isValidNhsNumber } from '../../src/domain/nhs-number';
import { charityView } from '../../src/mappings/allow-lists';
import { mapCrimeRecord } from '../../src/mappings/police-to-referral';
import { referralToCharityPayload } from '../../src/mappings/referral-to-charity';
import { plantedPerson, stringLeaves, type FullPerson } from '../helpers/records';

/**
 * charity-api.md "What is not sent", end to end: from a crime record through mapCrimeRecord and
 * charityView to the POST /v1/referrals body. Every field the charity must not receive carries
 * a unique planted value (and the fixture test proves each one is really in the shared Referral,
 * so it is the charity allow-list that keeps it out); none may reach the payload, while what
 * the charity must get does (the control that proves the check can fail).
 */
const FORCE = 'CHESHIRE';
const ORG = { referrerOrganisation: 'Cheshire Constabulary IASU' };

const VICTIM_REF = 'PLANT-VICTIM-REF-c4b2';

/** A person the charity must learn nothing about (see plantedPerson). */
function bystander(tag: string, role: Person['role'], unique: { dob: string; nhs: string; at: string; postcode: string }): FullPerson {
  return plantedPerson({ tag, ref: `PLANT-${tag}-REF-c4b2`, role, ...unique, victimRef: VICTIM_REF, marker: 'c4b2' });
}

const witness = bystander('WITNESS', 'WITNESS', { dob: '1958-07-29', nhs: '6128409571', at: '2026-11-18T05:12', postcode: 'CH1 4WT' });
const otherPerson = bystander('OTHER', 'OTHER', { dob: '2003-12-05', nhs: '7382051641', at: '2026-11-17T04:13', postcode: 'CW9 6OT' });
// A second suspect with no relationship to the victim, listed first: the perpetrator is the related one, not the first.
const coSuspect: FullPerson = {
  ...bystander('COSUSPECT', 'SUSPECT', { dob: '1964-10-02', nhs: '4010231181', at: '2026-11-16T03:14', postcode: 'SK10 1CS' }),
};
delete (coSuspect as Partial<FullPerson>).relationshipToVictim;

/** What the charity must get (charity-api.md example): the control. */
const ALLOWED = {
  victimForename: 'OWN-VICTIM-FORENAME-9d0f',
  victimSurname: 'OWN-VICTIM-SURNAME-9d0f',
  victimDob: '1990-04-12',
  victimLanguage: 'OWN-VICTIM-LANGUAGE-9d0f',
  safePhone: 'OWN-SAFE-PHONE-9d0f',
  safeEmail: 'own-safe-9d0f@example.org',
  safeTime: 'OWN-SAFE-TIME-9d0f',
  postcodeDistrict: 'WA15',
  perpetratorForename: 'OWN-SUSPECT-FORENAME-9d0f',
  perpetratorSurname: 'OWN-SUSPECT-SURNAME-9d0f',
  relationship: 'EX_PARTNER',
  officerCollar: 'OWN-OFFICER-COLLAR-9d0f',
  officerName: 'OWN-OFFICER-NAME-9d0f',
  officerEmail: 'own-officer-9d0f@police.example',
  consentBy: 'OWN-CONSENT-BY-9d0f',
  consentAt: '2026-11-21T17:40:00Z',
  riskAssessedAt: '2026-11-21T17:30:00Z',
  offenceDescription: 'OWN-OFFENCE-DESCRIPTION-9d0f',
  summary: 'OWN-SUMMARY-9d0f',
  mdtDecidedAt: '2026-11-22T09:30:00Z',
};

/** The victim's own fields the charity must not get. */
const VICTIM_EXCLUDED = {
  nhsNumber: '4857773163',
  addressLine1: 'PLANT-VICTIM-ADDRESS1-c4b2',
  addressLine2: 'PLANT-VICTIM-ADDRESS2-c4b2',
  town: 'PLANT-VICTIM-TOWN-c4b2',
  postcode: 'WA15 8XJ',
  postcodeCompact: 'WA158XJ',
  inward: '8XJ',
  ref: VICTIM_REF,
  clinical: 'PLANT-VICTIM-CLINICAL-c4b2',
  clinicalConsentBy: 'PLANT-VICTIM-CLINICAL-CONSENT-BY-c4b2',
  basisBy: 'PLANT-VICTIM-AUTHORISEDBY-c4b2',
  basisAt: '2026-11-15T02:15:03Z',
};

/** The suspect's fields beyond name and relationship. */
const SUSPECT_EXCLUDED = {
  ref: 'PLANT-SUSPECT-REF-c4b2',
  dob: '1979-02-14',
  nhsNumber: '9912003888',
  addressLine: 'PLANT-SUSPECT-ADDRESS-c4b2',
  town: 'PLANT-SUSPECT-TOWN-c4b2',
  postcode: 'WA7 2AB',
  district: 'WA7',
  phone: 'PLANT-SUSPECT-PHONE-c4b2',
  email: 'plant-suspect-c4b2@example.org',
  safeTime: 'PLANT-SUSPECT-SAFETIME-c4b2',
  language: 'PLANT-SUSPECT-LANGUAGE-c4b2',
  clinical: 'PLANT-SUSPECT-CLINICAL-c4b2',
  consentBy: 'PLANT-SUSPECT-RECORDEDBY-c4b2',
  basisCode: 'CDA1998-S115',
  basisBy: 'PLANT-SUSPECT-AUTHORISEDBY-c4b2',
  basisAt: '2026-11-22T09:35:17Z',
};

/** Record fields outside the charity's allow-list. */
const RECORD_EXCLUDED = {
  officerPhone: 'PLANT-OFFICER-PHONE-c4b2',
  assessor: 'PLANT-RISK-ASSESSOR-c4b2',
  flagBy: 'PLANT-FLAG-RAISEDBY-c4b2',
  advocacyReason: 'PLANT-MDT-ADVOCACY-REASON-c4b2',
  clinicalReason: 'PLANT-MDT-CLINICAL-REASON-c4b2',
  offenceCode: 'PLANT-OFFENCE-CODE-c4b2',
  legislation: 'PLANT-LEGISLATION-c4b2',
  lastModified: '2026-11-22T09:58:41Z',
};
const RISK_SCORE = 37;

const victim: Person = {
  ref: VICTIM_REF,
  role: 'VICTIM',
  forename: ALLOWED.victimForename,
  surname: ALLOWED.victimSurname,
  dateOfBirth: ALLOWED.victimDob,
  gender: 'FEMALE',
  nhsNumber: VICTIM_EXCLUDED.nhsNumber,
  address: {
    lines: [VICTIM_EXCLUDED.addressLine1, VICTIM_EXCLUDED.addressLine2],
    town: VICTIM_EXCLUDED.town,
    postcode: VICTIM_EXCLUDED.postcode,
  },
  safeContact: { phone: ALLOWED.safePhone, email: ALLOWED.safeEmail, safeTimeToCall: ALLOWED.safeTime, voicemailSafe: false },
  language: ALLOWED.victimLanguage,
  consents: [
    { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: ALLOWED.consentAt, recordedBy: ALLOWED.consentBy },
    { purpose: 'CLINICAL_REFERRAL', status: 'REFUSED', recordedAt: '2026-11-21T17:41:00Z', recordedBy: VICTIM_EXCLUDED.clinicalConsentBy },
  ],
  lawfulBasis: { code: 'DPA2018-S8-P3', authorisedBy: VICTIM_EXCLUDED.basisBy, authorisedAt: VICTIM_EXCLUDED.basisAt },
  clinicalIndicators: VICTIM_EXCLUDED.clinical,
};

const suspect: Person = {
  ref: SUSPECT_EXCLUDED.ref,
  role: 'SUSPECT',
  forename: ALLOWED.perpetratorForename,
  surname: ALLOWED.perpetratorSurname,
  dateOfBirth: SUSPECT_EXCLUDED.dob,
  gender: 'MALE',
  nhsNumber: SUSPECT_EXCLUDED.nhsNumber,
  address: { lines: [SUSPECT_EXCLUDED.addressLine], town: SUSPECT_EXCLUDED.town, postcode: SUSPECT_EXCLUDED.postcode },
  safeContact: {
    phone: SUSPECT_EXCLUDED.phone,
    email: SUSPECT_EXCLUDED.email,
    safeTimeToCall: SUSPECT_EXCLUDED.safeTime,
    voicemailSafe: true,
  },
  language: SUSPECT_EXCLUDED.language,
  consents: [
    { purpose: 'CLINICAL_REFERRAL', status: 'REFUSED', recordedAt: '2026-11-22T08:00:00Z', recordedBy: SUSPECT_EXCLUDED.consentBy },
  ],
  lawfulBasis: { code: 'CDA1998-S115', authorisedBy: SUSPECT_EXCLUDED.basisBy, authorisedAt: SUSPECT_EXCLUDED.basisAt },
  clinicalIndicators: SUSPECT_EXCLUDED.clinical,
  relationshipToVictim: { victimRef: VICTIM_REF, relationship: ALLOWED.relationship },
};

const record: CrimeRecord = {
  crimeReference: 'CC-26-0007777',
  recordVersion: 4,
  recordStatus: 'ACTIVE',
  lastModified: RECORD_EXCLUDED.lastModified,
  offence: {
    homeOfficeClass: '8Q',
    offenceCode: RECORD_EXCLUDED.offenceCode,
    description: ALLOWED.offenceDescription,
    legislation: RECORD_EXCLUDED.legislation,
    committedFrom: '2026-09-01',
    committedTo: '2026-11-20',
  },
  flags: [{ code: 'STALKING', raisedAt: '2026-11-21T17:00:00Z', raisedBy: RECORD_EXCLUDED.flagBy }],
  risk: { tool: 'S-DASH', level: 'HIGH', score: RISK_SCORE, assessedAt: ALLOWED.riskAssessedAt, assessor: RECORD_EXCLUDED.assessor },
  mdtDecision: {
    decidedAt: ALLOWED.mdtDecidedAt,
    referrals: [
      { type: 'ADVOCACY', subjectRef: VICTIM_REF, reason: RECORD_EXCLUDED.advocacyReason },
      { type: 'CLINICAL', subjectRef: SUSPECT_EXCLUDED.ref, reason: RECORD_EXCLUDED.clinicalReason },
    ],
  },
  persons: [coSuspect, witness, victim, suspect, otherPerson],
  summary: ALLOWED.summary,
  officerInCase: {
    collar: ALLOWED.officerCollar,
    name: ALLOWED.officerName,
    email: ALLOWED.officerEmail,
    phone: RECORD_EXCLUDED.officerPhone,
  },
};

const BYSTANDERS = [witness, otherPerson, coSuspect];
const MUST_NOT_APPEAR = [
  ...new Set([
    ...BYSTANDERS.flatMap((p) => stringLeaves(p)),
    ...Object.values(VICTIM_EXCLUDED),
    ...Object.values(SUSPECT_EXCLUDED),
    ...Object.values(RECORD_EXCLUDED),
  ]),
];

/** The spec example's shape: exactly these keys, at each level (charity-api.md "POST /v1/referrals"). */
const SPEC_KEYS = {
  top: ['externalReference', 'crimeReference', 'referredAt', 'referrer', 'client', 'risk', 'offence', 'perpetrator', 'consent', 'summary'],
  referrer: ['organisation', 'officerCollar', 'officerName', 'officerEmail'],
  client: ['forename', 'surname', 'dateOfBirth', 'gender', 'language', 'safeContact', 'postcodeDistrict'],
  safeContact: ['phone', 'email', 'safeTimeToCall', 'voicemailSafe'],
  risk: ['tool', 'level', 'assessedAt'],
  offence: ['homeOfficeClass', 'description', 'committedFrom', 'committedTo'],
  perpetrator: ['forename', 'surname', 'relationshipToClient'],
  consent: ['status', 'recordedAt', 'recordedBy'],
};

describe('charity minimisation, from a crime record to the POST /v1/referrals body', () => {
  const mapping = mapCrimeRecord(record, FORCE);
  const advocacy = mapping.referrals.find((r) => r.referral.type === 'ADVOCACY')!;
  const view = charityView(advocacy.referral);
  const payload = referralToCharityPayload(view, ORG);
  const json = JSON.stringify(payload);
  const viewJson = JSON.stringify(view);

  describe('the fixture is what it claims', () => {
    it('a queued advocacy referral of the victim, on the victim’s own GIVEN consent', () => {
      expect(advocacy).toMatchObject({
        decision: 'QUEUED',
        referral: { subject: { ref: VICTIM_REF, role: 'VICTIM' }, consent: { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN' } },
      });
    });

    it('real, distinct NHS numbers and dates', () => {
      const people = [victim, suspect, ...BYSTANDERS];
      for (const p of people) {
        expect(isValidNhsNumber(p.nhsNumber!)).toBe(true);
        expect(Number.isNaN(Date.parse(p.dateOfBirth!))).toBe(false);
      }
      expect(new Set(people.map((p) => p.nhsNumber)).size).toBe(people.length);
      expect(new Set(people.map((p) => p.dateOfBirth)).size).toBe(people.length);
    });

    it('no planted value is part of an allowed one, or the other way round (but for the victim’s postcode, which holds the district)', () => {
      const postcodeForms: string[] = [VICTIM_EXCLUDED.postcode, VICTIM_EXCLUDED.postcodeCompact];
      for (const secret of MUST_NOT_APPEAR.filter((s) => !postcodeForms.includes(s))) {
        for (const own of Object.values(ALLOWED))
          expect([secret, own, secret.includes(own) || own.includes(secret)]).toEqual([secret, own, false]);
      }
      expect(VICTIM_EXCLUDED.postcode.startsWith(`${ALLOWED.postcodeDistrict} `)).toBe(true);
    });

    it('the excluded values are really in the shared Referral (so it is the charity allow-list that must drop them)', () => {
      const shared = JSON.stringify(advocacy.referral);
      for (const value of [
        VICTIM_EXCLUDED.nhsNumber,
        VICTIM_EXCLUDED.addressLine1,
        VICTIM_EXCLUDED.addressLine2,
        VICTIM_EXCLUDED.town,
        VICTIM_EXCLUDED.postcode,
        VICTIM_EXCLUDED.clinical,
        VICTIM_EXCLUDED.ref,
        RECORD_EXCLUDED.officerPhone,
        RECORD_EXCLUDED.assessor,
        RECORD_EXCLUDED.advocacyReason,
        RECORD_EXCLUDED.offenceCode,
        RECORD_EXCLUDED.legislation,
        RECORD_EXCLUDED.lastModified,
        witness.ref,
      ]) {
        expect(shared).toContain(value);
      }
      expect(advocacy.referral.risk?.score).toBe(RISK_SCORE);
    });
  });

  describe.each([
    ['the payload', json],
    ['the charity view it is built from', viewJson],
  ])('%s', (_what, text) => {
    it.each(MUST_NOT_APPEAR)('does not contain %s', (secret) => {
      expect(text).not.toContain(secret);
    });
  });

  it('carries no risk score, assessor, NHS number, address, clinical indicators, lawful basis, MDT reason or other parties, by key', () => {
    const keys = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) {
          keys.add(k);
          walk(child);
        }
      }
    };
    walk(payload);
    for (const key of [
      'score',
      'assessor',
      'nhsNumber',
      'address',
      'lines',
      'town',
      'postcode',
      'clinicalIndicators',
      'lawfulBasis',
      'authorisedBy',
      'authorisedAt',
      'mdtReason',
      'otherParties',
      'ref',
      'role',
      'legislation',
      'offenceCode',
      'purpose',
    ]) {
      expect([key, keys.has(key)]).toEqual([key, false]);
    }
    for (const code of LAWFUL_BASIS_CODES) expect(json).not.toContain(code);
  });

  it('the officer’s phone is not sent: the spec example’s referrer has collar, name and email only', () => {
    expect(JSON.stringify(payload.referrer)).not.toMatch(/phone/i);
    expect(json).not.toContain(RECORD_EXCLUDED.officerPhone);
  });

  it('has exactly the keys of the spec example, at every level', () => {
    expect(Object.keys(payload)).toEqual(SPEC_KEYS.top);
    expect(Object.keys(payload.referrer)).toEqual(SPEC_KEYS.referrer);
    expect(Object.keys(payload.client)).toEqual(SPEC_KEYS.client);
    expect(Object.keys(payload.client.safeContact!)).toEqual(SPEC_KEYS.safeContact);
    expect(Object.keys(payload.risk!)).toEqual(SPEC_KEYS.risk);
    expect(Object.keys(payload.offence)).toEqual(SPEC_KEYS.offence);
    expect(Object.keys(payload.perpetrator!)).toEqual(SPEC_KEYS.perpetrator);
    expect(Object.keys(payload.consent)).toEqual(SPEC_KEYS.consent);
  });

  it('does contain what the charity must get (the control)', () => {
    for (const own of Object.values(ALLOWED)) expect(json).toContain(own);
    expect(payload.client).toEqual({
      forename: ALLOWED.victimForename,
      surname: ALLOWED.victimSurname,
      dateOfBirth: ALLOWED.victimDob,
      gender: 'FEMALE',
      language: ALLOWED.victimLanguage,
      safeContact: { phone: ALLOWED.safePhone, email: ALLOWED.safeEmail, safeTimeToCall: ALLOWED.safeTime, voicemailSafe: false },
      postcodeDistrict: ALLOWED.postcodeDistrict,
    });
    expect(payload.perpetrator).toEqual({
      forename: ALLOWED.perpetratorForename,
      surname: ALLOWED.perpetratorSurname,
      relationshipToClient: ALLOWED.relationship,
    });
    expect(payload.referrer).toEqual({
      organisation: ORG.referrerOrganisation,
      officerCollar: ALLOWED.officerCollar,
      officerName: ALLOWED.officerName,
      officerEmail: ALLOWED.officerEmail,
    });
    expect(payload.consent).toEqual({ status: 'GIVEN', recordedAt: ALLOWED.consentAt, recordedBy: ALLOWED.consentBy });
    expect(payload.risk).toEqual({ tool: 'S-DASH', level: 'HIGH', assessedAt: ALLOWED.riskAssessedAt });
    expect(payload.referredAt).toBe(ALLOWED.mdtDecidedAt);
    expect(payload.externalReference).toBe(advocacy.referral.referralId);
  });
});
