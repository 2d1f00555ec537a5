import type { Bundle, Resource } from '@medplum/fhirtypes';
import { validateResource } from '@medplum/core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapFeed } from '../../src/cli/map-command';
import { loadConfig } from '../../src/config';
import { barsAcknowledgement } from '../../src/mappings/bars-response';
import { barsCancelMessage } from '../../src/mappings/referral-to-bars';
import { generateDataKeySpec } from '../../src/store/crypto';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { expectValidBundle, indexR4Definitions } from '../helpers/nhs';

/**
 * Issue #3: every resource the bridge emits validates against the base FHIR R4 definitions,
 * for every fixture — the example feed and a generated feed of every record kind — in both
 * delivery modes, plus the BaRS cancel message and the bridge's acknowledgement.
 */
const config = loadConfig({ DATA_KEYS: generateDataKeySpec(), NHS_SERVICE_SNOMED_CODE: '1234567', NHS_BARS_USE_CASE: 'a4t3' });
const fixtures: [string, Buffer][] = [
  ['example feed', readFileSync(join(__dirname, '..', 'fixtures', 'example-feed.xml'))],
  ['generated feed (200 records)', Buffer.from(feedDocument(generateFeedRecords({ records: 200, seed: 7 }).map((r) => r.xml)))],
];

describe.each(fixtures)('R4 conformance: %s', (_name, document) => {
  it.each(['fhir-rest', 'bars'] as const)('every %s Bundle and every resource in it validates', async (mode) => {
    const report = await mapFeed(document, config, mode);
    const bundles = report.referrals.map((r) => r.nhsBundle).filter((b): b is Bundle => b !== null);
    expect(bundles.length).toBeGreaterThan(0);
    for (const bundle of bundles) {
      expect(bundle.type).toBe(mode === 'bars' ? 'message' : 'transaction');
      expectValidBundle(bundle);
      if (mode === 'bars') expectValidBundle(barsCancelMessage(bundle, '2026-11-23T10:00:00Z'));
    }
  });
});

it("the bridge's acknowledgement of a trust response validates", () => {
  expectValidBundle(
    barsAcknowledgement(
      { messageId: 'b2a0a1c4-6f1e-4c51-a1d8-2f7f8f7e1c11', sourceEndpoint: 'https://trust.test/fhir' },
      'https://iasu.example/fhir',
      '2026-11-23T10:00:00Z',
    ),
  );
});

it('the validator is live: a message Bundle whose MessageHeader lacks source fails', () => {
  indexR4Definitions();
  const header = { resourceType: 'MessageHeader', eventCoding: { system: 'x', code: 'y' } } as unknown as Resource;
  expect(() => validateResource(header)).toThrow(/source/);
});
