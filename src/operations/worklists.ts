import type { BridgeContext } from '../context';
import type { ReferralStatus } from '../domain/lifecycle';
import type { PartnerCode, ReferralMeta, TimelineEntry } from '../domain/referral-state';
import type { ReconciliationReport } from '../reconcile/report';
import type { QuarantineEntry } from '../store/quarantine';
import { parseCrimeRecord } from '../adapters/police/record-validator';
import { CONFLICT_REASON, ingestRecords } from '../pipeline/ingest/feed-ingest';

/**
 * What the unit's operators look for, read from the stores: referrals by status, partner, crime
 * and time; a crime's story; the quarantine. Metadata only: ids, statuses, reasons and times,
 * never a person's details. Lists are read whole and filtered here, which suits a unit's volume
 * (thousands of referrals); pages are cut by an opaque cursor so a page never repeats an item.
 */
export interface ReferralFilter {
  crimeReference?: string;
  status?: ReferralStatus;
  partner?: PartnerCode;
  /** Updated at or after this time (ISO 8601). */
  updatedSince?: string;
}

export interface ReferralSummary {
  referralId: string;
  type: ReferralMeta['type'];
  partner: PartnerCode;
  crimeReference: string;
  recordVersion: number;
  status: ReferralStatus;
  heldReason?: string;
  partnerStatus?: string;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export const MAX_PAGE = 500;

export async function listReferrals(
  ctx: Pick<BridgeContext, 'referrals'>,
  filter: ReferralFilter,
  page: { limit: number; cursor?: string },
): Promise<Page<ReferralSummary>> {
  const ids = filter.crimeReference ? await ctx.referrals.idsForCrime(filter.crimeReference) : await ctx.referrals.allIds();
  const since = filter.updatedSince ? Date.parse(filter.updatedSince) : undefined;
  const metas = (await ctx.referrals.getMany(ids)).filter(
    (m) =>
      (!filter.status || m.status === filter.status) &&
      (!filter.partner || m.partner === filter.partner) &&
      (!filter.crimeReference || m.crimeReference === filter.crimeReference) &&
      (since === undefined || Date.parse(m.updatedAt) >= since),
  );
  // Newest change first; the id breaks ties, so the order (and a cursor into it) is total.
  metas.sort((a, b) => (a.updatedAt === b.updatedAt ? a.referralId.localeCompare(b.referralId) : a.updatedAt < b.updatedAt ? 1 : -1));
  const after = decodeCursor(page.cursor);
  const start = after ? metas.findIndex((m) => isAfter(m, after)) : 0;
  const from = start === -1 ? metas.length : start;
  const items = metas.slice(from, from + page.limit).map(summaryOf);
  const last = items.at(-1);
  return { items, ...(from + page.limit < metas.length && last ? { nextCursor: encodeCursor(last) } : {}) };
}

export function summaryOf(meta: ReferralMeta): ReferralSummary {
  return {
    referralId: meta.referralId,
    type: meta.type,
    partner: meta.partner,
    crimeReference: meta.crimeReference,
    recordVersion: meta.recordVersion,
    status: meta.status,
    ...(meta.heldReason ? { heldReason: meta.heldReason } : {}),
    ...(meta.partnerStatus ? { partnerStatus: meta.partnerStatus } : {}),
    ...(meta.lastError ? { lastError: meta.lastError } : {}),
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
  };
}

type CursorKey = Pick<ReferralSummary, 'updatedAt' | 'referralId'>;

function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([key.updatedAt, key.referralId]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string | undefined): CursorKey | undefined {
  if (!cursor) return undefined;
  try {
    const [updatedAt, referralId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof updatedAt === 'string' && typeof referralId === 'string') return { updatedAt, referralId };
  } catch {
    // An unreadable cursor is the caller's error (InvalidCursor below).
  }
  throw new InvalidCursor();
}

export class InvalidCursor extends Error {
  constructor() {
    super('cursor is not one this API returned');
  }
}

/** Later in the order than the cursor's item: updated earlier, or at the same time with a later id. */
function isAfter(meta: ReferralMeta, key: CursorKey): boolean {
  return meta.updatedAt < key.updatedAt || (meta.updatedAt === key.updatedAt && meta.referralId > key.referralId);
}

export interface CrimeStory {
  crimeReference: string;
  /** The latest record version applied for the crime; undefined if none was. */
  appliedVersion?: number;
  /** Every record version a referral or a quarantine entry came from. */
  versionsSeen: number[];
  referrals: (ReferralSummary & { timeline: TimelineEntry[]; writeBacksPending: number })[];
  quarantine: QuarantineEntry[];
  /** Every timeline entry of every referral, oldest first: the crime's story in one list. */
  story: (TimelineEntry & { referralId: string; partner: PartnerCode })[];
}

export async function crimeStory(
  ctx: Pick<BridgeContext, 'referrals' | 'quarantine'>,
  crimeReference: string,
): Promise<CrimeStory | undefined> {
  const metas = await ctx.referrals.getMany(await ctx.referrals.idsForCrime(crimeReference));
  const quarantine = (await ctx.quarantine.list(QUARANTINE_SCAN)).filter((q) => q.crimeReference === crimeReference);
  const appliedVersion = await ctx.referrals.crimeVersion(crimeReference);
  if (metas.length === 0 && quarantine.length === 0 && !appliedVersion) return undefined;
  const pending = await ctx.referrals.pendingWriteBacksOf(metas.map((m) => m.referralId));
  const referrals = await Promise.all(
    metas.map(async (m) => ({
      ...summaryOf(m),
      timeline: await ctx.referrals.timeline(m.referralId),
      writeBacksPending: pending.get(m.referralId) ?? 0,
    })),
  );
  referrals.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.referralId.localeCompare(b.referralId));
  const story = referrals
    .flatMap((r) => r.timeline.map((e) => ({ ...e, referralId: r.referralId, partner: r.partner })))
    .sort((a, b) => a.at.localeCompare(b.at) || a.seq - b.seq);
  const versions = new Set<number>([
    ...(await ctx.referrals.versionsSeen(crimeReference)),
    ...metas.map((m) => m.recordVersion),
    ...quarantine.flatMap((q) => (q.recordVersion ? [q.recordVersion] : [])),
  ]);
  return {
    crimeReference,
    ...(appliedVersion ? { appliedVersion } : {}),
    versionsSeen: [...versions].sort((a, b) => a - b),
    referrals,
    quarantine,
    story,
  };
}

