import type { Redis } from 'ioredis';
import type { Keys } from './keys';

/** Running totals for the summary and (later) metrics: counts only, no identifiers. */
export const COUNTER_NAMES = [
  'recordsRead',
  'recordsQueued',
  'recordsQuarantined',
  'recordsOutOfScope',
  'recordsStale',
  'documentsRejected',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export class Counters {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async add(name: CounterName, by = 1): Promise<void> {
    if (by !== 0) await this.redis.hincrby(this.keys.counters(), name, by);
  }

  async all(): Promise<Record<CounterName, number>> {
    const raw = await this.redis.hgetall(this.keys.counters());
    return Object.fromEntries(COUNTER_NAMES.map((n) => [n, Number(raw[n] ?? 0)])) as Record<CounterName, number>;
  }
}
