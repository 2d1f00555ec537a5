/**
 * Codes of the published BaRS CodeSystems the bridge emits, copied from NHS England's
 * definitions (../shared/standards/bars/CodeSystem); a conformance test checks each list
 * against the published file, so they cannot drift apart.
 */
export const BARS_USECASE_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars';

/** `usecases-categories-bars` (content complete): code → display. */
export const BARS_USE_CASES: Readonly<Record<string, string>> = {
  a1t1: '111 - ED',
  a1t2: '111 - UTC',
  a1t3: 'CAS - ED',
  a1t4: 'CAS - UTC',
  a1t5: '999 - ED',
  a1t6: '999 - UTC',
  a1t7: '111 - SDEC',
  a1t8: 'CAS - SDEC',
  a1t9: '999 - SDEC',
  a2t1: '111 Online - ED',
  a2t2: '111 Online - UTC',
  a2t3: 'S and R - ED',
  a2t4: 'S and R - UTC',
  a3t1: '999 - CAS Referral',
  a4t1: '999 - CAS Validation',
  a4t2: '999 - Falls',
  a4t3: '999 - Community Services',
  a5t1: 'Primary Care to Community Pharmacy',
  a5t2: 'Primary Care to Pharmacy Contraception',
  a5t3: 'Primary Care to Pharmacy Blood Pressure Check Service',
  referraltopharmacy: 'Referral to Pharmacy - Deprecated',
  a6t1: 'CAD to CAD Out of Area Referral',
  a6t2: 'CAD to CAD Call Assist Request',
  a6t3: 'CAD to CAD Mutual Aid Request',
};

/** Deprecated in the published CodeSystem: never accepted as a configured use case. */
export const BARS_DEPRECATED_USE_CASES: ReadonlySet<string> = new Set(['referraltopharmacy']);

export function isBarsUseCase(code: string): boolean {
  return Object.prototype.hasOwnProperty.call(BARS_USE_CASES, code) && !BARS_DEPRECATED_USE_CASES.has(code);
}
