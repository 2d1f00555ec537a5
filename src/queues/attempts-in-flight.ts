/**
 * An attempt made outside a queue (a first delivery, a write-back): `start` makes it; `queue`
 * hands it to its queue instead (the durable path, with retries and dead letters).
 */
export interface Attempt {
  start(): Promise<void>;
  queue(): Promise<void>;
  /** `queue` failed for an attempt that had waited in line: nobody awaits it, so say so here. */
  lost(err: unknown): void;
}

/**
 * How long, and how many, attempts may wait in line for a free slot. A line absorbs a burst in
 * memory: over the limit, an attempt waits for a running one to end instead of becoming a queue
 * job, which costs several times the attempt in Redis round trips and CPU, and under load those
 * costs slowed the bridge further, until more spilled (measured: a backlog that never drained at
 * 200 records/s). Waiting is safe because the attempt's work is already committed: a process
 * that dies leaves it to the status poll's sweeps, which wait the partner timeout plus ten
 * seconds, and `maxWaitMs` keeps a waiting attempt well inside that (one that waited longer is
 * queued instead, so a sweep never finds it still to run).
 */
export interface WaitingLine {
  maxWaiting: number;
  maxWaitMs: number;
  /**
   * From this many waiting, `offer` holds its caller (at most `maxWaitMs`) until the line
   * shortens: back-pressure, so a backlog's intake runs at the partners' pace instead of filling
   * the line until its attempts wait too long and spill into the queue, the costly path (a
   * 20,000-record backlog spilled a job for over half of its write-backs). Unset: never held.
   */
  holdFrom?: number;
}

export const WAITING_LINE: WaitingLine = { maxWaiting: 1000, maxWaitMs: 2000, holdFrom: 64 };

interface Waiting {
  since: number;
  attempt: Attempt;
  /** The held caller of `offer`, let go once the line ahead is short enough (or this one leaves it). */
  release?: () => void;
}

interface Lane {
  limit: number;
  running: number;
  waiting: Waiting[];
}

/**
 * First attempts by lane (a partner): at most `limit` running per lane, then a bounded line,
 * then the queue. Also a graceful stop that takes no new ones, queues those waiting and waits
 * for those running (each bounded by its timeout).
 */
export class AttemptsInFlight {
  private readonly running = new Set<Promise<void>>();
  private readonly lanes = new Map<string, Lane>();
  private stopping = false;

  constructor(
    private readonly line: WaitingLine = WAITING_LINE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Attempts under way (not counting those waiting). */
  get size(): number {
    return this.running.size;
  }

  get waiting(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.waiting.length;
    return n;
  }

  /**
   * Starts the attempt if its lane has room, else keeps it in the lane's line, else (line full,
   * limit 0, or stopping) queues it. Resolves once it is under way, waiting or queued, after
   * holding the caller while the line is long (`holdFrom`, at most `maxWaitMs`); only an
   * immediate `queue` can reject, for the caller to handle as it would a queue job it adds.
   */
  async offer(laneName: string, limit: number, attempt: Attempt): Promise<void> {
    if (this.stopping || limit <= 0) return attempt.queue();
    const lane = this.lane(laneName, limit);
    if (lane.running < limit) return this.start(lane, attempt);
    if (lane.waiting.length >= this.line.maxWaiting) return attempt.queue();
    const entry: Waiting = { since: this.now(), attempt };
    const holdFrom = this.line.holdFrom;
    lane.waiting.push(entry);
    if (holdFrom === undefined || lane.waiting.length <= holdFrom) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => entry.release?.(), this.line.maxWaitMs);
      entry.release = () => {
        entry.release = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Follows a promise until it settles: an attempt under way, or one being queued. */
  private track(attempt: Promise<void>): void {
    const tracked = attempt.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  async close(): Promise<void> {
    this.stopping = true;
    for (const lane of this.lanes.values())
      for (const entry of lane.waiting.splice(0)) {
        entry.release?.();
        this.spill(entry.attempt);
      }
    await this.idle();
  }

  /** Resolves when every attempt under way, or waiting, has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private lane(name: string, limit: number): Lane {
    let lane = this.lanes.get(name);
    if (!lane) this.lanes.set(name, (lane = { limit, running: 0, waiting: [] }));
    lane.limit = limit;
    return lane;
  }

  private start(lane: Lane, attempt: Attempt): void {
    lane.running++;
    this.track(
      attempt.start().finally(() => {
        lane.running--;
        this.next(lane);
      }),
    );
  }

  private next(lane: Lane): void {
    while (lane.waiting.length > 0 && lane.running < lane.limit && !this.stopping) {
      const entry = lane.waiting.shift()!;
      entry.release?.();
      if (this.now() - entry.since > this.line.maxWaitMs) this.spill(entry.attempt);
      else this.start(lane, entry.attempt);
    }
    // Callers held for entries now within `holdFrom` of the front go on: those are at the window's end.
    const holdFrom = this.line.holdFrom;
    if (holdFrom !== undefined)
      for (let i = Math.min(holdFrom, lane.waiting.length) - 1; i >= 0 && lane.waiting[i]!.release; i--) lane.waiting[i]!.release!();
  }

  private spill(attempt: Attempt): void {
    this.track(attempt.queue().catch((err: unknown) => attempt.lost(err)));
  }
}
