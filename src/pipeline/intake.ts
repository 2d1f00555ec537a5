import type { Job, Worker } from 'bullmq';
import type { BridgeContext } from '../context';
import type { CrimeRecord } from '../domain/crime-record';
import { AT_PARTNER_STATUSES, isTerminal } from '../domain/lifecycle';
import type { DecidedReferral } from '../domain/referral';
import { mapCrimeRecord } from '../mappings/police-to-referral';
import type { TransitionRequest } from '../store/referral-store';
import type { ReferralMeta } from '../domain/referral-state';
import { startBridgeWorker } from '../queues/bridge-worker';
import { enqueueCancel, enqueueDelivery } from './delivery/delivery-jobs';
import { changeStatus } from './status-changes';
import { intakeJobId, isIntakePage, QUEUE, type IntakeJob, type IntakePageJob, type IntakeQueueJob } from '../queues/topology';
import { lazyChild } from '../logger';

/**
 * Intake: one police record version → referral states. Versions of one crime are applied in
 * order under a per-crime lock; an older version never overwrites a newer one, and the same
 * version applied twice changes nothing.
 */
export class CrimeBusyError extends Error {}

/** An intake job, or one record of a page job (its own record job's id and data). */
export type IntakeRun = Pick<Job<IntakeJob>, 'id' | 'data'>;

export async function processIntake(ctx: BridgeContext, job: IntakeRun): Promise<{ outcome: string }> {
  const { referrals, logger, cipher, counters } = ctx;
  const { crimeReference, recordVersion, force, correlationId } = job.data;
  const log = lazyChild(logger, { correlationId, crimeReference, recordVersion, jobId: job.id });

  // Mapped before the lock (pure, no I/O), so the lock, the crime's version and each referral's
  // state are one call (lockCrime): the reads see all that the lock's previous holder wrote.
  const record = cipher.openJson<CrimeRecord>(job.data.sealed, String(job.id));
  const mapping = mapCrimeRecord(record, force);
  const ids = mapping.referrals.map((r) => r.referral.referralId);
  // A referral named twice in one record is read again when its turn comes.
  const firsts = ids.filter((id, i) => ids.indexOf(id) === i);
  const { token, version: latest, metas: read } = await referrals.lockCrime(crimeReference, firsts, 30_000);
  if (!token) throw new CrimeBusyError('another version of this crime is being applied; retrying');
  const metas = ids.map((id, i) => (ids.indexOf(id) === i ? read[firsts.indexOf(id)] : REREAD));
  let released = false;
  const release = (appliedVersion?: number) =>
    referrals.unlockCrime(crimeReference, token, appliedVersion).then(() => void (released = true));
  try {
    if (recordVersion < latest) {
      await counters.add('recordsStale');
      log.info({ latestVersion: latest }, 'older record version ignored');
      return { outcome: 'stale' };
    }
    if (!mapping.inScope) {
      if (recordVersion > latest) await counters.add('recordsOutOfScope');
      log.info('record out of scope (no STALKING flag, class not 8Q)');
      await release(recordVersion);
      return { outcome: 'out-of-scope' };
    }
    // A record's referrals are independent of one another, so they are applied together (their
    // commits share round trips); one named twice is applied in turn, each reading the last.
    if (metas.includes(REREAD))
      for (const [i, decided] of mapping.referrals.entries()) await applyDecision(ctx, decided, correlationId, metas[i]);
    else await Promise.all(mapping.referrals.map((decided, i) => applyDecision(ctx, decided, correlationId, metas[i])));
    if (record.recordStatus === 'WITHDRAWN') await cancelAllForCrime(ctx, crimeReference, correlationId);
    // The version and the lock's release are one call.
    await Promise.all([release(recordVersion), recordVersion > latest ? counters.add('recordsQueued') : undefined]);
    log.info(
      { referrals: mapping.referrals.map((r) => ({ referralId: r.referral.referralId, decision: r.decision, reason: r.reason })) },
      'record applied',
    );
    return { outcome: 'applied' };
  } finally {
    if (!released) await release();
  }
}

/** In place of a referral's state read with the lock: read it when its turn comes. */
const REREAD = Symbol('reread');

