import type { CrimeRecord, Person, PersonRole } from '../../src/domain/crime-record';

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
