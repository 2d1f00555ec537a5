import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AT_PARTNER_STATUSES, canTransition, isTerminal, type ReferralStatus } from '../domain/lifecycle';
import type { Referral } from '../domain/referral';
import { AUDIT_APPEND_LUA, type AuditEventInput, type AuditLog, type AuditScriptArgs } from './audit-log';
import type { DataCipher } from './crypto';
import type { Keys } from './keys';
import type { PartnerCode, ReferralMeta, TimelineEntry } from '../domain/referral-state';
import { decodeTimelineEntry, encodeTimelineEntry } from './timeline-codec';
import { fieldsOf, runScript } from './scripts';
import { TurnBatch } from './turn-batch';

/**
 * Referral state in Redis. Metadata (ids, status, timeline) is plain and holds no personal
 * data; the referral message itself and the frozen outbound payload are encrypted and expire.
 * Every status change goes through `transition`, which asks the one state machine and commits
 * status, timeline entry, partner index and police write-back outbox in one atomic script.
 */
export interface TransitionRequest {
  to: ReferralStatus;
  source: string;
  detail?: string;
  /** Only apply if the current status is one of these. */
  expectFrom?: ReferralStatus[];
  /** Metadata written with the change (never personal data). */
  patch?: Partial<
    Pick<
      ReferralMeta,
      | 'heldReason'
      | 'partnerRef'
      | 'partnerStatus'
      | 'partnerStatusAt'
      | 'partnerOutcome'
      | 'basisAt'
      | 'cancelReason'
      | 'lastError'
      | 'recordVersion'
      | 'correlationId'
    >
  >;
  /**
   * The referral's details, saved in the same commit (as `saveData` would, sealed): a referral
   * queued for delivery is never committed without them, and one not committed keeps none.
   */
  details?: { referral: Referral; untilSent: boolean };
  /** Required when the referral does not exist yet. */
  create?: Pick<ReferralMeta, 'referralId' | 'type' | 'crimeReference' | 'recordVersion' | 'correlationId'>;
  /**
   * The referral as the caller has just read it (null: read and absent), so the first attempt
   * skips reading it again. Safe when stale: the commit checks the status sequence and a
   * mismatch re-reads and re-decides.
   */
  known?: ReferralMeta | null;
  now?: Date;
  /**
   * Audit the change in its own commit: a `referral.status_changed` event by `actor`, and any
   * `also` events about this referral (e.g. `referral.sent`). Needs the store's audit log.
   */
  audit?: { actor: string; also?: Omit<AuditEventInput, 'referralId' | 'crimeReference'>[] };
}

export type TransitionResult =
  | {
      applied: true;
      from?: ReferralStatus;
      seq: number;
      correlationId: string;
      crimeReference: string;
      /** The referral's partner and reference as committed with the change, and the change itself: a write-back needs nothing more. */
      partner: PartnerCode;
      partnerRef?: string;
      entry: TimelineEntry;
      /** The referral's metadata as this commit left it (fields patched outside transitions since the read aside). */
      meta: ReferralMeta;
    }
  | { applied: false; from?: ReferralStatus; why: string };

