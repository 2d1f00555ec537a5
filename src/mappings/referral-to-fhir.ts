import type {
  Annotation,
  Bundle,
  BundleEntry,
  Consent,
  Flag,
  Identifier,
  Organization,
  Patient,
  Resource,
  ServiceRequest,
  Task,
} from '@medplum/fhirtypes';
import { nameUuid } from '../domain/name-uuid';
import type { Gender, LawfulBasisCode } from '../domain/crime-record';
import type { NhsReferralView } from './allow-lists';

/**
 * nhs-fhir.md Mode A (`fhir-rest`): one referral as a FHIR R4 transaction Bundle.
 * Pure and deterministic — the CLI dry run prints exactly what would be sent, so the same view
 * must always give byte-identical JSON: no clock, no random ids, fixed key and entry order.
 */
export interface FhirMappingOptions {
  trustOdsCode: string;
  trustName: string;
  policeOrgName: string;
  policeOrgCode: string;
  referralIdSystem: string;
  crimeReferenceSystem: string;
  serviceSnomedCode?: string;
}

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_ORGANIZATION_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** The spec names no system for the force's code (config POLICE_ORG_CODE is not an ODS code). */
export const POLICE_FORCE_SYSTEM = 'https://iasu.example/Id/police-force';
export const NHS_NUMBER_VERIFICATION_EXTENSION = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus';
export const NHS_NUMBER_VERIFICATION_SYSTEM = 'https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland';
export const FLAG_CATEGORY_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/flag-categories-bars';
export const SAFEGUARDING_CODE_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/safeguarding-codes-bars';
export const SNOMED = 'http://snomed.info/sct';
export const SERVICE_TEXT = 'Forensic psychology assessment';

const UK_CORE = 'https://fhir.hl7.org.uk/StructureDefinition/';

/**
 * Namespace of the bundle's fullUrls: nameUuid('urn:iasu:fhir-fullurl', URL namespace).
 * Fixed so a resend of the same referral carries the same fullUrls.
 */
export const FHIR_FULLURL_NAMESPACE = '3d5f326f-0080-5a07-aed0-838bcda0e682';

/** One legislation URL per lawful-basis code (nhs-fhir.md: Sch. 8 for all DPA 2018 codes). */
export const LAWFUL_BASIS_URLS: Readonly<Record<LawfulBasisCode, string>> = {
  'DPA2018-S8-P1': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'DPA2018-S8-P3': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'DPA2018-S8-P4': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'CDA1998-S115': 'https://www.legislation.gov.uk/ukpga/1998/37/section/115',
};

const GENDERS: Readonly<Record<Gender, NonNullable<Patient['gender']>>> = {
  FEMALE: 'female',
  MALE: 'male',
  OTHER: 'other',
  UNKNOWN: 'unknown',
};

/** What the bundle's Consent rests on; a referral with neither is never sent. */
type Basis =
  { kind: 'CONSENT'; recordedAt?: string } | { kind: 'LAWFUL_BASIS'; code: LawfulBasisCode; authorisedBy: string; authorisedAt: string };

