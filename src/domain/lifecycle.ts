/**
 * The one referral state machine (referral-lifecycle.md "Statuses"). Pure: every path that
 * changes a status (delivery, partner polling, cancellation, redrive) asks `nextStatus`.
 */
export type ReferralStatus = 'HELD' | 'QUEUED' | 'SENT' | 'ACCEPTED' | 'IN_PROGRESS' | 'REJECTED' | 'COMPLETED' | 'CANCELLED' | 'FAILED';

export const STATUS_ORDER: readonly ReferralStatus[] = [
  'HELD',
  'QUEUED',
  'SENT',
  'ACCEPTED',
  'IN_PROGRESS',
  'REJECTED',
  'COMPLETED',
  'CANCELLED',
  'FAILED',
];

export const TERMINAL_STATUSES: ReadonlySet<ReferralStatus> = new Set(['REJECTED', 'COMPLETED', 'CANCELLED']);

/** Statuses in which the partner holds (or may hold) the referral. */
export const AT_PARTNER_STATUSES: ReadonlySet<ReferralStatus> = new Set(['SENT', 'ACCEPTED', 'IN_PROGRESS']);

export function isTerminal(status: ReferralStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export type TransitionVerdict = { apply: true } | { apply: false; why: 'same' | 'terminal' | 'backwards' };

/**
 * Forward-only, terminal states final. Three exceptions, each so that nothing leaves without
 * a basis and a withdrawal always ends a referral:
 * - FAILED → QUEUED (redrive, as the spec says) and FAILED → CANCELLED (nothing reached the partner);
 * - QUEUED → HELD: a later record version removed the basis before delivery, so it must not go.
 */
export function canTransition(from: ReferralStatus | undefined, to: ReferralStatus): TransitionVerdict {
  if (from === undefined) return { apply: true };
  if (from === to) return { apply: false, why: 'same' };
  if (isTerminal(from)) return { apply: false, why: 'terminal' };
  if (from === 'QUEUED' && to === 'HELD') return { apply: true };
  if (from === 'FAILED') return to === 'QUEUED' || to === 'CANCELLED' ? { apply: true } : { apply: false, why: 'backwards' };
  return STATUS_ORDER.indexOf(to) > STATUS_ORDER.indexOf(from) ? { apply: true } : { apply: false, why: 'backwards' };
}