const COMMIT_SCRIPT = `${AUDIT_APPEND_LUA}
local seq = redis.call('HGET', KEYS[1], 'statusSeq') or '0'
if seq ~= ARGV[1] then
  -- This very commit, run twice: ioredis resends a script whose reply was lost when Redis
  -- restarted, and the first run had committed. Its entry, timestamp and all, is the last one.
  if tonumber(seq) == tonumber(ARGV[1]) + 1 and redis.call('LINDEX', KEYS[2], -1) == ARGV[3] then return 1 end
  return 0
end
-- The audit events first: a script that fails part-way keeps what it wrote, and an event
-- without its change (a retry writes it again) is better than a change without its event.
if ARGV[13] then audit_append(KEYS[10], KEYS[11], ARGV[13], ARGV[14], audit_events(ARGV[15])) end
-- The referral's details, when the change brings them (a referral queued for delivery).
if ARGV[11] ~= '' then redis.call('SET', KEYS[5], ARGV[11], 'EX', ARGV[12]) end
-- The fields as one flat [name, value, ...] list: one HSET, not one call per field.
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[2])))
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
if ARGV[6] == 'add' then
  redis.call('SADD', KEYS[4], ARGV[7])
  -- At the partner, the frozen payload is all that is ever sent again: the details go, so less
  -- personal data is kept (and a fifth of the memory per referral).
  if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('DEL', KEYS[5]) end
else
  redis.call('SREM', KEYS[4], ARGV[7])
end
if ARGV[8] ~= '0' then
  redis.call('EXPIRE', KEYS[5], ARGV[8])
  redis.call('EXPIRE', KEYS[6], ARGV[8])
end
if ARGV[9] == 'new' then
  redis.call('SADD', KEYS[7], ARGV[7])
  -- Its crime's hash lists it (a field per referral: a small hash stays compact, a set does not).
  redis.call('HSET', KEYS[8], 'referral:' .. ARGV[7], '1')
end
-- The QUEUED index: every referral waiting to be delivered, by when it became QUEUED.
if ARGV[10] == 'queued' then redis.call('ZADD', KEYS[9], ARGV[4], ARGV[7]) else redis.call('ZREM', KEYS[9], ARGV[7]) end
return 1
`;

/**
 * Each crime version's digest, kept if it is the first, and whether it is the one kept: a
 * page's records in one call (they were two commands each). KEYS: the crimes' hashes; ARGV: a
 * field and a digest per key.
 */
const CLAIM_DIGESTS_SCRIPT = `
local claimed = {}
for i, key in ipairs(KEYS) do
  local field, digest = ARGV[2 * i - 1], ARGV[2 * i]
  if redis.call('HSETNX', key, field, digest) == 1 or redis.call('HGET', key, field) == digest then
    claimed[i] = 1
  else
    claimed[i] = 0
  end
end
return claimed
`;

/**
 * KEYS[1] a crime's lock, KEYS[2] its hash, KEYS[3..] referral hashes; ARGV[1] the token, ARGV[2]
 * the lock's TTL (ms). Taken (or already ours): 1, the crime's version, each hash as HGETALL
 * gives it. Another holder's: 0.
 */
const LOCK_CRIME_SCRIPT = `
local held = redis.call('GET', KEYS[1])
-- Our own token already there: this very call, resent after a Redis restart, had taken it.
if held and held ~= ARGV[1] then return { 0 } end
if not held then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
local state = { 1, redis.call('HGET', KEYS[2], 'version') }
for i = 3, #KEYS do state[i] = redis.call('HGETALL', KEYS[i]) end
return state
`;

