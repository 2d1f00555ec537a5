import { Worker } from 'bullmq';
import IORedis from 'ioredis';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { register } from 'prom-client';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralType } from '../../src/domain/crime-record';
import { STATUS_ORDER, type ReferralStatus } from '../../src/domain/lifecycle';
import { BridgeMetrics } from '../../src/observability/metrics';
import type { ReconciliationReport } from '../../src/reconcile/report';
import { QUEUE } from '../../src/queues/topology';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * GET /metrics content on real Redis: every family with exact values, labels only from fixed
 * sets (never an id, a crime reference or a name), separate registries per instance.
 */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A tiny parser for the Prometheus text format (0.0.4): samples and `# TYPE` lines. */
function parse(body: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of body.split('\n')) {
    if (!line.trim()) continue;
    const meta = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? types : help).set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const raw = m[3]!;
    samples.push({ name: m[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return { samples, types, help };
}

/** `name{a="x",b="y"}` → value, for the samples of one family (labels in sorted order). */
function family(samples: Sample[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples.filter((x) => x.name === name)) {
    const key = Object.keys(s.labels)
      .sort()
      .map((k) => `${k}=${s.labels[k]}`)
      .join(',');
    out[key] = s.value;
  }
  return out;
}

const id = (n: number) => `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`;
const CRIME = (n: number) => `46/${String(n).padStart(5, '0')}/26`;
const SENSITIVE = [id(1), id(2), id(3), id(4), id(5), id(6), CRIME(1), CRIME(5), 'Jane Smith'];

describe('BridgeMetrics', () => {
  let ctx: BridgeContext;
  const extra: { close(): Promise<unknown> }[] = [];

  beforeEach(() => {
    ctx = createContext(testConfig(), capturedLogger().logger);
  });
  afterEach(async () => {
    for (const e of extra.splice(0)) await e.close();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  async function referral(n: number, type: ReferralType, path: ReferralStatus[]): Promise<void> {
    for (const [i, to] of path.entries()) {
      const t = await ctx.referrals.transition(id(n), {
        to,
        source: 'test',
        ...(i === 0
          ? {
              create: {
                referralId: id(n),
                type,
                crimeReference: CRIME(n),
                recordVersion: 1,
                correlationId: 'c0ffee00-0000-4000-8000-000000000000',
              },
            }
          : {}),
      });
      if (!t.applied) throw new Error(`setup: ${id(n)} → ${to}: ${t.why}`);
    }
  }

  const finding = (n: number) => ({
    referralId: id(n),
    crimeReference: CRIME(n),
    clockStart: '2026-11-13T10:00:00Z',
    deadline: '2026-11-18T00:00:00.000Z',
  });
  const report: ReconciliationReport = {
    generatedAt: '2026-11-26T12:00:00.000Z',
    counts: { NHS: {}, CHARITY: {} },
    discrepancies: [
      { class: 'partner-ahead', partner: 'NHS', referralId: id(1), action: 'applied' },
      { class: 'partner-ahead', partner: 'CHARITY', referralId: id(4), action: 'applied' },
      { class: 'orphan', partner: 'CHARITY', partnerRef: 'CH-1', action: 'alerted' },
      { class: 'stuck', partner: 'CHARITY', referralId: id(5), action: 'alerted' },
    ],
    serviceLevels: {
      breaches: [
        { kind: 'victims-code-breach', ...finding(4), sentAt: null, open: true },
        { kind: 'victims-code-breach', ...finding(5), sentAt: '2026-11-20T09:00:00.000Z', open: false },
      ],
      breachCounts: { open: 1, closedLate: 1 },
      overdue: [{ kind: 'clinical-overdue', ...finding(2), status: 'QUEUED' }],
    },
    pendingWriteBacks: 3,
    unreachable: [{ partner: 'CHARITY', detail: 'charity API 503' }],
  };

  /** Referrals, counters, jobs in every state, a stored report. */
  async function seed(): Promise<void> {
    await referral(1, 'CLINICAL', ['QUEUED', 'SENT', 'ACCEPTED']);
    await referral(2, 'CLINICAL', ['QUEUED']);
    await referral(3, 'ADVOCACY', ['HELD']);
    await referral(4, 'ADVOCACY', ['QUEUED', 'SENT']);
    await referral(5, 'ADVOCACY', ['QUEUED', 'FAILED']);
    await referral(6, 'CLINICAL', ['QUEUED', 'SENT', 'ACCEPTED', 'COMPLETED']);
    // An id whose hash has expired (retention) is still in the index: not counted.
    await ctx.redis.sadd(ctx.keys.allReferrals(), id(7));
    // 13 status changes went to the outbox; the RMS has stored two of them.
    await ctx.referrals.ackWriteBack(id(1), 1);
    await ctx.referrals.ackWriteBack(id(2), 1);
    // id(6)'s first write-back has been pending for ten minutes (the same entry, older).
    await ctx.redis.zadd(ctx.keys.outbox(), Date.now() - 600_000, `${id(6)}|1`);

    await ctx.counters.add('recordsRead', 10);
    await ctx.counters.add('recordsQueued', 4);
    await ctx.counters.add('recordsOutOfScope', 3);
    await ctx.counters.add('recordsStale', 1);
    await ctx.counters.add('recordsQuarantined', 2);
    await ctx.counters.add('documentsRejected', 1);

    await ctx.queues.intake.add('record', {} as never);
    await ctx.queues.intake.add('record', {} as never);
    await ctx.queues.nhsDelivery.add('deliver', {} as never, { delay: 60_000 });
    await ctx.queues.charityDelivery.add('deliver', {} as never, { priority: 5 });
    await ctx.queues.deadLetter.add('x', {} as never);
    await ctx.queues.deadLetter.add('y', {} as never);
    await ctx.queues.deadLetter.add('z', {} as never, { delay: 60_000 });
    // One reconcile job active, one failed (reconcile jobs have one attempt).
    await ctx.queues.reconcile.add('reconcile', { kind: 'reconcile' });
    await ctx.queues.reconcile.add('reconcile', { kind: 'reconcile' });
    const worker = new Worker(QUEUE.reconcile, null, { connection: ctx.queueRedis, prefix: ctx.config.redis.prefix, autorun: false });
    extra.push(worker);
    const failing = await worker.getNextJob('token-1', { block: false });
    await failing!.moveToFailed(new Error('boom'), 'token-1', false);
    expect(await worker.getNextJob('token-2', { block: false })).toBeDefined();

    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report));
  }

  test('every family, exact values, labels from fixed sets only, no identifiers', async () => {
    await seed();
    const metrics = new BridgeMetrics(ctx, { collectDefault: false });
    metrics.observeDelivery('NHS', 2);
    metrics.observeDelivery('NHS', 120);
    metrics.observeDelivery('CHARITY', 0.05);
    metrics.observeDelivery('CHARITY', -1); // clock skew: counted as 0
    metrics.observeDelivery('CHARITY', Number.NaN); // ignored
    metrics.countRetry(QUEUE.nhsDelivery, 'NHS', 'transient');
    metrics.countRetry(QUEUE.nhsDelivery, 'NHS', 'transient');
    metrics.countRetry(QUEUE.charityDelivery, 'CHARITY', 'transient');
    metrics.countDeadLetter(QUEUE.charityDelivery, 'CHARITY', 'permanent');
    metrics.countDeadLetter(QUEUE.nhsDelivery, 'NHS', 'auth');
    // Whatever a caller passes, no free text reaches a label.
    metrics.countDeadLetter(`${QUEUE.nhsDelivery}:${id(1)}`, 'Jane Smith', CRIME(1));

    const { contentType, body } = await metrics.render();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { samples, types, help } = parse(body);

    expect(family(samples, 'iasu_metrics_redis_up')).toEqual({ '': 1 });
    expect(family(samples, 'iasu_records_total')).toEqual({
      'outcome=applied': 4,
      'outcome=out_of_scope': 3,
      'outcome=stale': 1,
      'outcome=quarantined': 2,
    });
    expect(family(samples, 'iasu_records_read_total')).toEqual({ '': 10 });
    expect(family(samples, 'iasu_feed_documents_rejected_total')).toEqual({ '': 1 });

    const referrals = family(samples, 'iasu_referrals');
    expect(Object.keys(referrals)).toHaveLength(2 * STATUS_ORDER.length);
    expect(Object.fromEntries(Object.entries(referrals).filter(([, v]) => v !== 0))).toEqual({
      'partner=NHS,status=ACCEPTED': 1,
      'partner=NHS,status=QUEUED': 1,
      'partner=NHS,status=COMPLETED': 1,
      'partner=CHARITY,status=HELD': 1,
      'partner=CHARITY,status=SENT': 1,
      'partner=CHARITY,status=FAILED': 1,
    });

    const jobs = family(samples, 'iasu_queue_jobs');
    expect(Object.keys(jobs)).toHaveLength(6 * 5);
    expect(Object.fromEntries(Object.entries(jobs).filter(([, v]) => v !== 0))).toEqual({
      'queue=intake,state=waiting': 2,
      'queue=nhs-delivery,state=delayed': 1,
      'queue=charity-delivery,state=prioritized': 1,
      'queue=reconcile,state=active': 1,
      'queue=reconcile,state=failed': 1,
      'queue=dead-letter,state=waiting': 2,
      'queue=dead-letter,state=delayed': 1,
    });
    expect(family(samples, 'iasu_dead_letter_queue_depth')).toEqual({ '': 3 });
    expect(family(samples, 'iasu_police_writebacks_pending')).toEqual({ '': 11 });
    // The oldest pending write-back was seeded ten minutes ago.
    expect(family(samples, 'iasu_police_writebacks_oldest_age_seconds')['']).toBeGreaterThanOrEqual(600);
    expect(family(samples, 'iasu_police_writebacks_oldest_age_seconds')['']).toBeLessThan(660);

    expect(family(samples, 'iasu_sla_victims_code_breaches')).toEqual({ '': 2 });
    expect(family(samples, 'iasu_sla_victims_code_breaches_open')).toEqual({ '': 1 });
    expect(family(samples, 'iasu_sla_victims_code_breaches_closed_late')).toEqual({ '': 1 });
    expect(family(samples, 'iasu_sla_clinical_overdue')).toEqual({ '': 1 });
    expect(family(samples, 'iasu_reconciliation_last_run_timestamp_seconds')).toEqual({ '': Date.parse('2026-11-26T12:00:00Z') / 1000 });
    expect(family(samples, 'iasu_reconciliation_discrepancies')).toEqual({
      'class=partner-ahead': 2,
      'class=partner-missing': 0,
      'class=orphan': 1,
      'class=not-written-back': 0,
      'class=stuck': 1,
      'class=held-but-failed': 0,
    });
    expect(family(samples, 'iasu_reconciliation_partner_unreachable')).toEqual({ 'partner=NHS': 0, 'partner=CHARITY': 1 });

    expect(family(samples, 'iasu_delivery_latency_seconds_count')).toEqual({ 'partner=NHS': 2, 'partner=CHARITY': 2 });
    expect(family(samples, 'iasu_delivery_latency_seconds_sum')).toEqual({ 'partner=NHS': 122, 'partner=CHARITY': 0.05 });
    const buckets = family(samples, 'iasu_delivery_latency_seconds_bucket');
    expect(
      Object.keys(buckets)
        .filter((k) => k.endsWith('partner=NHS'))
        .map((k) => k.split(',')[0]),
    ).toEqual(['0.1', '0.5', '1', '5', '15', '60', '300', '900', '3600', '14400', '86400', '+Inf'].map((le) => `le=${le}`));
    expect(buckets['le=1,partner=NHS']).toBe(0);
    expect(buckets['le=5,partner=NHS']).toBe(1);
    expect(buckets['le=60,partner=NHS']).toBe(1);
    expect(buckets['le=300,partner=NHS']).toBe(2);
    expect(buckets['le=+Inf,partner=NHS']).toBe(2);
    expect(buckets['le=0.1,partner=CHARITY']).toBe(2);

    const nonZero = (name: string) => Object.fromEntries(Object.entries(family(samples, name)).filter(([, v]) => v !== 0));
    expect(nonZero('iasu_delivery_retries_total')).toEqual({
      'kind=transient,partner=NHS,queue=nhs-delivery': 2,
      'kind=transient,partner=CHARITY,queue=charity-delivery': 1,
    });
    expect(nonZero('iasu_dead_letters_total')).toEqual({
      'kind=permanent,partner=CHARITY,queue=charity-delivery': 1,
      'kind=auth,partner=NHS,queue=nhs-delivery': 1,
      'kind=other,partner=other,queue=other': 1,
    });
    // The first dead letter of a kind is an increase from 0, not a series appearing.
    expect(family(samples, 'iasu_dead_letters_total')['kind=auth,partner=CHARITY,queue=charity-delivery']).toBe(0);

    expect(Object.fromEntries([...types].filter(([n]) => n.startsWith('iasu_')))).toEqual({
      iasu_metrics_redis_up: 'gauge',
      iasu_records_total: 'counter',
      iasu_records_read_total: 'counter',
      iasu_feed_documents_rejected_total: 'counter',
      iasu_referrals: 'gauge',
      iasu_queue_jobs: 'gauge',
      iasu_dead_letter_queue_depth: 'gauge',
      iasu_police_writebacks_pending: 'gauge',
      iasu_police_writebacks_oldest_age_seconds: 'gauge',
      iasu_sla_victims_code_breaches: 'gauge',
      iasu_sla_victims_code_breaches_open: 'gauge',
      iasu_sla_victims_code_breaches_closed_late: 'gauge',
      iasu_sla_clinical_overdue: 'gauge',
      iasu_reconciliation_last_run_timestamp_seconds: 'gauge',
      iasu_reconciliation_discrepancies: 'gauge',
      iasu_reconciliation_partner_unreachable: 'gauge',
      iasu_delivery_latency_seconds: 'histogram',
      iasu_delivery_retries_total: 'counter',
      iasu_dead_letters_total: 'counter',
      iasu_log_lines_dropped_total: 'counter',
    });
    expect(family(samples, 'iasu_log_lines_dropped_total')).toEqual({ '': 0 });
    for (const [name, text] of help) expect({ name, long: text.length > 40 }).toEqual({ name, long: true });

    // Labels: only fixed enumerations, whatever was passed in.
    const allowed: Record<string, ReadonlySet<string>> = {
      partner: new Set(['NHS', 'CHARITY', 'POLICE', 'BRIDGE', 'other']),
      status: new Set(STATUS_ORDER),
      queue: new Set([...Object.values(QUEUE), 'other']),
      kind: new Set(['transient', 'permanent', 'auth', 'other']),
      state: new Set(['waiting', 'active', 'delayed', 'prioritized', 'failed']),
      outcome: new Set(['applied', 'out_of_scope', 'stale', 'quarantined']),
      class: new Set(['partner-ahead', 'partner-missing', 'orphan', 'not-written-back', 'stuck', 'held-but-failed']),
      le: new Set(['0.1', '0.5', '1', '5', '15', '60', '300', '900', '3600', '14400', '86400', '+Inf']),
    };
    expect(samples.length).toBeGreaterThan(100);
    for (const s of samples) {
      expect(s.name.startsWith('iasu_')).toBe(true);
      for (const [label, value] of Object.entries(s.labels))
        expect({ metric: s.name, label, value, known: allowed[label]?.has(value) ?? false }).toEqual({
          metric: s.name,
          label,
          value,
          known: true,
        });
    }
    for (const text of SENSITIVE) expect(body).not.toContain(text);
  });

  test('values are read again at every scrape; nothing from Redis before a reconciliation has run', async () => {
    const metrics = new BridgeMetrics(ctx, { collectDefault: false });
    let { samples } = parse((await metrics.render()).body);
    expect(family(samples, 'iasu_records_total')).toEqual({
      'outcome=applied': 0,
      'outcome=out_of_scope': 0,
      'outcome=stale': 0,
      'outcome=quarantined': 0,
    });
    expect(Object.values(family(samples, 'iasu_referrals')).every((v) => v === 0)).toBe(true);
    expect(family(samples, 'iasu_police_writebacks_pending')).toEqual({ '': 0 });
    expect(family(samples, 'iasu_police_writebacks_oldest_age_seconds')).toEqual({ '': 0 });
    expect(family(samples, 'iasu_dead_letter_queue_depth')).toEqual({ '': 0 });
    // No report yet: no SLA figures (0 would claim "no breaches"); the timestamp is absent for absent() alerts.
    for (const name of [
      'iasu_sla_victims_code_breaches',
      'iasu_sla_victims_code_breaches_open',
      'iasu_sla_victims_code_breaches_closed_late',
      'iasu_sla_clinical_overdue',
      'iasu_reconciliation_last_run_timestamp_seconds',
      'iasu_reconciliation_discrepancies',
      'iasu_reconciliation_partner_unreachable',
    ]) {
      expect(family(samples, name)).toEqual({});
    }

    await referral(1, 'CLINICAL', ['QUEUED']);
    await ctx.counters.add('recordsQueued', 1);
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report));
    ({ samples } = parse((await metrics.render()).body));
    expect(family(samples, 'iasu_records_total')['outcome=applied']).toBe(1);
    expect(family(samples, 'iasu_referrals')['partner=NHS,status=QUEUED']).toBe(1);
    expect(family(samples, 'iasu_police_writebacks_pending')).toEqual({ '': 1 });
    expect(family(samples, 'iasu_sla_victims_code_breaches')).toEqual({ '': 2 });

    await referral(1, 'CLINICAL', ['SENT']);
    ({ samples } = parse((await metrics.render()).body));
    expect(family(samples, 'iasu_referrals')['partner=NHS,status=QUEUED']).toBe(0);
    expect(family(samples, 'iasu_referrals')['partner=NHS,status=SENT']).toBe(1);
  });

  test("Victims' Code breaches: open now and closed late apart, so an alert on the open gauge clears when the victim is sent", async () => {
    const metrics = new BridgeMetrics(ctx, { collectDefault: false });
    const scrape = async () => {
      const { samples } = parse((await metrics.render()).body);
      return ['', '_open', '_closed_late'].map((suffix) => family(samples, `iasu_sla_victims_code_breaches${suffix}`)['']);
    };
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report));
    expect(await scrape()).toEqual([2, 1, 1]);
    // The next reconciliation after id(4) was sent: its breach is closed late, nothing is open.
    const sent: ReconciliationReport = {
      ...report,
      serviceLevels: {
        ...report.serviceLevels,
        breaches: report.serviceLevels.breaches.map((b) => ({ ...b, sentAt: b.sentAt ?? '2026-11-27T09:00:00.000Z', open: false })),
        breachCounts: { open: 0, closedLate: 2 },
      },
    };
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(sent));
    expect(await scrape()).toEqual([2, 0, 2]);
    // A report stored by an earlier bridge (no `open`, no `breachCounts`) splits on sentAt.
    const earlier = {
      ...report,
      serviceLevels: { breaches: report.serviceLevels.breaches.map(({ open: _open, ...b }) => b), overdue: report.serviceLevels.overdue },
    };
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(earlier));
    expect(await scrape()).toEqual([2, 1, 1]);
  });

  test('concurrent scrapes share one Redis read and agree', async () => {
    await seed();
    const metrics = new BridgeMetrics(ctx, { collectDefault: false });
    const sscan = jest.spyOn(ctx.redis, 'sscan');
    const bodies = (await Promise.all([metrics.render(), metrics.render(), metrics.registry.getMetricsAsJSON()]))
      .slice(0, 2)
      .map((r) => (r as { body: string }).body);
    expect(sscan).toHaveBeenCalledTimes(1);
    expect(bodies[0]).toBe(bodies[1]);
    await metrics.render();
    expect(sscan).toHaveBeenCalledTimes(2);
    sscan.mockRestore();
    expect(family(parse(bodies[0]!).samples, 'iasu_dead_letter_queue_depth')).toEqual({ '': 3 });
  });

  test('two instances in one process: own registries, default metrics on each, no collision', async () => {
    const a = new BridgeMetrics(ctx);
    const b = new BridgeMetrics(ctx);
    expect(a.registry).not.toBe(b.registry);
    a.countRetry(QUEUE.intake, 'BRIDGE', 'transient');
    a.observeDelivery('NHS', 1);
    const [ra, rb] = await Promise.all([a.render(), b.render()]);
    const sa = parse(ra.body).samples;
    const sb = parse(rb.body).samples;
    expect(family(sa, 'iasu_delivery_retries_total')['kind=transient,partner=BRIDGE,queue=intake']).toBe(1);
    expect(family(sb, 'iasu_delivery_retries_total')['kind=transient,partner=BRIDGE,queue=intake']).toBe(0);
    expect(family(sa, 'iasu_delivery_latency_seconds_count')['partner=NHS']).toBe(1);
    expect(family(sb, 'iasu_delivery_latency_seconds_count')['partner=NHS']).toBe(0);
    for (const samples of [sa, sb]) {
      const names = new Set(samples.map((s) => s.name));
      for (const name of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
        'nodejs_heap_size_used_bytes',
      ])
        expect(names).toContain(name);
    }
    // Nothing went to the global default registry.
    expect(register.getSingleMetric('iasu_referrals')).toBeUndefined();
    expect(register.getSingleMetric('process_cpu_seconds_total')).toBeUndefined();
  });

  test('Redis not answering: the scrape still serves in-process metrics, without stale Redis figures', async () => {
    await seed();
    // A "Redis" that accepts the connection and never answers (no ready check: ioredis would
    // otherwise leave a 2 s disconnect timer behind when the check fails on close).
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const dead = new IORedis((silent.address() as AddressInfo).port, '127.0.0.1', { maxRetriesPerRequest: null, enableReadyCheck: false });
    extra.push({
      close: async () => {
        dead.disconnect();
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      },
    });
    const metrics = new BridgeMetrics({ ...ctx, redis: dead }, { collectDefault: false, redisTimeoutMs: 200 });
    metrics.countDeadLetter(QUEUE.nhsDelivery, 'NHS', 'auth');
    const started = Date.now();
    const { samples } = parse((await metrics.render()).body);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(family(samples, 'iasu_metrics_redis_up')).toEqual({ '': 0 });
    expect(family(samples, 'iasu_dead_letters_total')['kind=auth,partner=NHS,queue=nhs-delivery']).toBe(1);
    for (const name of [
      'iasu_records_total',
      'iasu_records_read_total',
      'iasu_referrals',
      'iasu_queue_jobs',
      'iasu_dead_letter_queue_depth',
      'iasu_police_writebacks_pending',
      'iasu_police_writebacks_oldest_age_seconds',
      'iasu_sla_victims_code_breaches',
      'iasu_sla_victims_code_breaches_open',
      'iasu_sla_victims_code_breaches_closed_late',
    ]) {
      expect({ name, samples: family(samples, name) }).toEqual({ name, samples: {} });
    }
  });
});
