import type { Redis } from 'ioredis';
import { isValidNhsNumber } from '../domain/nhs-number';
import type { Logger } from '../logger';
import { fieldsOf, runScript } from './scripts';

/**
 * The audit trail: who did what to which referral, and when, as metadata only. An append-only
 * Redis Stream keyed by time, with an index of each referral's entry ids (written together by
 * one script), trimmed after the retention period; nothing can change or delete an event. Every
 * field is checked against personal-data shapes, and one that fails is dropped and named in `rejected`.
 * `record` never blocks the pipeline; `recordOrThrow` fails closed for reads that must be
 * recorded; a status change commits its event in its own script (`AUDIT_APPEND_LUA`).
 */
export type AuditAction =
  | 'record.ingested'
  | 'record.quarantined'
  | 'referral.sent'
  | 'referral.status_changed'
  | 'dead_letter.redriven'
  | 'dead_letter.discarded'
  | 'quarantine.discarded'
  | 'quarantine.released'
  | 'admin.read';

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  'record.ingested',
  'record.quarantined',
  'referral.sent',
  'referral.status_changed',
  'dead_letter.redriven',
  'dead_letter.discarded',
  'quarantine.discarded',
  'quarantine.released',
  'admin.read',
];

export type AuditPartner = 'POLICE' | 'NHS' | 'CHARITY' | 'BRIDGE';
export const AUDIT_PARTNERS: readonly AuditPartner[] = ['POLICE', 'NHS', 'CHARITY', 'BRIDGE'];

export interface AuditEvent {
  /** ISO time, set by the log (the time part of the stream id). */
  at: string;
  /** 'system', 'police-push', 'charity-webhook', 'nhs-bars'…, or an operator's JWT subject ('operator:alice'). */
  actor: string;
  action: AuditAction;
  /** UUID. */
  referralId?: string;
  crimeReference?: string;
  partner?: AuditPartner;
  /** A ReferralStatus or a partner status code. */
  status?: string;
  /** A short code: 'applied', 'quarantined', 'redriven', 'discarded', 'ok', a reason code… */
  outcome?: string;
  /** What an admin read or acted on: a route template or a dead-letter id (no personal data). */
  target?: string;
}

export type AuditEventInput = Omit<AuditEvent, 'at'>;

/** An event as stored: its stream id, and the fields dropped by validation (if any). */
export interface AuditEntry extends AuditEvent {
  id: string;
  rejected?: AuditField[];
}

export interface AuditFilter {
  referralId?: string;
  /** Inclusive. */
  from?: Date;
  /** Inclusive (to the millisecond). */
  to?: Date;
  /** `query`: default 1,000, at most 10,000. `exportJsonLines`: no limit unless given. */
  limit?: number;
}

export interface AuditKeys {
  audit(): string;
  /** The last id appended to the log (and so to any referral's index). */
  auditLastId(): string;
  /** The referral's entry ids in the log, oldest first (see AUDIT_APPEND_LUA); a stream of whole entries if written before the index. */
  auditByReferral(referralId: string): string;
}

/** The fields an event may carry; `unknown-field` stands for any other key (its name is not kept). */
export type AuditField = keyof AuditEventInput | 'unknown-field';

// ---------------------------------------------------------------------------------------------
// Validation: a pure function, so the rule is unit-tested on its own.

// An operator is named by the identity provider's `sub`: OpenID Connect allows any printable ASCII
// up to 255 characters (`auth0|5f7c…`, `google-oauth2|1035…`, base64 with `+/=`).
const ACTOR = /^(system|police-push|police-poll|charity-webhook|charity-poll|nhs-bars|nhs-poll|reconcile|operator:[\x21-\x7e]{1,255})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_ANYWHERE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const CRIME_REFERENCE = /^[A-Z0-9][A-Z0-9/-]{2,39}$/i;
const CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
const TARGET = /^[A-Za-z0-9_./{}:@-]{1,120}$/;

/** What an actor that fails validation is recorded as: the event still says something happened. */
export const UNKNOWN_ACTOR = 'unknown';
export const UNKNOWN_OPERATOR = 'operator:unknown';

const MONTHS = 'jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec';
const DAY = '(?:0?[1-9]|[12]\\d|3[01])';
const MONTH = '(?:0?[1-9]|1[0-2])';
const SEP = '[-/._]';

