import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import Joi from 'joi';
import { validate as validCron } from 'node-cron';
import defaults from '../config/default.json';
import { isBarsUseCase } from './mappings/bars-codes';

/**
 * Configuration: environment variables over `config/default.json`, validated with joi at
 * start-up. A wrong or missing value throws a ConfigError naming the variable.
 */
export type NhsMode = 'fhir-rest' | 'bars';

export interface DataKey {
  id: string;
  key: Buffer;
}

export interface BridgeConfig {
  redis: {
    url: string;
    prefix: string;
    /** IASU_FIRST_START: an empty Redis is expected (a first start), so finding no bridge state there is no alarm. */
    firstStart: boolean;
    /** High availability through Redis Sentinel: the sentinels and the master's name (REDIS_URL then gives password and db). */
    sentinel?: { sentinels: { host: string; port: number }[]; masterName: string };
  };
  http: {
    host: string;
    port: number;
    /** Operators' bearer tokens (JWT): a shared secret (HS256/HS512) or an identity provider's JWKS. Neither: operator routes answer 503. */
    jwt: { secret?: string; jwksUrl?: string; issuer?: string; audience: string };
    /** PEM file paths; with clientCaFile the server asks for client certificates (mTLS). */
    tls?: { certFile: string; keyFile: string; clientCaFile?: string };
    /** Body bytes each partner route may hold at once (at least its own size limit); over it, 503 with Retry-After. */
    bodyBytesInFlight: number;
    /** The console's sign-in through the identity provider (OpenID Connect, code flow with PKCE); absent: token sign-in only. */
    consoleOidc?: { issuer: string; clientId: string; clientSecret?: string; publicUrl: string };
  };
  logLevel: string;
  force: { name: string; orgName: string; orgCode: string };
  police: {
    feedUrl: string;
    feedToken: string;
    pollCron: string;
    pageLimit: number;
    /** The poller stops pulling while this many records wait for intake (a backfill cannot flood Redis). */
    maxBacklog: number;
    maxDocumentBytes: number;
    /** Longest attribute value or text the feed parser reads; a record with a longer one is quarantined. */
    maxValueChars: number;
    crimeRefPattern?: RegExp;
    pushToken: string;
    timeoutMs: number;
    /** Write-backs tried at once, per process, before the rest go to the police-outcomes queue (0: all queued). */
    writeBackInFlight: number;
  };
  nhs: {
    mode: NhsMode;
    baseUrl: string;
    trustOdsCode: string;
    trustName: string;
    timeoutMs: number;
    serviceSnomedCode?: string;
    /** `MessageHeader.source.endpoint` in BaRS mode: where the trust sends responses. */
    barsSourceEndpoint: string;
    /** `MessageHeader.destination.endpoint`; defaults to `{baseUrl}/$process-message`. */
    barsDestinationEndpoint: string;
    /** The receiving service, sent base64-encoded in `NHSD-Target-Identifier`. */
    barsTarget: { system: string; value: string };
    /** First part of BaRS `use-context` (usecases-categories-bars), assigned at onboarding. */
    barsUseCase: string;
    auth: NhsAuthConfig;
    /** How the trust authenticates on `POST /fhir/$process-message`: bearer (unset token → 503) or mTLS. */
    inboundAuth: 'bearer' | 'mtls';
    inboundToken: string;
    /** With mTLS: the subject CN the trust's client certificate must carry (any CA-signed one if unset). */
    inboundClientCn?: string;
    referralIdSystem: string;
    crimeReferenceSystem: string;
  };
  charity: {
    baseUrl: string;
    apiKey: string;
    referrerOrganisation: string;
    timeoutMs: number;
    /** HMAC secrets for webhooks, newest first; more than one while rotating. Empty: webhooks refused (503). */
    webhookSecrets: string[];
    /** `limit` per page when polling `GET /v1/referrals?updatedSince=`. */
    pollPageLimit: number;
  };
  /**
   * `concurrency`: jobs in flight per partner worker; `intakeConcurrency`: intake jobs in flight;
   * `firstAttemptInFlight`: deliveries a process attempts at once as intake queues them, per partner; 0 queues every one.
   */
  delivery: { attempts: number; backoffMs: number; concurrency: number; intakeConcurrency: number; firstAttemptInFlight: number };
  statusPollCron: string;
  reconcile: {
    cron: string;
    /** A referral with no change for longer than this is reported stuck. */
    stuckAfterHours: number;
    /** Clinical referrals not accepted or rejected within this many working days are overdue. */
    clinicalWorkingDays: number;
  };
  /** First key encrypts; all keys decrypt (rotation). */
  dataKeys: DataKey[];
  /** Personal data after a terminal status, quarantined records, and the (metadata-only) audit trail. */
  retention: { days: number; quarantineDays: number; auditDays: number };
  /** What the operator should hear once at start: unknown settings that look like the bridge's (a typo). */
  warnings: string[];
}

