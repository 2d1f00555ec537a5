import type { Consent, MessageHeader, ServiceRequest } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config';
import { mapFeed } from '../../src/cli/map-command';
import { nhsView } from '../../src/mappings/allow-lists';
import {
  BARS_MESSAGE_PROFILE,
  BARS_REQUEST_HEADER_PROFILE,
  barsCancelMessage,
  barsMessageId,
  referralIdOfMessage,
  referralToBarsMessage,
  useContextOf,
} from '../../src/mappings/referral-to-bars';
import { generateDataKeySpec } from '../../src/store/crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { referralToTransactionBundle } from '../../src/mappings/referral-to-fhir';
import { NHS_BARS_OPTIONS, NHS_FHIR_OPTIONS } from '../helpers/nhs';
import { clinicalReferral } from '../helpers/referrals';

const options = NHS_BARS_OPTIONS;

describe('referral → BaRS message Bundle (nhs-fhir.md Mode B)', () => {
  const bundle = referralToBarsMessage(nhsView(clinicalReferral()), options);

  test('a message Bundle with the BaRS profile and the MessageHeader first', () => {
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'message', meta: { profile: [BARS_MESSAGE_PROFILE] } });
    expect(bundle.id).toBe(barsMessageId(clinicalReferral().referralId));
    const header = bundle.entry![0]!.resource as MessageHeader;
    expect(header.resourceType).toBe('MessageHeader');
    expect(header.meta?.profile).toEqual([BARS_REQUEST_HEADER_PROFILE]);
    expect(header.eventCoding).toEqual({ system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-request' });
    expect(header.reason?.coding?.[0]).toEqual({
      system: 'https://fhir.nhs.uk/CodeSystem/message-reason-bars',
      code: 'new',
      display: 'New',
    });
    expect(header.definition).toBe('https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral');
    expect(header.source.endpoint).toBe(options.sourceEndpoint);
    expect(header.destination?.[0]?.endpoint).toBe(options.destinationEndpoint);
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!;
    expect(header.focus?.[0]?.reference).toBe(sr.fullUrl);
    // Sender and receiver name the two Organizations in the bundle (Core 1.2.2 payload guide).
    const org = (ref: string | undefined) =>
      bundle.entry!.find((e) => e.fullUrl === ref)?.resource as { resourceType: string; name?: string };
    expect(org(header.sender?.reference)).toMatchObject({ resourceType: 'Organization', name: options.policeOrgName });
    expect(org(header.destination?.[0]?.receiver?.reference)).toMatchObject({ resourceType: 'Organization', name: options.trustName });
    expect(header.source).toMatchObject({ name: options.policeOrgName, software: 'iasu-bridge' });
  });

  test('Bundle.timestamp, ServiceRequest.authoredOn and every meta.lastUpdated are set, from the record when there is no MDT time', () => {
    const authored = clinicalReferral().mdtDecidedAt!;
    const srOf = (b: typeof bundle) => b.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(bundle.timestamp).toBe(authored);
    expect(srOf(bundle).authoredOn).toBe(authored);
    expect(bundle.entry!.every((e) => e.resource!.meta?.lastUpdated === authored)).toBe(true);
    const { mdtDecidedAt: _dropped, ...noMdt } = clinicalReferral();
    const withoutMdt = referralToBarsMessage(nhsView({ ...noMdt, recordLastModified: '2026-11-20T08:00:00Z' }), options);
    expect(withoutMdt.timestamp).toBe('2026-11-20T08:00:00Z');
    expect(srOf(withoutMdt).authoredOn).toBe('2026-11-20T08:00:00Z');
    // Consent without a date and nothing else timed: the assembly time dates it, or nothing does.
    const noTimes = nhsView({
      ...noMdt,
      recordLastModified: undefined,
      risk: undefined,
      lawfulBasis: undefined,
      consent: { status: 'GIVEN', purpose: 'CLINICAL_REFERRAL' },
    } as never);
    expect(referralToBarsMessage(noTimes, options).timestamp).toBe(options.assembledAt);
    expect(() => referralToBarsMessage(noTimes, { ...options, assembledAt: undefined })).toThrow(/no time to date/);
  });

  test('ServiceRequest intent is plan, no Task, no transaction requests; consent and patient present', () => {
    const types = bundle.entry!.map((e) => e.resource!.resourceType);
    expect(types).not.toContain('Task');
    expect(types).toEqual(expect.arrayContaining(['Patient', 'ServiceRequest', 'Consent', 'Flag', 'Organization']));
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(sr.intent).toBe('plan');
    expect(bundle.entry!.every((e) => e.request === undefined)).toBe(true);
  });

  test("the Consent category carries nhs-fhir.md's LOINC and BaRS's Direct Care coding, in one concept; REST mode keeps LOINC alone", () => {
    const consent = bundle.entry!.find((e) => e.resource?.resourceType === 'Consent')!.resource as Consent;
    expect(consent.category).toEqual([
      {
        coding: [
          { system: 'http://loinc.org', code: '59284-0' },
          { system: 'https://fhir.nhs.uk/CodeSystem/consent-categories-bars', code: 'DRC', display: 'Direct Care' },
        ],
      },
    ]);
    const rest = referralToTransactionBundle(nhsView(clinicalReferral()), NHS_FHIR_OPTIONS);
    expect((rest.entry!.find((e) => e.resource?.resourceType === 'Consent')!.resource as Consent).category).toEqual([
      { coding: [{ system: 'http://loinc.org', code: '59284-0' }] },
    ]);
  });

  test('deterministic', () => {
    expect(JSON.stringify(referralToBarsMessage(nhsView(clinicalReferral()), options))).toBe(JSON.stringify(bundle));
  });

  test('map --nhs-mode bars gives the message Bundle for clinical referrals', async () => {
    const config = loadConfig({ DATA_KEYS: generateDataKeySpec(), NHS_BARS_USE_CASE: 'a4t3' });
    const report = await mapFeed(readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml')), config, 'bars');
    const clinical = report.referrals.find((r) => r.type === 'CLINICAL')!;
    expect(clinical.nhsBundle?.type).toBe('message');
    expect(report.referrals.find((r) => r.type === 'ADVOCACY')!.nhsBundle).toBeNull();
  });

  test('map --nhs-mode bars without a published use case refuses with the variable to set, rather than emitting an empty code', async () => {
    const config = loadConfig({ DATA_KEYS: generateDataKeySpec() });
    await expect(mapFeed(readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml')), config, 'bars')).rejects.toThrow(
      /NHS_BARS_USE_CASE/,
    );
  });

  test('ServiceRequest claims BARSServiceRequest-request-referral, with exactly one category: message category and use case', () => {
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(sr.meta?.profile).toEqual(['https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral']);
    expect(sr.category).toEqual([
      {
        coding: [
          { system: 'https://fhir.nhs.uk/CodeSystem/message-category-servicerequest', code: 'referral', display: 'Transfer of Care' },
          { system: 'https://fhir.nhs.uk/CodeSystem/usecases-categories-bars', code: 'a4t3', display: '999 - Community Services' },
        ],
      },
    ]);
  });

  test('use-context is read from the payload: use case | category | event | reason', () => {
    expect(useContextOf(bundle)).toBe('a4t3|referral|servicerequest-request|new');
    expect(referralIdOfMessage(bundle)).toBe(clinicalReferral().referralId);
  });
});

describe('BaRS cancel message (reason update, ServiceRequest revoked)', () => {
  const sent = referralToBarsMessage(nhsView(clinicalReferral()), options);
  const cancel = barsCancelMessage(sent, '2026-11-23T10:00:00Z');

  test('is the sent message revoked, under its own fixed ids', () => {
    expect(cancel.id).toBe(barsMessageId(clinicalReferral().referralId, 'cancel'));
    expect(cancel.id).not.toBe(sent.id);
    expect(cancel.timestamp).toBe('2026-11-23T10:00:00Z');
    const header = cancel.entry![0]!.resource as MessageHeader;
    expect(header.reason?.coding).toEqual([
      { system: 'https://fhir.nhs.uk/CodeSystem/message-reason-bars', code: 'update', display: 'Update' },
    ]);
    expect(header.definition).toBe('https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled');
    expect(header.meta?.lastUpdated).toBe('2026-11-23T10:00:00Z');
    expect(header.id).not.toBe((sent.entry![0]!.resource as MessageHeader).id);
    expect(cancel.entry![0]!.fullUrl).toBe(`urn:uuid:${header.id}`);
    const sr = cancel.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(sr.status).toBe('revoked');
    expect(header.focus?.[0]?.reference).toBe(cancel.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.fullUrl);
    expect(useContextOf(cancel)).toBe('a4t3|referral|servicerequest-request|update');
  });

  test('leaves the sent message untouched and is the same message on every retry', () => {
    expect(JSON.stringify(sent)).toBe(JSON.stringify(referralToBarsMessage(nhsView(clinicalReferral()), options)));
    expect(barsCancelMessage(sent, '2026-11-23T10:00:00Z')).toEqual(cancel);
    // Everything but the header and the ServiceRequest status is what the trust already has.
    const rest = (b: typeof sent) => b.entry!.slice(1).filter((e) => e.resource?.resourceType !== 'ServiceRequest');
    expect(rest(cancel)).toEqual(rest(sent));
    const sr = cancel.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource!;
    expect(sr.meta?.lastUpdated).toBe('2026-11-23T10:00:00Z');
  });
});
