import type { Bundle, Encounter, MessageHeader, OperationOutcome, ServiceRequest } from '@medplum/fhirtypes';
import { nameUuid } from '../domain/name-uuid';
import { summariseOutcome } from './operation-outcome';
import type { ReferralStatus } from '../domain/lifecycle';
import type { NhsUpdate } from '../domain/nhs-update';
import { barsResponseShapeError } from './bars-response-shape';
import {
  BARS_EVENT_SYSTEM,
  BARS_MESSAGE_PROFILE,
  BARS_REASON_SYSTEM,
  BARS_RESPONSE_HEADER_PROFILE,
  BARS_SOURCE_SOFTWARE,
  type BarsMessageKind,
} from './referral-to-bars';
import { FHIR_FULLURL_NAMESPACE } from './referral-to-fhir';

/**
 * nhs-fhir.md Mode B "Status comes back asynchronously": the trust's `servicerequest-response`
 * message, read into what the bridge needs, and its meaning as a bridge status. Pure.
 */
export type BarsResponseCode = 'ok' | 'transient-error' | 'fatal-error';

export interface BarsResponse {
  /** The response Bundle's own id (for the acknowledgement and the logs). */
  messageId: string;
  /** `MessageHeader.response.identifier`: the id of the Bundle the bridge sent. */
  respondsTo: string;
  code: BarsResponseCode;
  serviceRequestStatus?: ServiceRequest['status'];
  encounterStatus?: Encounter['status'];
  /** The referral id the enclosed ServiceRequest names, when it names one. */
  referralId?: string;
  /** `MessageHeader.source.endpoint`: where the trust wants answers addressed. */
  sourceEndpoint?: string;
  /** An enclosed OperationOutcome (response.details), structured: BaRS and issue codes, expressions. In clear. */
  detail?: string;
  /** That OperationOutcome's own words (diagnostics, details.text): may quote the patient, so only ever stored sealed. */
  text?: string;
}

export type ReadResult = { ok: true; response: BarsResponse } | { ok: false; error: string };

const CODES: ReadonlySet<string> = new Set<BarsResponseCode>(['ok', 'transient-error', 'fatal-error']);
const DETAIL_MAX = 300;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export function readBarsResponse(body: unknown, referralIdSystem: string): ReadResult {
  const bundle = body as Partial<Bundle> | null;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') return fail('body is not a FHIR Bundle');
  const shapeError = barsResponseShapeError(bundle);
  if (shapeError) return fail(`the Bundle is not a valid response message: ${shapeError}`);
  if (bundle.type !== 'message') return fail('Bundle.type must be message');
  // The id names the response in job ids and keys, so it must be a FHIR id (no ':' or '/').
  if (typeof bundle.id !== 'string' || !FHIR_ID.test(bundle.id)) return fail('Bundle.id is required and must be a FHIR id');
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  const header = entries[0]?.resource as MessageHeader | undefined;
  if (header?.resourceType !== 'MessageHeader') return fail('the first entry must be a MessageHeader');
  if (header.eventCoding?.system !== BARS_EVENT_SYSTEM || header.eventCoding.code !== 'servicerequest-response') {
    return fail(`MessageHeader.eventCoding must be ${BARS_EVENT_SYSTEM}|servicerequest-response`);
  }
  const respondsTo = header.response?.identifier;
  if (typeof respondsTo !== 'string' || !respondsTo) return fail('MessageHeader.response.identifier is required');
  const code = header.response?.code;
  if (typeof code !== 'string' || !CODES.has(code)) return fail('MessageHeader.response.code must be ok, transient-error or fatal-error');

  const resources = entries.map((e) => e?.resource);
  const focus = header.focus?.[0]?.reference;
  const focused = entries.find((e) => e?.fullUrl && e.fullUrl === focus)?.resource;
  // BaRS responses focus the receiver's Encounter; the bridge's own messages focus the ServiceRequest.
  const serviceRequest = (
    focused?.resourceType === 'ServiceRequest' ? focused : resources.find((r) => r?.resourceType === 'ServiceRequest')
  ) as ServiceRequest | undefined;
  if (code === 'ok' && serviceRequest?.resourceType !== 'ServiceRequest') return fail('an ok response must enclose the ServiceRequest');
  const encounter = receiverEncounter(entries, header, focused, referralIdSystem);
  const outcome = resources.find((r) => r?.resourceType === 'OperationOutcome') as OperationOutcome | undefined;
  const referralId = serviceRequest?.identifier?.find((i) => i.system === referralIdSystem)?.value;
  const summary = summariseOutcome(outcome);
  const detail = summary.detail?.slice(0, DETAIL_MAX);
  const text = summary.text?.slice(0, DETAIL_MAX);

  return {
    ok: true,
    response: {
      messageId: bundle.id,
      respondsTo,
      code: code as BarsResponseCode,
      ...(serviceRequest?.status ? { serviceRequestStatus: serviceRequest.status } : {}),
      ...(encounter?.status ? { encounterStatus: encounter.status } : {}),
      ...(referralId ? { referralId } : {}),
      ...(typeof header.source?.endpoint === 'string' && header.source.endpoint ? { sourceEndpoint: header.source.endpoint } : {}),
      ...(detail ? { detail } : {}),
      ...(text ? { text } : {}),
    },
  };
}

/**
 * A response carries the sender's Encounter and the receiver's; the trust's progress is in its
 * own: the one the header focuses, else the one its service provides (serviceProvider is the
 * header's sender), else the only one not under the bridge's identifier system, else the only
 * one giving a BaRS rejection reason (only a receiver rejects: REFRESP02 marks its decline so and
 * nothing else). Otherwise none: a guess could move the referral on the wrong Encounter's status.
 */
