/**
 * The one referral state machine (referral-lifecycle.md "Statuses"). Pure: every path that
 * changes a status (delivery, partner polling, cancellation, redrive) asks `nextStatus`.
 */
export type ReferralStatus =
  | 'HELD'
  | 'QUEUED'
  | 'SENT'
  | 'ACCEPTED'
  | 'IN_PROGRESS'
  | 'REJECTED'
  | 'COMPLETED'
  | 'CANCELLED'
  | 'FAILED';

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

export type TransitionVerdict =
  | { apply: true }
  | { apply: false; why: 'same' | 'terminal' | 'backwards' };

/**
 * Forward-only, terminal states final. Two exceptions the spec implies:
 * FAILED → QUEUED (redrive) and FAILED → CANCELLED (nothing reached the partner, and a
 * withdrawal must still end the referral).
 */
export function canTransition(from: ReferralStatus | undefined, to: ReferralStatus): TransitionVerdict {
  if (from === undefined) return { apply: true };
  if (from === to) return { apply: false, why: 'same' };
  if (isTerminal(from)) return { apply: false, why: 'terminal' };
  if (from === 'FAILED') return to === 'QUEUED' || to === 'CANCELLED' ? { apply: true } : { apply: false, why: 'backwards' };
  return STATUS_ORDER.indexOf(to) > STATUS_ORDER.indexOf(from) ? { apply: true } : { apply: false, why: 'backwards' };
}
