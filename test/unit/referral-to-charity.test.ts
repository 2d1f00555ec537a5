import { charityView } from '../../src/mappings/allow-lists';
import { referralToCharityPayload, type CharityReferralPayload } from '../../src/mappings/referral-to-charity';
import type { Referral } from '../../src/domain/referral';
import { advocacyReferral } from '../helpers/referrals';

const ORG = { referrerOrganisation: 'Cheshire Constabulary IASU' };
const map = (referral: Referral): CharityReferralPayload => referralToCharityPayload(charityView(referral), ORG);

describe('referralToCharityPayload', () => {
  it('produces the charity-api.md example, field for field and in the same key order', () => {
    // The spec example, with externalReference = the referral id and referredAt = mdtDecidedAt.
    const expected = {
      externalReference: '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22',
      crimeReference: 'CC-26-0001234',
      referredAt: '2026-11-22T09:30:00Z',
      referrer: {
        organisation: 'Cheshire Constabulary IASU',
        officerCollar: '4521',
        officerName: 'DC Jordan Lee',
        officerEmail: 'jordan.lee@police.example',
      },
      client: {
        forename: 'Alex',
        surname: 'Morgan',
        dateOfBirth: '1990-04-12',
        gender: 'FEMALE',
        language: 'en',
        safeContact: { phone: '07700900123', email: 'alex@example.org', safeTimeToCall: 'weekdays 10:00-14:00', voicemailSafe: false },
        postcodeDistrict: 'WA1',
      },
      risk: { tool: 'S-DASH', level: 'HIGH', assessedAt: '2026-11-21T17:30:00Z' },
      offence: {
        homeOfficeClass: '8Q',
        description: 'Stalking involving fear of violence',
        committedFrom: '2026-09-01',
        committedTo: '2026-11-20',
      },
      perpetrator: { forename: 'Sam', surname: 'Taylor', relationshipToClient: 'EX_PARTNER' },
      consent: { status: 'GIVEN', recordedAt: '2026-11-21T17:40:00Z', recordedBy: '4521' },
      summary: "Repeated unwanted contact and loitering outside the victim's workplace.",
    };
    const payload = map(advocacyReferral());
    expect(payload).toStrictEqual(expected);
    expect(JSON.stringify(payload)).toBe(JSON.stringify(expected));
  });

  it('falls back to the record’s last change for referredAt when there is no MDT time', () => {
    expect(map(advocacyReferral({ mdtDecidedAt: undefined })).referredAt).toBe('2026-11-22T09:58:00Z');
  });

  it('omits absent optional values instead of sending null or empty objects', () => {
    const base = advocacyReferral();
    const payload = map({
      ...base,
      subject: { ref: 'P1', role: 'VICTIM', forename: 'Alex', surname: 'Morgan', safeContact: {} },
      perpetrator: {},
      risk: undefined,
      summary: undefined,
      officerInCase: undefined,
      mdtDecidedAt: undefined,
      recordLastModified: undefined,
      consent: { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN' },
      offence: { homeOfficeClass: '8Q' },
    });
    expect(payload).toStrictEqual({
      externalReference: base.referralId,
      crimeReference: 'CC-26-0001234',
      referrer: { organisation: 'Cheshire Constabulary IASU' },
      client: { forename: 'Alex', surname: 'Morgan' },
      offence: { homeOfficeClass: '8Q' },
      consent: { status: 'GIVEN' },
    });
    expect(JSON.stringify(payload)).not.toMatch(/null|\{\}/);
  });

  it('is deterministic: the same referral always gives byte-identical JSON', () => {
    const first = JSON.stringify(map(advocacyReferral()));
    expect(JSON.stringify(map(advocacyReferral()))).toBe(first);

    // Key order of the input (e.g. a re-parsed record) must not change the bytes sent.
    const reordered = advocacyReferral();
    reordered.subject = {
      language: 'en',
      safeContact: { voicemailSafe: false, safeTimeToCall: 'weekdays 10:00-14:00', email: 'alex@example.org', phone: '07700900123' },
      gender: 'FEMALE',
      dateOfBirth: '1990-04-12',
      surname: 'Morgan',
      forename: 'Alex',
      address: { postcode: 'WA1 1AA', town: 'Warrington', lines: ['1 Example Street'] },
      nhsNumber: '9000000009',
      role: 'VICTIM',
      ref: 'P1',
    };
    reordered.perpetrator = { relationshipToVictim: 'EX_PARTNER', surname: 'Taylor', forename: 'Sam' };
    expect(JSON.stringify(map(reordered))).toBe(first);
  });

  it('does not modify its input', () => {
    const view = deepFreeze(charityView(advocacyReferral()));
    expect(() => referralToCharityPayload(view, ORG)).not.toThrow();
  });

  it.each([
    ['REFUSED', { purpose: 'ADVOCACY_REFERRAL' as const, status: 'REFUSED' as const }],
    ['NOT_ASKED', { purpose: 'ADVOCACY_REFERRAL' as const, status: 'NOT_ASKED' as const }],
    ['WITHDRAWN', { purpose: 'ADVOCACY_REFERRAL' as const, status: 'WITHDRAWN' as const }],
    ['absent', undefined],
  ])('throws when consent is %s, without personal data in the message', (_label, consent) => {
    let thrown: unknown;
    try {
      map(advocacyReferral({ consent }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    const message = (thrown as Error).message;
    expect(message).toMatch(/consent/);
    for (const personal of ['Alex', 'Morgan', '07700900123', 'alex@example.org', 'Taylor']) expect(message).not.toContain(personal);
  });

  describe('minimisation (charity-api.md "What is not sent")', () => {
    // Unique markers in every field the charity must not receive.
    const planted = {
      subjectRef: 'PLANT-SUBJECT-REF',
      nhsNumber: '9434765919',
      addressLine1: 'PLANT-ADDR-LINE-1',
      addressLine2: 'PLANT-ADDR-LINE-2',
      town: 'PLANTTOWN',
      inwardCode: '9ZQ',
      clinical: 'PLANT-CLINICAL-INDICATORS',
      lawfulBasisBy: 'PLANT-LAWFUL-AUTHORISER',
      lawfulBasisAt: '2031-03-03T03:03:03Z',
      mdtReason: 'PLANT-MDT-REASON',
      officerPhone: 'PLANT-OIC-PHONE',
      otherRef: 'PLANT-OTHER-REF',
      otherRelationship: 'PLANT-OTHER-RELATIONSHIP',
      offenceCode: 'PLANT-OFFENCE-CODE',
      legislation: 'PLANT-LEGISLATION',
      riskScore: 987654,
      riskAssessor: 'PLANT-RISK-ASSESSOR',
      force: 'PLANT-FORCE',
      recordVersion: 424242,
      recordLastModified: '2032-04-04T04:04:04Z',
      suspectDob: 'PLANT-SUSPECT-DOB',
      suspectAddress: 'PLANT-SUSPECT-ADDRESS',
      suspectClinical: 'PLANT-SUSPECT-CLINICAL',
      smuggledSafeContact: 'PLANT-SMUGGLED-SAFE-CONTACT',
    };

    function plantedReferral(): Referral {
      const base = advocacyReferral();
      return {
        ...base,
        force: planted.force,
        recordVersion: planted.recordVersion,
        recordLastModified: planted.recordLastModified,
        subject: {
          ...base.subject,
          ref: planted.subjectRef,
          nhsNumber: planted.nhsNumber,
          address: { lines: [planted.addressLine1, planted.addressLine2], town: planted.town, postcode: `WA1 ${planted.inwardCode}` },
          clinicalIndicators: planted.clinical,
          // A value carrying an extra key at run time must not smuggle it through.
          safeContact: { ...base.subject.safeContact, note: planted.smuggledSafeContact } as Referral['subject']['safeContact'],
        },
        otherParties: [
          { ref: 'P2', role: 'SUSPECT', relationshipToSubject: 'EX_PARTNER' },
          { ref: planted.otherRef, role: 'WITNESS', relationshipToSubject: planted.otherRelationship },
        ],
        // The Referral type carries only name and relationship; extra suspect details at run time must not pass.
        perpetrator: {
          forename: 'Sam',
          surname: 'Taylor',
          relationshipToVictim: 'EX_PARTNER',
          dateOfBirth: planted.suspectDob,
          address: planted.suspectAddress,
          clinicalIndicators: planted.suspectClinical,
        } as Referral['perpetrator'],
        offence: { ...base.offence, offenceCode: planted.offenceCode, legislation: planted.legislation },
        risk: {
          tool: 'S-DASH',
          level: 'HIGH',
          assessedAt: '2026-11-21T17:30:00Z',
          score: planted.riskScore,
          assessor: planted.riskAssessor,
        },
        lawfulBasis: { code: 'DPA2018-S8-P1', authorisedBy: planted.lawfulBasisBy, authorisedAt: planted.lawfulBasisAt },
        mdtReason: planted.mdtReason,
        officerInCase: { ...base.officerInCase!, phone: planted.officerPhone },
      };
    }

    it.each(Object.entries(planted))('never sends %s', (_field, value) => {
      const json = JSON.stringify(map(plantedReferral()));
      expect(json).not.toContain(String(value));
    });

    it('sends only the postcode district of the victim’s postcode', () => {
      const payload = map(plantedReferral());
      expect(payload.client.postcodeDistrict).toBe('WA1');
      expect(JSON.stringify(payload)).not.toMatch(/WA1 ?9ZQ/);
    });

    it('still sends what the charity needs from the same referral', () => {
      const payload = map(plantedReferral());
      expect(payload.client.forename).toBe('Alex');
      expect(payload.client.safeContact).toStrictEqual({
        phone: '07700900123',
        email: 'alex@example.org',
        safeTimeToCall: 'weekdays 10:00-14:00',
        voicemailSafe: false,
      });
      expect(payload.perpetrator).toStrictEqual({ forename: 'Sam', surname: 'Taylor', relationshipToClient: 'EX_PARTNER' });
    });
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
