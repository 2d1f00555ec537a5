import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CharityClient } from './adapters/charity/charity-client';
import { NhsBarsClient } from './adapters/nhs/bars-client';
import { NhsFhirClient } from './adapters/nhs/fhir-client';
import { requestingSoftware } from './adapters/nhs/requesting-software';
import { PrivateKeyJwtTokenSource, readPrivateKey, type AccessTokenSource } from './adapters/nhs/token-client';
import { PoliceFeedClient } from './adapters/police/feed-client';
import { PoliceWriteBackClient } from './adapters/police/write-back-client';
import { ConfigError, type BridgeConfig } from './config';
import { createLogger } from './logger';
import { createQueues, type BridgeQueues } from './queues/topology';
import { DataCipher } from './store/crypto';
import { CursorStore } from './store/cursor';
import { Keys } from './store/keys';
import { RedisLock } from './store/lock';
import { QuarantineStore } from './store/quarantine';
import { createRedis, RedisErrorLog, redisTarget } from './store/redis';
import { ReferralStore } from './store/referral-store';
import { Counters } from './store/counters';
import { MessageIndex } from './store/message-index';
import { WebhookEvents } from './store/webhook-events';
import { POLICE_FORCE_SYSTEM } from './mappings/referral-to-fhir';
import { version as bridgeVersion } from '../package.json';
import { AuditLog } from './store/audit-log';
import { FeedParsePool } from './adapters/police/feed-parse-pool';

/**
 * What every part of the bridge may be given: configuration, connections, stores, queues and the
 * partner clients. Built once from config; it imports nothing of the pipeline, so any part can
 * depend on a piece of it (`Pick<Infra, ...>`) without a circle.
 */
export interface Infra {
  config: BridgeConfig;
  logger: Logger;
  /** The bridge's own reads and writes, auto-pipelined: commands issued in one tick go in one write. */
  redis: Redis;
  /**
   * BullMQ's connection (queues and workers), without auto-pipelining, which BullMQ does not
   * support. Ordering between the two holds where it matters: every caller awaits its commit
   * before it queues the job that depends on it.
   */
  queueRedis: Redis;
  /** Every Redis connection's errors, one line per connection kind every few seconds while Redis is away. */
  redisErrors: RedisErrorLog;
  keys: Keys;
  cipher: DataCipher;
  referrals: ReferralStore;
  quarantine: QuarantineStore;
  cursor: CursorStore;
  lock: RedisLock;
  counters: Counters;
  /** BaRS message ids the bridge sent → their referral. */
  messages: MessageIndex;
  /** Partner webhook event ids already applied. */
  webhookEvents: WebhookEvents;
  /** Who did what, when: metadata only, append-only. */
  audit: AuditLog;
  /** Feed documents parsed off the main thread (small ones in place). */
  feedParser: FeedParsePool;
  queues: BridgeQueues;
  partners: {
    nhs: NhsFhirClient;
    bars: NhsBarsClient;
    charity: CharityClient;
    policeFeed: PoliceFeedClient;
    policeWriteBacks: PoliceWriteBackClient;
  };
  /** Closes what it opened: queues, partner sockets, the parse pool, then the connections. */
  close(): Promise<void>;
}

export function createInfra(config: BridgeConfig, logger: Logger = createLogger(config.logLevel)): Infra {
  // The profile showed a sixth of the bridge's CPU in per-command socket writes: with dozens of
  // jobs in flight, auto-pipelining turns a tick's commands into one write.
  const redisErrors = new RedisErrorLog(logger, redisTarget(config.redis));
  const redis = createRedis(config.redis, 'worker', { enableAutoPipelining: true }, (err) => redisErrors.report('bridge', err));
  const queueRedis = createRedis(config.redis, 'worker', {}, (err) => redisErrors.report('queues', err));
  redis.on('ready', () => redisErrors.recovered('bridge'));
  queueRedis.on('ready', () => redisErrors.recovered('queues'));
  const keys = new Keys(config.redis.prefix);
  const cipher = new DataCipher(config.dataKeys);
  const day = 24 * 3600;
  const queues = createQueues(queueRedis, config, (err) => redisErrors.report('queues', err));
  const auth = nhsTokenSource(config);
  const nhsAuth = auth ? { auth } : {};
  const audit = new AuditLog(redis, keys, { retentionDays: config.retention.auditDays, logger });
  const infra: Infra = {
    config,
    logger,
    redis,
    queueRedis,
    redisErrors,
    keys,
    cipher,
    referrals: new ReferralStore(redis, keys, cipher, config.retention.days * day, audit),
    quarantine: new QuarantineStore(redis, keys, cipher, config.retention.quarantineDays * day),
    cursor: new CursorStore(redis, keys),
    lock: new RedisLock(redis, keys),
    counters: new Counters(redis, keys),
    messages: new MessageIndex(redis, keys, (config.retention.days + 30) * day),
    webhookEvents: new WebhookEvents(redis, keys, 7 * day),
    audit,
    feedParser: new FeedParsePool({ minBytes: 64 * 1024, maxHeapMb: 256 }),
    queues,
    partners: {
      nhs: new NhsFhirClient({
        baseUrl: config.nhs.baseUrl,
        timeoutMs: config.nhs.timeoutMs,
        referralIdSystem: config.nhs.referralIdSystem,
        ...nhsAuth,
      }),
      bars: new NhsBarsClient({
        baseUrl: config.nhs.baseUrl,
        timeoutMs: config.nhs.timeoutMs,
        ...nhsAuth,
        parties: {
          target: config.nhs.barsTarget,
          endUserOrganisation: {
            resourceType: 'Organization',
            identifier: [{ system: POLICE_FORCE_SYSTEM, value: config.force.orgCode }],
            name: config.force.orgName,
          },
          requestingSoftware: requestingSoftware(
            config.nhs.auth.kind === 'private-key-jwt' ? config.nhs.auth.clientId : config.force.orgCode,
            bridgeVersion,
          ),
        },
      }),
      charity: new CharityClient({ baseUrl: config.charity.baseUrl, apiKey: config.charity.apiKey, timeoutMs: config.charity.timeoutMs }),
      policeFeed: new PoliceFeedClient({
        baseUrl: config.police.feedUrl,
        token: config.police.feedToken,
        timeoutMs: config.police.timeoutMs,
        pageLimit: config.police.pageLimit,
      }),
      policeWriteBacks: new PoliceWriteBackClient({
        baseUrl: config.police.feedUrl,
        token: config.police.feedToken,
        timeoutMs: config.police.timeoutMs,
      }),
    },
    async close() {
      await infra.feedParser.close();
      await queues.close();
      for (const client of Object.values(infra.partners)) client.close();
      await Promise.all([redis, queueRedis].map((r) => r.quit().catch(() => r.disconnect())));
    },
  };
  return infra;
}

/** One token cache for both NHS clients; the key is read once, at start-up. */
function nhsTokenSource(config: BridgeConfig): AccessTokenSource | undefined {
  const auth = config.nhs.auth;
  if (auth.kind === 'none') return undefined;
  let privateKeyPem: string;
  try {
    privateKeyPem = readPrivateKey(auth.privateKey);
  } catch (err) {
    throw new ConfigError(auth.privateKey.file ? 'NHS_PRIVATE_KEY_FILE' : 'NHS_PRIVATE_KEY', (err as Error).message);
  }
  return new PrivateKeyJwtTokenSource({
    tokenUrl: auth.tokenUrl,
    clientId: auth.clientId,
    ...(auth.keyId ? { keyId: auth.keyId } : {}),
    privateKeyPem,
    timeoutMs: config.nhs.timeoutMs,
  });
}
