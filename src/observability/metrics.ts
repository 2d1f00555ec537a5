import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Infra } from '../infra';
import { logLinesDropped } from '../log-destination';
import { STATUS_ORDER, type ReferralStatus } from '../domain/lifecycle';
import { breachCounts, type DiscrepancyClass, type ReconciliationReport } from '../reconcile/report';
import { QUEUE, type DeadLetterJob } from '../queues/topology';
import type { CounterName } from '../store/counters';
import type { PartnerCode } from '../domain/referral-state';

/**
 * Prometheus metrics for operators (GET /metrics). In-process series (delivery latency, retries,
 * dead letters) are this process's own: sum them across instances. Series read from Redis at
 * scrape time (intake, statuses, queues, outbox, reconciliation) are the same on every instance:
 * aggregate with `max`. Labels come only from the fixed sets in `LABEL_VALUES`, so no id or
 * personal data can become one. A Redis that does not answer in time leaves its families out
 * (`iasu_metrics_redis_up` 0) rather than showing stale values.
 */

export const DELIVERY_LATENCY_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400, 86400];

const PARTNERS = ['NHS', 'CHARITY'] as const satisfies readonly PartnerCode[];
const FAILURE_PARTNERS = ['POLICE', 'NHS', 'CHARITY', 'BRIDGE'] as const satisfies readonly DeadLetterJob['partner'][];
const FAILURE_KINDS = ['transient', 'permanent', 'auth'] as const satisfies readonly DeadLetterJob['errorKind'][];
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;
/** Job states that mean a dead letter is still waiting for people (not completed/removed). */
const DEAD_LETTER_OPEN_STATES: readonly QueueState[] = ['waiting', 'active', 'delayed', 'prioritized'];
const DISCREPANCY_CLASSES = [
  'partner-ahead',
  'partner-missing',
  'orphan',
  'not-written-back',
  'stuck',
  'held-but-failed',
] as const satisfies readonly DiscrepancyClass[];
const OTHER = 'other';

type QueueState = (typeof QUEUE_STATES)[number];

/** Intake counters (store/counters.ts) → the outcome label of `iasu_records_total`. */
const RECORD_OUTCOMES = {
  recordsQueued: 'applied',
  recordsOutOfScope: 'out_of_scope',
  recordsStale: 'stale',
  recordsQuarantined: 'quarantined',
} as const satisfies Partial<Record<CounterName, string>>;

/** Every value any label of an `iasu_` metric can take. */
export const LABEL_VALUES: Readonly<Record<string, readonly string[]>> = {
  partner: [...FAILURE_PARTNERS, OTHER],
  status: STATUS_ORDER,
  queue: [...Object.values(QUEUE), OTHER],
  kind: [...FAILURE_KINDS, OTHER],
  state: QUEUE_STATES,
  outcome: Object.values(RECORD_OUTCOMES),
  class: DISCREPANCY_CLASSES,
  le: [...DELIVERY_LATENCY_BUCKETS.map(String), '+Inf'],
};

export type MetricsContext = Pick<Infra, 'queues' | 'referrals' | 'counters' | 'redis' | 'keys' | 'config'>;

export interface BridgeMetricsOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC) on this registry. Default true. */
  collectDefault?: boolean;
  /** How long a scrape waits for Redis before serving without the Redis-derived families. Default 5000. */
  redisTimeoutMs?: number;
}

/** Everything read from Redis for one scrape. */
interface SharedState {
  counters: Record<CounterName, number>;
  referrals: Record<PartnerCode, Record<ReferralStatus, number>>;
  queues: { name: string; counts: Record<QueueState, number> }[];
  outbox: number;
  /** When the oldest pending write-back entered the outbox (ms), or undefined when none is pending. */
  outboxOldestAt: number | undefined;
  report: ReconciliationReport | undefined;
}

export class BridgeMetrics {
  /** Own Registry (never the global default: tests and several contexts in one process must not collide). */
  readonly registry: Registry;