export function referralToTransactionBundle(view: NhsReferralView, opts: FhirMappingOptions): Bundle {
  const basis = basisOf(view);
  const url = (key: string) => `urn:uuid:${nameUuid(`${view.referralId}:${key}`, FHIR_FULLURL_NAMESPACE)}`;
  const ref = {
    trust: url('Organization:trust'),
    police: url('Organization:police'),
    patient: url('Patient'),
    flag: url('Flag'),
    consent: url('Consent'),
    serviceRequest: url('ServiceRequest'),
    task: url('Task'),
  };
  const referralIdentifier: Identifier = { system: opts.referralIdSystem, value: view.referralId };

  const trust: Organization = {
    resourceType: 'Organization',
    meta: profile('UKCore-Organization'),
    identifier: [{ system: ODS_ORGANIZATION_SYSTEM, value: opts.trustOdsCode }],
    name: opts.trustName,
  };
  const police: Organization = {
    resourceType: 'Organization',
    meta: profile('UKCore-Organization'),
    identifier: [{ system: POLICE_FORCE_SYSTEM, value: opts.policeOrgCode }],
    name: opts.policeOrgName,
  };

  const { patient, patientIdentifier } = buildPatient(view, opts);

  // The Flag needs a level and tool; without a risk assessment there is nothing to flag.
  const flag: Flag | undefined = view.risk && {
    resourceType: 'Flag',
    meta: profile('UKCore-Flag'),
    identifier: [{ system: opts.referralIdSystem, value: `${view.referralId}-flag` }],
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY_SYSTEM, code: 'SG', display: 'Safeguarding Concern' }] }],
    code: { coding: [safeguardingCode(view.subject.role)], text: `Stalking — risk ${view.risk.level} (${view.risk.tool})` },
    subject: { reference: ref.patient },
    ...(view.risk.assessedAt ? { period: { start: view.risk.assessedAt } } : {}),
    author: { reference: ref.police },
  };

  const consent = buildConsent(basis, view, opts, ref);

  const serviceRequest: ServiceRequest = {
    resourceType: 'ServiceRequest',
    meta: profile('UKCore-ServiceRequest'),
    identifier: [referralIdentifier, { system: opts.crimeReferenceSystem, value: view.crimeReference }],
    status: 'active',
    intent: 'order',
    category: [{ coding: [{ system: SNOMED, code: '3457005', display: 'Patient referral' }] }],
    code: {
      ...(opts.serviceSnomedCode ? { coding: [{ system: SNOMED, code: opts.serviceSnomedCode }] } : {}),
      text: SERVICE_TEXT,
    },
    subject: { reference: ref.patient },
    ...(view.mdtDecidedAt ? { authoredOn: view.mdtDecidedAt } : {}),
    requester: { reference: ref.police, display: opts.policeOrgName },
    performer: [{ reference: ref.trust, display: opts.trustName }],
    ...(view.mdtReason ? { reasonCode: [{ text: view.mdtReason }] } : {}),
    supportingInfo: [...(flag ? [{ reference: ref.flag }] : []), { reference: ref.consent }],
    ...nonEmpty('note', notesOf(view)),
  };

  const task: Task = {
    resourceType: 'Task',
    meta: profile('UKCore-Task'),
    identifier: [referralIdentifier],
    status: 'requested',
    intent: 'order',
    focus: { reference: ref.serviceRequest },
    for: { reference: ref.patient },
    ...(view.mdtDecidedAt ? { authoredOn: view.mdtDecidedAt } : {}),
    requester: { reference: ref.police },
    owner: { reference: ref.trust },
  };

  const entries: BundleEntry[] = [
    createEntry(ref.trust, trust, identifierQuery(ODS_ORGANIZATION_SYSTEM, opts.trustOdsCode)),
    createEntry(ref.police, police, identifierQuery(POLICE_FORCE_SYSTEM, opts.policeOrgCode)),
    createEntry(ref.patient, patient, identifierQuery(patientIdentifier.system, patientIdentifier.value)),
    ...(flag ? [createEntry(ref.flag, flag, identifierQuery(opts.referralIdSystem, `${view.referralId}-flag`))] : []),
    createEntry(ref.consent, consent, identifierQuery(opts.referralIdSystem, `${view.referralId}-consent`)),
    createEntry(ref.serviceRequest, serviceRequest, identifierQuery(opts.referralIdSystem, view.referralId)),
    createEntry(ref.task, task, identifierQuery(opts.referralIdSystem, view.referralId)),
  ];
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

/**
 * The Flag's code from BaRS `safeguarding-codes-bars`: a suspect referred for assessment is at
 * risk of harming others; for anyone else the concern is not specified further, as in the BaRS
 * safeguarding example.
 */
function safeguardingCode(role: NhsReferralView['subject']['role']): { system: string; code: string; display: string } {
  return role === 'SUSPECT'
    ? { system: SAFEGUARDING_CODE_SYSTEM, code: '129707006', display: 'At risk for other-directed violence (finding)' }
    : { system: SAFEGUARDING_CODE_SYSTEM, code: 'U', display: 'Unspecified Safeguarding Concern Identified' };
}

/** Consent GIVEN wins; otherwise a suspect's complete lawful basis; otherwise refuse to map. */
function basisOf(view: NhsReferralView): Basis {
  const consent = view.consent;
  // Delivery only sends QUEUED referrals; this is the second lock: a withdrawal always stops here.
  if (consent?.status === 'WITHDRAWN')
    throw new Error(`referral ${view.referralId}: consent was withdrawn; it must not be sent to the NHS`);
  if (consent?.status === 'GIVEN' && consent.purpose === 'CLINICAL_REFERRAL') {
    return { kind: 'CONSENT', ...(consent.recordedAt ? { recordedAt: consent.recordedAt } : {}) };
  }
  const basis = view.lawfulBasis;
  if (view.subject.role === 'SUSPECT' && basis?.authorisedBy && basis.authorisedAt) {
    return { kind: 'LAWFUL_BASIS', code: basis.code, authorisedBy: basis.authorisedBy, authorisedAt: basis.authorisedAt };
  }
  // No personal data in the message: the referral id is a UUID.
  throw new Error(`referral ${view.referralId} has neither consent nor a complete lawful basis; it must not be sent to the NHS`);
}

