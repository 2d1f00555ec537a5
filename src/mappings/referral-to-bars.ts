import type { Bundle, BundleEntry, Consent, MessageHeader, Organization, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { nameUuid } from '../domain/name-uuid';
import type { NhsReferralView } from './allow-lists';
import { BARS_USECASE_SYSTEM, BARS_USE_CASES } from './bars-codes';
import { FHIR_FULLURL_NAMESPACE, ODS_ORGANIZATION_SYSTEM, referralToTransactionBundle, type FhirMappingOptions } from './referral-to-fhir';

/**
 * Mode B of nhs-fhir.md: the same resources as the transaction Bundle (Task excepted: in BaRS
 * the receiver owns the workflow), sent as a BaRS `message` Bundle with the MessageHeader
 * first. Pure and deterministic: the Bundle id (which the trust echoes in
 * `MessageHeader.response.identifier`) and timestamp derive from the referral, not the clock.
 */
export interface BarsMappingOptions extends FhirMappingOptions {
  sourceEndpoint: string;
  destinationEndpoint: string;
  /** BaRS `usecases-categories-bars` code agreed at onboarding; the first part of the `use-context` header. */
  useCase: string;
  /** When the message is assembled: dates it only if the record carries no time of its own. */
  assembledAt?: string;
}

export const BARS_MESSAGE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';
export const BARS_REQUEST_HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request';
export const BARS_RESPONSE_HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response';
export const BARS_EVENT_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-events-bars';
export const BARS_REASON_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-reason-bars';
export const BARS_SERVICEREQUEST_CATEGORY_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest';
export const BARS_REFERRAL_DEFINITION = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral';
/** Core 1.2.2 "Cancellation": a cancel has its own MessageDefinition. */
export const BARS_CANCEL_DEFINITION = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled';
export const BARS_REFERRAL_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral';
/** This software, as MessageHeader.source.software names it. */
export const BARS_SOURCE_SOFTWARE = 'iasu-bridge';

/** `new` carries the referral; `cancel` is the `update` message that revokes it. */
export type BarsMessageKind = 'new' | 'cancel';

export function barsMessageId(referralId: string, kind: BarsMessageKind = 'new'): string {
  return nameUuid(`${referralId}:bars-message:${kind}`, FHIR_FULLURL_NAMESPACE);
}

export function referralToBarsMessage(view: NhsReferralView, opts: BarsMappingOptions): Bundle {
  const authored = authoredAtOf(view, opts.assembledAt);
  const transaction = referralToTransactionBundle(view, opts);
  const entries: BundleEntry[] = (transaction.entry ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'Task')
    .map((e) => ({ fullUrl: e.fullUrl, resource: asMessageResource(e.resource!, opts, authored) }));
  const serviceRequest = entries.find((e) => e.resource?.resourceType === 'ServiceRequest');
  if (!serviceRequest?.fullUrl) throw new Error(`referral ${view.referralId}: no ServiceRequest to focus the message on`);
  const isTrust = (o: Organization) => o.identifier?.some((i) => i.system === ODS_ORGANIZATION_SYSTEM) ?? false;
  const trust = organizationEntry(entries, isTrust);
  const police = organizationEntry(entries, (o) => !isTrust(o));
  const headerId = nameUuid(`${view.referralId}:MessageHeader:new`, FHIR_FULLURL_NAMESPACE);
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
    meta: { lastUpdated: authored, profile: [BARS_REQUEST_HEADER_PROFILE] },
    eventCoding: { system: BARS_EVENT_SYSTEM, code: 'servicerequest-request' },
    destination: [{ endpoint: opts.destinationEndpoint, ...(trust ? { receiver: { reference: trust } } : {}) }],
    ...(police ? { sender: { reference: police } } : {}),
    source: { name: opts.policeOrgName, software: BARS_SOURCE_SOFTWARE, endpoint: opts.sourceEndpoint },
    reason: { coding: [{ system: BARS_REASON_SYSTEM, code: 'new', display: 'New' }] },
    focus: [{ reference: serviceRequest.fullUrl }],
    definition: BARS_REFERRAL_DEFINITION,
  };
  return {
    resourceType: 'Bundle',
    id: barsMessageId(view.referralId),
    meta: { lastUpdated: authored, profile: [BARS_MESSAGE_PROFILE] },
    type: 'message',
    timestamp: authored,
    entry: [{ fullUrl: `urn:uuid:${headerId}`, resource: header }, ...entries],
  };
}

/**
 * BaRS requires `Bundle.timestamp` and `ServiceRequest.authoredOn`. The MDT decision is when
 * the referral was authored; without one, the record's own latest time stands in, so a
 * referral is never dropped for want of a time; a record with no time at all is dated when
 * the message is assembled (the caller's clock: the mapping itself reads none).
 */
export function authoredAtOf(view: NhsReferralView, assembledAt?: string): string {
  const at =
    view.mdtDecidedAt ??
    view.recordLastModified ??
    view.lawfulBasis?.authorisedAt ??
    view.consent?.recordedAt ??
    view.risk?.assessedAt ??
    assembledAt;
  if (!at)
    throw new Error(`referral ${view.referralId}: the record carries no time to date the BaRS message (MDT decision or last modified)`);
  return at;
}

