import type { Job } from 'bullmq';
import type { BridgeContext } from '../context';
import type { CrimeRecord } from '../domain/crime-record';
import { AT_PARTNER_STATUSES, type ReferralStatus } from '../domain/lifecycle';
import type { Referral } from '../domain/referral';
import type { ReferralMeta, TimelineEntry } from '../domain/referral-state';
import { enqueueDelivery } from '../pipeline/delivery/delivery-jobs';
import { changeStatus } from '../pipeline/status-changes';
import {
  intakeJobId,
  isIntakePage,
  QUEUE,
  type DeadLetterJob,
  type DeliveryJob,
  type IntakeJob,
  type IntakePageJob,
  type IntakeQueueJob,
  type WriteBackJob,
  type QueueName,
} from '../queues/topology';
import { reachedPartner } from '../pipeline/delivery/delivery';
import { deadLetterTextAad } from '../queues/dead-letter';
import type { AuditLog } from '../store/audit-log';

/**
 * Operators' tools for the dead-letter queue: list, inspect, redrive, discard (the API and
 * `iasu-bridge dlq` are thin shells over these). Summaries carry metadata only, never the failed
 * job's data. A redrive re-enters through the pipeline's own doors (changeStatus, the queues' job
 * shapes) under a fresh job id, only while the referral's state still allows it, and under a
 * short lock so two operators cannot redrive one entry twice.
 */
export type DeadLetterPartner = DeadLetterJob['partner'];
export type DeadLetterErrorKind = DeadLetterJob['errorKind'];
export const DEAD_LETTER_PARTNERS: readonly DeadLetterPartner[] = ['POLICE', 'NHS', 'CHARITY', 'BRIDGE'];
export const DEAD_LETTER_ERROR_KINDS: readonly DeadLetterErrorKind[] = ['transient', 'permanent', 'auth'];
export const DEAD_LETTER_QUEUES: readonly QueueName[] = [
  QUEUE.intake,
  QUEUE.nhsDelivery,
  QUEUE.charityDelivery,
  QUEUE.policeWriteBacks,
  QUEUE.reconcile,
];

export interface DeadLetterFilter {
  partner?: DeadLetterPartner;
  errorKind?: DeadLetterErrorKind;
  /** Failed at least this long ago. */
  olderThanMs?: number;
  /** Failed at most this long ago. */
  newerThanMs?: number;
  queue?: QueueName;
  /** At most this many (oldest first); all when unset. */
  limit?: number;
}

/** Metadata only: never the failed job's data. */
export interface DeadLetterSummary {
  /** The dead-letter job's id (what every other call takes). */
  id: string;
  queue: QueueName;
  /** The failed job's id in its own queue. */
  jobId: string;
  jobName: string;
  partner: DeadLetterPartner;
  errorKind: DeadLetterErrorKind;
  reason: string;
  attempts: number;
  failedAt: string;
  referralId?: string;
  crimeReference?: string;
  correlationId?: string;
}

/** What `show … withPersonalData` adds, by kind of entry. */
export type DeadLetterPersonalData =
  | { kind: 'outbound-payload'; payload: unknown }
  | { kind: 'referral'; referral: Referral }
  | { kind: 'police-record'; record: CrimeRecord }
  | { kind: 'job-data'; data: unknown }
  | { kind: 'unavailable'; why: string };

export interface DeadLetterDetail extends DeadLetterSummary {
  referral?: { status: ReferralStatus; partnerRef?: string; lastError?: string; timeline: TimelineEntry[] };
  /** Whether a redrive would be accepted now, and if not, why (the same checks a redrive makes). */
  redrive: { possible: true } | { possible: false; why: string };
  /** Set when the dead letter was discarded (it is then no longer in the queue). */
  discarded?: { at: string; by: string };
  /** The operator's free-text reason for a discard: may hold anything, so only with personal data. */
  discardReason?: string;
  /** Only when asked for and allowed (the caller checks the permission). */
  personalData?: DeadLetterPersonalData;
  /** The partner's own words about the failure (they may quote the patient): only with personal data. */
  partnerText?: string;
}