/** KEYS[1] a crime's lock, KEYS[2] its hash; ARGV[1] the token, ARGV[2] the version applied ('' for none), ARGV[3] now. */
const UNLOCK_CRIME_SCRIPT = `
if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], 'version', ARGV[2], 'updatedAt', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/** KEYS[1] a referral's hash, KEYS[2] its frozen payload; ARGV: the status, sequence and record version expected, the sealed payload, its TTL. */
const FREEZE_IF_UNCHANGED_SCRIPT = `
local now = redis.call('HMGET', KEYS[1], 'status', 'statusSeq', 'recordVersion')
if now[1] ~= ARGV[1] or now[2] ~= ARGV[2] or now[3] ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
return 1
`;

/** A referral's hash as its metadata; the id comes from the key (hashes written before also hold it). */
function metaOf(id: string, fields: Record<string, string>): ReferralMeta {
  return {
    ...(fields as unknown as ReferralMeta),
    referralId: id,
    recordVersion: Number(fields.recordVersion),
    statusSeq: Number(fields.statusSeq),
  };
}

export class ReferralStore {
  /** Write-backs the RMS has stored: a turn's outbox entries cleared in one ZREM. */
  private readonly outboxAcks: TurnBatch<string>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly cipher: DataCipher,
    private readonly retentionSeconds: number,
    private readonly auditLog?: AuditLog,
  ) {
    this.outboxAcks = new TurnBatch((members) => redis.zrem(keys.outbox(), ...members));
  }

  async get(id: string): Promise<ReferralMeta | undefined> {
    const raw = await this.redis.hgetall(this.keys.referral(id));
    return raw.status ? metaOf(id, raw) : undefined;
  }

  /** Many referrals in one round trip, in the order asked; unknown ids are left out. */
  async getMany(ids: readonly string[]): Promise<ReferralMeta[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.referral(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies.flatMap(([err, raw], i) => {
      const fields = raw as Record<string, string> | undefined;
      return err || !fields?.status ? [] : [metaOf(ids[i]!, fields)];
    });
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    const entries = await this.redis.lrange(this.keys.timeline(id), 0, -1);
    return entries.map(decodeTimelineEntry);
  }

  async timelineEntry(id: string, seq: number): Promise<TimelineEntry | undefined> {
    const entry = await this.redis.lindex(this.keys.timeline(id), seq - 1);
    return entry ? decodeTimelineEntry(entry) : undefined;
  }

  /**
   * The latest referral message (personal data): encrypted, expires after the retention period.
   * `untilSent`: the referral is about to be delivered, and reaching the partner deletes these
   * details, so they are not worth compressing; held ones may wait for weeks and are.
   */
  async saveData(referral: Referral, { untilSent = false }: { untilSent?: boolean } = {}): Promise<void> {
    await this.redis.set(this.keys.data(referral.referralId), this.sealDetails(referral, untilSent), 'EX', this.retentionSeconds);
  }

  private sealDetails(referral: Referral, untilSent: boolean): Buffer {
    return this.cipher.sealJsonBytes(referral, referral.referralId, { compress: !untilSent });
  }

  async loadData(id: string): Promise<Referral | undefined> {
    const sealed = await this.redis.getBuffer(this.keys.data(id));
    return sealed ? this.cipher.openJsonBytes<Referral>(sealed, id) : undefined;
  }

  /**
   * The partner's own words about the last failure (they may quote the patient): sealed like the
   * referral's details and expiring after the same retention period. `lastError` holds only the
   * structured part, in clear.
   */
  async savePartnerText(id: string, text: string): Promise<void> {
    await this.redis.set(this.keys.partnerText(id), this.cipher.encrypt(text, `${id}:partner-text`), 'EX', this.retentionSeconds);
  }

  async loadPartnerText(id: string): Promise<string | undefined> {
    const sealed = await this.redis.get(this.keys.partnerText(id));
    return sealed ? this.cipher.decrypt(sealed, `${id}:partner-text`) : undefined;
  }

  /** The exact payload sent to the partner, frozen at the first attempt so retries are byte-identical. */
  async saveOutbound(id: string, payload: unknown): Promise<void> {
    await this.redis.set(this.keys.outbound(id), this.sealOutbound(id, payload), 'EX', this.retentionSeconds);
  }

  private sealOutbound(id: string, payload: unknown): Buffer {
    return this.cipher.sealJsonBytes(payload, `${id}:outbound`);
  }

  /**
   * Freezes the payload only if the referral is still as `meta` says (status, status sequence,
   * record version), in one call; false, with nothing saved, when it has changed since.
   */
  async saveOutboundIfUnchanged(
    meta: Pick<ReferralMeta, 'referralId' | 'status' | 'statusSeq' | 'recordVersion'>,
    payload: unknown,
  ): Promise<boolean> {
    const id = meta.referralId;
    const saved = await runScript(
      this.redis,
      FREEZE_IF_UNCHANGED_SCRIPT,
      2,
      this.keys.referral(id),
      this.keys.outbound(id),
      meta.status,
      String(meta.statusSeq),
      String(meta.recordVersion),
      this.sealOutbound(id, payload),
      String(this.retentionSeconds),
    );
    return saved === 1;
  }

  async loadOutbound<T>(id: string): Promise<T | undefined> {
    const sealed = await this.redis.getBuffer(this.keys.outbound(id));
    return sealed ? this.cipher.openJsonBytes<T>(sealed, `${id}:outbound`) : undefined;
  }

  /**
   * What delivery starts from, in one round trip: the frozen payload when there is one (a retry),
   * else the referral details to build it from. Only the one used is decrypted.
   */
  async loadForDelivery<T>(id: string): Promise<{ outbound?: T; data?: Referral }> {
    const [outbound, data] = await this.redis.mgetBuffer(this.keys.outbound(id), this.keys.data(id));
    if (outbound) return { outbound: this.cipher.openJsonBytes<T>(outbound, `${id}:outbound`) };
    return data ? { data: this.cipher.openJsonBytes<Referral>(data, id) } : {};
  }

  async patch(id: string, fields: TransitionRequest['patch']): Promise<void> {
    const entries = Object.entries(fields ?? {}).filter(([, v]) => v !== undefined);
    if (entries.length > 0) await this.redis.hset(this.keys.referral(id), Object.fromEntries(entries.map(([k, v]) => [k, String(v)])));
  }

  async transition(id: string, req: TransitionRequest): Promise<TransitionResult> {
    const details = req.details ? this.sealDetails(req.details.referral, req.details.untilSent) : '';
    for (let attempt = 0; attempt < 20; attempt++) {
      const meta = attempt === 0 && req.known !== undefined ? (req.known ?? undefined) : await this.get(id);
      const from = meta?.status;
      if (req.expectFrom && (!from || !req.expectFrom.includes(from))) return { applied: false, from, why: 'unexpected-status' };
      if (!meta && !req.create) return { applied: false, why: 'unknown-referral' };
      const verdict = canTransition(from, req.to);
      if (!verdict.apply) return { applied: false, from, why: verdict.why };

      const now = (req.now ?? new Date()).toISOString();
      const seq = (meta?.statusSeq ?? 0) + 1;
      const partner: PartnerCode = (meta?.type ?? req.create!.type) === 'CLINICAL' ? 'NHS' : 'CHARITY';
      const fields: Record<string, string> = { status: req.to, statusSeq: String(seq), updatedAt: now };
      if (!meta) {
        // No referralId field: the key names it (get and getMany put it back), and every
        // referral's hash is kept for as long as the bridge knows the referral.
        Object.assign(fields, {
          type: req.create!.type,
          partner,
          crimeReference: req.create!.crimeReference,
          recordVersion: String(req.create!.recordVersion),
          correlationId: req.create!.correlationId,
          createdAt: now,
        });
      }
      for (const [k, v] of Object.entries(req.patch ?? {})) if (v !== undefined) fields[k] = String(v);
      const entry: TimelineEntry = { seq, at: now, status: req.to, from, source: req.source, detail: req.detail };
      const expire = isTerminal(req.to) ? String(this.retentionSeconds) : '0';
      const crimeReference = meta?.crimeReference ?? req.create!.crimeReference;
      const audit = req.audit ? this.auditArgs(id, crimeReference, from, req.to, req.audit) : undefined;
      // A new referral joins the id sets in the same commit, so neither lists an id that has no state.
      const committed = await runScript(
        this.redis,
        COMMIT_SCRIPT,
        9 + (audit?.keys.length ?? 0),
        this.keys.referral(id),
        this.keys.timeline(id),
        this.keys.outbox(),
        this.keys.active(partner),
        this.keys.data(id),
        this.keys.outbound(id),
        this.keys.allReferrals(),
        this.keys.crime(crimeReference),
        this.keys.queued(),
        ...(audit?.keys ?? []),
        String(meta?.statusSeq ?? 0),
        JSON.stringify(Object.entries(fields).flat()),
        encodeTimelineEntry(entry),
        String(Date.now()),
        `${id}|${seq}`,
        AT_PARTNER_STATUSES.has(req.to) ? 'add' : 'rem',
        id,
        expire,
        meta ? 'existing' : 'new',
        req.to === 'QUEUED' ? 'queued' : 'other',
        details,
        String(this.retentionSeconds),
        ...(audit?.args ?? []),
      );
      if (committed === 1) {
        const partnerRef = fields.partnerRef ?? meta?.partnerRef;
        return {
          applied: true,
          from,
          seq,
          correlationId: fields.correlationId ?? meta!.correlationId,
          crimeReference,
          partner,
          ...(partnerRef ? { partnerRef } : {}),
          entry,
          meta: metaOf(id, { ...(meta as unknown as Record<string, string> | undefined), ...fields }),
        };
      }
      // Someone else changed it between our read and the commit: read again and re-decide.
    }
    throw new Error(`referral ${id}: too much contention on status change`);
  }

  private auditArgs(
    id: string,
    crimeReference: string,
    from: ReferralStatus | undefined,
    to: ReferralStatus,
    audit: NonNullable<TransitionRequest['audit']>,
  ): AuditScriptArgs {
    if (!this.auditLog) throw new Error('this referral store has no audit log to record the change in');
    const about = { referralId: id, crimeReference };
    const events = [
      {
        actor: audit.actor,
        action: 'referral.status_changed' as const,
        ...about,
        status: to,
        ...(from ? { outcome: `from_${from}` } : {}),
      },
      ...(audit.also ?? []).map((e) => ({ ...e, ...about })),
    ].map((e) => this.auditLog!.prepare(e));
    // Keys from KEYS[10], after the commit's own nine.
    return this.auditLog.scriptArgs(
      events.filter((e) => e !== undefined),
      10,
    );
  }

  /** The crime's referrals: fields of its hash, and of the set that listed them before. */
  async idsForCrime(crimeReference: string): Promise<string[]> {
    const replies = (await this.redis
      .pipeline()
      .hkeys(this.keys.crime(crimeReference))
      .smembers(this.keys.crimeReferrals(crimeReference))
      .exec()) as [Error | null, string[]][];
    for (const [err] of replies) if (err) throw err;
    const ids = new Set(replies[1]![1]);
    for (const field of replies[0]![1]) if (field.startsWith('referral:')) ids.add(field.slice(9));
    return [...ids];
  }

  async allIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.allReferrals());
  }

  /** Every referral's status, read in one round trip (for reports and progress). */
  async statuses(): Promise<Map<string, ReferralStatus>> {
    const ids = await this.allIds();
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.keys.referral(id), 'status');
    const replies = (await pipeline.exec()) ?? [];
    const out = new Map<string, ReferralStatus>();
    ids.forEach((id, i) => {
      const status = replies[i]?.[1];
      if (typeof status === 'string' && status) out.set(id, status as ReferralStatus);
    });
    return out;
  }

  /** The status poll's sweep of the QUEUED index: the next page of those QUEUED longer than `olderThanMs` (see sweepPage). */
  async sweepQueued(olderThanMs: number, limit = 500): Promise<string[]> {
    return this.sweepPage('queued', this.keys.queued(), olderThanMs, limit);
  }

  /** The status poll's sweep of the write-back outbox: the next page of entries older than `olderThanMs` (see sweepPage). */
  async sweepOutbox(olderThanMs: number, limit = 500): Promise<{ referralId: string; seq: number }[]> {
    return (await this.sweepPage('outbox', this.keys.outbox(), olderThanMs, limit)).map(parseOutboxMember);
  }

  /**
   * A page of a time-ordered index, older than `olderThanMs`, starting where the last page of
   * this sweep ended, and from the oldest again after the end. Always reading the oldest page
   * would leave a long backlog whose oldest entries are all in hand (a partner down, its
   * referrals waiting on retries) hiding the rest. Entries leaving meanwhile shift the offset, so
   * a pass can step over one; the next pass starts from the oldest again.
   */
  private async sweepPage(name: 'queued' | 'outbox', index: string, olderThanMs: number, limit: number): Promise<string[]> {
    const offsetKey = this.keys.sweepOffset(name);
    const max = Date.now() - olderThanMs;
    let offset = Number((await this.redis.get(offsetKey)) ?? 0);
    let page = await this.redis.zrangebyscore(index, 0, max, 'LIMIT', offset, limit);
    if (page.length === 0 && offset > 0) {
      offset = 0;
      page = await this.redis.zrangebyscore(index, 0, max, 'LIMIT', 0, limit);
    }
    await this.redis.set(offsetKey, String(page.length < limit ? 0 : offset + page.length), 'EX', 86_400);
    return page;
  }

  async activeIds(partner: PartnerCode): Promise<string[]> {
    return this.redis.smembers(this.keys.active(partner));
  }

  /** Highest record version fully processed for a crime; older versions must never overwrite it. */
  async crimeVersion(crimeReference: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.crime(crimeReference), 'version')) ?? 0);
  }

  /**
   * Takes the crime's lock (as RedisLock, under the same key) and, in the same call, reads the
   * crime's applied version and its referrals' states (unknown ones undefined, in the order
   * asked): intake's start on one record version. No token: another process holds the crime.
   * The same call again with the same token (a resend) finds the lock its own.
   */
  async lockCrime(
    crimeReference: string,
    ids: readonly string[],
    ttlMs: number,
    token: string = randomUUID(),
  ): Promise<{ token?: string; version: number; metas: (ReferralMeta | undefined)[] }> {
    const [taken, version, ...hashes] = (await runScript(
      this.redis,
      LOCK_CRIME_SCRIPT,
      2 + ids.length,
      this.keys.lock(`crime:${crimeReference}`),
      this.keys.crime(crimeReference),
      ...ids.map((id) => this.keys.referral(id)),
      token,
      String(ttlMs),
    )) as [number, string | null, ...string[][]];
    if (taken !== 1) return { version: 0, metas: [] };
    const metas = ids.map((id, i) => {
      const fields = fieldsOf(hashes[i] ?? []);
      return fields.status ? metaOf(id, fields) : undefined;
    });
    return { token, version: Number(version ?? 0), metas };
  }

  /** Releases the crime's lock if `token` still holds it, first recording `appliedVersion` (if given) as the crime's version. */
  async unlockCrime(crimeReference: string, token: string, appliedVersion?: number): Promise<void> {
    await runScript(
      this.redis,
      UNLOCK_CRIME_SCRIPT,
      2,
      this.keys.lock(`crime:${crimeReference}`),
      this.keys.crime(crimeReference),
      token,
      appliedVersion === undefined ? '' : String(appliedVersion),
      new Date().toISOString(),
    );
  }

  /**
   * The first digest received for each (crime, version) is kept beside the crime's version; each
   * entry is told whether its digest is that one (false: the version came before with other
   * content). One round trip for a page, atomic, so two documents racing agree on the first.
   */
  async claimVersionDigests(entries: { crimeReference: string; recordVersion: number; digest: string }[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const claimed = (await runScript(
      this.redis,
      CLAIM_DIGESTS_SCRIPT,
      entries.length,
      ...entries.map((e) => this.keys.crime(e.crimeReference)),
      ...entries.flatMap((e) => [`digest:${e.recordVersion}`, e.digest]),
    )) as number[];
    return entries.map((_, i) => claimed[i] === 1);
  }

  // ---- police write-back outbox: a status change is pending until the RMS has stored it ----

  async pendingWriteBacks(olderThanMs: number, limit = 500): Promise<{ referralId: string; seq: number }[]> {
    const members = await this.redis.zrangebyscore(this.keys.outbox(), 0, Date.now() - olderThanMs, 'LIMIT', 0, limit);
    return members.map(parseOutboxMember);
  }

  /** How many write-backs each of these referrals has waiting (the outbox is small: changes not yet stored). */
  async pendingWriteBacksOf(ids: readonly string[]): Promise<Map<string, number>> {
    const wanted = new Set(ids);
    const counts = new Map<string, number>();
    for (const member of await this.redis.zrange(this.keys.outbox(), 0, 9_999)) {
      const { referralId } = parseOutboxMember(member);
      if (wanted.has(referralId)) counts.set(referralId, (counts.get(referralId) ?? 0) + 1);
    }
    return counts;
  }

  /** Every record version of a crime the bridge has received (each claims its digest once). */
  async versionsSeen(crimeReference: string): Promise<number[]> {
    const fields = await this.redis.hkeys(this.keys.crime(crimeReference));
    return fields.flatMap((f) => (f.startsWith('digest:') ? [Number(f.slice(7))] : [])).sort((a, b) => a - b);
  }

  async outboxSize(): Promise<number> {
    return this.redis.zcard(this.keys.outbox());
  }

  ackWriteBack(referralId: string, seq: number): Promise<void> {
    return this.outboxAcks.add(`${referralId}|${seq}`);
  }
}

function parseOutboxMember(member: string): { referralId: string; seq: number } {
  const [referralId, seq] = member.split('|');
  return { referralId: referralId!, seq: Number(seq) };
}