function organizationEntry(entries: BundleEntry[], match: (o: Organization) => boolean): string | undefined {
  return entries.find((e) => e.resource?.resourceType === 'Organization' && match(e.resource))?.fullUrl;
}

/**
 * The `update` message that cancels a referral already sent: the same Bundle with reason
 * `update` and the ServiceRequest `revoked` (nhs-fhir.md Mode B). Built from the message that
 * was sent (the frozen payload), so the trust sees the referral exactly as it received it.
 * Its ids are fixed per referral, so a retried cancel is the same message.
 */
export function barsCancelMessage(sent: Bundle, timestamp: string): Bundle {
  const referralId = referralIdOfMessage(sent);
  const headerId = nameUuid(`${referralId}:MessageHeader:cancel`, FHIR_FULLURL_NAMESPACE);
  const [first, ...rest] = sent.entry ?? [];
  const header = first?.resource;
  if (header?.resourceType !== 'MessageHeader') throw new Error(`referral ${referralId}: sent message has no MessageHeader first`);
  // Only what changed gets a later lastUpdated (Core 1.2.2 Bundle guidance); the rest keeps the sent time.
  return {
    ...sent,
    id: barsMessageId(referralId, 'cancel'),
    meta: { ...sent.meta, lastUpdated: timestamp },
    timestamp,
    entry: [
      {
        fullUrl: `urn:uuid:${headerId}`,
        resource: {
          ...header,
          id: headerId,
          meta: { ...header.meta, lastUpdated: timestamp },
          reason: { coding: [{ system: BARS_REASON_SYSTEM, code: 'update', display: 'Update' }] },
          definition: BARS_CANCEL_DEFINITION,
        },
      },
      ...rest.map((e) =>
        e.resource?.resourceType === 'ServiceRequest'
          ? { ...e, resource: { ...e.resource, meta: { ...e.resource.meta, lastUpdated: timestamp }, status: 'revoked' as const } }
          : e,
      ),
    ],
  };
}

/**
 * BaRS `use-context` header: usecase | ServiceRequest category | event | reason, read from
 * the payload itself, so the header can never disagree with the message it routes.
 */
export function useContextOf(message: Bundle): string {
  const header = message.entry?.[0]?.resource as MessageHeader | undefined;
  const serviceRequest = message.entry?.find((e) => e.resource?.resourceType === 'ServiceRequest')?.resource as ServiceRequest | undefined;
  const categoryCode = (system: string) =>
    serviceRequest?.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === system)?.code ?? '';
  return [
    categoryCode(BARS_USECASE_SYSTEM),
    categoryCode(BARS_SERVICEREQUEST_CATEGORY_SYSTEM),
    header?.eventCoding?.code ?? '',
    header?.reason?.coding?.find((c) => c.system === BARS_REASON_SYSTEM)?.code ?? '',
  ].join('|');
}

/** The referral id a BaRS message carries (ServiceRequest identifier under the referral system). */
export function referralIdOfMessage(message: Bundle): string {
  const serviceRequest = message.entry?.find((e) => e.resource?.resourceType === 'ServiceRequest')?.resource as ServiceRequest | undefined;
  // The request's first identifier is the referral id (referralToTransactionBundle puts it there).
  const id = serviceRequest?.identifier?.[0]?.value;
  if (!id) throw new Error('BaRS message has no ServiceRequest with a referral id');
  return id;
}

/**
 * BaRS asks for intent `plan` and exactly one category holding the message category and the
 * use case (BARSServiceRequest-request-referral; the codings as the BaRS examples give them),
 * `authoredOn` always, and `meta.lastUpdated` on every resource; otherwise as in REST mode.
 */
function asMessageResource(resource: Resource, opts: BarsMappingOptions, authored: string): Resource {
  const meta = { ...resource.meta, lastUpdated: authored };
  if (resource.resourceType === 'Consent') return { ...resource, meta, category: withBarsConsentCategory(resource.category) };
  if (resource.resourceType !== 'ServiceRequest') return { ...resource, meta };
  const useCaseDisplay = BARS_USE_CASES[opts.useCase];
  return {
    ...resource,
    meta: { ...meta, profile: [BARS_REFERRAL_PROFILE] },
    intent: 'plan',
    category: [
      {
        coding: [
          { system: BARS_SERVICEREQUEST_CATEGORY_SYSTEM, code: 'referral', display: 'Transfer of Care' },
          { system: BARS_USECASE_SYSTEM, code: opts.useCase, ...(useCaseDisplay ? { display: useCaseDisplay } : {}) },
        ],
      },
    ],
    authoredOn: authored,
  };
}

export const BARS_CONSENT_CATEGORY_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/consent-categories-bars';

/**
 * nhs-fhir.md's LOINC category stays; the BaRS coding for the same concept joins it in the same
 * CodeableConcept (as the BaRS Consent example CONS01 codes it): the trust receives the
 * referral to give care, whether the basis is consent or a lawful basis without it.
 */
function withBarsConsentCategory(category: Consent['category']): Consent['category'] {
  const [first, ...rest] = category ?? [];
  const drc = { system: BARS_CONSENT_CATEGORY_SYSTEM, code: 'DRC', display: 'Direct Care' };
  if (first?.coding?.some((c) => c.system === drc.system)) return category;
  return [{ ...first, coding: [...(first?.coding ?? []), drc] }, ...rest];
}
