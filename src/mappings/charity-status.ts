import type { ReferralStatus } from '../domain/lifecycle';

/** The charity's referral statuses in lifecycle order (charity-api.md "Statuses"). */
export const CHARITY_STATUSES = [
  'RECEIVED',
  'ALLOCATED',
  'CONTACTED',
  'ENGAGED',
  'DECLINED',
  'UNCONTACTABLE',
  'CLOSED',
  'CANCELLED',
] as const;

export type CharityStatus = (typeof CHARITY_STATUSES)[number];

/** referral-lifecycle.md "Statuses": DECLINED and UNCONTACTABLE are outcomes, so COMPLETED. */
const TO_BRIDGE: ReadonlyMap<string, ReferralStatus> = new Map<CharityStatus, ReferralStatus>([
  ['RECEIVED', 'SENT'],
  ['ALLOCATED', 'ACCEPTED'],
  ['CONTACTED', 'IN_PROGRESS'],
  ['ENGAGED', 'IN_PROGRESS'],
  ['DECLINED', 'COMPLETED'],
  ['UNCONTACTABLE', 'COMPLETED'],
  ['CLOSED', 'COMPLETED'],
  ['CANCELLED', 'CANCELLED'],
]);

/** Pure. Undefined for a status this contract does not know: the caller ignores the update. */
export function charityStatusToBridgeStatus(status: string): ReferralStatus | undefined {
  return TO_BRIDGE.get(status);
}

/**
 * The charity's own order (charity-api.md "Statuses"): ENGAGED, DECLINED and UNCONTACTABLE are
 * alternatives at one step, CLOSED and CANCELLED both end it.
 */
const RANK: ReadonlyMap<string, number> = new Map<CharityStatus, number>([
  ['RECEIVED', 0],
  ['ALLOCATED', 1],
  ['CONTACTED', 2],
  ['ENGAGED', 3],
  ['DECLINED', 3],
  ['UNCONTACTABLE', 3],
  ['CLOSED', 4],
  ['CANCELLED', 4],
]);

/** The outcome a closed case keeps (referral-lifecycle.md: "outcome kept"). */
const OUTCOMES: ReadonlySet<string> = new Set<CharityStatus>(['ENGAGED', 'DECLINED', 'UNCONTACTABLE']);

/** A status the charity reported, by webhook (`occurredAt`) or by polling (`updatedAt`). */
export interface CharityUpdate {
  status: string;
  statusReason: string | null;
  at: string;
}

export type CharityUpdateDecision =
  | { kind: 'ignore'; why: 'unknown-status' | 'not-newer' }
  /** Late, but it names the outcome the referral did not have yet (DECLINED arriving after CLOSED). */
  | { kind: 'outcome'; partnerOutcome: string }
  | { kind: 'apply'; to: ReferralStatus; partnerStatus: string; partnerStatusAt: string; partnerOutcome?: string; detail: string };

/**
 * Whether an update is news, judged on the charity's own order and times, before the bridge's
 * state machine judges the bridge status: CONTACTED after ENGAGED, or an ALLOCATED that arrives
 * late, is ignored; CLOSED after DECLINED keeps DECLINED as the outcome. Pure.
 */
export function decideCharityUpdate(
  current: { partnerStatus?: string; partnerStatusAt?: string; partnerOutcome?: string },
  update: CharityUpdate,
): CharityUpdateDecision {
  const to = charityStatusToBridgeStatus(update.status);
  const rank = RANK.get(update.status);
  if (!to || rank === undefined) return { kind: 'ignore', why: 'unknown-status' };
  const currentRank = current.partnerStatus === undefined ? undefined : RANK.get(current.partnerStatus);
  if (currentRank !== undefined) {
    const later = Date.parse(update.at) > Date.parse(current.partnerStatusAt ?? '');
    if (rank < currentRank || (rank === currentRank && !(update.status !== current.partnerStatus && later))) {
      if (!current.partnerOutcome && OUTCOMES.has(update.status)) return { kind: 'outcome', partnerOutcome: update.status };
      return { kind: 'ignore', why: 'not-newer' };
    }
  }
  const outcome = current.partnerOutcome ?? (OUTCOMES.has(update.status) ? update.status : undefined);
  // statusReason is the charity's free text: only a code-like value travels into the timeline.
  const reason = update.statusReason && /^[A-Z][A-Z0-9_]{0,39}$/.test(update.statusReason) ? ` (${update.statusReason})` : '';
  return {
    kind: 'apply',
    to,
    partnerStatus: update.status,
    partnerStatusAt: update.at,
    ...(outcome ? { partnerOutcome: outcome } : {}),
    detail: `charity status ${update.status}${reason}`,
  };
}
