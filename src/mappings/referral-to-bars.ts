import type { Bundle, BundleEntry, MessageHeader, Resource, ServiceRequest } from '@medplum/fhirtypes';
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
}

export const BARS_MESSAGE_PROFILE = 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage';
export const BARS_EVENT_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-events-bars';
export const BARS_REASON_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/message-reason-bars';
export const BARS_REFERRAL_DEFINITION = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral';

export function barsMessageId(referralId: string): string {
  return uuidv5(`${referralId}:bars-message:new`, FHIR_FULLURL_NAMESPACE);
}

export function referralToBarsMessage(view: NhsReferralView, opts: BarsMappingOptions): Bundle {
  const transaction = referralToTransactionBundle(view, opts);
  const entries: BundleEntry[] = (transaction.entry ?? [])
    .filter((e) => e.resource && e.resource.resourceType !== 'Task')
    .map((e) => ({ fullUrl: e.fullUrl, resource: asMessageResource(e.resource!) }));
  const serviceRequest = entries.find((e) => e.resource?.resourceType === 'ServiceRequest');
  if (!serviceRequest?.fullUrl) throw new Error(`referral ${view.referralId}: no ServiceRequest to focus the message on`);
  const headerId = uuidv5(`${view.referralId}:MessageHeader:new`, FHIR_FULLURL_NAMESPACE);
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
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

/** BaRS asks for intent `plan` on the ServiceRequest; everything else is sent as in REST mode. */
function asMessageResource(resource: Resource): Resource {
  if (resource.resourceType !== 'ServiceRequest') return resource;
  return { ...(resource as ServiceRequest), intent: 'plan' };
}