/** How the bridge authenticates to the trust (nhs-fhir.md: OAuth 2.0 `private_key_jwt`). */
export type NhsAuthConfig =
  | { kind: 'none' }
  | { kind: 'private-key-jwt'; tokenUrl: string; clientId: string; keyId?: string; privateKey: { pem?: string; file?: string } };

export class ConfigError extends Error {
  /** Every wrong setting found at once (the first is `variable`). */
  readonly problems: { variable: string; detail: string }[];

  constructor(
    readonly variable: string,
    detail: string,
    more: { variable: string; detail: string }[] = [],
  ) {
    const problems = [{ variable, detail }, ...more];
    // One line (the CLI prints the first line only): every wrong setting, each named.
    super(
      problems.length === 1
        ? `configuration error: ${variable} ${detail}`
        : `configuration error (${problems.length} settings): ${problems.map((p) => `${p.variable} ${p.detail}`).join('; ')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** No published BaRS use case fits stalking referrals: the one agreed at onboarding must be set, never defaulted. */
export function assertBarsUseCase(useCase: string): void {
  if (isBarsUseCase(useCase)) return;
  throw new ConfigError(
    'NHS_BARS_USE_CASE',
    `must be a code of https://fhir.nhs.uk/CodeSystem/usecases-categories-bars (the use case agreed with the trust at BaRS onboarding) to send BaRS messages; got ${JSON.stringify(useCase)}`,
  );
}

/** `{system}|{serviceId}`: an Endpoint Catalogue reference, as BaRS message headers carry endpoints. */
const CATALOGUE_ENDPOINT = /^https?:\/\/[^\s|]+\|[A-Za-z0-9._:-]{1,64}$/;

export function isCatalogueEndpoint(endpoint: string): boolean {
  return CATALOGUE_ENDPOINT.test(endpoint);
}

/**
 * What a BaRS deployment should fix before a trust connects, though it can run without: the
 * guide wants `source.endpoint` to be the bridge's Endpoint Catalogue entry, usable as an
 * NHSD-Target-Identifier, which a URL is not.
 */
export function barsConfigWarnings(nhs: Pick<BridgeConfig['nhs'], 'mode' | 'barsSourceEndpoint'>): string[] {
  if (nhs.mode !== 'bars' || isCatalogueEndpoint(nhs.barsSourceEndpoint)) return [];
  return [
    "NHS_BARS_SOURCE_ENDPOINT is a URL: BaRS Core 1.2.2 asks for {system}|{serviceId}, the bridge's Endpoint Catalogue entry, so the trust can address its responses",
  ];
}

const cron = Joi.string()
  .custom((value: string, helpers) => (validCron(value) ? value : helpers.error('any.invalid')), 'cron expression')
  .messages({
    'any.invalid': 'must be a cron expression of 5 or 6 fields',
  });
const url = Joi.string().uri({ scheme: ['http', 'https'] });
const redisUrl = Joi.string().uri({ scheme: ['redis', 'rediss'] });
const positiveInt = Joi.number().integer().min(1);

const schema = Joi.object({
  REDIS_URL: redisUrl.required(),
  REDIS_PREFIX: Joi.string()
    .pattern(/^[^:\s]+$/)
    .required(),
  REDIS_SENTINELS: Joi.string()
    .allow('')
    .pattern(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/)
    .message('must be a comma-separated list of host:port'),
  IASU_FIRST_START: Joi.boolean().truthy('1').falsy('0', '').required(),
  REDIS_SENTINEL_MASTER: Joi.string()
    .pattern(/^[A-Za-z0-9._-]+$/)
    .required(),
  HTTP_HOST: Joi.string().hostname().required(),
  HTTP_PORT: Joi.number().integer().min(0).max(65535).required(),
  HTTP_TLS_CERT_FILE: Joi.string().allow(''),
  HTTP_TLS_KEY_FILE: Joi.string().allow(''),
  HTTP_TLS_CLIENT_CA_FILE: Joi.string().allow(''),
  HTTP_BODY_BYTES_IN_FLIGHT: positiveInt.max(4 * 1024 * 1024 * 1024).required(),
  API_JWT_SECRET: Joi.string().allow('').min(32).message('must be at least 32 characters'),
  API_JWT_JWKS_URL: Joi.string()
    .allow('')
    .uri({ scheme: ['https', 'http'] }),
  API_JWT_ISSUER: Joi.string().allow(''),
  API_JWT_AUDIENCE: Joi.string().required(),
  CONSOLE_OIDC_ISSUER: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .allow(''),
  CONSOLE_OIDC_CLIENT_ID: Joi.string().max(200).allow(''),
  CONSOLE_OIDC_CLIENT_SECRET: Joi.string().max(500).allow(''),
  CONSOLE_PUBLIC_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .allow(''),
  LOG_LEVEL: Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').required(),
  FORCE_NAME: Joi.string()
    .pattern(/^[A-Z0-9_-]{2,40}$/)
    .required(),
  POLICE_ORG_NAME: Joi.string().required(),
  POLICE_ORG_CODE: Joi.string().required(),
  POLICE_FEED_URL: url.required(),
  POLICE_FEED_TOKEN: Joi.string().allow(''),
  POLICE_POLL_CRON: cron.required(),
  POLICE_PAGE_LIMIT: Joi.number().integer().min(1).max(1000).required(),
  POLICE_MAX_BACKLOG: positiveInt.max(1_000_000).required(),
  POLICE_MAX_DOCUMENT_BYTES: positiveInt.max(1024 * 1024 * 1024).required(),
  // At least the feed's longest field (free text, 4,000 characters), so a valid value is never cut.
  POLICE_MAX_VALUE_CHARS: positiveInt
    .min(4000)
    .max(16 * 1024 * 1024)
    .required(),
  POLICE_CRIME_REF_PATTERN: Joi.string()
    .allow('')
    .custom((v: string) => {
      if (v) new RegExp(v);
      return v;
    }, 'regular expression'),
  POLICE_PUSH_TOKEN: Joi.string().allow(''),
  POLICE_TIMEOUT_MS: positiveInt.required(),
  POLICE_WRITEBACK_INFLIGHT: Joi.number().integer().min(0).max(1000).required(),
  NHS_MODE: Joi.string().valid('fhir-rest', 'bars').required(),
  NHS_FHIR_BASE_URL: url.required(),
  NHS_TRUST_ODS_CODE: Joi.string()
    .pattern(/^[A-Z0-9]{3,10}$/)
    .required(),
  NHS_TRUST_NAME: Joi.string().required(),
  NHS_TIMEOUT_MS: positiveInt.required(),
  NHS_SERVICE_SNOMED_CODE: Joi.string()
    .allow('')
    .pattern(/^\d{6,18}$/),
  NHS_BARS_SOURCE_ENDPOINT: Joi.alternatives()
    .try(url, Joi.string().pattern(CATALOGUE_ENDPOINT))
    .required()
    .messages({ 'alternatives.match': "must be the bridge's Endpoint Catalogue entry as system|serviceId, or an http(s) URL" }),
  NHS_BARS_DESTINATION_ENDPOINT: Joi.string().max(2048).allow(''),
  NHS_BARS_TARGET_SERVICE_ID: Joi.string().allow(''),
  NHS_BARS_TARGET_SERVICE_SYSTEM: Joi.string().uri().required(),
  NHS_BARS_USE_CASE: Joi.string()
    .pattern(/^[A-Za-z0-9._-]+$/)
    .allow(''),
  NHS_AUTH: Joi.string().valid('none', 'private-key-jwt').required(),
  NHS_TOKEN_URL: url.allow(''),
  NHS_CLIENT_ID: Joi.string().allow(''),
  NHS_KEY_ID: Joi.string().allow(''),
  NHS_PRIVATE_KEY: Joi.string().allow(''),
  NHS_PRIVATE_KEY_FILE: Joi.string().allow(''),
  NHS_INBOUND_TOKEN: Joi.string().allow(''),
  NHS_INBOUND_AUTH: Joi.string().valid('bearer', 'mtls').required(),
  NHS_INBOUND_CLIENT_CN: Joi.string().allow(''),
  REFERRAL_ID_SYSTEM: Joi.string().uri().required(),
  CRIME_REFERENCE_SYSTEM: Joi.string().uri().required(),
  CHARITY_API_URL: url.required(),
  CHARITY_API_KEY: Joi.string().allow(''),
  CHARITY_REFERRER_ORGANISATION: Joi.string().required(),
  CHARITY_TIMEOUT_MS: positiveInt.required(),
  CHARITY_WEBHOOK_SECRETS: Joi.string()
    .allow('')
    .pattern(/^[^,\s]{16,}(,[^,\s]{16,})*$/)
    .message('must be a comma-separated list of secrets of at least 16 characters, newest first'),
  CHARITY_POLL_PAGE_LIMIT: positiveInt.max(1000).required(),
  DELIVERY_ATTEMPTS: positiveInt.max(100).required(),
  DELIVERY_BACKOFF_MS: positiveInt.required(),
  WORKER_CONCURRENCY: positiveInt.max(1000).required(),
  INTAKE_CONCURRENCY: positiveInt.max(1000).required(),
  DELIVERY_FIRST_ATTEMPT_IN_FLIGHT: Joi.number().integer().min(0).max(1000).required(),
  STATUS_POLL_CRON: cron.required(),
  RECONCILE_CRON: cron.required(),
  RECONCILE_STUCK_AFTER_HOURS: positiveInt.max(24 * 365).required(),
  CLINICAL_SLA_WORKING_DAYS: positiveInt.max(60).required(),
  DATA_KEYS: Joi.string()
    .required()
    .pattern(/^[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]+:[A-Za-z0-9+/]{43}=)*$/)
    .message('must be a comma-separated list of keyId:base64(32 random bytes), newest first'),
  RETENTION_DAYS: positiveInt.max(3650).required(),
  QUARANTINE_RETENTION_DAYS: positiveInt.max(3650).required(),
  AUDIT_RETENTION_DAYS: positiveInt.max(3650).required(),
}).unknown(true);

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): BridgeConfig {
  const merged: Record<string, string> = { ...(defaults as Record<string, string>) };
  for (const key of Object.keys(defaults)) {
    const value = env[key];
    if (value !== undefined) merged[key] = value;
  }
  // Every wrong setting at once: fixing them one start at a time is slow and dispiriting.
  const { error, value: v } = schema.validate(merged, { abortEarly: false, convert: true });
  if (error) {
    const problems: { variable: string; detail: string }[] = [];
    for (const detail of error.details) {
      const variable = String(detail.path[0] ?? 'unknown');
      if (problems.some((p) => p.variable === variable)) continue;
      const message = detail.message.replace(/^"[^"]+" /, '');
      problems.push({ variable, detail: message === 'is not allowed to be empty' ? 'is required' : message });
    }
    const [first, ...more] = problems;
    throw new ConfigError(first?.variable ?? 'unknown', first?.detail ?? error.message, more);
  }
  // The rules between settings, every one of them too: one start names everything to fix.
  const problems: ConfigError['problems'] = [];
  const collect = <T>(check: () => T, fallback: T): T => {
    try {
      return check();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return fallback;
    }
  };
  const rule = (broken: boolean, variable: string, detail: string) => {
    if (broken) problems.push({ variable, detail });
  };
  rule(v.NHS_INBOUND_AUTH === 'mtls' && !v.HTTP_TLS_CLIENT_CA_FILE, 'HTTP_TLS_CLIENT_CA_FILE', 'is required when NHS_INBOUND_AUTH is mtls');
  // In BaRS mode every status arrives on $process-message: a closed route would lose them all.
  rule(
    v.NHS_MODE === 'bars' && v.NHS_INBOUND_AUTH === 'bearer' && !v.NHS_INBOUND_TOKEN,
    'NHS_INBOUND_TOKEN',
    'is required when NHS_MODE is bars (or set NHS_INBOUND_AUTH=mtls)',
  );
  rule(v.NHS_MODE === 'bars' && !v.NHS_BARS_TARGET_SERVICE_ID, 'NHS_BARS_TARGET_SERVICE_ID', 'is required when NHS_MODE is bars');
  if (v.NHS_MODE === 'bars') collect(() => assertBarsUseCase(v.NHS_BARS_USE_CASE), undefined);
  const tls = collect(() => httpTls(v), {});
  const oidc = collect(() => consoleOidc(v), {});
  const auth = collect(() => nhsAuth(v), { kind: 'none' } as const);
  if (problems.length) {
    const [first, ...more] = problems;
    throw new ConfigError(first!.variable, first!.detail, more);
  }
  return {
    redis: {
      url: v.REDIS_URL,
      prefix: v.REDIS_PREFIX,
      firstStart: v.IASU_FIRST_START,
      ...(v.REDIS_SENTINELS
        ? {
            sentinel: {
              sentinels: v.REDIS_SENTINELS.split(',').map((hp: string) => {
                const [host, port] = hp.split(':');
                return { host: host!, port: Number(port) };
              }),
              masterName: v.REDIS_SENTINEL_MASTER,
            },
          }
        : {}),
    },
    http: {
      host: v.HTTP_HOST,
      port: v.HTTP_PORT,
      jwt: {
        ...(v.API_JWT_SECRET ? { secret: v.API_JWT_SECRET } : {}),
        ...(v.API_JWT_JWKS_URL ? { jwksUrl: v.API_JWT_JWKS_URL } : {}),
        ...(v.API_JWT_ISSUER ? { issuer: v.API_JWT_ISSUER } : {}),
        audience: v.API_JWT_AUDIENCE,
      },
      ...tls,
      bodyBytesInFlight: v.HTTP_BODY_BYTES_IN_FLIGHT,
      ...oidc,
    },
    logLevel: v.LOG_LEVEL,
    force: { name: v.FORCE_NAME, orgName: v.POLICE_ORG_NAME, orgCode: v.POLICE_ORG_CODE },
    police: {
      feedUrl: v.POLICE_FEED_URL.replace(/\/$/, ''),
      feedToken: v.POLICE_FEED_TOKEN,
      pollCron: v.POLICE_POLL_CRON,
      pageLimit: v.POLICE_PAGE_LIMIT,
      maxBacklog: v.POLICE_MAX_BACKLOG,
      maxDocumentBytes: v.POLICE_MAX_DOCUMENT_BYTES,
      maxValueChars: v.POLICE_MAX_VALUE_CHARS,
      crimeRefPattern: v.POLICE_CRIME_REF_PATTERN ? new RegExp(v.POLICE_CRIME_REF_PATTERN) : undefined,
      pushToken: v.POLICE_PUSH_TOKEN,
      timeoutMs: v.POLICE_TIMEOUT_MS,
      writeBackInFlight: v.POLICE_WRITEBACK_INFLIGHT,
    },
    nhs: {
      mode: v.NHS_MODE,
      baseUrl: v.NHS_FHIR_BASE_URL.replace(/\/$/, ''),
      trustOdsCode: v.NHS_TRUST_ODS_CODE,
      trustName: v.NHS_TRUST_NAME,
      timeoutMs: v.NHS_TIMEOUT_MS,
      serviceSnomedCode: v.NHS_SERVICE_SNOMED_CODE || undefined,
      barsSourceEndpoint: v.NHS_BARS_SOURCE_ENDPOINT,
      // Core 1.2.2 payload guide: the directory system and service id, separated by a pipe.
      barsDestinationEndpoint: v.NHS_BARS_DESTINATION_ENDPOINT || `${v.NHS_BARS_TARGET_SERVICE_SYSTEM}|${v.NHS_BARS_TARGET_SERVICE_ID}`,
      barsTarget: { system: v.NHS_BARS_TARGET_SERVICE_SYSTEM, value: v.NHS_BARS_TARGET_SERVICE_ID },
      barsUseCase: v.NHS_BARS_USE_CASE,
      auth,
      inboundAuth: v.NHS_INBOUND_AUTH,
      inboundToken: v.NHS_INBOUND_TOKEN,
      ...(v.NHS_INBOUND_CLIENT_CN ? { inboundClientCn: v.NHS_INBOUND_CLIENT_CN } : {}),
      referralIdSystem: v.REFERRAL_ID_SYSTEM,
      crimeReferenceSystem: v.CRIME_REFERENCE_SYSTEM,
    },
    charity: {
      baseUrl: v.CHARITY_API_URL.replace(/\/$/, ''),
      apiKey: v.CHARITY_API_KEY,
      referrerOrganisation: v.CHARITY_REFERRER_ORGANISATION,
      timeoutMs: v.CHARITY_TIMEOUT_MS,
      webhookSecrets: v.CHARITY_WEBHOOK_SECRETS ? v.CHARITY_WEBHOOK_SECRETS.split(',') : [],
      pollPageLimit: v.CHARITY_POLL_PAGE_LIMIT,
    },
    delivery: {
      attempts: v.DELIVERY_ATTEMPTS,
      backoffMs: v.DELIVERY_BACKOFF_MS,
      concurrency: v.WORKER_CONCURRENCY,
      intakeConcurrency: v.INTAKE_CONCURRENCY,
      firstAttemptInFlight: v.DELIVERY_FIRST_ATTEMPT_IN_FLIGHT,
    },
    statusPollCron: v.STATUS_POLL_CRON,
    reconcile: { cron: v.RECONCILE_CRON, stuckAfterHours: v.RECONCILE_STUCK_AFTER_HOURS, clinicalWorkingDays: v.CLINICAL_SLA_WORKING_DAYS },
    dataKeys: parseDataKeys(v.DATA_KEYS),
    retention: { days: v.RETENTION_DAYS, quarantineDays: v.QUARANTINE_RETENTION_DAYS, auditDays: v.AUDIT_RETENTION_DAYS },
    warnings: unknownSettings(env),
  };
}