  private readonly deliveryLatency: Histogram<'partner'>;
  private readonly retries: Counter<'queue' | 'partner' | 'kind'>;
  private readonly deadLetters: Counter<'queue' | 'partner' | 'kind'>;
  private readonly redisTimeoutMs: number;
  /** The Redis read in progress (shared until it settles, even past a scrape's timeout). */
  private reading?: Promise<SharedState>;
  /** This scrape's view of it (shared by every family collected in the same scrape). */
  private scrape?: Promise<SharedState | undefined>;

  constructor(
    private readonly ctx: MetricsContext,
    opts: BridgeMetricsOptions = {},
  ) {
    this.registry = new Registry();
    this.redisTimeoutMs = opts.redisTimeoutMs ?? 5000;
    const registers = [this.registry];
    const state = () => this.sharedState();

    // ---- in-process ----

    this.deliveryLatency = new Histogram({
      name: 'iasu_delivery_latency_seconds',
      help: 'Seconds from a referral being QUEUED to the partner confirming receipt (SENT), observed by this process. Read p95 per partner to see how long victims wait for a referral to arrive.',
      labelNames: ['partner'],
      buckets: DELIVERY_LATENCY_BUCKETS,
      registers,
    });
    for (const partner of PARTNERS) this.deliveryLatency.zero({ partner });

    this.retries = new Counter({
      name: 'iasu_delivery_retries_total',
      help: 'Failed attempts that will be retried (with backoff), by queue, the partner that failed (BRIDGE: internal) and error kind, counted by this process. A steady rate means a partner is struggling.',
      labelNames: ['queue', 'partner', 'kind'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'iasu_dead_letters_total',
      help: 'Jobs moved to the dead-letter queue by this process, by queue, partner and error kind (auth: credentials refused). Any increase needs a person: see iasu_dead_letter_queue_depth and the DLQ.',
      labelNames: ['queue', 'partner', 'kind'],
      registers,
    });
    // Series exist from the start, so the first ever dead letter shows as an increase.
    const pairs: [string, string][] = [
      [QUEUE.nhsDelivery, 'NHS'],
      [QUEUE.charityDelivery, 'CHARITY'],
      [QUEUE.policeWriteBacks, 'POLICE'],
      [QUEUE.intake, 'BRIDGE'],
      [QUEUE.nhsDelivery, 'BRIDGE'],
      [QUEUE.charityDelivery, 'BRIDGE'],
      [QUEUE.policeWriteBacks, 'BRIDGE'],
      [QUEUE.reconcile, 'BRIDGE'],
    ];
    for (const [queue, partner] of pairs) {
      for (const kind of FAILURE_KINDS) {
        this.retries.inc({ queue, partner, kind }, 0);
        this.deadLetters.inc({ queue, partner, kind }, 0);
      }
    }

    new Counter({
      name: 'iasu_log_lines_dropped_total',
      help: 'Log lines this process could not write (the log destination refused them, e.g. disk full, or fell too far behind) and dropped rather than block. Any increase: the log has gaps; free the log disk.',
      registers,
      collect() {
        this.reset();
        this.inc(logLinesDropped());
      },
    });

    // ---- shared state, read from Redis at scrape time ----

    new Gauge({
      name: 'iasu_metrics_redis_up',
      help: '1 if this scrape read the bridge state from Redis in time; 0 if Redis failed or was too slow (the iasu_ families read from Redis are then missing from this scrape).',
      registers,
      async collect() {
        this.set((await state()) ? 1 : 0);
      },
    });

    // Prometheus types describe the value, not where it is kept: these Redis hash fields only
    // ever grow (HINCRBY by positive amounts), so they are counters and end in `_total`, just as
    // an exporter exposes a counter it reads from another system. `rate()`/`increase()` work on
    // them, and a reset (the hash deleted) is handled like a process restart. What does differ
    // from an in-process counter is that the value is cluster-wide: every instance reports the
    // same number, so aggregate with `max`, not `sum`. (A gauge would invite `sum` and `delta`, and
    // PromQL warns on `rate()` over a name not ending in `_total`.)
    new Counter({
      name: 'iasu_records_total',
      help: 'Police record versions by intake outcome, all bridge processes together (cluster-wide, from Redis: aggregate with max, not sum). applied: in scope, referrals decided; out_of_scope: no stalking flag; stale: older than a version already applied; quarantined: invalid, held for people.',
      labelNames: ['outcome'],
      registers,
      async collect() {
        const s = await state();
        this.reset();
        if (!s) return;
        for (const [name, outcome] of Object.entries(RECORD_OUTCOMES)) this.inc({ outcome }, s.counters[name as CounterName]);
      },
    });
    new Counter({
      name: 'iasu_records_read_total',
      help: 'Records read from police feed documents (pulled or pushed, re-reads included), cluster-wide from Redis (aggregate with max). Flat while the police feed is busy means the bridge is not reading it.',
      registers,
      async collect() {
        const s = await state();
        this.reset();
        if (s) this.inc(s.counters.recordsRead);
        else this.remove();
      },
    });
    new Counter({
      name: 'iasu_feed_documents_rejected_total',
      help: 'Police feed documents rejected whole (unreadable, too large, malformed), cluster-wide from Redis (aggregate with max). Any increase: the police side must look at their export.',
      registers,
      async collect() {
        const s = await state();
        this.reset();
        if (s) this.inc(s.counters.documentsRejected);
        else this.remove();
      },
    });

    new Gauge({
      name: 'iasu_referrals',
      help: 'Referrals the bridge holds now, by partner (NHS: clinical, CHARITY: advocacy) and status (cluster-wide, from Redis). Watch FAILED and HELD growing, and QUEUED not draining.',
      labelNames: ['partner', 'status'],
      registers,
      async collect() {
        const s = await state();
        this.reset();
        if (!s) return;
        for (const partner of PARTNERS) for (const status of STATUS_ORDER) this.set({ partner, status }, s.referrals[partner][status]);
      },
    });

    new Gauge({
      name: 'iasu_queue_jobs',
      help: 'BullMQ jobs per queue and state (cluster-wide, from Redis). waiting/prioritized growing: workers behind or down; delayed: retries in backoff; failed: jobs that ended in error without reaching the dead-letter queue (should stay near 0).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const s = await state();
        this.reset();
        if (!s) return;
        for (const q of s.queues) for (const st of QUEUE_STATES) this.set({ queue: q.name, state: st }, q.counts[st]);
      },
    });
    const deadLetterQueue = this.ctx.queues.deadLetter.name;
    new Gauge({
      name: 'iasu_dead_letter_queue_depth',
      help: 'Dead letters waiting for a person to redrive or discard them (cluster-wide, from Redis). Should be 0; alert when above 0.',
      registers,
      async collect() {
        const s = await state();
        const dlq = s?.queues.find((q) => q.name === deadLetterQueue);
        if (dlq) this.set(DEAD_LETTER_OPEN_STATES.reduce((sum, st) => sum + dlq.counts[st], 0));
        else this.remove();
      },
    });

    new Gauge({
      name: 'iasu_police_writebacks_pending',
      help: 'Referral status changes not yet stored by the police RMS (the write-back outbox, cluster-wide). Growing: the police write-back endpoint is down or refusing.',
      registers,
      async collect() {
        const s = await state();
        if (s) this.set(s.outbox);
        else this.remove();
      },
    });

    new Gauge({
      name: 'iasu_police_writebacks_oldest_age_seconds',
      help: 'Seconds the oldest police write-back has been pending (0 when none is): how long the police RMS has not known a status change. Above 30 minutes: the write-back endpoint is down or refusing; see iasu_police_writebacks_pending.',
      registers,
      async collect() {
        const s = await state();
        if (s) this.set(s.outboxOldestAt === undefined ? 0 : Math.max(0, (Date.now() - s.outboxOldestAt) / 1000));
        else this.remove();
      },
    });

    // From the last reconciliation report: absent until a reconciliation has run.
    const fromReport = (name: string, help: string, value: (r: ReconciliationReport) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const report = (await state())?.report;
          if (report) this.set(value(report));
          else this.remove();
        },
      });
    fromReport(
      'iasu_sla_victims_code_breaches',
      "Victims' Code breaches at the last reconciliation, open and closed late together (the sum of the _open and _closed_late gauges): advocacy referrals sent to the charity later than 2 working days after consent, or still not sent after that. Above 0: a statutory duty was missed.",
      (r) => r.serviceLevels.breaches.length,
    );
    // Open or closed late from `sentAt`, so a report stored by an earlier bridge (without `open`) still splits.
    fromReport(
      'iasu_sla_victims_code_breaches_open',
      "Victims' Code breaches open now, at the last reconciliation: advocacy referrals still not sent to the charity more than 2 working days after consent (the victim is waiting). Alert on above 0; it falls back when the referral is sent.",
      (r) => breachCounts(r.serviceLevels.breaches).open,
    );
    fromReport(
      'iasu_sla_victims_code_breaches_closed_late',
      "Victims' Code breaches closed late, at the last reconciliation: advocacy referrals that were sent to the charity, but later than 2 working days after consent. A record of a missed duty for the unit's reporting, not an action.",
      (r) => breachCounts(r.serviceLevels.breaches).closedLate,
    );
    fromReport(
      'iasu_sla_clinical_overdue',
      'Clinical referrals the trust had not accepted or rejected within the agreed working days, at the last reconciliation. Above 0: chase the trust.',
      (r) => r.serviceLevels.overdue.length,
    );
    fromReport(
      'iasu_reconciliation_last_run_timestamp_seconds',
      'When the last reconciliation ran (Unix seconds). Alert when time() minus this exceeds a few reconciliation intervals: the SLA and discrepancy figures are then stale.',
      (r) => Date.parse(r.generatedAt) / 1000,
    );
    new Gauge({
      name: 'iasu_reconciliation_discrepancies',
      help: 'Differences between the bridge and the partners found by the last reconciliation, by class. orphan and stuck need people; the others were acted on automatically (applied, resent, rewritten).',
      labelNames: ['class'],
      registers,
      async collect() {
        const report = (await state())?.report;
        this.reset();
        if (!report) return;
        for (const cls of DISCREPANCY_CLASSES) this.set({ class: cls }, report.discrepancies.filter((d) => d.class === cls).length);
      },
    });
    new Gauge({
      name: 'iasu_reconciliation_partner_unreachable',
      help: 'Whether a partner could not be asked at the last reconciliation (1: its comparison is incomplete).',
      labelNames: ['partner'],
      registers,
      async collect() {
        const report = (await state())?.report;
        this.reset();
        if (!report) return;
        for (const partner of PARTNERS) this.set({ partner }, report.unreachable.some((u) => u.partner === partner) ? 1 : 0);
      },
    });

    if (opts.collectDefault ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Called by the delivery worker when a partner confirmed receipt: seconds from the referral entering QUEUED to SENT. */
  observeDelivery(partner: 'NHS' | 'CHARITY', seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    // Clocks of different processes may disagree by a little: never a negative latency.
    this.deliveryLatency.observe({ partner: known(partner, PARTNERS) }, Math.max(0, seconds));
  }

  /** Called on every failed attempt that will be retried. */
  countRetry(queue: string, partner: string, kind: 'transient' | 'permanent' | 'auth'): void {
    this.retries.inc(failureLabels(queue, partner, kind));
  }

  /** Called when a job is dead-lettered. */
  countDeadLetter(queue: string, partner: string, kind: string): void {
    this.deadLetters.inc(failureLabels(queue, partner, kind));
  }

  /** The text exposition for GET /metrics (gauges refreshed from Redis at scrape time). */
  async render(): Promise<{ contentType: string; body: string }> {
    const body = await this.registry.metrics();
    return { contentType: this.registry.contentType, body };
  }

  /**
   * The Redis state for the scrape in progress: every family collected in one scrape (and any
   * concurrent scrape) shares one read, and at most one read is outstanding even when Redis
   * hangs. Undefined when Redis failed or did not answer within the timeout. Never rejects.
   */
  private sharedState(): Promise<SharedState | undefined> {
    if (this.scrape) return this.scrape;
    if (!this.reading) {
      const reading = readSharedState(this.ctx);
      this.reading = reading;
      const done = () => {
        if (this.reading === reading) this.reading = undefined;
      };
      reading.then(done, done);
    }
    const scrape = withTimeout(this.reading, this.redisTimeoutMs).then(
      (s) => s,
      () => undefined,
    );
    this.scrape = scrape;
    void scrape.then(() => {
      if (this.scrape === scrape) this.scrape = undefined;
    });
    return scrape;
  }
}