/**
 * Shapes of personal data that the strict field patterns alone would let through. `crimeRef`
 * says whether the shape is also looked for in a crime reference, which is legitimately made of
 * digit groups: there only the unambiguous shapes apply.
 */
const PERSONAL_SHAPES: { name: string; pattern: RegExp; crimeRef: boolean }[] = [
  { name: 'email', pattern: /[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/, crimeRef: true },
  { name: 'date-ymd', pattern: new RegExp(`(?<!\\d)(?:19|20)\\d{2}${SEP}${MONTH}${SEP}${DAY}(?!\\d)`), crimeRef: true },
  { name: 'date-dmy', pattern: new RegExp(`(?<!\\d)${DAY}${SEP}${MONTH}${SEP}(?:19|20)\\d{2}(?!\\d)`), crimeRef: true },
  { name: 'date-dmyy', pattern: new RegExp(`(?<!\\d)${DAY}${SEP}${MONTH}${SEP}\\d{2}(?!\\d)`), crimeRef: false },
  {
    name: 'date-compact',
    pattern:
      /(?<!\d)(?:(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19|20)\d{2})(?!\d)/,
    crimeRef: false,
  },
  { name: 'date-month-name', pattern: new RegExp(`\\d{1,2}${SEP}?(?:${MONTHS})[a-z]*${SEP}?\\d{2,4}`, 'i'), crimeRef: true },
  { name: 'phone-uk', pattern: /(?<!\d)(?:0|44)[1-9]\d{8,9}(?!\d)/, crimeRef: true },
  { name: 'digit-run', pattern: /(?<!\d)\d{10,}(?!\d)/, crimeRef: false },
  { name: 'digit-groups', pattern: /(?<!\d)\d{3,5}[-._]\d{3}[-._]?\d{3,4}(?!\d)/, crimeRef: false },
  { name: 'postcode', pattern: /(?<![A-Za-z0-9])[A-Za-z]{1,2}\d[A-Za-z\d]?[-_.]?\d[A-Za-z]{2}(?![A-Za-z0-9])/, crimeRef: false },
  { name: 'name-pair', pattern: /(?<![A-Za-z])[A-Z][a-z]+[._-][A-Z][a-z]+/, crimeRef: true },
];

function looksPersonal(value: string, field: 'actor' | 'crimeReference' | 'code' | 'target'): boolean {
  // UUIDs (referral ids, message ids inside a dead-letter id) are hex-and-dash runs that some of the
  // digit shapes would mistake for numbers: they are ids, so they are masked first.
  const masked = value.replace(UUID_ANYWHERE, '~');
  if (field === 'crimeReference') {
    if (!/\d/.test(value)) return true; // a crime reference has digits; "JANE-DOE" does not
    if ((masked.match(/\d{10}/g) ?? []).some((d) => isValidNhsNumber(d))) return true;
  }
  if (field === 'actor') {
    // An operator's own subject ("Jane.Doe", an IdP's long numeric id) is the "who" of the audit;
    // only contact details and NHS numbers are refused there.
    if ((masked.match(/(?<!\d)\d{10}(?!\d)/g) ?? []).some((d) => isValidNhsNumber(d))) return true;
    return PERSONAL_SHAPES.some((s) => ACTOR_SHAPES.has(s.name) && s.pattern.test(masked));
  }
  return PERSONAL_SHAPES.some((s) => (field !== 'crimeReference' || s.crimeRef) && s.pattern.test(masked));
}

const ACTOR_SHAPES = new Set(['email', 'phone-uk']);

/** Whether the audit records this actor as given (an operator's token is refused when not). */
export function isAuditableActor(actor: string): boolean {
  return STRING_FIELDS.actor(actor);
}

const STRING_FIELDS: Record<Exclude<keyof AuditEventInput, 'action' | 'partner'>, (v: string) => boolean> = {
  actor: (v) => ACTOR.test(v) && !looksPersonal(v, 'actor'),
  referralId: (v) => UUID.test(v),
  crimeReference: (v) => CRIME_REFERENCE.test(v) && !looksPersonal(v, 'crimeReference'),
  status: (v) => CODE.test(v) && !looksPersonal(v, 'code'),
  outcome: (v) => CODE.test(v) && !looksPersonal(v, 'code'),
  target: (v) => TARGET.test(v) && !looksPersonal(v, 'target'),
};

/** The order fields are written and read in. */
const FIELD_ORDER = ['actor', 'action', 'referralId', 'crimeReference', 'partner', 'status', 'outcome', 'target'] as const;

export interface SanitisedAuditEvent {
  /** Undefined only when the action itself is not one of AUDIT_ACTIONS: there is nothing to record. */
  event: AuditEventInput | undefined;
  /** Fields dropped (in FIELD_ORDER, then `unknown-field`); empty when the event was clean. */
  rejected: AuditField[];
}

/**
 * Keeps the fields that are metadata and drops the rest. Pure; never throws, whatever it is
 * given at run time. An actor that fails becomes 'operator:unknown' (for an operator) or
 * 'unknown', so the event is still recorded; any key that is not an audit field is dropped and
 * reported as 'unknown-field' (its name is not kept either).
 */
export function sanitiseAuditEvent(input: AuditEventInput): SanitisedAuditEvent {
  const raw = (input ?? {}) as unknown as Record<string, unknown>;
  const rejected: AuditField[] = [];
  const out: Record<string, string> = {};
  for (const field of FIELD_ORDER) {
    const value = raw[field];
    if (value === undefined || value === null) {
      if (field === 'actor') {
        rejected.push('actor');
        out.actor = UNKNOWN_ACTOR;
      }
      continue;
    }
    let ok: boolean;
    if (typeof value !== 'string') ok = false;
    else if (field === 'action') ok = (AUDIT_ACTIONS as readonly string[]).includes(value);
    else if (field === 'partner') ok = (AUDIT_PARTNERS as readonly string[]).includes(value);
    else ok = STRING_FIELDS[field](value);
    if (ok) out[field] = value as string;
    else {
      rejected.push(field);
      if (field === 'actor') out.actor = typeof value === 'string' && value.startsWith('operator:') ? UNKNOWN_OPERATOR : UNKNOWN_ACTOR;
    }
  }
  if (Object.keys(raw).some((k) => !(FIELD_ORDER as readonly string[]).includes(k) && raw[k] !== undefined)) rejected.push('unknown-field');
  if (!out.action) {
    if (!rejected.includes('action')) rejected.unshift('action');
    return { event: undefined, rejected };
  }
  return { event: out as unknown as AuditEventInput, rejected };
}

// ---------------------------------------------------------------------------------------------
// Storage

/**
 * Lua shared by the append script here and the referral store's commit (a status change and its
 * audit event are one atomic write). `audit_append(k_log, k_last, cutoff, ttl, events)` appends
 * each event (`{ms, ref key or false, fields}`) to the log and, with a ref key, its id to the
 * referral's index, under one id: `{event ms}-0`, or — when that is not after the last id (same
 * millisecond, or an event written late) — the last id's millisecond with the next sequence
 * number, so ids, and so `at`, never go backwards.
 *
 * A referral's index is a string of its ids, each followed by a comma, rewritten whole with its
 * expiry by one SET per script: some 16 bytes an event, where a stream or even a list (a
 * quicklist on Redis 7.0) costs more in structure than the ids themselves. Its ids older than
 * the cutoff are cut off as MINID trims the log. A referral's key that is still a stream (written
 * before the index) keeps having whole entries appended, so it never meets a WRONGTYPE.
 *
 * The last id is kept in `k_last`: reading it back with XINFO STREAM, twice per event, was most
 * of the script's cost in Redis. Without that key (a log from before it was kept) the keys' own
 * last ids are read. Returns the ids.
 */
export const AUDIT_APPEND_LUA = `
local function audit_key_last(key)
  local kind = redis.call('TYPE', key).ok
  if kind == 'string' then
    local ms, seq = string.match(redis.call('GET', key), '(%d+)-(%d+),$')
    if ms then return tonumber(ms), tonumber(seq) end
  elseif kind == 'stream' then
    local info = redis.call('XINFO', 'STREAM', key)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        local ms, seq = string.match(info[i + 1], '^(%d+)-(%d+)$')
        return tonumber(ms), tonumber(seq)
      end
    end
  end
  return 0, 0
end
-- The index without its ids from before the cutoff (they are in order: those are at its head).
local function audit_index_trim(index, cutoff)
  local limit, pos = tonumber(cutoff), 1
  while true do
    local dash = string.find(index, '-', pos, true)
    if not dash or tonumber(string.sub(index, pos, dash - 1)) >= limit then break end
    pos = string.find(index, ',', dash, true) + 1
  end
  return pos > 1 and string.sub(index, pos) or index
end
local function audit_append(k_log, k_last, cutoff, ttl, events)
  if #events == 0 then return {} end
  local ms, seq
  local last = redis.call('GET', k_last)
  if last then
    local m, s = string.match(last, '^(%d+)-(%d+)$')
    ms, seq = tonumber(m), tonumber(s)
  end
  if not ms then
    ms, seq = audit_key_last(k_log)
    for _, e in ipairs(events) do
      if e.ref then
        local m2, s2 = audit_key_last(e.ref)
        if m2 > ms or (m2 == ms and s2 > seq) then ms, seq = m2, s2 end
      end
    end
  end
  local ids = {}
  -- Per referral key: its new ids, or false for a stream (written as it is met).
  local added, refs = {}, {}
  for _, e in ipairs(events) do
    if e.ms > ms then ms, seq = e.ms, 0 else seq = seq + 1 end
    local id = string.format('%.0f-%.0f', ms, seq)
    redis.call('XADD', k_log, 'MINID', cutoff, id, unpack(e.fields))
    if e.ref then
      if added[e.ref] == nil then
        refs[#refs + 1] = e.ref
        added[e.ref] = redis.call('TYPE', e.ref).ok ~= 'stream' and {}
      end
      if added[e.ref] then
        added[e.ref][#added[e.ref] + 1] = id
      else
        redis.call('XADD', e.ref, 'MINID', cutoff, id, unpack(e.fields))
        redis.call('EXPIRE', e.ref, ttl)
      end
    end
    ids[#ids + 1] = id
  end
  for _, ref in ipairs(refs) do
    if added[ref] then
      local index = audit_index_trim(redis.call('GET', ref) or '', cutoff)
      redis.call('SET', ref, index .. table.concat(added[ref], ',') .. ',', 'EX', ttl)
    end
  end
  redis.call('SET', k_last, ids[#ids])
  return ids
end
-- ARGV[n] holds events as JSON, [[ms, index into KEYS of the referral's index or 0, field, value, ...], ...]
local function audit_events(json)
  local events = {}
  for _, raw in ipairs(cjson.decode(json)) do
    local fields = {}
    for i = 3, #raw do fields[#fields + 1] = raw[i] end
    events[#events + 1] = { ms = tonumber(raw[1]), ref = raw[2] > 0 and KEYS[raw[2]] or false, fields = fields }
  end
  return events
end
`;

/** KEYS[1] the log, KEYS[2] its last id, KEYS[3..] referral indexes; ARGV[1] MINID cutoff (ms), ARGV[2] referral index TTL (s), ARGV[3] the events. */
const APPEND_SCRIPT = `${AUDIT_APPEND_LUA}
return audit_append(KEYS[1], KEYS[2], ARGV[1], ARGV[2], audit_events(ARGV[3]))
`;

/** An event checked and laid out for the append: its time, its referral (for that index) and its fields in order. */
export interface PreparedAuditEvent {
  ms: number;
  referralId?: string;
  fields: string[];
}

/** What a script needs to append events: keys from `firstKey` on, and three arguments. */
export interface AuditScriptArgs {
  keys: string[];
  args: [cutoff: string, ttl: string, events: string];
}

/** Events appended in one script call at most (a page of records is split): a long script blocks Redis. */
const APPEND_BATCH = 100;

const PAGE = 500;
const DEFAULT_QUERY_LIMIT = 1000;
const MAX_QUERY_LIMIT = 10_000;
const MAX_SEQ = '18446744073709551615';
const DAY_MS = 24 * 3600 * 1000;

export class AuditLog {
  private readonly retentionMs: number;
  private readonly logger: Logger | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: AuditKeys,
    opts: { retentionDays: number; logger?: Logger },
  ) {
    if (!(opts.retentionDays > 0) || !Number.isFinite(opts.retentionDays))
      throw new RangeError('audit retentionDays must be a positive number');
    this.retentionMs = opts.retentionDays * DAY_MS;
    this.logger = opts.logger;
  }

  /**
   * Appends an event. Never throws and never rejects: the caller's work does not fail because
   * auditing did. Invalid fields are dropped (and named in `rejected`); a write that fails is
   * logged with the action and error message only. `at` defaults to now; an `at` earlier than
   * the last event is moved up to it (the log is time-ordered and never goes backwards).
   */
  async record(event: AuditEventInput, at?: Date): Promise<void> {
    try {
      await this.recordOrThrow(event, at);
    } catch (err) {
      this.logger?.error({ action: safeAction(event), err: (err as Error)?.message ?? String(err) }, 'audit write failed');
    }
  }

  /**
   * As `record`, but a failed write rejects, for callers that must fail closed. Validation is the
   * same (invalid fields are dropped, not thrown); resolves to the stream id, or undefined when
   * the action was invalid and nothing was written.
   */
  async recordOrThrow(event: AuditEventInput, at?: Date): Promise<string | undefined> {
    const prepared = this.prepare(event, at);
    if (!prepared) return undefined;
    const [id] = await this.append([prepared]);
    return id;
  }

  /**
   * As `record` for many events, in as few round trips as there are batches of a hundred (a
   * page of records). Never throws; events that fail validation entirely are skipped.
   */
  async recordMany(events: AuditEventInput[], at?: Date): Promise<void> {
    const prepared = events.map((e) => this.prepare(e, at)).filter((p): p is PreparedAuditEvent => p !== undefined);
    for (let i = 0; i < prepared.length; i += APPEND_BATCH) {
      const batch = prepared.slice(i, i + APPEND_BATCH);
      try {
        await this.append(batch);
      } catch (err) {
        this.logger?.error(
          { action: safeAction(events[0]), events: batch.length, err: (err as Error)?.message ?? String(err) },
          'audit write failed',
        );
      }
    }
  }

  /**
   * Validates an event (dropping and logging what fails) and lays it out for an append, timed
   * now unless `at` is given; undefined when nothing may be written. The referral store uses it
   * to commit a status change and its event together.
   */
  prepare(event: AuditEventInput, at?: Date): PreparedAuditEvent | undefined {
    const { event: clean, rejected } = sanitiseAuditEvent(event);
    if (rejected.length > 0)
      this.logger?.warn({ action: safeAction(event), rejected }, clean ? 'audit event fields dropped' : 'audit event dropped');
    if (!clean) return undefined;
    const ms = Math.max(0, Math.trunc(at && Number.isFinite(at.getTime()) ? at.getTime() : Date.now()));
    // Every field, '' for one the event lacks: an entry whose field names match the first of its
    // stream node's stores only its values, and mixed layouts held the names again in each entry.
    const fields: string[] = [];
    for (const f of FIELD_ORDER) fields.push(f, clean[f] ?? '');
    if (rejected.length > 0) fields.push('rejected', rejected.join(','));
    return { ms, ...(clean.referralId ? { referralId: clean.referralId } : {}), fields };
  }

  /**
   * The keys and arguments for `audit_append` (AUDIT_APPEND_LUA) in a script whose audit keys
   * start at KEYS[firstKey]: the log, its last id, then each referral's index once.
   */
  scriptArgs(events: PreparedAuditEvent[], firstKey = 1): AuditScriptArgs {
    const keys = [this.keys.audit(), this.keys.auditLastId()];
    const refIndex = new Map<string, number>();
    const rows = events.map((e) => {
      let ref = 0;
      if (e.referralId) {
        ref = refIndex.get(e.referralId) ?? 0;
        if (!ref) {
          keys.push(this.keys.auditByReferral(e.referralId));
          ref = firstKey + keys.length - 1;
          refIndex.set(e.referralId, ref);
        }
      }
      return [String(e.ms), ref, ...e.fields];
    });
    // The cutoff follows the newest event, as one append per event did.
    const newest = events.reduce((m, e) => Math.max(m, e.ms), 0);
    return {
      keys,
      args: [String(Math.max(0, newest - this.retentionMs)), String(Math.ceil(this.retentionMs / 1000)), JSON.stringify(rows)],
    };
  }

  private async append(events: PreparedAuditEvent[]): Promise<string[]> {
    const { keys, args } = this.scriptArgs(events);
    const ids = (await runScript(this.redis, APPEND_SCRIPT, keys.length, ...keys, ...args)) as string[];
    return ids.map(String);
  }

  /** Events matching the filter, oldest first. */
  async query(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const limit = Math.min(MAX_QUERY_LIMIT, positiveLimit(filter.limit) ?? DEFAULT_QUERY_LIMIT);
    const out: AuditEntry[] = [];
    await scan(this.redis, this.keys, filter, limit, (e) => {
      out.push(e);
    });
    return out;
  }

  /**
   * Streams the matching events, oldest first, as JSON lines (the same objects `query` returns),
   * reading the stream in pages of 500. Each call of `write` gets one line *with* its trailing
   * "\n", so what is written, concatenated, is the JSON-lines document; `write` may return a
   * promise (back-pressure), which is awaited. Returns the number of events written.
   */
  async exportJsonLines(filter: AuditFilter, write: (line: string) => void | Promise<void>): Promise<number> {
    let count = 0;
    await scan(this.redis, this.keys, filter, positiveLimit(filter.limit) ?? Infinity, async (e) => {
      await write(`${JSON.stringify(e)}\n`);
      count++;
    });
    return count;
  }
}