function receiverEncounter(
  entries: NonNullable<Bundle['entry']>,
  header: MessageHeader,
  focused: unknown,
  referralIdSystem: string,
): Encounter | undefined {
  if ((focused as Encounter | undefined)?.resourceType === 'Encounter') return focused as Encounter;
  const encounters = entries.map((e) => e?.resource).filter((r): r is Encounter => r?.resourceType === 'Encounter');
  if (encounters.length <= 1) return encounters[0];
  const sender = header.sender?.reference;
  const provided = encounters.filter((e) => sender && e.serviceProvider?.reference === sender);
  if (provided.length === 1) return provided[0];
  const notOurs = encounters.filter((e) => !e.identifier?.some((i) => i.system === referralIdSystem));
  if (notOurs.length === 1) return notOurs[0];
  const rejecting = notOurs.filter((e) =>
    e.reasonCode?.some((reason) => reason.coding?.some((c) => typeof c?.system === 'string' && REJECTION_REASON_SYSTEMS.has(c.system))),
  );
  return rejecting.length === 1 ? rejecting[0] : undefined;
}

/** The BaRS CodeSystems of a receiver's reasons for rejecting a request. */
const REJECTION_REASON_SYSTEMS: ReadonlySet<string> = new Set([
  'https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars',
  'https://fhir.nhs.uk/CodeSystem/dos-rejected-reasons-bars',
]);

/**
 * What the trust's response means for the referral. `answers` says which bridge message it
 * answers: a revoked ServiceRequest is the trust confirming our cancel, or, unprompted, the
 * trust declining the referral. Undefined: nothing to change (e.g. active, no Encounter yet:
 * the trust holds it, which SENT already says).
 */
export function barsResponseToStatus(r: BarsResponse, answers: BarsMessageKind): ReferralStatus | undefined {
  if (r.code !== 'ok') return r.code === 'fatal-error' && answers === 'new' ? 'FAILED' : undefined;
  switch (r.serviceRequestStatus) {
    case 'revoked':
      return answers === 'cancel' ? 'CANCELLED' : 'REJECTED';
    case 'entered-in-error':
      return 'REJECTED';
    case 'completed':
      return 'COMPLETED';
    case 'active':
      return encounterToStatus(r.encounterStatus);
    default:
      return undefined;
  }
}

function encounterToStatus(status: Encounter['status'] | undefined): ReferralStatus | undefined {
  switch (status) {
    case 'planned':
    case 'arrived':
    case 'triaged':
      return 'ACCEPTED';
    case 'in-progress':
    case 'onleave':
      return 'IN_PROGRESS';
    case 'finished':
      return 'COMPLETED';
    // BaRS: the receiver cancelling its Encounter on an active request is a decline.
    case 'cancelled':
      return 'REJECTED';
    default:
      return undefined;
  }
}

/**
 * The bridge's acknowledgement (FHIR messaging: a response message with code `ok` naming the
 * message received), meeting BARSMessageHeader-servicerequest-response: `destination` is where
 * the trust asked answers to go (its `source.endpoint`), `reason` `new`, as for any first answer
 * to a message. Deterministic per received message, so a repeated delivery gets the same ack.
 */
export function barsAcknowledgement(
  received: { messageId: string; sourceEndpoint: string },
  bridgeEndpoint: string,
  timestamp: string,
): Bundle {
  const id = nameUuid(`${received.messageId}:ack`, FHIR_FULLURL_NAMESPACE);
  const headerId = nameUuid(`${received.messageId}:ack-header`, FHIR_FULLURL_NAMESPACE);
  const header: MessageHeader = {
    resourceType: 'MessageHeader',
    id: headerId,
    meta: { lastUpdated: timestamp, profile: [BARS_RESPONSE_HEADER_PROFILE] },
    eventCoding: { system: BARS_EVENT_SYSTEM, code: 'servicerequest-response' },
    destination: [{ endpoint: received.sourceEndpoint }],
    source: { software: BARS_SOURCE_SOFTWARE, endpoint: bridgeEndpoint },
    reason: { coding: [{ system: BARS_REASON_SYSTEM, code: 'new', display: 'New' }] },
    response: { identifier: received.messageId, code: 'ok' },
  };
  return {
    resourceType: 'Bundle',
    id,
    meta: { lastUpdated: timestamp, profile: [BARS_MESSAGE_PROFILE] },
    type: 'message',
    timestamp,
    entry: [{ fullUrl: `urn:uuid:${headerId}`, resource: header }],
  };
}

function fail(error: string): ReadResult {
  return { ok: false, error };
}

/** A BaRS response as the trust's update; `answers` is the kind of bridge message it answers. */
export function nhsUpdateFromBars(r: BarsResponse, answers: BarsMessageKind): NhsUpdate {
  const partnerStatus = [r.serviceRequestStatus, r.encounterStatus].filter(Boolean).join('/') || r.code;
  const to = barsResponseToStatus(r, answers);
  if (r.code !== 'fatal-error') return { partnerStatus, ...(to ? { to } : {}), detail: `BaRS response ${partnerStatus}` };
  return {
    partnerStatus,
    ...(to ? { to } : {}),
    detail: `trust refused the message: ${r.detail ?? 'no detail'}`,
    ...(to === 'FAILED'
      ? {
          refusal: {
            id: `bars-response-${r.messageId}`,
            ...(r.detail ? { detail: r.detail } : {}),
            ...(r.text ? { partnerText: r.text } : {}),
          },
        }
      : {}),
  };
}