async function readSharedState(ctx: MetricsContext): Promise<SharedState> {
  const [counters, referrals, queues, outbox, outboxOldestAt, report] = await Promise.all([
    ctx.counters.all(),
    countReferrals(ctx),
    Promise.all(ctx.queues.all().map(jobCounts)),
    ctx.referrals.outboxSize(),
    oldestOutboxEntry(ctx),
    readLastReport(ctx),
  ]);
  return { counters, referrals, queues, outbox, outboxOldestAt, report };
}

/** The outbox is a sorted set scored by when each status change entered it (ms): the lowest score is the oldest. */
async function oldestOutboxEntry(ctx: MetricsContext): Promise<number | undefined> {
  const [, score] = await ctx.redis.zrange(ctx.keys.outbox(), 0, 0, 'WITHSCORES');
  return score === undefined ? undefined : Number(score);
}

const REFERRAL_BATCH = 1000;

/**
 * Referrals by partner and status, in batches: SSCAN the id set and read each batch's status and
 * partner in one pipeline (ReferralStore.statuses() reads every id in one SMEMBERS and a single
 * pipeline, and has no partner). Ids whose hash has expired are skipped.
 */
async function countReferrals(ctx: MetricsContext): Promise<Record<PartnerCode, Record<ReferralStatus, number>>> {
  const zero = () => Object.fromEntries(STATUS_ORDER.map((s) => [s, 0])) as Record<ReferralStatus, number>;
  const counts: Record<PartnerCode, Record<ReferralStatus, number>> = { NHS: zero(), CHARITY: zero() };
  const statuses = new Set<string>(STATUS_ORDER);
  // SSCAN may return an id twice (when the set is rehashed during the scan): count each once.
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const [next, ids] = await ctx.redis.sscan(ctx.keys.allReferrals(), cursor, 'COUNT', REFERRAL_BATCH);
    cursor = next;
    const fresh = ids.filter((id) => !seen.has(id));
    if (fresh.length === 0) continue;
    for (const id of fresh) seen.add(id);
    const pipeline = ctx.redis.pipeline();
    for (const id of fresh) pipeline.hmget(ctx.keys.referral(id), 'status', 'partner', 'type');
    const replies = (await pipeline.exec()) ?? [];
    for (const [err, reply] of replies) {
      if (err) throw err;
      const [status, partner, type] = reply as (string | null)[];
      if (!status || !statuses.has(status)) continue;
      const code: PartnerCode | undefined =
        partner === 'NHS' || partner === 'CHARITY' ? partner : type === 'CLINICAL' ? 'NHS' : type === 'ADVOCACY' ? 'CHARITY' : undefined;
      if (code) counts[code][status as ReferralStatus] += 1;
    }
  } while (cursor !== '0');
  return counts;
}

