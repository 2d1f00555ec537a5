import { schedule, type ScheduledTask } from 'node-cron';
import { randomUUID } from 'node:crypto';
import { PartnerError } from '../../adapters/partner-error';
import { FeedError } from '../../adapters/police/feed-parser';
import type { BridgeContext } from '../../context';
import { ingestDocument } from './feed-ingest';
import { PAGE_JOB_RECORDS } from '../../queues/topology';
import { cronLogger } from '../../logger';

/**
 * Pulls the RMS feed page by page. The cursor moves only after a page's records are all
 * queued or quarantined; an unreadable page stops the run (and is quarantined as a document)
 * so nothing behind it is skipped. One poller at a time across all bridge processes.
 */
export interface PollRun {
  pages: number;
  records: number;
  quarantined: number;
  skipped?: 'locked' | 'busy' | 'claimed';
  /** Stopped early: POLICE_MAX_BACKLOG records were already waiting for intake. */
  backlogged?: boolean;
  error?: string;
}

const LOCK = 'police-poll';
/**
 * The poll lock is short and renewed while the poll runs: a process killed mid-poll (SIGKILL,
 * OOM) then blocks every other process's polling for seconds, not for a long fixed TTL.
 */
const LOCK_TTL_MS = 10_000;

export class FeedPoller {
  private task?: ScheduledTask;
  private running = false;
  private inFlight?: Promise<unknown>;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly maxPagesPerRun = 200,
  ) {}

  start(): void {
    this.task = schedule(this.ctx.config.police.pollCron, () => this.pollTick(), {
      name: 'police-feed-poll',
      noOverlap: true,
      logger: cronLogger(this.ctx.logger),
    });
  }

  /**
   * One poll per schedule tick across every process: the first to claim the tick (its second)
   * polls; the lock below still keeps a long poll from overlapping the next tick's.
   */
  async pollTick(now: Date = new Date()): Promise<PollRun> {
    const tick = Math.floor(now.getTime() / 1000);
    const claimed = await this.ctx.redis.set(this.ctx.keys.lock(`police-poll-tick:${tick}`), '1', 'EX', 3600, 'NX');
    if (claimed !== 'OK') return { pages: 0, records: 0, quarantined: 0, skipped: 'claimed' };
    const run = this.pollOnce();
    this.inFlight = run.catch(() => undefined);
    return run;
  }

  /** Stops the schedule and waits for a poll in flight, so its lock is released, not left to expire. */
  async stop(): Promise<void> {
    await this.task?.stop();
    await this.task?.destroy();
    this.task = undefined;
    await this.inFlight;
  }

  async pollOnce(): Promise<PollRun> {
    const run: PollRun = { pages: 0, records: 0, quarantined: 0 };
    if (this.running) return { ...run, skipped: 'busy' };
    const { lock, cursor, partners, logger } = this.ctx;
    const token = await lock.acquire(LOCK, LOCK_TTL_MS);
    if (!token) return { ...run, skipped: 'locked' };
    const stopRenewing = lock.keepAlive(LOCK, token, LOCK_TTL_MS);
    this.running = true;
    const correlationId = randomUUID();
    const log = logger.child({ correlationId, poll: 'police-feed' });
    try {
      for (let page = 0; page < this.maxPagesPerRun; page++) {
        // Backpressure: the cursor waits where it is while intake catches up. A job may be a page
        // of PAGE_JOB_RECORDS, so the jobs count as that many records: it holds early, never late.
        const waiting = await this.ctx.queues.intake.getJobCountByTypes('waiting', 'prioritized', 'delayed');
        if (waiting * PAGE_JOB_RECORDS >= this.ctx.config.police.maxBacklog) {
          run.backlogged = true;
          break;
        }
        const from = await cursor.get();
        const document = await partners.policeFeed.fetchPage(from, { correlationId });
        let summary;
        try {
          summary = await ingestDocument(this.ctx, document, 'pull');
        } catch (err) {
          if (!(err instanceof FeedError)) throw err;
          await this.ctx.quarantine.add(
            { reason: `feed page unreadable: ${err.message}`, source: 'pull' },
            { cursor: from ?? null, bytes: document.length },
          );
          log.error({ alert: true, cursor: from, reason: err.message }, 'feed page unreadable; cursor held until the RMS fixes it');
          return { ...run, error: err.message };
        }
        run.pages++;
        run.records += summary.accepted + summary.quarantined.length;
        run.quarantined += summary.quarantined.length;
        if (summary.cursor) await cursor.set(summary.cursor.next);
        if (!summary.cursor?.more) break;
      }
      if (run.pages > 0) log.info(run, 'feed poll done');
      return run;
    } catch (err) {
      // Refused credentials or a certificate to refuse stop the feed until an operator acts.
      const alert = err instanceof PartnerError && (err.kind === 'auth' || err.options.alert === true);
      if (alert) log.error({ alert: true, reason: err.message }, 'feed poll failed; an operator must act before the feed moves again');
      else log.warn({ reason: (err as Error).message }, 'feed poll failed; will try again next tick');
      return { ...run, error: (err as Error).message };
    } finally {
      stopRenewing();
      this.running = false;
      await lock.release(LOCK, token);
    }
  }
}
