import type { MessageHeader, ServiceRequest } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config';
import { mapFeed } from '../../src/cli/map-command';
import { nhsView } from '../../src/mappings/allow-lists';
import { BARS_MESSAGE_PROFILE, barsMessageId, referralToBarsMessage } from '../../src/mappings/referral-to-bars';
import { generateDataKeySpec } from '../../src/store/crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clinicalReferral } from '../helpers/referrals';

const options = {
  trustOdsCode: 'RTV',
  trustName: 'Trust',
  policeOrgName: 'Cheshire Constabulary',
  policeOrgCode: 'CHESHIRE',
  referralIdSystem: 'https://iasu.example/Id/referral',
  crimeReferenceSystem: 'https://iasu.example/Id/crime-reference',
  sourceEndpoint: 'https://bridge.example/fhir',
  destinationEndpoint: 'https://trust.example/bars',
};

describe('referral → BaRS message Bundle (nhs-fhir.md Mode B)', () => {
  const bundle = referralToBarsMessage(nhsView(clinicalReferral()), options);

  test('a message Bundle with the BaRS profile and the MessageHeader first', () => {
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'message', meta: { profile: [BARS_MESSAGE_PROFILE] } });
    expect(bundle.id).toBe(barsMessageId(clinicalReferral().referralId));
    const header = bundle.entry![0]!.resource as MessageHeader;
    expect(header.resourceType).toBe('MessageHeader');
    expect(header.eventCoding).toEqual({ system: 'https://fhir.nhs.uk/CodeSystem/message-events-bars', code: 'servicerequest-request' });
    expect(header.reason?.coding?.[0]).toEqual({ system: 'https://fhir.nhs.uk/CodeSystem/message-reason-bars', code: 'new' });
    expect(header.definition).toBe('https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral');
    expect(header.source.endpoint).toBe(options.sourceEndpoint);
    expect(header.destination?.[0]?.endpoint).toBe(options.destinationEndpoint);
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!;
    expect(header.focus?.[0]?.reference).toBe(sr.fullUrl);
  });

  test('ServiceRequest intent is plan, no Task, no transaction requests; consent and patient present', () => {
    const types = bundle.entry!.map((e) => e.resource!.resourceType);
    expect(types).not.toContain('Task');
    expect(types).toEqual(expect.arrayContaining(['Patient', 'ServiceRequest', 'Consent', 'Flag', 'Organization']));
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as ServiceRequest;
    expect(sr.intent).toBe('plan');
    expect(bundle.entry!.every((e) => e.request === undefined)).toBe(true);
  });

  test('deterministic', () => {
    expect(JSON.stringify(referralToBarsMessage(nhsView(clinicalReferral()), options))).toBe(JSON.stringify(bundle));
  });

  test('map --nhs-mode bars gives the message Bundle for clinical referrals', async () => {
    const config = loadConfig({ DATA_KEYS: generateDataKeySpec() });
    const report = await mapFeed(readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml')), config, 'bars');
    const clinical = report.referrals.find((r) => r.type === 'CLINICAL')!;
    expect(clinical.nhsBundle?.type).toBe('message');
    expect(report.referrals.find((r) => r.type === 'ADVOCACY')!.nhsBundle).toBeNull();
  });
});