/** One Lua script per queue (BullMQ getJobCounts). */
async function jobCounts(queue: Queue): Promise<{ name: string; counts: Record<QueueState, number> }> {
  const raw = await queue.getJobCounts(...QUEUE_STATES);
  const counts = Object.fromEntries(QUEUE_STATES.map((st) => [st, Number(raw[st] ?? 0)])) as Record<QueueState, number>;
  return { name: queue.name, counts };
}

/** The report `reconcile()` stores (what reconciler.lastReport reads; that one wants a whole BridgeContext). */
async function readLastReport(ctx: MetricsContext): Promise<ReconciliationReport | undefined> {
  const raw = await ctx.redis.get(ctx.keys.reconcileReport());
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as ReconciliationReport;
  } catch {
    return undefined;
  }
}

function failureLabels(queue: string, partner: string, kind: string): { queue: string; partner: string; kind: string } {
  return { queue: known(queue, LABEL_VALUES.queue!), partner: known(partner, FAILURE_PARTNERS), kind: known(kind, FAILURE_KINDS) };
}

/** A label value only from a fixed set: anything else (a typo, or worse, data) becomes `other`. */
function known(value: string, allowed: readonly string[]): string {
  return allowed.includes(value) ? value : OTHER;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
    timer.unref?.();
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
