import type { Bundle, MessageHeader } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapFeed } from '../../src/cli/map-command';
import { loadConfig } from '../../src/config';
import { BARS_USE_CASES } from '../../src/mappings/bars-codes';
import { barsAcknowledgement } from '../../src/mappings/bars-response';
import { barsCancelMessage } from '../../src/mappings/referral-to-bars';
import { generateDataKeySpec } from '../../src/store/crypto';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { loadPublishedDefinitions, type PublishedDefinitions } from './published';
import {
  codingErrors,
  conformanceErrors,
  loadMessageDefinition,
  messageErrors,
  unmetMinimums,
  type MessageDefinitionFocus,
} from './validate';

/**
 * Issue #17: every message the bridge sends or answers, checked against NHS England's
 * published BaRS and UK Core definitions (../shared/standards), not against our simulators.
 */
type Definition = { url: string; focus: MessageDefinitionFocus[] };
let defs: PublishedDefinitions;
let referralDefinition: Definition;
let cancelDefinition: Definition;

const SOURCE_ENDPOINT = 'https://fhir.nhs.uk/Id/dos-service-id|iasu-0001';
const config = loadConfig({
  DATA_KEYS: generateDataKeySpec(),
  NHS_SERVICE_SNOMED_CODE: '1234567',
  NHS_BARS_USE_CASE: 'a4t3',
  NHS_BARS_SOURCE_ENDPOINT: SOURCE_ENDPOINT,
});
const fixtures: [string, Buffer][] = [
  ['example feed', readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml'))],
  ['generated feed (200 records)', Buffer.from(feedDocument(generateFeedRecords({ records: 200, seed: 7 }).map((r) => r.xml)))],
];
const UK_CORE = 'https://fhir.hl7.org.uk/StructureDefinition/';

beforeAll(async () => {
  defs = await loadPublishedDefinitions();
  referralDefinition = await loadMessageDefinition('BARS-MessageDefinition-ServiceRequest-Request-Referral.xml');
  cancelDefinition = await loadMessageDefinition('BARSMessageDefinitionServiceRequestRequestCancelled.xml');
});

describe('the published definitions, as loaded', () => {
  it('every published StructureDefinition gets a snapshot holding each of its differential elements', () => {
    expect(defs.profiles.size).toBe(15);
    for (const sd of defs.profiles.values()) {
      const ids = new Set(sd.snapshot!.element.map((e) => e.id));
      for (const diff of sd.differential!.element) expect([sd.url, ids.has(diff.id)]).toEqual([sd.url, true]);
    }
  });

  it("the bridge's list of BaRS use cases is the published CodeSystem's", () => {
    const published = defs.codeSystems.get('https://fhir.nhs.uk/CodeSystem/usecases-categories-bars')!;
    expect(Object.fromEntries(published.concept!.map((c) => [c.code, c.display]))).toEqual(BARS_USE_CASES);
  });
});

describe.each(fixtures)('BaRS conformance: %s', (_name, document) => {
  let messages: Bundle[];
  beforeAll(async () => {
    const report = await mapFeed(document, config, 'bars');
    messages = report.referrals.map((r) => r.nhsBundle).filter((b): b is Bundle => b !== null);
  });

  it('every referral message meets bars-message-servicerequest-request-referral with zero errors', () => {
    expect(messages.length).toBeGreaterThan(0);
    for (const message of messages) expect([message.id, messageErrors(message, referralDefinition, defs)]).toEqual([message.id, []]);
  });

  it('every cancel message meets bars-message-servicerequest-request-cancelled with zero errors', () => {
    for (const message of messages) {
      const cancel = barsCancelMessage(message, '2026-11-23T10:00:00Z');
      // The cancel definition lists fewer resources; the bridge resends the referral as it was sent.
      const definition = {
        ...cancelDefinition,
        focus: [
          ...cancelDefinition.focus,
          ...referralDefinition.focus.filter((f) => !cancelDefinition.focus.some((c) => c.code === f.code)),
        ],
      };
      expect([cancel.id, messageErrors(cancel, definition, defs)]).toEqual([cancel.id, []]);
    }
  });

  it('source and destination endpoints are {system}|{serviceId}, as the Core 1.2.2 payload tables ask', () => {
    for (const message of messages) {
      const header = message.entry![0]!.resource as MessageHeader;
      expect([header.source.endpoint, header.destination!.map((d) => d.endpoint)]).toEqual([
        SOURCE_ENDPOINT,
        ['https://fhir.nhs.uk/Id/dos-service-id|' + config.nhs.barsTarget.value],
      ]);
    }
  });

  it('the resources the referral definition requires but the bridge has no data for are exactly these (README: NHS conformance)', () => {
    for (const message of messages)
      expect(unmetMinimums(message, referralDefinition)).toEqual([
        'CarePlan',
        'Encounter',
        'HealthcareService',
        'Practitioner',
        'PractitionerRole',
      ]);
  });
});

describe('REST mode (nhs-fhir.md Mode A) against the UK Core profiles', () => {
  it.each(fixtures)(
    'every resource of every transaction Bundle from the %s meets the UK Core profile it claims',
    async (_name, document) => {
      const report = await mapFeed(document, config, 'fhir-rest');
      for (const bundle of report.referrals.map((r) => r.nhsBundle).filter((b): b is Bundle => b !== null)) {
        for (const entry of bundle.entry!) {
          const claimed = entry.resource!.meta!.profile![0]!;
          expect(claimed.startsWith(UK_CORE)).toBe(true);
          expect([claimed, conformanceErrors(entry.resource!, claimed, defs)]).toEqual([claimed, []]);
        }
      }
    },
  );
});

describe("the bridge's acknowledgement of a trust response", () => {
  it('meets BARSBundleMessage and BARSMessageHeader-servicerequest-response', () => {
    const ack = barsAcknowledgement(
      { messageId: 'b2a0a1c4-6f1e-4c51-a1d8-2f7f8f7e1c11', sourceEndpoint: 'https://fhir.nhs.uk/Id/dos-service-id|svc-42' },
      'https://fhir.nhs.uk/Id/dos-service-id|iasu-0001',
      '2026-11-23T10:00:00Z',
    );
    expect(conformanceErrors(ack, 'https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage', defs)).toEqual([]);
    const header = ack.entry![0]!.resource as MessageHeader;
    expect(conformanceErrors(header, 'https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-response', defs)).toEqual(
      [],
    );
  });
});

describe('the suite fails what a receiver would refuse', () => {
  it('a deliberately broken referral message fails, naming each fault', async () => {
    const [message] = (await mapFeed(fixtures[0]![1], config, 'bars')).referrals
      .map((r) => r.nhsBundle)
      .filter((b): b is Bundle => b !== null);
    const broken = structuredClone(message!);
    delete broken.timestamp;
    const sr = broken.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as {
      category: unknown[];
      intent: string;
      authoredOn?: string;
    };
    sr.category = [
      { coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars', code: 'stalking-mdt' }] },
      { coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest', code: 'referral' }] },
    ];
    sr.intent = 'order';
    delete sr.authoredOn;
    const header = broken.entry![0]!.resource as MessageHeader;
    header.definition = 'https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled';
    delete header.reason;
    header.sender = { reference: broken.entry!.find((e) => e.resource?.resourceType === 'Patient')!.fullUrl! };
    const errors = messageErrors(broken, referralDefinition, defs).join('\n');
    expect(errors).toMatch(/Bundle\.timestamp/);
    expect(errors).toMatch(/expected 1\.\.1, but found 2 @ ServiceRequest\.category/);
    expect(errors).toMatch(/stalking-mdt is not a code of https:\/\/fhir\.nhs\.uk\/CodeSystem\/usecases-categories-bars/);
    expect(errors).toMatch(/ServiceRequest\.intent/);
    expect(errors).toMatch(/ServiceRequest\.authoredOn/);
    expect(errors).toMatch(
      /MessageHeader\.definition .* is not https:\/\/fhir\.nhs\.uk\/MessageDefinition\/bars-message-servicerequest-request-referral/,
    );
    expect(errors).toMatch(/MessageHeader\.reason/);
    expect(errors).toMatch(/MessageHeader\.sender → Patient/);
  });

  it('a coding with a display other than the published one fails', () => {
    expect(
      codingErrors(
        {
          resourceType: 'Flag',
          category: [{ coding: [{ system: 'https://fhir.nhs.uk/CodeSystem/flag-categories-bars', code: 'SG', display: 'Stalking' }] }],
        },
        defs.codeSystems,
      ),
    ).toEqual([
      'Flag.category[0].coding[0]: display "Stalking" is not "Safeguarding Concern" for https://fhir.nhs.uk/CodeSystem/flag-categories-bars|SG',
    ]);
  });
});
