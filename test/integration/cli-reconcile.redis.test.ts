import nock from 'nock';
import { main } from '../../src/cli/index';
import { loadConfig } from '../../src/config';
import { generateDataKeySpec } from '../../src/store/crypto';
import { dropKeys, REDIS_URL } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/** `iasu-bridge reconcile [--json]`: config from the environment, report on stdout, logs on stderr. */
describe('iasu-bridge reconcile', () => {
  const env = {
    REDIS_URL,
    REDIS_PREFIX: `{iasu-cli-${process.pid}}`,
    DATA_KEYS: generateDataKeySpec('cli'),
    NHS_FHIR_BASE_URL: 'http://trust.test/fhir/R4',
    CHARITY_API_URL: 'http://charity.test',
    LOG_LEVEL: 'info',
  };
  const saved = { ...process.env };
  let out: string;
  let err: string;

  beforeEach(() => {
    Object.assign(process.env, env);
    out = '';
    err = '';
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    nock('http://trust.test')
      .persist()
      .get('/fhir/R4/Task')
      .query(true)
      .reply(200, { resourceType: 'Bundle', type: 'searchset', entry: [] });
    nock('http://charity.test')
      .persist()
      .get('/v1/referrals')
      .query(true)
      .reply(200, {
        items: [
          {
            id: 'CH-000900',
            externalReference: '6f1c0000-0000-5000-8000-000000000000',
            status: 'ALLOCATED',
            statusReason: null,
            updatedAt: '2026-11-22T10:00:00Z',
          },
        ],
        nextCursor: null,
      });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    process.env = { ...saved };
    nock.cleanAll();
    nock.enableNetConnect();
  });
  afterAll(async () => {
    await dropKeys(loadConfig({ ...env }));
  });

  test('--json prints the report alone on stdout, stable for scripts; logs go to stderr', async () => {
    expect(await main(['reconcile', '--json'])).toBe(0);
    const report = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(['generatedAt', 'counts', 'discrepancies', 'serviceLevels', 'pendingWriteBacks', 'unreachable']);
    expect(report.discrepancies).toEqual([
      { class: 'orphan', partner: 'CHARITY', partnerRef: 'CH-000900', partnerStatus: 'ALLOCATED', action: 'alerted' },
    ]);
    expect(err).toContain('reconciliation done');
  });

  test('without --json, a table for people', async () => {
    expect(await main(['reconcile'])).toBe(0);
    expect(out).toMatch(/^Reconciliation \d{4}-/);
    expect(out).toContain('Discrepancies: 1');
    expect(out).toContain('orphan');
    expect(out).toContain("Victims' Code breaches");
  });
});
