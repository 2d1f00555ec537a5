import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { barsConfigWarnings, ConfigError, loadConfig, loadDotEnv, unknownSettings } from '../../src/config';

const key1 = randomBytes(32);
const key2 = randomBytes(32);
const DATA_KEYS = `k1:${key1.toString('base64')}`;

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  it('returns typed values and defaults from a minimal env', () => {
    const config = loadConfig({ DATA_KEYS });
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: '{iasu}', firstStart: false });
    expect(
      loadConfig({ DATA_KEYS, REDIS_SENTINELS: 'sentinel-1:26379,10.0.0.2:26380', REDIS_SENTINEL_MASTER: 'iasu' }).redis.sentinel,
    ).toEqual({
      sentinels: [
        { host: 'sentinel-1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      masterName: 'iasu',
    });
    expect(configError({ DATA_KEYS, REDIS_SENTINELS: 'sentinel-1' }).variable).toBe('REDIS_SENTINELS');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080, jwt: { audience: 'iasu-bridge' }, bodyBytesInFlight: 32 * 1024 * 1024 });
    expect(config.logLevel).toBe('info');
    expect(config.force).toEqual({ name: 'CHESHIRE', orgName: 'Cheshire Constabulary', orgCode: 'CHESHIRE' });
    expect(config.police).toEqual({
      feedUrl: 'http://127.0.0.1:8091',
      feedToken: '',
      pollCron: '*/30 * * * * *',
      pageLimit: 500,
      maxBacklog: 5000,
      maxDocumentBytes: 10 * 1024 * 1024,
      maxValueChars: 65536,
      crimeRefPattern: undefined,
      pushToken: '',
      timeoutMs: 15000,
      writeBackInFlight: 32,
    });
    expect(config.nhs).toMatchObject({
      mode: 'fhir-rest',
      baseUrl: 'http://127.0.0.1:8092/fhir/R4',
      trustOdsCode: 'RTV',
      timeoutMs: 15000,
      serviceSnomedCode: undefined,
    });
    expect(config.charity).toMatchObject({ baseUrl: 'http://127.0.0.1:8093', apiKey: '', timeoutMs: 15000 });
    expect(config.delivery).toEqual({ attempts: 8, backoffMs: 1000, concurrency: 8, intakeConcurrency: 32, firstAttemptInFlight: 16 });
    expect(config.retention).toEqual({ days: 30, quarantineDays: 30, auditDays: 400 });
    expect(typeof config.http.port).toBe('number');
    expect(typeof config.police.pageLimit).toBe('number');
    expect(config.dataKeys).toHaveLength(1);
    expect(config.dataKeys[0]!.id).toBe('k1');
    expect(Buffer.isBuffer(config.dataKeys[0]!.key)).toBe(true);
    expect(config.dataKeys[0]!.key.equals(key1)).toBe(true);
  });

  it('reads overrides from the env, converts them and trims trailing slashes from URLs', () => {
    const config = loadConfig({
      DATA_KEYS,
      HTTP_PORT: '9000',
      POLICE_PAGE_LIMIT: '1000',
      POLICE_FEED_URL: 'https://rms.example/api/',
      POLICE_FEED_TOKEN: 'secret',
      POLICE_CRIME_REF_PATTERN: '^CC-\\d{2}-\\d{7}$',
      NHS_MODE: 'bars',
      NHS_BARS_TARGET_SERVICE_ID: 'svc-1',
      NHS_BARS_USE_CASE: 'a4t3',
      NHS_INBOUND_TOKEN: 'trust-token',
      REDIS_URL: 'rediss://cache.example:6380/2',
    });
    expect(config.http.port).toBe(9000);
    expect(config.police.pageLimit).toBe(1000);
    expect(config.police.feedUrl).toBe('https://rms.example/api');
    expect(config.police.feedToken).toBe('secret');
    expect(config.police.crimeRefPattern).toBeInstanceOf(RegExp);
    expect(config.police.crimeRefPattern!.test('CC-26-0001234')).toBe(true);
    expect(config.police.crimeRefPattern!.test('XX-26-0001234')).toBe(false);
    expect(config.nhs.mode).toBe('bars');
    expect(config.redis.url).toBe('rediss://cache.example:6380/2');
  });

  it('ignores env variables it does not know', () => {
    expect(() => loadConfig({ DATA_KEYS, SOMETHING_ELSE: 'x', PATH: '/bin' })).not.toThrow();
  });

  it('gives two keys in order for a two-key DATA_KEYS (newest first)', () => {
    const config = loadConfig({ DATA_KEYS: `new:${key2.toString('base64')},old_1:${key1.toString('base64')}` });
    expect(config.dataKeys.map((k) => k.id)).toEqual(['new', 'old_1']);
    expect(config.dataKeys[0]!.key.equals(key2)).toBe(true);
    expect(config.dataKeys[1]!.key.equals(key1)).toBe(true);
    expect(config.dataKeys.every((k) => k.key.length === 32)).toBe(true);
  });

  it('stops on missing DATA_KEYS, naming it', () => {
    const err = configError({});
    expect(err.variable).toBe('DATA_KEYS');
    expect(err.message).toContain('DATA_KEYS');
    expect(err.message).toBe('configuration error: DATA_KEYS is required');
    expect(err.name).toBe('ConfigError');
  });

  it.each([
    ['no key id', key1.toString('base64')],
    ['a 16-byte key', `k1:${randomBytes(16).toString('base64')}`],
    ['not base64', `k1:${'!'.repeat(43)}=`],
    ['a trailing comma', `${DATA_KEYS},`],
    ['a space after the comma', `${DATA_KEYS}, k2:${key2.toString('base64')}`],
  ])('stops on malformed DATA_KEYS (%s), naming it without echoing the key', (_label, value) => {
    const err = configError({ DATA_KEYS: value });
    expect(err.variable).toBe('DATA_KEYS');
    expect(err.message).toContain('DATA_KEYS');
    expect(err.message).not.toContain(key1.toString('base64'));
    expect(err.message).toContain('keyId:base64(32 random bytes)');
  });

  it.each([
    ['NHS_MODE', 'soap'],
    ['HTTP_PORT', '70000'],
    ['HTTP_PORT', 'eighty'],
    ['POLICE_POLL_CRON', 'every minute'],
    ['STATUS_POLL_CRON', '* * *'],
    ['REDIS_URL', 'http://x'],
    ['POLICE_PAGE_LIMIT', '0'],
    ['POLICE_PAGE_LIMIT', '1001'],
    ['POLICE_FEED_URL', 'ftp://rms.example'],
    ['POLICE_MAX_DOCUMENT_BYTES', '0'],
    ['POLICE_MAX_VALUE_CHARS', '3999'],
    ['LOG_LEVEL', 'verbose'],
    ['FORCE_NAME', 'cheshire police'],
    ['DELIVERY_ATTEMPTS', '1.5'],
    ['POLICE_CRIME_REF_PATTERN', '(['],
  ])('stops on %s=%s with a ConfigError naming it', (variable, value) => {
    const err = configError({ DATA_KEYS, [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`configuration error: ${variable} `)).toBe(true);
  });

  it('reports every wrong setting at once, each named, in one line', () => {
    const err = configError({ HTTP_PORT: 'eighty', NHS_MODE: 'soap', POLICE_POLL_CRON: 'every minute' });
    expect(err.problems.map((p) => p.variable)).toEqual(['HTTP_PORT', 'POLICE_POLL_CRON', 'NHS_MODE', 'DATA_KEYS']);
    expect(err.variable).toBe('HTTP_PORT');
    expect(err.message).toBe(
      'configuration error (4 settings): HTTP_PORT must be a number; POLICE_POLL_CRON must be a cron expression of 5 or 6 fields; ' +
        'NHS_MODE must be one of [fhir-rest, bars]; DATA_KEYS is required',
    );
    expect(err.message).not.toContain('\n');
  });

  it('names unknown settings that look like the bridge’s, with the nearest known one', () => {
    const env = {
      DATA_KEYS,
      NHS_MOD: 'bars',
      POLICE_FEED_ULR: 'http://x',
      REDIS_PASSWORD: 'secret-value',
      HTTP_PROXY: 'http://p',
      PATH: '/bin',
    };
    expect(unknownSettings(env)).toEqual([
      'unknown setting NHS_MOD (did you mean NHS_MODE?)',
      'unknown setting POLICE_FEED_ULR (did you mean POLICE_FEED_URL?)',
      'unknown setting REDIS_PASSWORD',
    ]);
    expect(loadConfig(env).warnings).toEqual(unknownSettings(env));
    expect(loadConfig({ DATA_KEYS }).warnings).toEqual([]);
  });

  it('reads .env (as config/example.env promises) under the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iasu-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, `# a comment\nDATA_KEYS=${DATA_KEYS}\nNHS_MODE=bars\nLOG_LEVEL="debug"\n`);
    const env: Record<string, string | undefined> = { LOG_LEVEL: 'warn' };
    expect(loadDotEnv(file, env)).toBe(file);
    expect(env).toEqual({ LOG_LEVEL: 'warn', DATA_KEYS, NHS_MODE: 'bars' });
    expect(loadDotEnv(join(dir, 'missing.env'), env)).toBeUndefined();
  });

  it('treats an empty required value as missing', () => {
    const err = configError({ DATA_KEYS, NHS_TRUST_NAME: '' });
    expect(err.variable).toBe('NHS_TRUST_NAME');
    expect(err.message).toBe('configuration error: NHS_TRUST_NAME is required');
  });

  it('explains a bad cron expression', () => {
    expect(configError({ DATA_KEYS, POLICE_POLL_CRON: 'every minute' }).message).toBe(
      'configuration error: POLICE_POLL_CRON must be a cron expression of 5 or 6 fields',
    );
  });

  describe('NHS settings', () => {
    const JWT = { NHS_AUTH: 'private-key-jwt', NHS_TOKEN_URL: 'https://auth.nhs.test/oauth2/token', NHS_CLIENT_ID: 'client-1' };

    it('BaRS mode refuses to start without a published use case: none is defaulted, an invented or deprecated one is refused', () => {
      const bars = { DATA_KEYS, NHS_MODE: 'bars', NHS_BARS_TARGET_SERVICE_ID: 'svc-1', NHS_INBOUND_TOKEN: 't' };
      for (const useCase of [undefined, '', 'stalking-mdt', 'referraltopharmacy', 'A4T3']) {
        const error = configError({ ...bars, ...(useCase === undefined ? {} : { NHS_BARS_USE_CASE: useCase }) });
        expect(error.variable).toBe('NHS_BARS_USE_CASE');
        expect(error.message).toContain('usecases-categories-bars');
      }
      expect(loadConfig({ ...bars, NHS_BARS_USE_CASE: 'a6t1' }).nhs.barsUseCase).toBe('a6t1');
      // REST mode never reads it.
      expect(loadConfig({ DATA_KEYS }).nhs.mode).toBe('fhir-rest');
    });

    it('BaRS mode needs the target service id, and defaults the destination endpoint to {system}|{service id}', () => {
      expect(configError({ DATA_KEYS, NHS_MODE: 'bars', NHS_INBOUND_TOKEN: 't', NHS_BARS_USE_CASE: 'a4t3' }).variable).toBe(
        'NHS_BARS_TARGET_SERVICE_ID',
      );
      expect(configError({ DATA_KEYS, NHS_MODE: 'bars', NHS_BARS_TARGET_SERVICE_ID: 'svc-1', NHS_BARS_USE_CASE: 'a4t3' }).variable).toBe(
        'NHS_INBOUND_TOKEN',
      );
      const config = loadConfig({
        DATA_KEYS,
        NHS_MODE: 'bars',
        NHS_BARS_TARGET_SERVICE_ID: 'svc-1',
        NHS_INBOUND_TOKEN: 't',
        NHS_BARS_USE_CASE: 'a4t3',
        NHS_FHIR_BASE_URL: 'https://trust.test/bars/',
      });
      expect(config.nhs.barsDestinationEndpoint).toBe('https://fhir.nhs.uk/Id/dos-service-id|svc-1');
      expect(config.nhs.barsTarget).toEqual({ system: 'https://fhir.nhs.uk/Id/dos-service-id', value: 'svc-1' });
    });

    it('the BaRS source endpoint is {system}|{serviceId} or a URL; a URL is run with a warning', () => {
      const bars = { DATA_KEYS, NHS_MODE: 'bars', NHS_BARS_TARGET_SERVICE_ID: 'svc-1', NHS_INBOUND_TOKEN: 't', NHS_BARS_USE_CASE: 'a4t3' };
      const catalogue = loadConfig({ ...bars, NHS_BARS_SOURCE_ENDPOINT: 'https://fhir.nhs.uk/Id/dos-service-id|2000123456' });
      expect(catalogue.nhs.barsSourceEndpoint).toBe('https://fhir.nhs.uk/Id/dos-service-id|2000123456');
      expect(barsConfigWarnings(catalogue.nhs)).toEqual([]);
      const byUrl = loadConfig({ ...bars, NHS_BARS_SOURCE_ENDPOINT: 'https://iasu.example/fhir' });
      expect(barsConfigWarnings(byUrl.nhs)).toEqual([expect.stringContaining('{system}|{serviceId}')]);
      // REST mode sends no MessageHeader: nothing to warn about.
      expect(barsConfigWarnings(loadConfig({ DATA_KEYS }).nhs)).toEqual([]);
      for (const bad of [
        'dos-service-id|1',
        'https://fhir.nhs.uk/Id/dos-service-id|',
        'https://a.example|1|2',
        'https://a.example|has space',
        'not a url',
      ]) {
        const error = configError({ ...bars, NHS_BARS_SOURCE_ENDPOINT: bad });
        expect([bad, error.variable, error.message]).toEqual([
          bad,
          'NHS_BARS_SOURCE_ENDPOINT',
          expect.stringContaining('system|serviceId'),
        ]);
      }
    });

    it('console sign-in through an identity provider needs its client id and the public URL', () => {
      const issuer = { DATA_KEYS, CONSOLE_OIDC_ISSUER: 'https://idp.example/realms/iasu/' };
      expect(configError(issuer).variable).toBe('CONSOLE_OIDC_CLIENT_ID');
      expect(configError({ ...issuer, CONSOLE_OIDC_CLIENT_ID: 'console' }).variable).toBe('CONSOLE_PUBLIC_URL');
      expect(
        loadConfig({ ...issuer, CONSOLE_OIDC_CLIENT_ID: 'console', CONSOLE_PUBLIC_URL: 'https://bridge.example/' }).http.consoleOidc,
      ).toEqual({
        issuer: 'https://idp.example/realms/iasu',
        clientId: 'console',
        publicUrl: 'https://bridge.example',
      });
      expect(loadConfig({ DATA_KEYS }).http.consoleOidc).toBeUndefined();
    });

    it('the rules between settings are reported together too, each named', () => {
      const error = configError({
        DATA_KEYS,
        NHS_MODE: 'bars',
        NHS_INBOUND_AUTH: 'mtls',
        HTTP_TLS_KEY_FILE: '/k.pem',
        CONSOLE_OIDC_ISSUER: 'https://idp.example',
      });
      expect(error.problems.map((p) => p.variable)).toEqual([
        'HTTP_TLS_CLIENT_CA_FILE',
        'NHS_BARS_TARGET_SERVICE_ID',
        'NHS_BARS_USE_CASE',
        'HTTP_TLS_CERT_FILE',
        'CONSOLE_OIDC_CLIENT_ID',
      ]);
      expect(error.message).toMatch(
        /^configuration error \(5 settings\): HTTP_TLS_CLIENT_CA_FILE is required when NHS_INBOUND_AUTH is mtls; /,
      );
    });

    it('no NHS auth unless asked for', () => {
      expect(loadConfig({ DATA_KEYS }).nhs.auth).toEqual({ kind: 'none' });
    });

    it('private_key_jwt takes the key from a file or from the environment, never both', () => {
      expect(loadConfig({ DATA_KEYS, ...JWT, NHS_PRIVATE_KEY_FILE: '/etc/k.pem', NHS_KEY_ID: 'k1' }).nhs.auth).toEqual({
        kind: 'private-key-jwt',
        tokenUrl: JWT.NHS_TOKEN_URL,
        clientId: 'client-1',
        keyId: 'k1',
        privateKey: { file: '/etc/k.pem' },
      });
      expect(configError({ DATA_KEYS, ...JWT }).variable).toBe('NHS_PRIVATE_KEY');
      expect(configError({ DATA_KEYS, ...JWT, NHS_PRIVATE_KEY: 'pem', NHS_PRIVATE_KEY_FILE: '/k' }).variable).toBe('NHS_PRIVATE_KEY');
    });

    it('mTLS for the trust needs the client CA, and server TLS needs both certificate and key', () => {
      expect(configError({ DATA_KEYS, NHS_INBOUND_AUTH: 'mtls' }).variable).toBe('HTTP_TLS_CLIENT_CA_FILE');
      expect(configError({ DATA_KEYS, HTTP_TLS_CLIENT_CA_FILE: '/ca.pem' }).variable).toBe('HTTP_TLS_CERT_FILE');
      expect(configError({ DATA_KEYS, HTTP_TLS_CERT_FILE: '/c.pem' }).variable).toBe('HTTP_TLS_KEY_FILE');
      expect(configError({ DATA_KEYS, HTTP_TLS_KEY_FILE: '/k.pem' }).variable).toBe('HTTP_TLS_CERT_FILE');
      const config = loadConfig({
        DATA_KEYS,
        NHS_INBOUND_AUTH: 'mtls',
        NHS_INBOUND_CLIENT_CN: 'trust',
        HTTP_TLS_CERT_FILE: '/c.pem',
        HTTP_TLS_KEY_FILE: '/k.pem',
        HTTP_TLS_CLIENT_CA_FILE: '/ca.pem',
      });
      expect(config.http.tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem', clientCaFile: '/ca.pem' });
      expect(config.nhs).toMatchObject({ inboundAuth: 'mtls', inboundClientCn: 'trust' });
      expect(loadConfig({ DATA_KEYS }).http.tls).toBeUndefined();
    });

    it.each(['NHS_TOKEN_URL', 'NHS_CLIENT_ID'])('private_key_jwt without %s stops naming it', (variable) => {
      expect(configError({ DATA_KEYS, ...JWT, NHS_PRIVATE_KEY_FILE: '/k', [variable]: '' }).variable).toBe(variable);
    });
  });
});