export interface AuditSink {
  record(event: {
    actor: string;
    action: 'dead_letter.redriven' | 'dead_letter.discarded' | 'admin.read';
    referralId?: string;
    crimeReference?: string;
    partner?: string;
    status?: string;
    outcome?: string;
    target?: string;
  }): Promise<void>;
}

/**
 * Dead-letter actions and personal-data reads must be audited or not happen: this sink fails
 * the action when the audit write fails (the pipeline's own audit never blocks work).
 */
export function strictAuditSink(log: AuditLog): AuditSink {
  return { record: async (event) => void (await log.recordOrThrow(event as Parameters<AuditLog['recordOrThrow']>[0])) };
}

export type RedriveResult =
  | { id: string; outcome: 'redriven'; newJobId: string }
  /** `notFound`: no such dead letter (the API answers 404); otherwise the state forbids it (409). */
  | { id: string; outcome: 'refused'; why: string; notFound?: true };

export type DiscardResult =
  { id: string; outcome: 'discarded'; reason: string } | { id: string; outcome: 'refused'; why: string; notFound?: true };

const PAGE = 500;
const LOCK_MS = 30_000;
export const NOT_FOUND = 'no dead letter with that id';

// ---------------------------------------------------------------------------------------------
// Pure helpers

/** The metadata of an entry; `data` is deliberately not copied. */
export function summarise(id: string, entry: DeadLetterJob): DeadLetterSummary {
  const summary: DeadLetterSummary = {
    id,
    queue: entry.queue,
    jobId: String(entry.jobId),
    jobName: entry.jobName,
    partner: entry.partner,
    errorKind: entry.errorKind,
    reason: entry.reason,
    attempts: entry.attempts,
    failedAt: entry.failedAt,
  };
  if (entry.referralId) summary.referralId = entry.referralId;
  if (entry.crimeReference) summary.crimeReference = entry.crimeReference;
  if (entry.correlationId) summary.correlationId = entry.correlationId;
  return summary;
}

export function matchesFilter(s: DeadLetterSummary, filter: DeadLetterFilter, now: Date): boolean {
  if (filter.partner && s.partner !== filter.partner) return false;
  if (filter.errorKind && s.errorKind !== filter.errorKind) return false;
  if (filter.queue && s.queue !== filter.queue) return false;
  if (filter.olderThanMs !== undefined || filter.newerThanMs !== undefined) {
    const failed = Date.parse(s.failedAt);
    if (!Number.isFinite(failed)) return false;
    const age = now.getTime() - failed;
    if (filter.olderThanMs !== undefined && age < filter.olderThanMs) return false;
    if (filter.newerThanMs !== undefined && age > filter.newerThanMs) return false;
  }
  return true;
}

/** A discard reason: 1–200 characters on one line, no control characters. */
export function validDiscardReason(reason: unknown): string | undefined {
  if (typeof reason !== 'string') return undefined;
  const trimmed = reason.trim();
  if (trimmed.length < 1 || trimmed.length > 200 || /[\u0000-\u001f\u007f\u2028\u2029]/.test(trimmed)) return undefined;
  return trimmed;
}

/**
 * Would a cancel still reach something at the partner? The same rule as the delivery worker's
 * cancel (delivery.ts `cancelAtPartner`): at the partner, or sent (a reference) and not closed
 * there; and not when the partner itself already confirmed the cancellation.
 */
export function cancelStillMeaningful(
  meta: Pick<ReferralMeta, 'status' | 'partnerRef' | 'partner'>,
  timeline: TimelineEntry[],
): string | undefined {
  if (!reachedPartner(meta))
    return `the referral is ${meta.status} and never reached the partner (or the partner closed it): there is nothing to cancel there`;
  if (timeline.some((e) => e.status === 'CANCELLED' && e.source === meta.partner))
    return 'the partner has already confirmed the cancellation';
  return undefined;
}

let lastStamp = 0;
/** Milliseconds, strictly increasing in this process: two redrives never share a job id. */
function redriveStamp(): number {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return lastStamp;
}

