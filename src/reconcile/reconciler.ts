import { PartnerError } from '../adapters/partner-error';
import type { BridgeContext } from '../context';
import { AT_PARTNER_STATUSES, canTransition, isTerminal } from '../domain/lifecycle';
import { charityStatusToBridgeStatus } from '../mappings/charity-status';
import { nhsUpdateFromTask } from '../mappings/fhir-status';
import { applyNhsUpdate } from '../pipeline/partner-status/nhs-updates';
import { applyCharityUpdate } from '../pipeline/partner-status/charity-updates';
import { enqueueResend } from '../pipeline/delivery/delivery-jobs';
import { requeueWriteBack } from '../pipeline/write-back/write-back-jobs';
import { expireDeadLetterPersonalData } from '../operations/dead-letter-admin';
import type { PartnerCode, ReferralMeta } from '../domain/referral-state';
import { breachCounts, isOpenBreach, type Discrepancy, type ReconciliationReport } from './report';
import { evaluateServiceLevel } from './service-levels';

/**
 * referral-lifecycle.md, made checkable: for every referral the partners should hold, ask the
 * partner (the trust's Task, the charity's case) and act on each difference through the paths
 * that already keep the guarantees (the state machine, the idempotent resend, the outbox).
 * One run at a time across every bridge process (a Redis lock).
 */
export interface ReconcileOptions {
  now?: Date;
  /** How long the run's lock lives without renewal (tests); renewed every third of it while the run lasts. */
  lockTtlMs?: number;
}

const LOCK = 'reconcile';
const LOCK_TTL_MS = 10 * 60_000;
const ORPHAN_PAGES = 200;
/** Transient failures in a row before a partner is taken as down for the rest of a run. */
const PARTNER_FAILURES_BEFORE_GIVING_UP = 3;

/** Undefined when another process is reconciling right now. */
export async function reconcile(ctx: BridgeContext, opts: ReconcileOptions = {}): Promise<ReconciliationReport | undefined> {
  const ttl = opts.lockTtlMs ?? LOCK_TTL_MS;
  const token = await ctx.lock.acquire(LOCK, ttl);
  if (!token) return undefined;
  // A run over a large active set with a slow partner can outlast the TTL: renew it, as the feed poll does.
  const stopRenewing = ctx.lock.keepAlive(LOCK, token, ttl);
  try {
    const report = await run(ctx, opts.now ?? new Date());
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report), 'EX', 7 * 24 * 3600);
    const byClass: Record<string, number> = {};
    for (const d of report.discrepancies) byClass[d.class] = (byClass[d.class] ?? 0) + 1;
    ctx.logger.info(
      {
        discrepancies: byClass,
        breaches: report.serviceLevels.breaches.length,
        breachesOpen: report.serviceLevels.breachCounts.open,
        overdue: report.serviceLevels.overdue.length,
        pendingWriteBacks: report.pendingWriteBacks,
        unreachable: report.unreachable.map((u) => u.partner),
      },
      'reconciliation done',
    );
    return report;
  } finally {
    stopRenewing();
    await ctx.lock.release(LOCK, token);
  }
}

/** The last report any process stored, for GET /v1/reconciliation. */
export async function lastReport(ctx: BridgeContext): Promise<ReconciliationReport | undefined> {
  const raw = await ctx.redis.get(ctx.keys.reconcileReport());
  return raw ? (JSON.parse(raw) as ReconciliationReport) : undefined;
}