async function applyDecision(
  ctx: BridgeContext,
  decided: DecidedReferral,
  correlationId: string,
  read: ReferralMeta | undefined | typeof REREAD,
): Promise<void> {
  const { referrals } = ctx;
  const { referral } = decided;
  const meta = read === REREAD ? await referrals.get(referral.referralId) : read;
  if (meta && isTerminal(meta.status)) return;
  // Keep the newest details for a referral not yet sent; once the partner has it, the frozen
  // outbound payload is all the bridge needs, so personal data is not re-written or kept longer.
  // A referral becoming QUEUED saves them in its commit (applyDecided); otherwise they go with
  // the status change below, in one round trip: on one connection the details are saved first.
  const saving =
    (!meta || !AT_PARTNER_STATUSES.has(meta.status)) && !(decided.decision === 'QUEUED' && awaitsQueuing(meta))
      ? referrals.saveData(referral, { untilSent: decided.decision === 'QUEUED' })
      : Promise.resolve();
  saving.catch(() => undefined); // awaited below; this only keeps a failure from going unhandled meanwhile
  try {
    await applyDecided(ctx, decided, correlationId, meta, saving);
  } finally {
    await saving;
  }
}

/** New, or held until now: a QUEUED decision queues it for delivery, its details in that commit. */
function awaitsQueuing(meta: ReferralMeta | undefined): meta is undefined | (ReferralMeta & { status: 'HELD' }) {
  return !meta || meta.status === 'HELD';
}

/** The decision against the referral's state; `saving` (its details being saved) settles before any delivery. */
async function applyDecided(
  ctx: BridgeContext,
  decided: DecidedReferral,
  correlationId: string,
  meta: ReferralMeta | undefined,
  saving: Promise<void>,
): Promise<void> {
  const { referrals } = ctx;
  const { referral, decision, reason } = decided;
  const id = referral.referralId;
  const create = {
    referralId: id,
    type: referral.type,
    crimeReference: referral.crimeReference,
    recordVersion: referral.recordVersion,
    correlationId,
  };
  const patch = { recordVersion: referral.recordVersion, correlationId };
  switch (decision) {
    case 'QUEUED': {
      if (awaitsQueuing(meta)) {
        const basisAt = referral.consent?.status === 'GIVEN' ? referral.consent.recordedAt : referral.lawfulBasis?.authorisedAt;
        // The details are saved in the commit (sealed uncompressed: reaching the partner deletes them).
        const t = await changeStatus(ctx, id, {
          to: 'QUEUED',
          source: 'police',
          detail: `record v${referral.recordVersion}`,
          create,
          known: meta ?? null,
          patch: { ...patch, heldReason: '', ...(basisAt ? { basisAt } : {}) },
          details: { referral, untilSent: true },
        });
        // A new referral has no frozen payload from an earlier attempt: what to send is the referral in hand.
        if (t.applied) await ctx.deliveries.dispatch(id, correlationId, t.seq, t.partner, t.from ? undefined : { meta: t.meta, referral });
      } else if (meta.status === 'QUEUED') {
        await saving;
        // Re-applying the same version (e.g. after a crash): make sure its delivery job exists.
        await referrals.patch(id, patch);
        await enqueueDelivery(ctx, id, meta.correlationId, await queuedSeq(ctx, id));
      }
      return;
    }
    case 'HELD': {
      if (!meta || meta.status === 'QUEUED') {
        await Promise.all([
          changeStatus(ctx, id, {
            to: 'HELD',
            source: 'police',
            detail: reason,
            create,
            known: meta ?? null,
            patch: { ...patch, heldReason: reason },
          }),
          saving,
        ]);
      } else if (meta.status === 'HELD') {
        await saving;
        await referrals.patch(id, { ...patch, heldReason: reason });
      }
      return;
    }
    case 'CANCELLED': {
      await saving;
      await cancelReferral(ctx, id, reason === 'RECORD_WITHDRAWN' ? 'RECORD_WITHDRAWN' : 'CONSENT_WITHDRAWN', correlationId, create);
      return;
    }
  }
}

