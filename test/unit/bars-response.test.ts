import type { Bundle, MessageHeader } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STANDARDS_DIR } from '../conformance/published';
import { trustResponse } from '../helpers/nhs';
import { barsAcknowledgement, barsResponseToStatus, readBarsResponse, type BarsResponse } from '../../src/mappings/bars-response';

const SYSTEM = 'https://iasu.example/Id/referral';
const REFERRAL = '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10';
const SENT = 'a8f7d1f0-1111-5aaa-8bbb-000000000001';

function responseMessage(opts: { code?: string; sr?: string; encounter?: string; referralId?: string; outcome?: string } = {}): Bundle {
  const { sr, referralId, ...rest } = opts;
  return trustResponse({
    id: 'resp-1',
    respondsTo: SENT,
    referralId: referralId ?? REFERRAL,
    ...(sr ? { serviceRequest: sr } : {}),
    ...rest,
  });
}

function read(bundle: unknown): BarsResponse {
  const result = readBarsResponse(bundle, SYSTEM);
  if (!result.ok) throw new Error(result.error);
  return result.response;
}

describe('readBarsResponse', () => {
  it('reads what the bridge needs from a response message', () => {
    expect(read(responseMessage({ encounter: 'planned' }))).toEqual({
      messageId: 'resp-1',
      respondsTo: SENT,
      code: 'ok',
      serviceRequestStatus: 'active',
      encounterStatus: 'planned',
      referralId: REFERRAL,
      sourceEndpoint: 'https://trust.test/fhir',
    });
  });

  it("keeps an error response's OperationOutcome structured in `detail` and its words apart in `text`, capped", () => {
    const response = read(responseMessage({ code: 'fatal-error', outcome: `Sam Taylor ${'x'.repeat(1000)}` }));
    expect(response.detail).toBe('(invalid)');
    expect(response.text).toHaveLength(300);
    expect(response.text).toMatch(/^Sam Taylor/);
  });

  it.each([
    ['not a Bundle', { resourceType: 'Patient' }, /not a FHIR Bundle/],
    ['not a message', { ...responseMessage(), type: 'collection' }, /type must be message/],
    ['no id', { ...responseMessage(), id: undefined }, /Bundle.id/],
    ['an id that is not a FHIR id', { ...responseMessage(), id: 'a:b/c' }, /must be a FHIR id/],
    ['header not first', { ...responseMessage(), entry: [...responseMessage().entry!].reverse() }, /first entry must be a MessageHeader/],
    [
      'another event',
      withHeader({ eventCoding: { system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-request' } }),
      /servicerequest-response/,
    ],
    ['no response identifier', withHeader({ response: undefined }), /response.identifier/],
    ['an unknown response code', withHeader({ response: { identifier: SENT, code: 'maybe' as 'ok' } }), /response.code/],
    ['ok without the ServiceRequest', { ...responseMessage(), entry: responseMessage().entry!.slice(0, 1) }, /enclose the ServiceRequest/],
    ['null', null, /not a FHIR Bundle/],
    [
      'a ServiceRequest.identifier that is not an array',
      withServiceRequest({ identifier: { system: SYSTEM, value: REFERRAL } }),
      /identifier" must be an array/,
    ],
    ['a null identifier', withServiceRequest({ identifier: [null] }), /identifier\[0\]" must be of type object/],
    ['a ServiceRequest.status outside its value set', withServiceRequest({ status: 'accepted' }), /status" must be one of/],
    [
      'an OperationOutcome.issue that is not an array',
      { ...responseMessage(), entry: [...responseMessage().entry!, { resource: { resourceType: 'OperationOutcome', issue: 'x' } }] },
      /issue" must be an array/,
    ],
    [
      'an entry without a resource',
      { ...responseMessage(), entry: [...responseMessage().entry!, { fullUrl: 'urn:uuid:x' }] },
      /resource" is required/,
    ],
    ['MessageHeader.focus that is not an array', withHeader({ focus: { reference: 'urn:uuid:sr1' } as never }), /focus" must be an array/],
    ['an entry list that is not an array', { ...responseMessage(), entry: {} }, /entry" must be an array/],
  ])('refuses %s with a reason', (_label, body, reason) => {
    const result = readBarsResponse(body, SYSTEM);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(reason);
  });
});

/** The response with its ServiceRequest patched with values of any type. */
function withServiceRequest(patch: Record<string, unknown>): Bundle {
  const bundle = responseMessage();
  bundle.entry![1] = { ...bundle.entry![1], resource: { ...bundle.entry![1]!.resource!, ...patch } as never };
  return bundle;
}

function withHeader(patch: Partial<MessageHeader>): Bundle {
  const bundle = responseMessage();
  bundle.entry![0] = { ...bundle.entry![0], resource: { ...(bundle.entry![0]!.resource as MessageHeader), ...patch } };
  return bundle;
}

describe('barsResponseToStatus (ServiceRequest / Encounter → bridge status)', () => {
  it.each([
    [{ sr: 'active' }, 'new', undefined],
    [{ sr: 'active', encounter: 'planned' }, 'new', 'ACCEPTED'],
    [{ sr: 'active', encounter: 'in-progress' }, 'new', 'IN_PROGRESS'],
    [{ sr: 'active', encounter: 'finished' }, 'new', 'COMPLETED'],
    [{ sr: 'completed', encounter: 'finished' }, 'new', 'COMPLETED'],
    [{ sr: 'completed' }, 'new', 'COMPLETED'],
    [{ sr: 'revoked' }, 'new', 'REJECTED'],
    [{ sr: 'revoked' }, 'cancel', 'CANCELLED'],
    [{ sr: 'entered-in-error' }, 'new', 'REJECTED'],
    [{ sr: 'on-hold' }, 'new', undefined],
    [{ code: 'fatal-error' }, 'new', 'FAILED'],
    [{ code: 'fatal-error' }, 'cancel', undefined],
    [{ code: 'transient-error' }, 'new', undefined],
  ] as const)('%j answering the %s message → %s', (opts, answers, status) => {
    expect(barsResponseToStatus(read(responseMessage(opts)), answers)).toBe(status);
  });
});

describe('barsAcknowledgement', () => {
  it('is a response message naming the message received, the same for a repeat', () => {
    const ack = barsAcknowledgement(
      { messageId: 'resp-1', sourceEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42' },
      'https://iasu.example/fhir',
      '2026-11-23T10:00:00Z',
    );
    const header = ack.entry![0]!.resource as MessageHeader;
    expect(ack.type).toBe('message');
    expect(header.response).toEqual({ identifier: 'resp-1', code: 'ok' });
    expect(header.eventCoding?.code).toBe('servicerequest-response');
    expect(header.destination).toEqual([{ endpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42' }]);
    expect(header.reason?.coding?.[0]?.code).toBe('new');
    expect(
      barsAcknowledgement(
        { messageId: 'resp-1', sourceEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42' },
        'https://iasu.example/fhir',
        '2026-11-23T10:00:00Z',
      ),
    ).toEqual(ack);
    expect(
      barsAcknowledgement(
        { messageId: 'resp-2', sourceEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42' },
        'https://iasu.example/fhir',
        '2026-11-23T10:00:00Z',
      ).id,
    ).not.toBe(ack.id);
  });
});

describe("the receiver's Encounter, as in NHS England's published example", () => {
  // bars-api/specification/examples: a servicerequest-response carrying the sender's Encounter
  // (triaged) first and the receiver's (finished), which the header focuses.
  const example = (): Bundle =>
    JSON.parse(
      readFileSync(
        join(STANDARDS_DIR, 'bars-api', 'specification', 'examples', 'process_message', 'request', 'ValidationResponse (POST) .json'),
        'utf8',
      ),
    ) as Bundle;
  const RECEIVER = 'urn:uuid:b83d13e2-8c2e-422c-88ac-63b8e86a4413';

  it('reads the focused (receiver) Encounter, not the first one, and accepts focus = Encounter', () => {
    const response = read(example());
    expect(response.encounterStatus).toBe('finished');
    expect(response.serviceRequestStatus).toBe('active');
    expect(barsResponseToStatus(response, 'new')).toBe('COMPLETED');
  });

  it('a receiver Encounter cancelled on an active request is a decline: REJECTED', () => {
    const bundle = example();
    const encounter = bundle.entry!.find((e) => e.fullUrl === RECEIVER)!.resource as { status: string };
    encounter.status = 'cancelled';
    expect(barsResponseToStatus(read(bundle), 'new')).toBe('REJECTED');
  });

  it('without a focus, the Encounter provided by the sending service, else the only one not under the bridge system, else none', () => {
    const bundle = example();
    const header = bundle.entry![0]!.resource as MessageHeader;
    header.focus = [{ reference: bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.fullUrl! }];
    const receiver = bundle.entry!.find((e) => e.fullUrl === RECEIVER)!.resource as { serviceProvider?: { reference: string } };
    // Neither is provided by the sender and neither is the bridge's: ambiguous, so no status is read.
    expect(read(bundle).encounterStatus).toBeUndefined();
    receiver.serviceProvider = { reference: header.sender!.reference! };
    expect(read(bundle).encounterStatus).toBe('finished');
    delete receiver.serviceProvider;
    const sender = bundle.entry!.find((e) => e.resource?.resourceType === 'Encounter' && e.fullUrl !== RECEIVER)!.resource as {
      identifier: { system: string }[];
    };
    sender.identifier = [{ system: SYSTEM, value: REFERRAL } as never];
    expect(read(bundle).encounterStatus).toBe('finished');
  });
});

describe('two Encounters, neither focused nor provided by the sender (as in REFRESP02 and 03)', () => {
  const REJECTED_REASONS = 'https://fhir.nhs.uk/CodeSystem/rejected-reasons-bars';
  const withEncounters = (...encounters: { status: string; reason?: string }[]): Bundle => {
    const bundle = responseMessage();
    for (const [i, e] of encounters.entries()) {
      bundle.entry!.push({
        fullUrl: `urn:uuid:enc-${i}`,
        resource: {
          resourceType: 'Encounter',
          identifier: [{ system: 'https://sender.url/Id/case-number', value: `case-${i}` }],
          status: e.status as 'planned',
          class: { code: 'EMER' },
          ...(e.reason ? { reasonCode: [{ coding: [{ system: e.reason, code: 'RRNA' }] }] } : {}),
        },
      });
    }
    return bundle;
  };

  it('the only one giving a BaRS rejection reason is the receiver declining: REJECTED', () => {
    const response = read(withEncounters({ status: 'triaged' }, { status: 'cancelled', reason: REJECTED_REASONS }));
    expect([response.encounterStatus, barsResponseToStatus(response, 'new')]).toEqual(['cancelled', 'REJECTED']);
    expect(
      read(
        withEncounters({ status: 'triaged' }, { status: 'cancelled', reason: 'https://fhir.nhs.uk/CodeSystem/dos-rejected-reasons-bars' }),
      ).encounterStatus,
    ).toBe('cancelled');
  });

  it('otherwise none is read: no reasons, reasons from another system, or two rejecting', () => {
    for (const bundle of [
      withEncounters({ status: 'triaged' }, { status: 'planned' }),
      withEncounters({ status: 'triaged' }, { status: 'cancelled', reason: 'https://example.org/other-reasons' }),
      withEncounters({ status: 'cancelled', reason: REJECTED_REASONS }, { status: 'cancelled', reason: REJECTED_REASONS }),
    ]) {
      const response = read(bundle);
      expect([response.encounterStatus, barsResponseToStatus(response, 'new')]).toEqual([undefined, undefined]);
    }
  });
});