async function run(ctx: BridgeContext, now: Date): Promise<ReconciliationReport> {
  const report: ReconciliationReport = {
    generatedAt: now.toISOString(),
    counts: { NHS: {}, CHARITY: {} },
    discrepancies: [],
    serviceLevels: { breaches: [], breachCounts: { open: 0, closedLate: 0 }, overdue: [] },
    pendingWriteBacks: 0,
    unreachable: [],
  };
  const runId = `reconcile-${now.getTime()}`;
  const unreachable = new Set<PartnerCode>();
  const noteUnreachable = (partner: PartnerCode, err: unknown) => {
    if (unreachable.has(partner)) return;
    unreachable.add(partner);
    report.unreachable.push({ partner, detail: err instanceof PartnerError ? err.message : 'request failed' });
  };
  // One failed call is not a partner down: it is given up on for this run after a few failures
  // in a row (or refused credentials), and a referral whose check failed is asked again once.
  const failuresInARow: Record<PartnerCode, number> = { NHS: 0, CHARITY: 0 };
  const checkFailed = (partner: PartnerCode, err: PartnerError) => {
    if (err.kind === 'auth' || ++failuresInARow[partner] >= PARTNER_FAILURES_BEFORE_GIVING_UP) noteUnreachable(partner, err);
  };

  // 1. Every referral the partners should hold, against what they say.
  const movedNow = new Set<string>();
  const compare = async (meta: ReferralMeta): Promise<boolean> => {
    try {
      const found = meta.partner === 'NHS' ? await compareWithTrust(ctx, meta, runId) : await compareWithCharity(ctx, meta, runId);
      failuresInARow[meta.partner] = 0;
      if (found) report.discrepancies.push(found);
      if (found?.action === 'applied') movedNow.add(meta.referralId);
      return true;
    } catch (err) {
      if (!(err instanceof PartnerError)) throw err;
      checkFailed(meta.partner, err);
      return false;
    }
  };
  const failed: ReferralMeta[] = [];
  for (const meta of await allReferrals(ctx)) {
    // FAILED too: delivery may have given up on an answer it could not read while the partner took the referral.
    if (!(AT_PARTNER_STATUSES.has(meta.status) || meta.status === 'FAILED') || unreachable.has(meta.partner)) continue;
    if (!(await compare(meta))) failed.push(meta);
  }
  for (const meta of failed) {
    if (unreachable.has(meta.partner)) continue;
    if (!(await compare(meta)))
      ctx.logger.warn(
        { referralId: meta.referralId, partner: meta.partner },
        'reconciliation could not check this referral with its partner; the next run will',
      );
  }

  // 2. What the partners hold that the bridge does not know.
  for (const partner of ['NHS', 'CHARITY'] as const) {
    if (unreachable.has(partner)) continue;
    try {
      const reported = new Set(report.discrepancies.filter((d) => d.class === 'held-but-failed').map((d) => d.referralId));
      report.discrepancies.push(...(await orphans(ctx, partner, now, reported)));
    } catch (err) {
      if (!(err instanceof PartnerError)) throw err;
      noteUnreachable(partner, err);
    }
  }

  // 3. Status changes the police RMS has not stored: written back again (idempotent at the RMS).
  for (const pending of await ctx.referrals.pendingWriteBacks(60_000)) {
    const meta = await ctx.referrals.get(pending.referralId);
    const requeue = await requeueWriteBack(ctx, pending.referralId, pending.seq, meta?.correlationId ?? pending.referralId);
    report.discrepancies.push({
      class: 'not-written-back',
      partner: 'POLICE',
      referralId: pending.referralId,
      ...(meta ? { crimeReference: meta.crimeReference } : {}),
      action: requeue === 'requeued' ? 'rewritten' : 'none',
      ...(requeue === 'in-queue' ? { note: 'the write-back is queued and retrying' } : {}),
      ...(requeue === 'dead-lettered' ? { note: 'the write-back is in the dead-letter queue: redrive it' } : {}),
    });
  }

  // 4. Counts, stuck referrals and service levels, on the statuses as they are after the actions above.
  const stuckAfterMs = ctx.config.reconcile.stuckAfterHours * 3600_000;
  for (const meta of await allReferrals(ctx)) {
    const counts = report.counts[meta.partner];
    counts[meta.status] = (counts[meta.status] ?? 0) + 1;
    if (!movedNow.has(meta.referralId) && isStuck(meta, now, stuckAfterMs)) {
      ctx.logger.warn(
        { alert: true, referralId: meta.referralId, crimeReference: meta.crimeReference, partner: meta.partner, status: meta.status },
        'referral stuck: no change for too long',
      );
      report.discrepancies.push({
        class: 'stuck',
        partner: meta.partner,
        referralId: meta.referralId,
        crimeReference: meta.crimeReference,
        bridgeStatus: meta.status,
        action: 'alerted',
      });
    }
    const finding = evaluateServiceLevel(
      {
        referralId: meta.referralId,
        crimeReference: meta.crimeReference,
        type: meta.type,
        status: meta.status,
        ...(meta.basisAt ? { basisAt: meta.basisAt } : {}),
        timeline: await ctx.referrals.timeline(meta.referralId),
      },
      now,
      ctx.config.reconcile.clinicalWorkingDays,
    );
    if (finding?.kind === 'victims-code-breach') report.serviceLevels.breaches.push({ ...finding, open: isOpenBreach(finding) });
    if (finding?.kind === 'clinical-overdue') report.serviceLevels.overdue.push(finding);
  }
  report.serviceLevels.breachCounts = breachCounts(report.serviceLevels.breaches);
  report.pendingWriteBacks = await ctx.referrals.outboxSize();
  const expired = await expireDeadLetterPersonalData(ctx, now);
  if (expired > 0) ctx.logger.info({ expired }, 'personal data removed from dead letters older than the retention period');
  return report;
}

