import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DataCipher } from './crypto';
import type { Keys } from './keys';

/**
 * Records the bridge could not accept, each with its reason and crime reference. The raw
 * record is kept encrypted (operators may need it to fix the source) and expires. The id is
 * a hash of the content, so reading the same page twice does not quarantine a record twice.
 */
export interface QuarantineEntry {
  id: string;
  crimeReference?: string;
  recordVersion?: number;
  reason: string;
  source: string;
  at: string;
}

export class QuarantineStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly cipher: DataCipher,
    private readonly retentionSeconds: number,
  ) {}

  async add(entry: Omit<QuarantineEntry, 'id' | 'at'>, raw: unknown, now = new Date()): Promise<QuarantineEntry> {
    const id = createHash('sha256')
      .update(JSON.stringify([entry.crimeReference ?? null, entry.recordVersion ?? null, entry.reason, raw ?? null]))
      .digest('hex')
      .slice(0, 32);
    const full: QuarantineEntry = { ...entry, id, at: now.toISOString() };
    const key = this.keys.quarantine(id);
    const fields: Record<string, string> = { id, reason: full.reason, source: full.source, at: full.at };
    if (full.crimeReference) fields.crimeReference = full.crimeReference;
    if (full.recordVersion !== undefined) fields.recordVersion = String(full.recordVersion);
    fields.raw = this.cipher.sealJson(raw ?? null, id);
    await this.redis
      .multi()
      .hset(key, fields)
      .expire(key, this.retentionSeconds)
      .zadd(this.keys.quarantineIndex(), now.getTime(), id)
      .exec();
    return full;
  }

  async list(limit = 100): Promise<QuarantineEntry[]> {
    await this.prune();
    const ids = await this.redis.zrevrange(this.keys.quarantineIndex(), 0, limit - 1);
    const entries = await Promise.all(ids.map((id) => this.redis.hgetall(this.keys.quarantine(id))));
    return entries.filter((e) => e.id).map(entryOf);
  }

  async get(id: string): Promise<QuarantineEntry | undefined> {
    const e = await this.redis.hgetall(this.keys.quarantine(id));
    return e.id ? entryOf(e) : undefined;
  }

  /** The raw record as received, for an administrator fixing the source (the caller audits the read). */
  async raw(id: string): Promise<unknown> {
    const sealed = await this.redis.hget(this.keys.quarantine(id), 'raw');
    return sealed ? this.cipher.openJson(sealed, id) : undefined;
  }

  /** Removes the entry (an operator discarded it, with a reason the caller audits). */
  async remove(id: string): Promise<boolean> {
    const [[, removed] = [null, 0]] =
      (await this.redis.multi().del(this.keys.quarantine(id)).zrem(this.keys.quarantineIndex(), id).exec()) ?? [];
    return removed === 1;
  }

  async count(): Promise<number> {
    await this.prune();
    return this.redis.zcard(this.keys.quarantineIndex());
  }

  /** The index outlives nothing: entries whose hash expired are dropped from it. */
  private async prune(): Promise<void> {
    const cutoff = Date.now() - this.retentionSeconds * 1000;
    await this.redis.zremrangebyscore(this.keys.quarantineIndex(), 0, cutoff);
  }
}

function entryOf(e: Record<string, string>): QuarantineEntry {
  return {
    id: e.id!,
    ...(e.crimeReference ? { crimeReference: e.crimeReference } : {}),
    ...(e.recordVersion ? { recordVersion: Number(e.recordVersion) } : {}),
    reason: e.reason!,
    source: e.source!,
    at: e.at!,
  };
}