// ---------------------------------------------------------------------------------------------
// Reading

async function* deadLetterJobs(ctx: BridgeContext): AsyncGenerator<Job<DeadLetterJob>> {
  // Oldest first, from the list's tail: entries added while we page do not shift the pages.
  for (let start = 0; ; start += PAGE) {
    const jobs = await ctx.queues.deadLetter.getJobs(['waiting'], start, start + PAGE - 1, true);
    for (const job of jobs) if (job && job.id && job.data) yield job as Job<DeadLetterJob>;
    if (jobs.length < PAGE) return;
  }
}

/**
 * A dead letter waits for an operator, but the personal data in it (a sealed police record, the
 * partner's sealed words) does not wait longer than RETENTION_DAYS: after that it is removed
 * from the entry, which keeps its metadata and structured reason. Returns how many entries lost some.
 */
export async function expireDeadLetterPersonalData(ctx: BridgeContext, now = new Date()): Promise<number> {
  const cutoff = now.getTime() - ctx.config.retention.days * 24 * 3600_000;
  let expired = 0;
  const unsealed = <T extends { sealed?: string }>(data: T) => {
    const { sealed: _dropped, ...rest } = data;
    return { ...rest, sealedExpired: true };
  };
  for await (const job of deadLetterJobs(ctx)) {
    const data = job.data.data as { sealed?: string; page?: { sealed?: string }[] } | undefined;
    const sealedPage = data?.page?.some((r) => r.sealed);
    if ((!data?.sealed && !sealedPage && !job.data.partnerText) || Date.parse(job.data.failedAt) > cutoff) continue;
    const { partnerText, ...entry } = job.data;
    let next: DeadLetterJob = partnerText ? { ...entry, partnerTextExpired: true } : entry;
    if (data?.sealed) next = { ...next, data: unsealed(data) };
    if (sealedPage) next = { ...next, data: { ...data, page: data!.page!.map(unsealed) } };
    await job.updateData(next);
    expired++;
  }
  return expired;
}

export async function listDeadLetters(ctx: BridgeContext, filter: DeadLetterFilter = {}, now = new Date()): Promise<DeadLetterSummary[]> {
  const out: DeadLetterSummary[] = [];
  if (filter.limit !== undefined && filter.limit <= 0) return out;
  for await (const job of deadLetterJobs(ctx)) {
    const summary = summarise(String(job.id), job.data);
    if (!matchesFilter(summary, filter, now)) continue;
    out.push(summary);
    if (filter.limit !== undefined && out.length >= filter.limit) break;
  }
  return out;
}

interface Tombstone {
  summary: DeadLetterSummary;
  discardedAt: string;
  discardedBy: string;
  /** Sealed with the data key: free text may hold personal data. */
  reason: string;
}

function tombstoneKey(ctx: BridgeContext, id: string): string {
  return ctx.keys.deadLetterDiscarded(id);
}
const reasonAad = (id: string) => `dead-letter-discard:${id}`;

async function readTombstone(ctx: BridgeContext, id: string): Promise<Tombstone | undefined> {
  const raw = await ctx.redis.get(tombstoneKey(ctx, id));
  return raw ? (JSON.parse(raw) as Tombstone) : undefined;
}

export async function showDeadLetter(
  ctx: BridgeContext,
  id: string,
  opts: { withPersonalData: boolean },
): Promise<DeadLetterDetail | undefined> {
  const job = await ctx.queues.deadLetter.getJob(id);
  if (!job?.data) {
    const tomb = await readTombstone(ctx, id);
    if (!tomb) return undefined;
    const detail: DeadLetterDetail = {
      ...tomb.summary,
      redrive: { possible: false, why: `discarded by ${tomb.discardedBy} at ${tomb.discardedAt}` },
      discarded: { at: tomb.discardedAt, by: tomb.discardedBy },
    };
    await addReferral(ctx, detail);
    if (opts.withPersonalData) {
      try {
        detail.discardReason = ctx.cipher.openJson<string>(tomb.reason, reasonAad(id));
      } catch {
        detail.discardReason = '(cannot be decrypted with the configured data keys)';
      }
    }
    return detail;
  }
  const entry = job.data;
  const plan = await planRedrive(ctx, entry, 'operator:dry-run');
  const detail: DeadLetterDetail = { ...summarise(id, entry), redrive: plan.ok ? { possible: true } : { possible: false, why: plan.why } };
  await addReferral(ctx, detail);
  if (opts.withPersonalData) {
    detail.personalData = await personalDataOf(ctx, entry);
    const text = partnerTextOf(ctx, entry);
    if (text !== undefined) detail.partnerText = text;
  }
  return detail;
}

