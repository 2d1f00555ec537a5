import type { ReferralStatus } from '../domain/lifecycle';
import type { NhsUpdate } from '../domain/nhs-update';

/**
 * nhs-fhir.md Mode A "Status": the trust's Task.status as a bridge status. Statuses with no
 * bridge meaning (draft, ready, on-hold, entered-in-error, unknown values) give undefined,
 * and the caller leaves the referral where it is.
 */
const TASK_STATUS_MAP: Readonly<Record<string, ReferralStatus>> = {
  requested: 'SENT',
  received: 'SENT',
  accepted: 'ACCEPTED',
  rejected: 'REJECTED',
  'in-progress': 'IN_PROGRESS',
  completed: 'COMPLETED',
  cancelled: 'CANCELLED',
  failed: 'REJECTED',
};

export function taskStatusToBridgeStatus(taskStatus: string): ReferralStatus | undefined {
  return Object.prototype.hasOwnProperty.call(TASK_STATUS_MAP, taskStatus) ? TASK_STATUS_MAP[taskStatus] : undefined;
}

/** A Task read (poll or reconciler) as the trust's update. */
export function nhsUpdateFromTask(taskStatus: string): NhsUpdate {
  const to = taskStatusToBridgeStatus(taskStatus);
  return { partnerStatus: taskStatus, ...(to ? { to } : {}), detail: `Task status ${taskStatus}` };
}
