/**
 * First attempts made outside a queue (deliveries, write-backs): how many are under way, and a
 * graceful stop that takes no new ones and waits for those running (each bounded by its timeout).
 */
export class AttemptsInFlight {
  private readonly running = new Set<Promise<void>>();
  private stopping = false;

  get size(): number {
    return this.running.size;
  }

  /** True once `close` was called: callers queue instead of attempting. */
  get closing(): boolean {
    return this.stopping;
  }

  track(attempt: Promise<void>): void {
    const tracked = attempt.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  async close(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  /** Resolves when every attempt under way has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