async function allReferrals(ctx: BridgeContext): Promise<ReferralMeta[]> {
  const metas = await Promise.all((await ctx.referrals.allIds()).map((id) => ctx.referrals.get(id)));
  return metas.filter((m): m is ReferralMeta => m !== undefined).sort((a, b) => a.referralId.localeCompare(b.referralId));
}

/** REST mode only: a BaRS receiver has no query interface in nhs-fhir.md, its responses are the truth. */
async function compareWithTrust(ctx: BridgeContext, meta: ReferralMeta, runId: string): Promise<Discrepancy | undefined> {
  if (ctx.config.nhs.mode !== 'fhir-rest') return undefined;
  const base = { partner: 'NHS' as const, referralId: meta.referralId, crimeReference: meta.crimeReference, bridgeStatus: meta.status };
  const task = await ctx.partners.nhs.getTaskStatus(meta.referralId, { correlationId: meta.correlationId });
  if (meta.status === 'FAILED') return task ? heldButFailed(ctx, meta, task.taskStatus, task.taskRef) : undefined;
  if (!task) return resend(ctx, meta, runId, base);
  const update = nhsUpdateFromTask(task.taskStatus);
  if (!update.to || !canTransition(meta.status, update.to).apply) return undefined;
  const result = await applyNhsUpdate(ctx, meta.referralId, update, 'reconcile');
  return { ...base, class: 'partner-ahead', partnerStatus: task.taskStatus, action: result === 'applied' ? 'applied' : 'none' };
}

async function compareWithCharity(ctx: BridgeContext, meta: ReferralMeta, runId: string): Promise<Discrepancy | undefined> {
  const base = {
    partner: 'CHARITY' as const,
    referralId: meta.referralId,
    crimeReference: meta.crimeReference,
    bridgeStatus: meta.status,
    ...(meta.partnerRef ? { partnerRef: meta.partnerRef } : {}),
  };
  const state = meta.partnerRef
    ? await ctx.partners.charity.getReferral(meta.partnerRef, { correlationId: meta.correlationId })
    : undefined;
  // Without a case id the charity can only be asked through its listing: orphans() finds it there.
  if (meta.status === 'FAILED') return state ? heldButFailed(ctx, meta, state.status, state.id) : undefined;
  if (!state) return resend(ctx, meta, runId, base);
  const status = charityStatusToBridgeStatus(state.status);
  if (!status || !canTransition(meta.status, status).apply) return undefined;
  const result = await applyCharityUpdate(
    ctx,
    meta.referralId,
    { charityId: state.id, status: state.status, statusReason: state.statusReason, at: state.updatedAt },
    'reconcile',
  );
  return { ...base, class: 'partner-ahead', partnerStatus: state.status, action: result === 'applied' ? 'applied' : 'none' };
}

