import type { Redis } from 'ioredis';
import type { Keys } from './keys';
import { TurnBatch } from './turn-batch';

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
  /** A turn's additions summed per counter, one HINCRBY each (intake adds one per record). */
  private readonly additions: TurnBatch<[CounterName, number]>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    this.additions = new TurnBatch((adds) => {
      const sums = new Map<CounterName, number>();
      for (const [name, by] of adds) sums.set(name, (sums.get(name) ?? 0) + by);
      return Promise.all([...sums].map(([name, by]) => this.redis.hincrby(this.keys.counters(), name, by)));
    });
  }

  async add(name: CounterName, by = 1): Promise<void> {
    if (by !== 0) await this.additions.add([name, by]);
  }

  async all(): Promise<Record<CounterName, number>> {
    const raw = await this.redis.hgetall(this.keys.counters());
    return Object.fromEntries(COUNTER_NAMES.map((n) => [n, Number(raw[n] ?? 0)])) as Record<CounterName, number>;
  }
}
