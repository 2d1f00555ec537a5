import { validateResource } from '@medplum/core';
import type { Bundle, BundleEntry, Consent, Flag, Organization, Patient, Resource, ServiceRequest, Task } from '@medplum/fhirtypes';
import type { Referral } from '../../src/domain/referral';
import { nhsView } from '../../src/mappings/allow-lists';
import type { FhirMappingOptions } from '../../src/mappings/referral-to-fhir';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { expectValidR4, indexR4Definitions } from '../helpers/nhs';
import { advocacyReferral, clinicalReferral } from '../helpers/referrals';

const opts: FhirMappingOptions = {
  trustOdsCode: 'RTV',
  trustName: 'North West Boroughs Healthcare NHS Foundation Trust',
  policeOrgName: 'Cheshire Constabulary',
  policeOrgCode: 'CHESHIRE',
  referralIdSystem: 'https://iasu.example/Id/referral',
  crimeReferenceSystem: 'https://iasu.example/Id/crime-reference',
};
const UK_CORE = 'https://fhir.hl7.org.uk/StructureDefinition/';
const consentGiven = {
  purpose: 'CLINICAL_REFERRAL' as const,
  status: 'GIVEN' as const,
  recordedAt: '2026-11-22T08:00:00Z',
  recordedBy: '4521',
};

function bundleFor(referral: Referral, options: FhirMappingOptions = opts): Bundle {
  return referralToTransactionBundle(nhsView(referral), options);
}

function entryOf<T extends Resource>(bundle: Bundle, type: T['resourceType'], nth = 0): BundleEntry<T> {
  const entry = (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type)[nth];
  if (!entry) throw new Error(`no ${type} entry`);
  return entry as BundleEntry<T>;
}

function resourceOf<T extends Resource>(bundle: Bundle, type: T['resourceType'], nth = 0): T {
  return entryOf<T>(bundle, type, nth).resource as T;
}