function partnerTextOf(ctx: BridgeContext, entry: DeadLetterJob): string | undefined {
  if (entry.partnerTextExpired) return '(expired from the bridge after the retention period)';
  if (!entry.partnerText) return undefined;
  try {
    return ctx.cipher.decrypt(entry.partnerText, deadLetterTextAad(entry));
  } catch {
    return '(cannot be decrypted with the configured data keys)';
  }
}

async function addReferral(ctx: BridgeContext, detail: DeadLetterDetail): Promise<void> {
  if (!detail.referralId) return;
  const meta = await ctx.referrals.get(detail.referralId);
  if (!meta) return;
  detail.referral = {
    status: meta.status,
    ...(meta.partnerRef ? { partnerRef: meta.partnerRef } : {}),
    ...(meta.lastError ? { lastError: meta.lastError } : {}),
    timeline: await ctx.referrals.timeline(detail.referralId),
  };
}

async function personalDataOf(ctx: BridgeContext, entry: DeadLetterJob): Promise<DeadLetterPersonalData> {
  try {
    if (entry.queue === QUEUE.intake) {
      if (entry.data && isIntakePage(entry.data as IntakeQueueJob))
        return {
          kind: 'unavailable',
          why: `a page of ${(entry.data as IntakePageJob).page.length} police records: a redrive queues each on its own`,
        };
      const data = entry.data as IntakeJob;
      return { kind: 'police-record', record: ctx.cipher.openJson<CrimeRecord>(data.sealed, String(entry.jobId)) };
    }
    if ((entry.queue === QUEUE.nhsDelivery || entry.queue === QUEUE.charityDelivery) && entry.referralId) {
      const outbound = await ctx.referrals.loadOutbound<unknown>(entry.referralId);
      if (outbound !== undefined) return { kind: 'outbound-payload', payload: outbound };
      const referral = await ctx.referrals.loadData(entry.referralId);
      if (referral) return { kind: 'referral', referral };
      return { kind: 'unavailable', why: 'the referral details have expired from the bridge (retention period)' };
    }
    // Outcome and other jobs carry ids only.
    return { kind: 'job-data', data: entry.data };
  } catch (err) {
    return { kind: 'unavailable', why: `cannot be decrypted with the configured data keys (${(err as Error).message})` };
  }
}

// ---------------------------------------------------------------------------------------------
// Redrive

class Refusal extends Error {}

type Plan = { ok: true; apply(): Promise<{ newJobId: string; status?: ReferralStatus }> } | { ok: false; why: string };

const refuse = (why: string): Plan => ({ ok: false, why });

/** Checks whether the entry can be redriven now and, if so, how. `apply` may still refuse (a race). */
async function planRedrive(ctx: BridgeContext, entry: DeadLetterJob, actor: string): Promise<Plan> {
  switch (entry.queue) {
    case QUEUE.nhsDelivery:
    case QUEUE.charityDelivery:
      return planDelivery(ctx, entry, actor);
    case QUEUE.intake:
      return planIntake(ctx, entry);
    case QUEUE.policeWriteBacks:
      return planOutcome(ctx, entry);
    default:
      return refuse(
        `a dead letter from the ${entry.queue} queue cannot be redriven; discard it (the next scheduled run does the work again)`,
      );
  }
}