function buildPatient(
  view: NhsReferralView,
  opts: FhirMappingOptions,
): { patient: Patient; patientIdentifier: Required<Pick<Identifier, 'system' | 'value'>> } {
  const s = view.subject;
  // Conditional create keys on the NHS number. Without one there is nothing the trust can
  // match on, so the Patient gets a deterministic identifier under the referral system: a
  // resend still finds the same Patient instead of creating a second one.
  const patientIdentifier = s.nhsNumber
    ? { system: NHS_NUMBER_SYSTEM, value: s.nhsNumber }
    : { system: opts.referralIdSystem, value: `${view.referralId}-patient` };
  const identifier: Identifier = s.nhsNumber
    ? {
        extension: [
          {
            url: NHS_NUMBER_VERIFICATION_EXTENSION,
            valueCodeableConcept: {
              coding: [{ system: NHS_NUMBER_VERIFICATION_SYSTEM, code: '02', display: 'Number present but not traced' }],
            },
          },
        ],
        ...patientIdentifier,
      }
    : { ...patientIdentifier };

  const patient: Patient = {
    resourceType: 'Patient',
    meta: profile('UKCore-Patient'),
    identifier: [identifier],
    ...(s.forename || s.surname
      ? { name: [{ use: 'official', ...(s.surname ? { family: s.surname } : {}), ...(s.forename ? { given: [s.forename] } : {}) }] }
      : {}),
    ...(s.gender ? { gender: GENDERS[s.gender] } : {}),
    ...(s.dateOfBirth ? { birthDate: s.dateOfBirth } : {}),
    ...(s.address
      ? {
          address: [
            {
              use: 'home',
              ...nonEmpty('line', s.address.lines),
              ...(s.address.town ? { city: s.address.town } : {}),
              ...(s.address.postcode ? { postalCode: s.address.postcode } : {}),
            },
          ],
        }
      : {}),
  };
  return { patient, patientIdentifier };
}

function buildConsent(basis: Basis, view: NhsReferralView, opts: FhirMappingOptions, ref: { patient: string; police: string }): Consent {
  const common = {
    resourceType: 'Consent' as const,
    meta: profile('UKCore-Consent'),
    identifier: [{ system: opts.referralIdSystem, value: `${view.referralId}-consent` }],
    status: 'active' as const,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: ref.patient },
  };
  if (basis.kind === 'CONSENT') {
    return {
      ...common,
      ...(basis.recordedAt ? { dateTime: basis.recordedAt } : {}),
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    };
  }
  return {
    ...common,
    dateTime: basis.authorisedAt,
    // R4 types policy.authority as a uri, not a Reference: it names the police Organization by
    // its bundle fullUrl, which a server rewrites like any other bundle-local uri (R4 http.html#trules).
    policy: [{ authority: ref.police, uri: LAWFUL_BASIS_URLS[basis.code] }],
    provision: {
      actor: [
        {
          role: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'AUT', display: 'author (originator)' }],
          },
          reference: { display: basis.authorisedBy },
        },
      ],
    },
  };
}

/** The summary first (spec), then offence and clinical context the NHS allow-list admits. */
function notesOf(view: NhsReferralView): Annotation[] {
  const notes: Annotation[] = [];
  if (view.summary) notes.push({ text: view.summary });
  const o = view.offence;
  const committed = o.committedFrom || o.committedTo ? `committed ${o.committedFrom ?? '?'} to ${o.committedTo ?? '?'}` : undefined;
  const offence = [
    o.description,
    o.legislation,
    o.offenceCode && `offence code ${o.offenceCode}`,
    `Home Office class ${o.homeOfficeClass}`,
    committed,
  ].filter(Boolean);
  notes.push({ text: `Offence: ${offence.join('; ')}` });
  if (view.subject.clinicalIndicators) notes.push({ text: `Clinical indicators (police-reported): ${view.subject.clinicalIndicators}` });
  if (view.risk?.score !== undefined) notes.push({ text: `Risk assessment ${view.risk.tool} score ${view.risk.score}` });
  return notes;
}

function createEntry(fullUrl: string, resource: Resource, ifNoneExist: string): BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist } };
}

/** `identifier=system|value`; the value is encoded so a stray `&` or `|` cannot split the query. */
function identifierQuery(system: string, value: string): string {
  return `identifier=${system}|${encodeURIComponent(value)}`;
}

function profile(name: string): { profile: string[] } {
  return { profile: [`${UK_CORE}${name}`] };
}

function nonEmpty<K extends string, T>(key: K, values: T[] | undefined): { [P in K]?: T[] } {
  return (values && values.length > 0 ? { [key]: values } : {}) as { [P in K]?: T[] };
}