/** How many of the newest quarantine entries a crime's story looks through. */
const QUARANTINE_SCAN = 1000;

export interface ServiceLevelView {
  /** When the last reconciliation ran; undefined if none has. */
  generatedAt?: string;
  /** Victims still waiting past the Victims' Code deadline: act on these first. */
  open: ReconciliationReport['serviceLevels']['breaches'];
  /** Sent, but after the deadline. */
  closedLate: ReconciliationReport['serviceLevels']['breaches'];
  clinicalOverdue: ReconciliationReport['serviceLevels']['overdue'];
}

export function serviceLevelView(report: ReconciliationReport | undefined): ServiceLevelView {
  const breaches = report?.serviceLevels.breaches ?? [];
  return {
    ...(report ? { generatedAt: report.generatedAt } : {}),
    open: breaches.filter((b) => b.sentAt === null),
    closedLate: breaches.filter((b) => b.sentAt !== null),
    clinicalOverdue: report?.serviceLevels.overdue ?? [],
  };
}

export type QuarantineRelease =
  | { id: string; outcome: 'released'; queued: boolean; quarantinedAgain?: string }
  | { id: string; outcome: 'refused'; why: string; notFound?: true };

/**
 * A quarantined record read again through today's validation, as an operator asks once its cause
 * is fixed in the bridge (a limit raised, a rule corrected): if it passes now it is queued for
 * intake like any record, and the entry goes. A fault in the record itself is fixed at the
 * police source instead; a conflicting version is never released (the first content stands).
 */
export async function releaseQuarantined(ctx: BridgeContext, id: string, actor: string): Promise<QuarantineRelease> {
  const entry = await ctx.quarantine.get(id);
  if (!entry) return { id, outcome: 'refused', why: 'no quarantine entry with that id', notFound: true };
  if (entry.reason === CONFLICT_REASON)
    return { id, outcome: 'refused', why: 'a conflicting version is never released: the police send a new RecordVersion' };
  const raw = await ctx.quarantine.raw(id);
  if (raw === null || raw === undefined)
    return { id, outcome: 'refused', why: 'the record as received was not kept (too deep or too large to store)' };
  const result = parseCrimeRecord(raw, 0, ctx.config.police.crimeRefPattern);
  if (!result.ok) return { id, outcome: 'refused', why: `it still fails: ${result.reason}` };
  await ctx.quarantine.remove(id);
  const summary = await ingestRecords(ctx, [result], ctx.config.force.name, 'release', actor);
  return {
    id,
    outcome: 'released',
    queued: summary.accepted === 1,
    ...(summary.quarantined[0] ? { quarantinedAgain: summary.quarantined[0].reason } : {}),
  };
}