async function planDelivery(ctx: BridgeContext, entry: DeadLetterJob, actor: string): Promise<Plan> {
  const data = entry.data as Partial<DeliveryJob> | undefined;
  const referralId = data?.referralId ?? entry.referralId;
  if (!referralId) return refuse('the dead letter names no referral');
  const meta = await ctx.referrals.get(referralId);
  if (!meta) return refuse('the referral is no longer held by the bridge');
  const queue = entry.queue === QUEUE.nhsDelivery ? ctx.queues.nhsDelivery : ctx.queues.charityDelivery;
  const correlationId = data?.correlationId ?? meta.correlationId;
  const action = data?.action ?? (entry.jobName as DeliveryJob['action']);

  if (action === 'deliver') {
    if (meta.status !== 'FAILED')
      return refuse(`the referral is ${meta.status}, not FAILED: it has been redriven, cancelled or delivered since`);
    const [outbound, details] = await Promise.all([
      ctx.redis.exists(ctx.keys.outbound(referralId)),
      ctx.redis.exists(ctx.keys.data(referralId)),
    ]);
    if (!outbound && !details)
      return refuse(
        'neither the payload sent to the partner nor the referral details are still held (retention period): the police must resend the record',
      );
    return {
      ok: true,
      apply: async () => {
        // The one door: FAILED → QUEUED is the redrive transition; the timeline records who.
        const t = await changeStatus(ctx, referralId, {
          to: 'QUEUED',
          source: 'redrive',
          detail: `redriven by ${actor}`,
          expectFrom: ['FAILED'],
        });
        if (!t.applied) throw new Refusal(`the referral is ${t.from ?? 'unknown'} now, not FAILED: someone else acted on it first`);
        // Delivery job ids are per QUEUED transition, so this is a fresh job; the frozen payload is reused.
        await enqueueDelivery(ctx, referralId, correlationId, t.seq);
        return { newJobId: `${referralId}-q${t.seq}`, status: 'QUEUED' };
      },
    };
  }
  if (action === 'cancel') {
    const why = cancelStillMeaningful(meta, await ctx.referrals.timeline(referralId));
    if (why) return refuse(why);
    const cancelReason = data?.cancelReason ?? (meta.cancelReason === 'RECORD_WITHDRAWN' ? 'RECORD_WITHDRAWN' : 'CONSENT_WITHDRAWN');
    return {
      ok: true,
      apply: async () => {
        const newJobId = `${referralId}-cancel-r${redriveStamp()}`;
        await queue.add('cancel', { referralId, correlationId, action: 'cancel', cancelReason }, { jobId: newJobId, priority: 1 });
        return { newJobId };
      },
    };
  }
  if (action === 'resend') {
    if (!AT_PARTNER_STATUSES.has(meta.status))
      return refuse(`the referral is ${meta.status}: the partner no longer holds it, so there is nothing to resend`);
    if (!(await ctx.redis.exists(ctx.keys.outbound(referralId))))
      return refuse('the payload sent to the partner has expired from the bridge (retention period); it cannot be resent');
    return {
      ok: true,
      apply: async () => {
        const newJobId = `${referralId}-resend-r${redriveStamp()}`;
        await queue.add('resend', { referralId, correlationId, action: 'resend' }, { jobId: newJobId });
        return { newJobId };
      },
    };
  }
  return refuse(`unknown delivery action '${String(action)}'`);
}

/** A page job that ran out of attempts (Redis failing it each time): each record goes again as its own job. */
function planIntakePage(ctx: BridgeContext, entries: (IntakeJob & { sealedExpired?: boolean })[]): Plan {
  const page = entries.filter((r) => !r.sealedExpired);
  if (page.length === 0)
    return refuse('the police records expired from the bridge after RETENTION_DAYS: ask the police to send them again');
  return {
    ok: true,
    apply: async () => {
      await ctx.queues.intake.addBulk(
        page.map((data) => ({
          name: 'record',
          data: { ...data, source: 'redrive' as const },
          opts: { jobId: intakeJobId(data.crimeReference, data.recordVersion) },
        })),
      );
      return { newJobId: `${page.length} record jobs` };
    },
  };
}

