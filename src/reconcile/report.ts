import type { ReferralStatus } from '../domain/lifecycle';
import type { PartnerCode } from '../domain/referral-state';
import type { ServiceLevelFinding } from './service-levels';

/**
 * The reconciliation report (GET /v1/reconciliation, `iasu-bridge reconcile --json`): ids,
 * crime references, statuses and times only, never personal data. Its JSON shape is stable
 * for scripts: fields are only ever added.
 */
export type DiscrepancyClass =
  /** The partner is further on than the bridge: its status is applied. */
  | 'partner-ahead'
  /** The bridge sent it, the partner does not have it: resent through the idempotent path. */
  | 'partner-missing'
  /** The partner holds a referral the bridge does not know: alert, people must look. */
  | 'orphan'
  /** A status change the police RMS has not stored yet: written back again. */
  | 'not-written-back'
  /** No change for longer than RECONCILE_STUCK_AFTER_HOURS: alert. */
  | 'stuck'
  /** The partner holds a referral whose delivery the bridge gave up (FAILED): alert; an operator redrives it. */
  | 'held-but-failed';

export type DiscrepancyAction = 'applied' | 'resent' | 'rewritten' | 'alerted' | 'none';

export interface Discrepancy {
  class: DiscrepancyClass;
  partner: PartnerCode | 'POLICE';
  /** Absent for an orphan the bridge cannot name. */
  referralId?: string;
  crimeReference?: string;
  /** The partner's own reference (charity id, or the Task's referral id at the trust). */
  partnerRef?: string;
  bridgeStatus?: ReferralStatus;
  partnerStatus?: string;
  action: DiscrepancyAction;
  /** Why no action could be taken, when none was. */
  note?: string;
}

/**
 * A Victims' Code breach as reported. `open`: the victim is still waiting (not yet SENT, `sentAt`
 * null), so it needs action now; otherwise it was closed late (sent after the deadline) and is a
 * record of a missed duty.
 */
export type VictimsCodeBreach = Extract<ServiceLevelFinding, { kind: 'victims-code-breach' }> & { open: boolean };

/** Open or closed late, from the finding itself (a report stored by an earlier bridge has no `open`). */
export function isOpenBreach(b: Pick<VictimsCodeBreach, 'sentAt'>): boolean {
  return b.sentAt === null;
}

export function breachCounts(breaches: readonly Pick<VictimsCodeBreach, 'sentAt'>[]): { open: number; closedLate: number } {
  const open = breaches.filter(isOpenBreach).length;
  return { open, closedLate: breaches.length - open };
}

export interface ReconciliationReport {
  generatedAt: string;
  /** Referrals per partner and status. */
  counts: Record<PartnerCode, Partial<Record<ReferralStatus, number>>>;
  discrepancies: Discrepancy[];
  serviceLevels: {
    /** Victims' Code: advocacy referrals still not sent after 2 working days (`open`), or sent late. */
    breaches: VictimsCodeBreach[];
    /** `breaches` counted: open now (the victim is still waiting) and closed late (sent after the deadline). */
    breachCounts: { open: number; closedLate: number };
    /** Clinical referrals the trust has not answered within the configured working days. */
    overdue: Extract<ServiceLevelFinding, { kind: 'clinical-overdue' }>[];
  };
  /** Status changes waiting to be stored by the police RMS (the outbox). */
  pendingWriteBacks: number;
  /** Partners that could not be asked this time (the comparison is incomplete for them). */
  unreachable: { partner: PartnerCode; detail: string }[];
}

/** A readable table for the CLI; the JSON is the contract, this is for people. */
export function renderReport(report: ReconciliationReport): string {
  const lines: string[] = [];
  lines.push(`Reconciliation ${report.generatedAt}`);
  lines.push('');
  lines.push('Referrals by status');
  const statuses = [...new Set(Object.values(report.counts).flatMap((c) => Object.keys(c)))] as ReferralStatus[];
  const partners = Object.keys(report.counts) as PartnerCode[];
  lines.push(`  ${'status'.padEnd(12)}${partners.map((p) => p.padStart(9)).join('')}`);
  for (const status of statuses)
    lines.push(`  ${status.padEnd(12)}${partners.map((p) => String(report.counts[p][status] ?? 0).padStart(9)).join('')}`);
  lines.push('');
  lines.push(`Discrepancies: ${report.discrepancies.length}`);
  for (const d of report.discrepancies) {
    const who = d.referralId ? `${d.referralId} (${d.crimeReference ?? '?'})` : `partner ref ${d.partnerRef ?? '?'}`;
    const statusPart = [d.bridgeStatus && `bridge ${d.bridgeStatus}`, d.partnerStatus && `partner ${d.partnerStatus}`]
      .filter(Boolean)
      .join(', ');
    lines.push(
      `  ${d.class.padEnd(17)}${d.partner.padEnd(9)}${who}${statusPart ? ` [${statusPart}]` : ''} → ${d.action}${d.note ? ` (${d.note})` : ''}`,
    );
  }
  lines.push('');
  const breaches = report.serviceLevels.breaches;
  const open = breaches.filter(isOpenBreach);
  const closedLate = breaches.filter((b) => !isOpenBreach(b));
  lines.push(
    `Victims' Code breaches (advocacy not sent within 2 working days of consent): ${breaches.length} (${open.length} open, ${closedLate.length} closed late)`,
  );
  lines.push(`  Open now, the victim still waiting: ${open.length}`);
  for (const b of open) lines.push(`    ${b.referralId} (${b.crimeReference}) consent ${b.clockStart}, due ${b.deadline}, NOT SENT`);
  lines.push(`  Closed late, sent after the deadline: ${closedLate.length}`);
  for (const b of closedLate)
    lines.push(`    ${b.referralId} (${b.crimeReference}) consent ${b.clockStart}, due ${b.deadline}, sent ${b.sentAt}`);
  lines.push(`Clinical referrals overdue (not accepted or rejected in time): ${report.serviceLevels.overdue.length}`);
  for (const o of report.serviceLevels.overdue)
    lines.push(`  ${o.referralId} (${o.crimeReference}) ${o.status} since ${o.clockStart}, due ${o.deadline}`);
  lines.push('');
  lines.push(`Police write-backs pending: ${report.pendingWriteBacks}`);
  if (report.unreachable.length > 0) {
    lines.push('Partners not reachable this time (comparison incomplete):');
    for (const u of report.unreachable) lines.push(`  ${u.partner}: ${u.detail}`);
  }
  return lines.join('\n');
}