describe('referralToTransactionBundle', () => {
  const bundle = bundleFor(clinicalReferral());

  it('is a transaction of conditional creates with UK Core profiles', () => {
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry?.map((e) => e.resource?.resourceType)).toEqual([
      'Organization',
      'Organization',
      'Patient',
      'Flag',
      'Consent',
      'ServiceRequest',
      'Task',
    ]);
    const profiles = bundle.entry?.map((e) => e.resource?.meta?.profile);
    expect(profiles).toEqual(
      ['Organization', 'Organization', 'Patient', 'Flag', 'Consent', 'ServiceRequest', 'Task'].map((t) => [`${UK_CORE}UKCore-${t}`]),
    );
    for (const entry of bundle.entry ?? []) {
      expect(entry.request).toEqual({
        method: 'POST',
        url: entry.resource?.resourceType,
        ifNoneExist: expect.stringMatching(/^identifier=/),
      });
      expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(bundle.entry?.map((e) => e.fullUrl)).size).toBe(7);
  });

  it('keys the conditional creates on the NHS number, the ODS code and the referral id', () => {
    const id = '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10';
    expect(entryOf(bundle, 'Patient').request?.ifNoneExist).toBe('identifier=https://fhir.nhs.uk/Id/nhs-number|9912003888');
    expect(entryOf(bundle, 'Organization', 0).request?.ifNoneExist).toBe('identifier=https://fhir.nhs.uk/Id/ods-organization-code|RTV');
    expect(entryOf(bundle, 'Organization', 1).request?.ifNoneExist).toBe('identifier=https://iasu.example/Id/police-force|CHESHIRE');
    expect(entryOf(bundle, 'ServiceRequest').request?.ifNoneExist).toBe(`identifier=https://iasu.example/Id/referral|${id}`);
    expect(entryOf(bundle, 'Task').request?.ifNoneExist).toBe(`identifier=https://iasu.example/Id/referral|${id}`);
  });

  it('gives the Patient the NHS number with the "present but not traced" verification status', () => {
    const patient = resourceOf<Patient>(bundle, 'Patient');
    expect(patient.identifier).toEqual([
      {
        extension: [
          {
            url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus',
            valueCodeableConcept: {
              coding: [
                {
                  system: 'https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland',
                  code: '02',
                  display: 'Number present but not traced',
                },
              ],
            },
          },
        ],
        system: 'https://fhir.nhs.uk/Id/nhs-number',
        value: '9912003888',
      },
    ]);
    expect(patient.name).toEqual([{ use: 'official', family: 'Taylor', given: ['Sam'] }]);
    expect(patient.gender).toBe('male');
    expect(patient.birthDate).toBe('1986-01-30');
    expect(patient.address).toEqual([{ use: 'home', line: ['9 Other Road'], city: 'Runcorn', postalCode: 'WA7 2AB' }]);
  });

  it('without an NHS number keys the Patient on a deterministic identifier under the referral system', () => {
    const referral = clinicalReferral();
    delete referral.subject.nhsNumber;
    const b = bundleFor(referral);
    const patient = resourceOf<Patient>(b, 'Patient');
    expect(patient.identifier).toEqual([{ system: opts.referralIdSystem, value: `${referral.referralId}-patient` }]);
    expect(entryOf(b, 'Patient').request?.ifNoneExist).toBe(`identifier=${opts.referralIdSystem}|${referral.referralId}-patient`);
  });

  it('builds the ServiceRequest and Task of the spec, all references bundle-local', () => {
    const fullUrl = (type: Resource['resourceType'], nth = 0) => entryOf(bundle, type, nth).fullUrl;
    const sr = resourceOf<ServiceRequest>(bundle, 'ServiceRequest');
    expect(sr).toMatchObject({
      identifier: [
        { system: opts.referralIdSystem, value: '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10' },
        { system: opts.crimeReferenceSystem, value: 'CC-26-0001234' },
      ],
      status: 'active',
      intent: 'order',
      category: [{ coding: [{ system: 'http://snomed.info/sct', code: '3457005', display: 'Patient referral' }] }],
      code: { text: 'Forensic psychology assessment' },
      subject: { reference: fullUrl('Patient') },
      requester: { reference: fullUrl('Organization', 1) },
      performer: [{ reference: fullUrl('Organization', 0) }],
      reasonCode: [{ text: 'Fixation with ex-partner; possible untreated mental illness' }],
      supportingInfo: [{ reference: fullUrl('Flag') }, { reference: fullUrl('Consent') }],
      authoredOn: '2026-11-22T09:30:00Z',
    });
    expect(sr.code?.coding).toBeUndefined();
    expect(sr.note?.[0]).toEqual({ text: "Repeated unwanted contact and loitering outside the victim's workplace." });

    const task = resourceOf<Task>(bundle, 'Task');
    expect(task).toMatchObject({
      identifier: [{ system: opts.referralIdSystem, value: '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10' }],
      status: 'requested',
      intent: 'order',
      focus: { reference: fullUrl('ServiceRequest') },
      for: { reference: fullUrl('Patient') },
      owner: { reference: fullUrl('Organization', 0) },
      authoredOn: '2026-11-22T09:30:00Z',
    });

    const [trust, police] = [resourceOf<Organization>(bundle, 'Organization', 0), resourceOf<Organization>(bundle, 'Organization', 1)];
    expect(trust.identifier).toEqual([{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTV' }]);
    expect(trust.name).toBe(opts.trustName);
    expect(police.name).toBe('Cheshire Constabulary');
  });

  it('codes the service in SNOMED CT only when configured', () => {
    const sr = resourceOf<ServiceRequest>(bundleFor(clinicalReferral(), { ...opts, serviceSnomedCode: '1234567' }), 'ServiceRequest');
    expect(sr.code).toEqual({ coding: [{ system: 'http://snomed.info/sct', code: '1234567' }], text: 'Forensic psychology assessment' });
  });

  it('flags the risk as safeguarding with level, tool and assessment time', () => {
    const flag = resourceOf<Flag>(bundle, 'Flag');
    expect(flag.category).toEqual([
      { coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/flag-categories-bars', code: 'SG', display: 'Safeguarding Concern' }] },
    ]);
    // Coded from BaRS safeguarding-codes-bars (the referred suspect is a risk to others); the spec's text stays.
    expect(clinicalReferral().subject.role).toBe('SUSPECT');
    expect(flag.code).toEqual({
      coding: [
        {
          system: 'https://fhir.nhs.uk/CodeSystem/safeguarding-codes-bars',
          code: '129707006',
          display: 'At risk for other-directed violence (finding)',
        },
      ],
      text: 'Stalking — risk HIGH (S-DASH)',
    });
    expect(flag.period).toEqual({ start: '2026-11-21T17:30:00Z' });
    expect(flag.subject).toEqual({ reference: entryOf(bundle, 'Patient').fullUrl });
  });

  it('records a DPA 2018 Sch. 8 lawful basis: legislation, police authority, authorising officer', () => {
    const consent = resourceOf<Consent>(bundle, 'Consent');
    expect(consent).toMatchObject({
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: entryOf(bundle, 'Patient').fullUrl },
      dateTime: '2026-11-22T09:35:00Z',
      policy: [{ authority: entryOf(bundle, 'Organization', 1).fullUrl, uri: 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8' }],
    });
    expect(consent.provision?.actor).toEqual([
      {
        role: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'AUT', display: 'author (originator)' }],
        },
        reference: { display: 'Insp 0771' },
      },
    ]);
    expect(consent.policyRule).toBeUndefined();
  });

  it('records a CDA 1998 s115 basis with its own legislation URL', () => {
    const consent = resourceOf<Consent>(
      bundleFor(clinicalReferral({ lawfulBasis: { code: 'CDA1998-S115', authorisedBy: 'Supt 12', authorisedAt: '2026-11-23T10:00:00Z' } })),
      'Consent',
    );
    expect(consent.policy?.[0]?.uri).toBe('https://www.legislation.gov.uk/ukpga/1998/37/section/115');
    expect(consent.dateTime).toBe('2026-11-23T10:00:00Z');
    expect(consent.provision?.actor?.[0]?.reference).toEqual({ display: 'Supt 12' });
  });

  it('records consent as OPTIN when the person consented, and then needs no lawful basis', () => {
    const consent = resourceOf<Consent>(bundleFor(clinicalReferral({ consent: consentGiven, lawfulBasis: undefined })), 'Consent');
    expect(consent.policyRule).toEqual({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] });
    expect(consent.dateTime).toBe('2026-11-22T08:00:00Z');
    expect(consent.policy).toBeUndefined();
    expect(consent.provision).toBeUndefined();
  });

  it('is deterministic: the same view gives byte-identical JSON, and does not mutate the view', () => {
    const view = nhsView(clinicalReferral());
    const before = JSON.stringify(view);
    const first = JSON.stringify(referralToTransactionBundle(view, opts));
    expect(JSON.stringify(referralToTransactionBundle(view, opts))).toBe(first);
    expect(JSON.stringify(referralToTransactionBundle(nhsView(clinicalReferral()), opts))).toBe(first);
    expect(JSON.stringify(view)).toBe(before);
    // and another referral gets other fullUrls
    const other = bundleFor(clinicalReferral({ referralId: '00000000-0000-5000-8000-000000000001' }));
    expect(other.entry?.[0]?.fullUrl).not.toBe(bundle.entry?.[0]?.fullUrl);
  });

  it.each([
    ['consent refused, no lawful basis', { lawfulBasis: undefined }],
    ['lawful basis without authoriser', { lawfulBasis: { code: 'DPA2018-S8-P1' as const, authorisedAt: '2026-11-22T09:35:00Z' } }],
    ['lawful basis without time', { lawfulBasis: { code: 'DPA2018-S8-P1' as const, authorisedBy: 'Insp 0771' } }],
    ['consent given for another purpose', { lawfulBasis: undefined, consent: { ...consentGiven, purpose: 'ADVOCACY_REFERRAL' as const } }],
    ['consent withdrawn', { lawfulBasis: undefined, consent: { ...consentGiven, status: 'WITHDRAWN' as const } }],
    ['consent withdrawn, even by a suspect with a complete lawful basis', { consent: { ...consentGiven, status: 'WITHDRAWN' as const } }],
  ])('throws without a basis: %s', (_label, overrides) => {
    expect(() => bundleFor(clinicalReferral(overrides))).toThrow(/must not be sent to the NHS/);
  });

  it('throws for a victim with a lawful basis but no consent (the basis is for suspects only)', () => {
    const referral = clinicalReferral({ subject: { ...clinicalReferral().subject, role: 'VICTIM' } });
    // nhsView drops it; the mapping refuses even if a view carried one.
    expect(() => bundleFor(referral)).toThrow(/neither consent/);
    expect(() => referralToTransactionBundle({ ...nhsView(referral), lawfulBasis: clinicalReferral().lawfulBasis }, opts)).toThrow(
      /neither consent/,
    );
  });
});

