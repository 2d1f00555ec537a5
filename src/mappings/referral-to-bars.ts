import type { Bundle, BundleEntry, CodeableConcept, MessageHeader, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { v5 as uuidv5 } from 'uuid';
import type { NhsReferralView } from './allow-lists';
import { FHIR_FULLURL_NAMESPACE, referralToTransactionBundle, type FhirMappingOptions } from './referral-to-fhir';

/**
 * Mode B of nhs-fhir.md: the same resources as the transaction Bundle (Task excepted: in BaRS
 * the receiver owns the workflow), sent as a BaRS `message` Bundle with the MessageHeader
 * first. Pure and deterministic: the Bundle id (which the trust echoes in
 * `MessageHeader.response.identifier`) and timestamp derive from the referral, not the clock.
 */
export interface BarsMappingOptions extends FhirMappingOptions {
  sourceEndpoint: string;
  destinationEndpoint: string;
  /** BaRS `usecases-categories-bars` code; the first part of the `use-context` header. */
  useCase?: string;
}

export const BARS_MESSAGE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';
export const BARS_REQUEST_HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request';
export const BARS_RESPONSE_HEADER_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response';
export const BARS_EVENT_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-events-bars';
export const BARS_REASON_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-reason-bars';
export const BARS_USECASE_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars';
export const BARS_SERVICEREQUEST_CATEGORY_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest';
export const BARS_REFERRAL_DEFINITION = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral';

/** `new` carries the referral; `cancel` is the `update` message that revokes it. */
export type BarsMessageKind = 'new' | 'cancel';

export function barsMessageId(referralId: string, kind: BarsMessageKind = 'new'): string {
  return uuidv5(`${referralId}:bars-message:${kind}`, FHIR_FULLURL_NAMESPACE);
}

export function referralToBarsMessage(view: NhsReferralView, opts: BarsMappingOptions): Bundle {
  const transaction = referralToTransactionBundle(view, opts);
  const entries: BundleEntry[] = (transaction.entry ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'Task')
    .map((e) => ({ fullUrl: e.fullUrl, resource: asMessageResource(e.resource!, opts) }));
  const serviceRequest = entries.find((e) => e.resource?.resourceType === 'ServiceRequest');
  if (!serviceRequest?.fullUrl) throw new Error(`referral ${view.referralId}: no ServiceRequest to focus the message on`);
  const headerId = uuidv5(`${view.referralId}:MessageHeader:new`, FHIR_FULLURL_NAMESPACE);
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
    meta: { profile: [BARS_REQUEST_HEADER_PROFILE] },
    eventCoding: { system: BARS_EVENT_SYSTEM, code: 'servicerequest-request' },
    reason: { coding: [{ system: BARS_REASON_SYSTEM, code: 'new' }] },
    definition: BARS_REFERRAL_DEFINITION,
    source: { endpoint: opts.sourceEndpoint },
    destination: [{ endpoint: opts.destinationEndpoint }],
    focus: [{ reference: serviceRequest.fullUrl }],
  };
  return {
    resourceType: 'Bundle',
    id: barsMessageId(view.referralId),
    meta: { profile: [BARS_MESSAGE_PROFILE] },
    type: 'message',
    ...(view.mdtDecidedAt ? { timestamp: view.mdtDecidedAt } : {}),
    entry: [{ fullUrl: `urn:uuid:${headerId}`, resource: header }, ...entries],
  };
}

/**
 * The `update` message that cancels a referral already sent: the same Bundle with reason
 * `update` and the ServiceRequest `revoked` (nhs-fhir.md Mode B). Built from the message that
 * was sent (the frozen payload), so the trust sees the referral exactly as it received it.
 * Its ids are fixed per referral, so a retried cancel is the same message.
 */
export function barsCancelMessage(sent: Bundle, timestamp: string): Bundle {
  const referralId = referralIdOfMessage(sent);
  const headerId = uuidv5(`${referralId}:MessageHeader:cancel`, FHIR_FULLURL_NAMESPACE);
  const [first, ...rest] = sent.entry ?? [];
  const header = first?.resource;
  if (header?.resourceType !== 'MessageHeader') throw new Error(`referral ${referralId}: sent message has no MessageHeader first`);
  return {
    ...sent,
    id: barsMessageId(referralId, 'cancel'),
    timestamp,
    entry: [
      {
        fullUrl: `urn:uuid:${headerId}`,
        resource: { ...header, id: headerId, reason: { coding: [{ system: BARS_REASON_SYSTEM, code: 'update' }] } },
      },
      ...rest.map((e) =>
        e.resource?.resourceType === 'ServiceRequest' ? { ...e, resource: { ...e.resource, status: 'revoked' as const } } : e,
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
  const categoryCode = (system: string) => serviceRequest?.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === system)?.code ?? '';
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
 * BaRS asks for intent `plan` on the ServiceRequest and BaRS categories alongside the SNOMED
 * one (they drive `use-context`); everything else is sent as in REST mode.
 */
function asMessageResource(resource: Resource, opts: BarsMappingOptions): Resource {
  if (resource.resourceType !== 'ServiceRequest') return resource;
  const barsCategories: CodeableConcept[] = [
    ...(opts.useCase ? [{ coding: [{ system: BARS_USECASE_SYSTEM, code: opts.useCase }] }] : []),
    { coding: [{ system: BARS_SERVICEREQUEST_CATEGORY_SYSTEM, code: 'referral' }] },
  ];
  return { ...(resource as ServiceRequest), intent: 'plan', category: [...((resource as ServiceRequest).category ?? []), ...barsCategories] };
}
