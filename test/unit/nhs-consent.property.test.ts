import type { Bundle, Consent as FhirConsent, Organization, Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import {
  CONSENT_STATUSES,
  LAWFUL_BASIS_CODES,
  PERSON_ROLES,
  type Consent,
  type ConsentStatus,
  type CrimeRecord,
  type LawfulBasis,
  type LawfulBasisCode,
  type Person,
} from '../../src/domain/crime-record';
import { nhsView } from '../../src/mappings/allow-lists';
import { mapCrimeRecord } from '../../src/mappings/police-to-referral';
import { referralToBarsMessage } from '../../src/mappings/referral-to-bars';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { NHS_BARS_OPTIONS, NHS_FHIR_OPTIONS } from '../helpers/nhs';
import { minimalRecord, person } from '../helpers/records';

/**
 * Issue: "no Bundle is ever produced for a referral whose consent is not GIVEN unless it is a
 * suspect's clinical referral with a complete lawful basis; a victim's refusal is never
 * overridden". Checked end to end, crime record → mapCrimeRecord → nhsView → both NHS builders,
 * against an oracle written from police-feed.md / nhs-fhir.md rather than from src.
 */
const FORCE = 'CHESHIRE';

/** nhs-fhir.md "Consent": the legislation URL for each lawful-basis code. */
const LEGISLATION: Record<LawfulBasisCode, string> = {
  'DPA2018-S8-P1': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'DPA2018-S8-P3': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'DPA2018-S8-P4': 'https://www.legislation.gov.uk/ukpga/2018/12/schedule/8',
  'CDA1998-S115': 'https://www.legislation.gov.uk/ukpga/1998/37/section/115',
};
const OPTIN = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' };

// ---- record generator (after the consent property in police-to-referral.test.ts) -------------

const REFS = ['P1', 'P2', 'P3', 'P4'];
// Includes equal instants written differently (08:00Z = 09:00+01:00), so ties fall to document order.
const RECORDED_AT = ['2026-11-21T17:40:00Z', '2026-11-22T08:00:00Z', '2026-11-22T09:00:00+01:00', '2026-11-23T12:00:00Z'];

const consentArb: fc.Arbitrary<Consent> = fc.record(
  {
    purpose: fc.constantFrom<Consent['purpose']>('ADVOCACY_REFERRAL', 'CLINICAL_REFERRAL', 'CLINICAL_REFERRAL'),
    status: fc.constantFrom(...CONSENT_STATUSES),
    recordedAt: fc.constantFrom(...RECORDED_AT),
    recordedBy: fc.constantFrom('4521', '0771'),
  },
  { requiredKeys: ['purpose', 'status'] },
);

const lawfulBasisArb: fc.Arbitrary<LawfulBasis | undefined> = fc.option(
  fc.record(
    {
      code: fc.constantFrom(...LAWFUL_BASIS_CODES),
      authorisedBy: fc.constantFrom('Insp 0771', 'Sgt 12'),
      authorisedAt: fc.constantFrom('2026-11-22T09:35:00Z', '2026-11-22T09:35:00+01:00'),
    },
    { requiredKeys: ['code'] },
  ),
  { nil: undefined, freq: 2 },
);

const personArb = (ref: string): fc.Arbitrary<Person> =>
  fc
    .record({
      role: fc.constantFrom(...PERSON_ROLES),
      // Several consents per purpose: a history (given, then refused or withdrawn, …).
      consents: fc.array(consentArb, { maxLength: 4 }),
      lawfulBasis: lawfulBasisArb,
      forename: fc.constantFrom('Alex', 'Sam', 'Jo'),
      surname: fc.option(fc.constantFrom('Morgan', 'Taylor'), { nil: undefined }),
      nhsNumber: fc.option(fc.constantFrom('9912003888', '9000000009'), { nil: undefined }),
    })
    .map(({ role, ...rest }) => person(ref, role, rest));

const recordArb: fc.Arbitrary<CrimeRecord> = fc
  .record({
    persons: fc.subarray(REFS, { minLength: 1 }).chain((refs) => fc.tuple(...refs.map(personArb))),
    referrals: fc.array(
      fc.record({
        type: fc.constantFrom<'CLINICAL' | 'ADVOCACY'>('CLINICAL', 'CLINICAL', 'ADVOCACY'),
        subjectRef: fc.constantFrom(...REFS),
      }),
      { minLength: 1, maxLength: 5 },
    ),
    recordStatus: fc.constantFrom<CrimeRecord['recordStatus']>('ACTIVE', 'ACTIVE', 'ACTIVE', 'WITHDRAWN'),
    homeOfficeClass: fc.constantFrom('8Q', '8Q', '8L'),
    stalkingFlag: fc.boolean(),
    decidedAt: fc.option(fc.constant('2026-11-22T09:30:00Z'), { nil: undefined }),
    risk: fc.option(fc.record({ tool: fc.constant('S-DASH' as const), level: fc.constantFrom('STANDARD' as const, 'HIGH' as const) }), {
      nil: undefined,
    }),
  })
  .map(({ persons, referrals, recordStatus, homeOfficeClass, stalkingFlag, decidedAt, risk }) =>
    minimalRecord(persons, {
      recordStatus,
      offence: { homeOfficeClass },
      flags: stalkingFlag ? [{ code: 'STALKING' }] : [],
      mdtDecision: { ...(decidedAt ? { decidedAt } : {}), referrals },
      ...(risk ? { risk } : {}),
    }),
  );

// ---- oracle -----------------------------------------------------------------------------

/**
 * The person's current CLINICAL_REFERRAL consent: the latest `recordedAt` (compared as instants),
 * among equal instants the one later in the document. Undated entries cannot be ordered: alone,
 * the last in the document; next to dated ones, the most restrictive of them and the latest dated
 * (WITHDRAWN > REFUSED > NOT_ASKED > GIVEN), so an undated refusal is never overridden.
 */
function latestClinicalConsent(p: Person): Consent | undefined {
  const clinical = p.consents.filter((c) => c.purpose === 'CLINICAL_REFERRAL');
  const dated = clinical.filter((c) => c.recordedAt && !Number.isNaN(Date.parse(c.recordedAt)));
  const undated = clinical.filter((c) => !dated.includes(c));
  let latest: Consent | undefined;
  for (const c of dated) if (!latest || Date.parse(c.recordedAt!) >= Date.parse(latest.recordedAt!)) latest = c;
  if (!latest) return undated[undated.length - 1];
  const rank = { GIVEN: 0, NOT_ASKED: 1, REFUSED: 2, WITHDRAWN: 3 } as const;
  return [latest, ...undated].reduce((a, b) => (rank[b.status] > rank[a.status] ? b : a));
}

function completeBasis(p: Person): (LawfulBasis & { authorisedBy: string; authorisedAt: string }) | undefined {
  const b = p.lawfulBasis;
  return b?.authorisedBy && b.authorisedAt ? { ...b, authorisedBy: b.authorisedBy, authorisedAt: b.authorisedAt } : undefined;
}

function attempt(build: () => Bundle): { bundle?: Bundle; error?: Error } {
  try {
    return { bundle: build() };
  } catch (err) {
    return { error: err as Error };
  }
}

function resources<T>(bundle: Bundle, type: string): T[] {
  return (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type).map((e) => e.resource as T);
}

function fullUrlOf(bundle: Bundle, type: string): string | undefined {
  return bundle.entry?.find((e) => e.resource?.resourceType === type)?.fullUrl;
}

/** (b): the Consent resource states exactly the basis the record gives. */
function expectConsentResource(bundle: Bundle, byConsent: boolean, basis: ReturnType<typeof completeBasis>) {
  const consents = resources<FhirConsent>(bundle, 'Consent');
  expect(consents).toHaveLength(1);
  const consent = consents[0]!;
  expect(consent.status).toBe('active');
  const patients = resources<Patient>(bundle, 'Patient');
  expect(patients).toHaveLength(1);
  expect(consent.patient?.reference).toBe(fullUrlOf(bundle, 'Patient'));
  const optIn = (consent.policyRule?.coding ?? []).some((c) => c.system === OPTIN.system && c.code === OPTIN.code);
  expect(optIn).toBe(byConsent);
  if (byConsent) {
    expect(consent.policy).toBeUndefined();
    expect(consent.provision).toBeUndefined();
    return;
  }
  expect(basis).toBeDefined();
  expect(consent.policyRule).toBeUndefined();
  expect(consent.policy).toHaveLength(1);
  expect(consent.policy![0]!.uri).toBe(LEGISLATION[basis!.code]);
  // The authority is the police force: the police Organization of this Bundle.
  const authority = consent.policy![0]!.authority;
  expect(authority).toBeTruthy();
  const police = bundle.entry?.find((e) => e.fullUrl === authority)?.resource as Organization | undefined;
  expect(police?.resourceType).toBe('Organization');
  expect(police?.name).toBe(NHS_FHIR_OPTIONS.policeOrgName);
  expect(consent.provision?.actor?.[0]?.reference?.display).toBe(basis!.authorisedBy);
  expect(consent.dateTime).toBe(basis!.authorisedAt);
}

// ---- the property -------------------------------------------------------------------------

describe('NHS Bundles only with consent or a suspect’s complete lawful basis (property)', () => {
  it('holds for every CLINICAL referral of every generated crime record, in both delivery modes', () => {
    const seen = {
      consent: 0,
      lawfulBasis: 0,
      refused: 0,
      victimRefusedWithBasis: 0,
      incompleteBasis: 0,
      queued: 0,
      notQueuedButBuildable: 0,
      historyMatters: 0,
    };

    fc.assert(
      fc.property(recordArb, (record) => {
        const mapping = mapCrimeRecord(record, FORCE);
        for (const { referral, decision } of mapping.referrals) {
          if (referral.type !== 'CLINICAL') continue;
          const view = nhsView(referral);
          const rest = attempt(() => referralToTransactionBundle(view, NHS_FHIR_OPTIONS));
          const bars = attempt(() => referralToBarsMessage(view, NHS_BARS_OPTIONS));
          // Both modes rest on the same basis: they agree on whether to map.
          expect(!!bars.bundle).toBe(!!rest.bundle);

          const subject = record.persons.find((p) => p.ref === referral.subject.ref);
          const latest = subject && latestClinicalConsent(subject);
          const byConsent = latest?.status === 'GIVEN';
          const basis = subject?.role === 'SUSPECT' ? completeBasis(subject) : undefined;
          // A withdrawal stops everything, a suspect's lawful basis included (the builders' second lock).
          const eligible = byConsent || (!!basis && latest?.status !== 'WITHDRAWN');
          if (
            subject &&
            subject.consents.filter((c) => c.purpose === 'CLINICAL_REFERRAL').length > 1 &&
            subject.consents.find((c) => c.purpose === 'CLINICAL_REFERRAL')!.status !== latest?.status
          ) {
            seen.historyMatters += 1;
          }

          // Pipeline rule: whatever the mapping queues, the NHS builders accept.
          if (decision === 'QUEUED') {
            expect(rest.error).toBeUndefined();
            expect(bars.error).toBeUndefined();
            seen.queued += 1;
          }

          for (const built of [rest, bars]) {
            if (built.bundle) {
              // (a) a Bundle only with consent GIVEN or a suspect's complete lawful basis
              expect(eligible).toBe(true);
              // (b) and its Consent says exactly which
              expectConsentResource(built.bundle, byConsent, basis);
            } else {
              // …and the builders refuse all the others, without personal data in the refusal.
              expect(eligible).toBe(false);
              expect(built.error?.message).toMatch(/must not be sent to the NHS/);
              for (const value of [subject?.forename, subject?.surname, subject?.nhsNumber])
                if (value) expect(built.error!.message).not.toContain(value);
            }
          }

          // (c) a victim's refusal or withdrawal is never overridden, even by a lawful basis in the record.
          const refusedVictim = subject?.role === 'VICTIM' && (latest?.status === 'REFUSED' || latest?.status === 'WITHDRAWN');
          if (refusedVictim) {
            expect(rest.bundle).toBeUndefined();
            expect(bars.bundle).toBeUndefined();
            expect(decision).not.toBe('QUEUED');
            seen.refused += 1;
            if (completeBasis(subject!)) seen.victimRefusedWithBasis += 1;
          }

          if (rest.bundle) seen[byConsent ? 'consent' : 'lawfulBasis'] += 1;
          if (rest.bundle && decision !== 'QUEUED') seen.notQueuedButBuildable += 1;
          if (subject?.role === 'SUSPECT' && !byConsent && subject.lawfulBasis && !basis) {
            expect(rest.bundle).toBeUndefined();
            seen.incompleteBasis += 1;
          }
        }
      }),
      // Fixed seed: the coverage guard below must not depend on luck.
      { numRuns: 300, seed: 20261122 },
    );

    // Every path was reached, so the property cannot pass vacuously.
    expect(seen.consent).toBeGreaterThan(0);
    expect(seen.lawfulBasis).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.victimRefusedWithBasis).toBeGreaterThan(0);
    expect(seen.incompleteBasis).toBeGreaterThan(0);
    expect(seen.queued).toBeGreaterThan(0);
    expect(seen.historyMatters).toBeGreaterThan(0);
  });

  /** Hand-written anchors for the generator's paths, so a failure names the case plainly. */
  describe('anchors', () => {
    const basis: LawfulBasis = { code: 'CDA1998-S115', authorisedBy: 'Insp 0771', authorisedAt: '2026-11-22T09:35:00Z' };
    const clinical = (p: Person) =>
      mapCrimeRecord(minimalRecord([p], { mdtDecision: { referrals: [{ type: 'CLINICAL', subjectRef: p.ref }] } }), FORCE).referrals[0]!;
    const consent = (status: ConsentStatus, recordedAt: string): Consent => ({ purpose: 'CLINICAL_REFERRAL', status, recordedAt });

    it.each(['REFUSED', 'WITHDRAWN'] as const)(
      'a victim whose latest clinical consent is %s gets no Bundle, lawful basis or not',
      (status) => {
        const victim = person('P1', 'VICTIM', {
          consents: [consent('GIVEN', '2026-11-21T17:40:00Z'), consent(status, '2026-11-22T08:00:00Z')],
          lawfulBasis: basis,
        });
        const { referral, decision } = clinical(victim);
        expect(decision).not.toBe('QUEUED');
        expect(() => referralToTransactionBundle(nhsView(referral), NHS_FHIR_OPTIONS)).toThrow();
        expect(() => referralToBarsMessage(nhsView(referral), NHS_BARS_OPTIONS)).toThrow();
      },
    );

    it('a suspect who refused is referred on a complete lawful basis, and the Consent says so', () => {
      const suspect = person('P2', 'SUSPECT', { consents: [consent('REFUSED', '2026-11-22T08:00:00Z')], lawfulBasis: basis });
      const { referral, decision } = clinical(suspect);
      expect(decision).toBe('QUEUED');
      expectConsentResource(referralToTransactionBundle(nhsView(referral), NHS_FHIR_OPTIONS), false, {
        ...basis,
        authorisedBy: 'Insp 0771',
        authorisedAt: '2026-11-22T09:35:00Z',
      });
      expectConsentResource(referralToBarsMessage(nhsView(referral), NHS_BARS_OPTIONS), false, {
        ...basis,
        authorisedBy: 'Insp 0771',
        authorisedAt: '2026-11-22T09:35:00Z',
      });
    });

    it('a later GIVEN after a refusal opts in', () => {
      const witness = person('P3', 'WITNESS', {
        consents: [consent('REFUSED', '2026-11-21T17:40:00Z'), consent('GIVEN', '2026-11-22T08:00:00Z')],
      });
      const { referral, decision } = clinical(witness);
      expect(decision).toBe('QUEUED');
      expectConsentResource(referralToBarsMessage(nhsView(referral), NHS_BARS_OPTIONS), true, undefined);
    });
  });
});