async function planIntake(ctx: BridgeContext, entry: DeadLetterJob): Promise<Plan> {
  if (entry.data && isIntakePage(entry.data as IntakeQueueJob)) return planIntakePage(ctx, (entry.data as IntakePageJob).page);
  const data = entry.data as (IntakeJob & { sealedExpired?: boolean }) | undefined;
  if (data?.sealedExpired) return refuse('the police record expired from the bridge after RETENTION_DAYS: ask the police to send it again');
  if (!data?.sealed || !data.crimeReference || !Number.isInteger(data.recordVersion))
    return refuse('the dead letter does not hold a police record');
  const latest = await ctx.referrals.crimeVersion(data.crimeReference);
  if (data.recordVersion < latest)
    return refuse(`record version ${latest} of this crime has been applied since; version ${data.recordVersion} would be ignored`);
  return {
    ok: true,
    apply: async () => {
      const newJobId = `${intakeJobId(data.crimeReference, data.recordVersion)}-r${redriveStamp()}`;
      // The record is sealed with its job id as associated data, so a new id means sealing it again.
      let record: CrimeRecord;
      try {
        record = ctx.cipher.openJson<CrimeRecord>(data.sealed, String(entry.jobId));
      } catch (err) {
        throw new Refusal(`the sealed record cannot be opened with the configured data keys (${(err as Error).message})`);
      }
      const job: IntakeJob = { ...data, sealed: ctx.cipher.sealJson(record, newJobId), source: 'redrive' };
      await ctx.queues.intake.add('record', job, { jobId: newJobId });
      return { newJobId };
    },
  };
}

async function planOutcome(ctx: BridgeContext, entry: DeadLetterJob): Promise<Plan> {
  const data = entry.data as Partial<WriteBackJob> | undefined;
  if (!data?.referralId || !Number.isInteger(data.seq)) return refuse('the dead letter does not name a status change');
  const { referralId, seq } = data as WriteBackJob;
  const pending = await ctx.redis.zscore(ctx.keys.outbox(), `${referralId}|${seq}`);
  if (pending === null) return refuse('the police already hold this status change (it is no longer pending write-back)');
  return {
    ok: true,
    apply: async () => {
      // Idempotent at the RMS (Idempotency-Key per change): a redrive never duplicates there.
      const newJobId = `${referralId}-s${seq}-r${redriveStamp()}`;
      await ctx.queues.policeWriteBacks.add(
        'outcome',
        { referralId, seq, correlationId: data.correlationId ?? referralId },
        { jobId: newJobId },
      );
      return { newJobId };
    },
  };
}

/** Runs `act` holding the dead letter's lock; refused if another operator holds it. */
async function withEntryLock<R>(ctx: BridgeContext, id: string, busy: () => R, act: () => Promise<R>): Promise<R> {
  const token = await ctx.lock.acquire(`dead-letter:${id}`, LOCK_MS);
  if (!token) return busy();
  try {
    return await act();
  } finally {
    await ctx.lock.release(`dead-letter:${id}`, token);
  }
}

async function missing(ctx: BridgeContext, id: string): Promise<{ id: string; outcome: 'refused'; why: string; notFound?: true }> {
  const tomb = await readTombstone(ctx, id);
  return tomb
    ? { id, outcome: 'refused', why: `discarded by ${tomb.discardedBy} at ${tomb.discardedAt}` }
    : { id, outcome: 'refused', why: NOT_FOUND, notFound: true };
}