function safeAction(event: unknown): string {
  const action = (event as { action?: unknown } | undefined)?.action;
  return typeof action === 'string' && (AUDIT_ACTIONS as readonly string[]).includes(action) ? action : 'invalid';
}

function positiveLimit(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  if (!Number.isFinite(limit) && limit !== Infinity) throw new RangeError('audit query limit must be a number');
  return Math.max(0, Math.floor(limit));
}

function msOf(d: Date, name: string): number {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`audit query ${name} is not a valid date`);
  return Math.max(0, Math.trunc(ms));
}

async function scan(
  redis: Redis,
  keys: AuditKeys,
  filter: AuditFilter,
  limit: number,
  each: (e: AuditEntry) => void | Promise<void>,
): Promise<void> {
  if (filter.referralId !== undefined && !UUID.test(filter.referralId)) return; // never recorded: record drops non-UUID ids
  const fromMs = filter.from ? msOf(filter.from, 'from') : undefined;
  const toMs = filter.to ? msOf(filter.to, 'to') : undefined;
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) return;
  let key = keys.audit();
  if (filter.referralId) {
    key = keys.auditByReferral(filter.referralId);
    const kind = await redis.type(key);
    if (kind === 'string') return scanIndex(redis, key, keys.audit(), fromMs, toMs, limit, each);
    if (kind !== 'stream') return;
  }
  let start = fromMs !== undefined ? `${fromMs}-0` : '-';
  const end = toMs !== undefined ? `${toMs}-${MAX_SEQ}` : '+';
  let left = limit;
  while (left > 0) {
    const count = Math.min(PAGE, left);
    const page = await redis.xrange(key, start, end, 'COUNT', count);
    for (const [id, fields] of page) await each(toEntry(id, fields));
    left -= page.length;
    if (page.length < count) return;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/**
 * A referral's events through its index: its ids (a few bytes each) read at once, their entries
 * read from the log a page at a time in one pipeline. An id whose entry the log's retention has
 * trimmed is skipped.
 */
async function scanIndex(
  redis: Redis,
  index: string,
  log: string,
  fromMs: number | undefined,
  toMs: number | undefined,
  limit: number,
  each: (e: AuditEntry) => void | Promise<void>,
): Promise<void> {
  const wanted = ((await redis.get(index)) ?? '').split(',').filter((id) => {
    if (!id) return false;
    const ms = Number(id.slice(0, id.indexOf('-')));
    return (fromMs === undefined || ms >= fromMs) && (toMs === undefined || ms <= toMs);
  });
  let left = limit;
  while (wanted.length > 0 && left > 0) {
    // No more entries read than the limit still wants, unless some turn out trimmed.
    const pipeline = redis.pipeline();
    for (const id of wanted.splice(0, Math.min(PAGE, left))) pipeline.xrange(log, id, id);
    for (const [err, page] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      const [entry] = page as [string, string[]][];
      if (!entry) continue;
      await each(toEntry(entry[0], entry[1]));
      left--;
    }
  }
}

function toEntry(id: string, fields: string[]): AuditEntry {
  const raw = fieldsOf(fields);
  const entry: Record<string, unknown> = { id, at: new Date(Number(id.split('-')[0])).toISOString() };
  // '' is a field the event lacked (no audit field may be empty).
  for (const f of FIELD_ORDER) if (raw[f] !== undefined && raw[f] !== '') entry[f] = raw[f];
  if (raw.rejected) entry.rejected = raw.rejected.split(',');
  return entry as unknown as AuditEntry;
}