/** The frozen payload again, through the delivery queue: the partner's idempotency makes it safe. */
async function resend(
  ctx: BridgeContext,
  meta: ReferralMeta,
  runId: string,
  base: Omit<Discrepancy, 'class' | 'action'>,
): Promise<Discrepancy> {
  ctx.logger.warn(
    { alert: true, referralId: meta.referralId, crimeReference: meta.crimeReference, partner: meta.partner },
    'partner does not have a referral the bridge sent',
  );
  if ((await ctx.referrals.loadOutbound(meta.referralId)) === undefined) {
    return {
      ...base,
      class: 'partner-missing',
      action: 'none',
      note: 'the payload sent has expired from the bridge; resend from the police record',
    };
  }
  await enqueueResend(ctx, meta.referralId, meta.partner, meta.correlationId, runId);
  return { ...base, class: 'partner-missing', action: 'resent' };
}

/**
 * The partner holds a referral the bridge gave up on (FAILED), e.g. after an answer it could not
 * read. Reported, not applied: the lifecycle lets FAILED leave only by a redrive (to QUEUED) or a
 * cancel, and a redrive is an operator's audited decision. The redrive is the fix: its resend
 * under the same idempotency key returns the partner's existing referral and marks it SENT, and
 * the police are told.
 */
function heldButFailed(ctx: BridgeContext, meta: ReferralMeta, partnerStatus: string, partnerRef: string): Discrepancy {
  ctx.logger.error(
    { alert: true, referralId: meta.referralId, crimeReference: meta.crimeReference, partner: meta.partner },
    'partner holds a referral the bridge marked FAILED',
  );
  return {
    class: 'held-but-failed',
    partner: meta.partner,
    referralId: meta.referralId,
    crimeReference: meta.crimeReference,
    partnerRef: partnerRef.slice(0, 100),
    bridgeStatus: meta.status,
    partnerStatus: partnerStatus.slice(0, 40),
    action: 'alerted',
    note: 'the partner holds it: redrive its dead letter (the resend returns the existing referral and marks it SENT)',
  };
}

async function orphans(
  ctx: BridgeContext,
  partner: PartnerCode,
  now: Date,
  heldFailedReported: ReadonlySet<string | undefined>,
): Promise<Discrepancy[]> {
  const held: { ref: string; referralId: string; status: string }[] = [];
  if (partner === 'NHS') {
    if (ctx.config.nhs.mode !== 'fhir-rest') return [];
    for (const t of await ctx.partners.nhs.listReferralTasks({ correlationId: `reconcile-${now.getTime()}` }))
      held.push({ ref: t.referralId, referralId: t.referralId, status: t.status });
  } else {
    // Everything the charity changed within the bridge's retention: older cases cannot be ours to know.
    const since = new Date(now.getTime() - ctx.config.retention.days * 24 * 3600_000).toISOString();
    let cursor: string | undefined;
    for (let page = 0; page < ORPHAN_PAGES; page++) {
      const result = await ctx.partners.charity.listUpdated(since, cursor, ctx.config.charity.pollPageLimit, {
        correlationId: `reconcile-${now.getTime()}`,
      });
      for (const item of result.items) held.push({ ref: item.id, referralId: item.externalReference, status: item.status });
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
  }
  const found: Discrepancy[] = [];
  for (const h of held) {
    const meta = await ctx.referrals.get(h.referralId);
    if (meta && meta.partner === partner && meta.status === 'FAILED') {
      if (!heldFailedReported.has(meta.referralId)) found.push(heldButFailed(ctx, meta, h.status, h.ref));
      continue;
    }
    if (meta && meta.partner === partner && meta.status !== 'HELD') continue;
    ctx.logger.error({ alert: true, partner, partnerRef: h.ref.slice(0, 100) }, 'partner holds a referral the bridge does not know');
    found.push({ class: 'orphan', partner, partnerRef: h.ref.slice(0, 100), partnerStatus: h.status.slice(0, 40), action: 'alerted' });
  }
  return found;
}

/** Waiting on someone for too long; HELD waits for the police and FAILED is in the dead-letter queue. */
function isStuck(meta: ReferralMeta, now: Date, stuckAfterMs: number): boolean {
  if (isTerminal(meta.status) || meta.status === 'HELD' || meta.status === 'FAILED') return false;
  return now.getTime() - Date.parse(meta.updatedAt) > stuckAfterMs;
}