export async function redriveDeadLetter(ctx: BridgeContext, id: string, actor: string, audit?: AuditSink): Promise<RedriveResult> {
  return withEntryLock<RedriveResult>(
    ctx,
    id,
    () => ({ id, outcome: 'refused', why: 'another operator is acting on this dead letter right now' }),
    async () => {
      const job = await ctx.queues.deadLetter.getJob(id);
      if (!job?.data) return missing(ctx, id);
      const entry = job.data;
      const plan = await planRedrive(ctx, entry, actor);
      if (!plan.ok) return { id, outcome: 'refused', why: plan.why };
      let done: { newJobId: string; status?: ReferralStatus };
      try {
        done = await plan.apply();
      } catch (err) {
        if (err instanceof Refusal) return { id, outcome: 'refused', why: err.message };
        throw err;
      }
      // It has done its job: the audit trail and the referral's timeline remember it.
      await job.remove();
      const ids = {
        ...(entry.referralId ? { referralId: entry.referralId } : {}),
        ...(entry.crimeReference ? { crimeReference: entry.crimeReference } : {}),
      };
      ctx.logger.info(
        {
          ...ids,
          correlationId: entry.correlationId,
          deadLetterId: id,
          queue: entry.queue,
          jobName: entry.jobName,
          newJobId: done.newJobId,
          actor,
        },
        'dead letter redriven',
      );
      await audited(ctx, audit, {
        actor,
        action: 'dead_letter.redriven',
        ...ids,
        partner: entry.partner,
        ...(done.status ? { status: done.status } : {}),
        outcome: 'redriven',
        target: id,
      });
      return { id, outcome: 'redriven', newJobId: done.newJobId };
    },
  );
}

/** Every dead letter matching the filter, oldest first, one at a time; each result says what happened. */
export async function redriveMatching(
  ctx: BridgeContext,
  filter: DeadLetterFilter,
  actor: string,
  audit?: AuditSink,
): Promise<RedriveResult[]> {
  // The ids first: redriving removes entries, which would shift the pages under a running scan.
  const ids = (await listDeadLetters(ctx, filter)).map((s) => s.id);
  const results: RedriveResult[] = [];
  for (const id of ids) results.push(await redriveDeadLetter(ctx, id, actor, audit));
  return results;
}

/**
 * Removes a dead letter without redriving it. The reason (free text an operator typed) never goes
 * to the logs or the audit trail, which are metadata only: it is kept, sealed with the data key
 * and expiring after the retention period, in a record of the discard, which `showDeadLetter`
 * returns (who and when always; the reason only with personal data).
 */
export async function discardDeadLetter(
  ctx: BridgeContext,
  id: string,
  reason: string,
  actor: string,
  audit?: AuditSink,
): Promise<DiscardResult> {
  const clean = validDiscardReason(reason);
  if (clean === undefined) return { id, outcome: 'refused', why: 'a reason of 1 to 200 characters on one line is required' };
  return withEntryLock<DiscardResult>(
    ctx,
    id,
    () => ({ id, outcome: 'refused', why: 'another operator is acting on this dead letter right now' }),
    async () => {
      const job = await ctx.queues.deadLetter.getJob(id);
      if (!job?.data) return missing(ctx, id);
      const entry = job.data;
      const tomb: Tombstone = {
        summary: summarise(id, entry),
        discardedAt: new Date().toISOString(),
        discardedBy: actor,
        reason: ctx.cipher.sealJson(clean, reasonAad(id)),
      };
      await ctx.redis.set(tombstoneKey(ctx, id), JSON.stringify(tomb), 'EX', ctx.config.retention.days * 24 * 3600);
      await job.remove();
      const ids = {
        ...(entry.referralId ? { referralId: entry.referralId } : {}),
        ...(entry.crimeReference ? { crimeReference: entry.crimeReference } : {}),
      };
      ctx.logger.info(
        { ...ids, correlationId: entry.correlationId, deadLetterId: id, queue: entry.queue, jobName: entry.jobName, actor },
        'dead letter discarded',
      );
      await audited(ctx, audit, {
        actor,
        action: 'dead_letter.discarded',
        ...ids,
        partner: entry.partner,
        outcome: 'discarded',
        target: id,
      });
      return { id, outcome: 'discarded', reason: clean };
    },
  );
}

/** The action has happened: a failed audit write is logged loudly, not turned into a failed action. */
async function audited(ctx: BridgeContext, audit: AuditSink | undefined, event: Parameters<AuditSink['record']>[0]): Promise<void> {
  if (!audit) return;
  try {
    await audit.record(event);
  } catch (err) {
    ctx.logger.error({ alert: true, action: event.action, target: event.target, err: (err as Error)?.message }, 'audit write failed');
  }
}