/** Not yet at the partner: cancel here. At the partner: ask the partner to cancel first. */
export async function cancelReferral(
  ctx: BridgeContext,
  id: string,
  reason: 'CONSENT_WITHDRAWN' | 'RECORD_WITHDRAWN',
  correlationId: string,
  create?: TransitionRequest['create'],
): Promise<void> {
  const meta = await ctx.referrals.get(id);
  if (meta && isTerminal(meta.status)) return;
  if (meta && AT_PARTNER_STATUSES.has(meta.status)) {
    await ctx.referrals.patch(id, { cancelReason: reason });
    await enqueueCancel(ctx, id, meta.partner, correlationId, reason);
    return;
  }
  if (!meta && !create) return;
  const t = await changeStatus(ctx, id, { to: 'CANCELLED', source: 'police', detail: reason, create, patch: { cancelReason: reason } });
  // Lost a race with delivery (it just went SENT): the partner has it, so cancel there.
  if (!t.applied && t.from && AT_PARTNER_STATUSES.has(t.from)) await cancelReferral(ctx, id, reason, correlationId);
}

async function cancelAllForCrime(ctx: BridgeContext, crimeReference: string, correlationId: string): Promise<void> {
  for (const id of await ctx.referrals.idsForCrime(crimeReference)) await cancelReferral(ctx, id, 'RECORD_WITHDRAWN', correlationId);
}

async function queuedSeq(ctx: BridgeContext, id: string): Promise<number> {
  const timeline = await ctx.referrals.timeline(id);
  return [...timeline].reverse().find((e) => e.status === 'QUEUED')?.seq ?? 0;
}

/**
 * A page job's records, each crime's versions in order and the crimes side by side, each record
 * in one of the process's intake slots. A record that fails is split out as the record job it
 * stands for, which retries and dead-letters it as any record job; the page then completes. Only
 * a split-out that cannot be queued fails the page, whose retry re-applies what it had applied
 * (a version applied twice changes nothing).
 */
export async function processIntakePage(
  ctx: BridgeContext,
  job: Pick<Job<IntakePageJob>, 'id' | 'data'>,
  slots: IntakeSlots,
): Promise<string> {
  const byCrime = new Map<string, IntakeJob[]>();
  for (const r of job.data.page) byCrime.set(r.crimeReference, [...(byCrime.get(r.crimeReference) ?? []), r]);
  let splitOut = 0;
  await Promise.all(
    [...byCrime.values()].map(async (versions) => {
      for (const data of versions.sort((a, b) => a.recordVersion - b.recordVersion)) {
        const id = intakeJobId(data.crimeReference, data.recordVersion);
        try {
          await slots.run(() => processIntake(ctx, { id, data }));
        } catch (err) {
          splitOut++;
          // A crime busy elsewhere is the record job's first retry, half a second on (as its backoff).
          await ctx.queues.intake.add('record', data, { jobId: id, ...(err instanceof CrimeBusyError ? { delay: 500 } : {}) });
          lazyChild(ctx.logger, { correlationId: data.correlationId, crimeReference: data.crimeReference, jobId: job.id }).info(
            { reason: (err as Error).message },
            'record of a page failed; queued on its own',
          );
        }
      }
    }),
  );
  return splitOut > 0 ? `applied; ${splitOut} queued on their own` : 'applied';
}

/** At most `limit` records applied at once by this process, whether they came alone or in a page. */
export class IntakeSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export function startIntakeWorker(ctx: BridgeContext): Worker<IntakeQueueJob> {
  const slots = new IntakeSlots(ctx.config.delivery.intakeConcurrency);
  return startBridgeWorker<IntakeQueueJob>(ctx, {
    queue: QUEUE.intake,
    // Intake calls no partner (its deliveries go through their own limit), only Redis: it can
    // run more at once than the partner workers; at the workers' 16 it fell behind a 200 records/s push.
    concurrency: ctx.config.delivery.intakeConcurrency,
    process: (job) =>
      isIntakePage(job.data)
        ? processIntakePage(ctx, { id: job.id, data: job.data }, slots)
        : slots.run(() => processIntake(ctx, { id: job.id, data: job.data as IntakeJob })),
    describe: (job) =>
      isIntakePage(job.data)
        ? { correlationId: job.data.page[0]?.correlationId }
        : { crimeReference: job.data.crimeReference, correlationId: job.data.correlationId },
  });
}
