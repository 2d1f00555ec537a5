import type { Address, CrimeRecord, LawfulBasis, Person, PersonRole, SafeContact } from '../../src/domain/crime-record';

/** A person with no consents, plus whatever the test needs. */
export function person(ref: string, role: PersonRole, extra: Partial<Person> = {}): Person {
  return { ref, role, consents: [], ...extra };
}

/** The smallest in-scope crime record (class 8Q) around the given persons. */
export function minimalRecord(persons: Person[], extra: Partial<CrimeRecord> = {}): CrimeRecord {
  return {
    crimeReference: 'CC-26-0009999',
    recordVersion: 1,
    recordStatus: 'ACTIVE',
    offence: { homeOfficeClass: '8Q' },
    flags: [],
    persons,
    ...extra,
  };
}

/** Every field present (the compiler says so), down to address, safe contact and lawful basis. */
export type FullPerson = Required<Omit<Person, 'address' | 'safeContact' | 'lawfulBasis'>> & {
  address: Required<Address>;
  safeContact: Required<SafeContact>;
  lawfulBasis: Required<LawfulBasis>;
};

/**
 * A person a partner must learn nothing about: a unique planted value (`PLANT-{tag}-…-{marker}`)
 * in every free field, real and unique date of birth and NHS number, and their own GIVEN
 * consents and complete lawful basis, which must not travel either. `at` is 'YYYY-MM-DDTHH:MM'.
 */
export function plantedPerson(p: {
  tag: string;
  ref: string;
  role: PersonRole;
  dob: string;
  nhs: string;
  at: string;
  postcode: string;
  victimRef: string;
  marker: string;
}): FullPerson {
  const plant = (field: string) => `PLANT-${p.tag}-${field}-${p.marker}`;
  return {
    ref: p.ref,
    role: p.role,
    forename: plant('FORENAME'),
    surname: plant('SURNAME'),
    dateOfBirth: p.dob,
    gender: 'OTHER',
    nhsNumber: p.nhs,
    address: { lines: [plant('ADDRESS1'), plant('ADDRESS2')], town: plant('TOWN'), postcode: p.postcode },
    safeContact: {
      phone: plant('PHONE'),
      email: `plant-${p.tag.toLowerCase()}-${p.marker}@example.org`,
      safeTimeToCall: plant('SAFETIME'),
      voicemailSafe: true,
    },
    language: plant('LANGUAGE'),
    consents: [
      { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: `${p.at}:01Z`, recordedBy: plant('RECORDEDBY-A') },
      { purpose: 'CLINICAL_REFERRAL', status: 'GIVEN', recordedAt: `${p.at}:02Z`, recordedBy: plant('RECORDEDBY-C') },
    ],
    lawfulBasis: { code: 'CDA1998-S115', authorisedBy: plant('AUTHORISEDBY'), authorisedAt: `${p.at}:03Z` },
    clinicalIndicators: plant('CLINICAL'),
    relationshipToVictim: { victimRef: p.victimRef, relationship: plant('RELATIONSHIP') },
  };
}

/** Enumerated fields carry no identity (and collide across people by design). */
const ENUM_KEYS = new Set(['role', 'gender', 'purpose', 'status', 'code']);

/** Every string value in a person, except enumerations: what "every field" means in minimisation tests. */
export function stringLeaves(value: unknown, key = ''): string[] {
  if (typeof value === 'string') return ENUM_KEYS.has(key) ? [] : [value];
  if (Array.isArray(value)) return value.flatMap((v) => stringLeaves(v, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, k));
  return [];
}
