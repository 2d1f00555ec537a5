import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError, type BridgeConfig } from '../config';
import { sealedKeyId, type DataCipher } from './crypto';
import type { Keys } from './keys';

/**
 * What the bridge checks in Redis at start, before any worker or poll runs:
 *
 * - **Lost state.** The first start writes `{prefix}:bridge-started` (no expiry) with the time.
 *   A later start that finds it missing, and no referral, cursor or audit trail either, is
 *   looking at an emptied Redis (flushed, a new instance, a wrong db or prefix): the feed will be
 *   re-read from the start. That is logged as an alert unless `IASU_FIRST_START` says an empty
 *   Redis is expected.
 * - **Data keys.** The marker holds a canary sealed under the data key in use; at start the
 *   canary and one referral's sealed details must open with `DATA_KEYS`, or the bridge refuses
 *   to start, naming the key id (a key replaced instead of rotated, another environment's key).
 *   Once the canary opens, it is sealed again under the newest key.
 */
export type BridgeStateCheck = 'first-start' | 'lost' | 'earlier-version' | 'present';

const CANARY = 'iasu-bridge data key canary';
const CANARY_AAD = 'bridge-started:canary';

export interface BridgeStateDeps {
  redis: Redis;
  keys: Keys;
  cipher: DataCipher;
  logger: Logger;
  config: Pick<BridgeConfig, 'redis'>;
}

export async function checkBridgeState(deps: BridgeStateDeps): Promise<BridgeStateCheck> {
  const { redis, keys, cipher, logger } = deps;
  const marker = await redis.hgetall(keys.bridgeStarted());
  const firstStart = deps.config.redis.firstStart;
  let result: BridgeStateCheck;
  if (marker.startedAt) {
    result = 'present';
    if (firstStart) {
      logger.warn(
        { since: marker.startedAt },
        'IASU_FIRST_START is set, but the bridge has run on this Redis before: unset it, or an emptied Redis would go unnoticed',
      );
    }
    if (marker.canary) openOrRefuse(cipher, marker.canary, CANARY_AAD, 'the start marker');
  } else {
    const held = await redis.exists(keys.cursor(), keys.allReferrals(), keys.audit(), keys.quarantineIndex());
    if (held > 0) {
      result = 'earlier-version';
      logger.info('bridge state found without a start marker (written by an earlier version): marking it');
    } else if (firstStart) {
      result = 'first-start';
      logger.info({ prefix: keys.prefix }, 'fresh Redis: first start of the bridge here');
    } else {
      result = 'lost';
      logger.error(
        { alert: true, prefix: keys.prefix },
        "Redis holds no bridge state (empty or flushed): the feed will be re-read from the start; partners' idempotency keys prevent duplicates. Set IASU_FIRST_START=1 on a first start to silence this",
      );
    }
  }
  await checkOneReferral(redis, keys, cipher);
  const canary = cipher.encrypt(CANARY, CANARY_AAD);
  if (!marker.startedAt) await redis.hsetnx(keys.bridgeStarted(), 'startedAt', new Date().toISOString());
  if (!marker.canary || sealedKeyId(marker.canary) !== sealedKeyId(canary)) await redis.hset(keys.bridgeStarted(), 'canary', canary);
  return result;
}

/** One referral's sealed details, if any are held: the data most likely sealed under an older key. */
async function checkOneReferral(redis: Redis, keys: Keys, cipher: DataCipher): Promise<void> {
  const id = await redis.srandmember(keys.allReferrals());
  if (!id) return;
  const sealed = await redis.getBuffer(keys.data(id));
  if (sealed) openOrRefuse(cipher, sealed, id, `referral ${id}`);
}

function openOrRefuse(cipher: DataCipher, sealed: string | Buffer, aad: string, what: string): void {
  try {
    if (typeof sealed === 'string') cipher.decrypt(sealed, aad);
    else cipher.openBytes(sealed, aad);
  } catch (err) {
    const keyId = sealedKeyId(sealed);
    const message = (err as Error).message;
    const why = message.startsWith('no data key')
      ? 'DATA_KEYS does not list that key id (when rotating, keep the old key after the new one while data sealed under it remains)'
      : message === 'not an encrypted value'
        ? 'it is not a sealed value'
        : 'the key DATA_KEYS gives under that id is not the one it was sealed with';
    throw new ConfigError('DATA_KEYS', `cannot open data sealed under key id ${keyId} (${what}): ${why}`);
  }
}