/** Prefixes of the bridge's own settings: an unknown variable under one of them is most likely a typo. */
const SETTING_PREFIXES = [
  'NHS_',
  'POLICE_',
  'CHARITY_',
  'REDIS_',
  'HTTP_',
  'API_',
  'DELIVERY_',
  'RETENTION_',
  'QUARANTINE_',
  'AUDIT_',
  'DATA_',
  'LOG_',
  'RECONCILE_',
  'CLINICAL_',
  'STATUS_',
  'WORKER_',
  'INTAKE_',
  'FORCE_',
  'IASU_',
];
/** Other software's variables under those prefixes. */
const NOT_OURS = new Set(['HTTP_PROXY']);

/** `unknown setting NHS_MOD (did you mean NHS_MODE?)` for each variable that looks like the bridge's but is not one of its settings. */
export function unknownSettings(env: Env): string[] {
  const known = Object.keys(defaults);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.includes(name) || NOT_OURS.has(name) || !SETTING_PREFIXES.some((p) => name.startsWith(p))) continue;
    const nearest = known
      .map((k) => ({ k, d: editDistance(name, k) }))
      .filter(({ k, d }) => d <= 2 || k.startsWith(name) || name.startsWith(k))
      .sort((a, b) => a.d - b.d)[0];
    out.push(`unknown setting ${name}${nearest ? ` (did you mean ${nearest.k}?)` : ''}`);
  }
  return out;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * `config/example.env` says to copy it to `.env`: its variables are read from there, under the
 * real environment (a variable set in both keeps the environment's value). Returns the file read, if any.
 */
export function loadDotEnv(path = '.env', env: Env = process.env): string | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: NodeJS.Dict<string>;
  try {
    parsed = parseEnv(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('.env', `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  for (const [name, value] of Object.entries(parsed)) if (env[name] === undefined && value !== undefined) env[name] = value;
  return path;
}

function parseDataKeys(spec: string): DataKey[] {
  return spec.split(',').map((entry) => {
    const [id, b64] = entry.split(':') as [string, string];
    return { id, key: Buffer.from(b64, 'base64') };
  });
}

/** Cross-field rules joi would state less readably: private_key_jwt needs all of its parts. */
function nhsAuth(v: Record<string, string>): NhsAuthConfig {
  if (v.NHS_AUTH === 'none') return { kind: 'none' };
  for (const name of ['NHS_TOKEN_URL', 'NHS_CLIENT_ID'] as const) {
    if (!v[name]) throw new ConfigError(name, 'is required when NHS_AUTH is private-key-jwt');
  }
  if (!v.NHS_PRIVATE_KEY === !v.NHS_PRIVATE_KEY_FILE) {
    throw new ConfigError(
      'NHS_PRIVATE_KEY',
      'exactly one of NHS_PRIVATE_KEY or NHS_PRIVATE_KEY_FILE is required when NHS_AUTH is private-key-jwt',
    );
  }
  return {
    kind: 'private-key-jwt',
    tokenUrl: v.NHS_TOKEN_URL!,
    clientId: v.NHS_CLIENT_ID!,
    ...(v.NHS_KEY_ID ? { keyId: v.NHS_KEY_ID } : {}),
    privateKey: v.NHS_PRIVATE_KEY ? { pem: v.NHS_PRIVATE_KEY } : { file: v.NHS_PRIVATE_KEY_FILE! },
  };
}

/** Server TLS needs a certificate and its key; a client CA alone would be a silent no-op. */
function httpTls(v: Record<string, string>): { tls?: NonNullable<BridgeConfig['http']['tls']> } {
  const { HTTP_TLS_CERT_FILE: certFile, HTTP_TLS_KEY_FILE: keyFile, HTTP_TLS_CLIENT_CA_FILE: clientCaFile } = v;
  if (!certFile && !keyFile) {
    if (clientCaFile) throw new ConfigError('HTTP_TLS_CERT_FILE', 'is required when HTTP_TLS_CLIENT_CA_FILE is set');
    return {};
  }
  if (!certFile) throw new ConfigError('HTTP_TLS_CERT_FILE', 'is required when HTTP_TLS_KEY_FILE is set');
  if (!keyFile) throw new ConfigError('HTTP_TLS_KEY_FILE', 'is required when HTTP_TLS_CERT_FILE is set');
  return { tls: { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) } };
}

function consoleOidc(v: Record<string, string>): Pick<BridgeConfig['http'], 'consoleOidc'> {
  if (!v.CONSOLE_OIDC_ISSUER) return {};
  for (const name of ['CONSOLE_OIDC_CLIENT_ID', 'CONSOLE_PUBLIC_URL'] as const) {
    if (!v[name]) throw new ConfigError(name, 'is required when CONSOLE_OIDC_ISSUER is set');
  }
  return {
    consoleOidc: {
      issuer: v.CONSOLE_OIDC_ISSUER.replace(/\/$/, ''),
      clientId: v.CONSOLE_OIDC_CLIENT_ID!,
      ...(v.CONSOLE_OIDC_CLIENT_SECRET ? { clientSecret: v.CONSOLE_OIDC_CLIENT_SECRET } : {}),
      publicUrl: v.CONSOLE_PUBLIC_URL!.replace(/\/$/, ''),
    },
  };
}