describe('minimisation: what the NHS must not receive never reaches the bundle', () => {
  const planted = {
    phone: 'PLANTED-PHONE-0001',
    email: 'planted-email-0002@example.org',
    safeTime: 'PLANTED-SAFETIME-0003',
    otherRef: 'PLANTED-OTHERREF-0004',
    otherRelationship: 'PLANTED-RELATIONSHIP-0005',
    perpForename: 'PLANTED-PERPFORENAME-0006',
    perpSurname: 'PLANTED-PERPSURNAME-0007',
    perpRelationship: 'PLANTED-PERPREL-0008',
    collar: 'PLANTED-COLLAR-0009',
    officerName: 'PLANTED-OFFICERNAME-0010',
    officerEmail: 'planted-officer-0011@police.example',
    officerPhone: 'PLANTED-OFFICERPHONE-0012',
    language: 'PLANTED-LANGUAGE-0013',
    assessor: 'PLANTED-ASSESSOR-0014',
    recordedBy: 'PLANTED-RECORDEDBY-0015',
    lastModified: '1999-01-01T00:00:16Z',
    victimBasisBy: 'PLANTED-VICTIMBASIS-0017',
  };

  function plantedReferral(base: Referral, subjectRole: Referral['subject']['role']): Referral {
    return {
      ...base,
      subject: {
        ...base.subject,
        role: subjectRole,
        language: planted.language,
        safeContact: { phone: planted.phone, email: planted.email, safeTimeToCall: planted.safeTime, voicemailSafe: false },
      },
      otherParties: [{ ref: planted.otherRef, role: 'VICTIM', relationshipToSubject: planted.otherRelationship }],
      perpetrator: { forename: planted.perpForename, surname: planted.perpSurname, relationshipToVictim: planted.perpRelationship },
      officerInCase: { collar: planted.collar, name: planted.officerName, email: planted.officerEmail, phone: planted.officerPhone },
      risk: base.risk && { ...base.risk, assessor: planted.assessor },
      consent: base.consent && { ...base.consent, recordedBy: planted.recordedBy },
      recordLastModified: planted.lastModified,
    };
  }

  it('for a suspect (lawful basis) referral', () => {
    const json = JSON.stringify(bundleFor(plantedReferral(clinicalReferral(), 'SUSPECT')));
    for (const value of Object.values(planted)) expect(json).not.toContain(value);
    expect(json).toContain('Insp 0771'); // the control: the allowed basis does go
  });

  it("for a victim's clinical referral with consent, including a lawful basis that is a suspect's only", () => {
    const victim = plantedReferral(
      clinicalReferral({
        consent: consentGiven,
        lawfulBasis: { code: 'CDA1998-S115', authorisedBy: planted.victimBasisBy, authorisedAt: '2026-11-22T09:35:00Z' },
      }),
      'VICTIM',
    );
    const json = JSON.stringify(bundleFor(victim));
    for (const value of Object.values(planted)) expect(json).not.toContain(value);
    expect(json).not.toContain('legislation.gov.uk');
  });

  it('an advocacy-shaped referral (victim contact details) with clinical consent leaks none of them', () => {
    const referral = { ...advocacyReferral(), type: 'CLINICAL' as const, consent: consentGiven };
    const json = JSON.stringify(bundleFor(referral));
    for (const value of [
      '07700900123',
      'alex@example.org',
      'weekdays 10:00-14:00',
      'Sam',
      'Taylor',
      'jordan.lee@police.example',
      'DC Jordan Lee',
    ]) {
      expect(json).not.toContain(value);
    }
  });
});

describe('R4 structural validation (Medplum validator, base R4 definitions)', () => {
  it.each([
    ['lawful basis', clinicalReferral()],
    [
      'consent given, no NHS number, SNOMED code',
      clinicalReferral({ consent: consentGiven, subject: { ...clinicalReferral().subject, nhsNumber: undefined } }),
    ],
  ])('every resource validates: %s', (_label, referral) => {
    const b = bundleFor(referral, { ...opts, serviceSnomedCode: '1234567' });
    for (const entry of b.entry ?? []) expectValidR4(entry.resource as Resource);
    expectValidR4(b);
  });

  it('the validator is live: it rejects a Consent whose policy.authority is a Reference', () => {
    indexR4Definitions();
    const consent = resourceOf<Consent>(bundle(), 'Consent');
    const broken = { ...consent, policy: [{ authority: { reference: 'Organization/x' } }] } as unknown as Consent;
    expect(() => validateResource(broken)).toThrow(/policy\[0\]\.authority|Invalid additional property/);
  });

  function bundle(): Bundle {
    return bundleFor(clinicalReferral());
  }
});
