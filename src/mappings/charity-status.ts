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
