/**
 * Every key the bridge writes, under one prefix. The default prefix `{iasu}` is a Redis
 * Cluster hash tag, so multi-key scripts stay in one slot.
 */
export class Keys {
  constructor(readonly prefix: string) {}
  referral(id: string) {
    return `${this.prefix}:referral:${id}`;
  }
  timeline(id: string) {
    return `${this.prefix}:referral:${id}:timeline`;
  }
  data(id: string) {
    return `${this.prefix}:referral:${id}:data`;
  }
  outbound(id: string) {
    return `${this.prefix}:referral:${id}:outbound`;
  }
  /** The partner's own words about the referral's last failure: sealed, expiring with its details. */
  partnerText(id: string) {
    return `${this.prefix}:referral:${id}:partner-text`;
  }
  allReferrals() {
    return `${this.prefix}:referrals`;
  }
  crime(crimeReference: string) {
    return `${this.prefix}:crime:${crimeReference}`;
  }
  /** Where a crime's referrals were listed before they became fields of its hash: read, never written. */
  crimeReferrals(crimeReference: string) {
    return `${this.prefix}:crime:${crimeReference}:referrals`;
  }
  active(partner: string) {
    return `${this.prefix}:active:${partner}`;
  }
  queued() {
    return `${this.prefix}:queued`;
  }
  outbox() {
    return `${this.prefix}:outbox`;
  }
  /** Where the status poll's sweep of a time-ordered index goes on from (see ReferralStore.sweepPage). */
  sweepOffset(index: 'queued' | 'outbox') {
    return `${this.prefix}:sweep-offset:${index}`;
  }
  quarantineIndex() {
    return `${this.prefix}:quarantine`;
  }
  quarantine(id: string) {
    return `${this.prefix}:quarantine:${id}`;
  }
  cursor() {
    return `${this.prefix}:police:cursor`;
  }
  lock(name: string) {
    return `${this.prefix}:lock:${name}`;
  }
  barsMessage(messageId: string) {
    return `${this.prefix}:bars-message:${messageId}`;
  }
  webhookEvent(partner: string, eventId: string) {
    return `${this.prefix}:webhook-event:${partner}:${eventId}`;
  }
  charityWatermark() {
    return `${this.prefix}:charity:updated-since`;
  }
  reconcileReport() {
    return `${this.prefix}:reconcile:last-report`;
  }
  audit() {
    return `${this.prefix}:audit`;
  }
  auditLastId() {
    return `${this.prefix}:audit-last-id`;
  }
  auditByReferral(referralId: string) {
    return `${this.prefix}:audit:referral:${referralId}`;
  }
  deadLetterDiscarded(id: string) {
    return `${this.prefix}:dead-letter:discarded:${id}`;
  }
  counters() {
    return `${this.prefix}:counters`;
  }
  /** Written at the bridge's first start on this Redis (no expiry): its absence later means the state was lost. */
  bridgeStarted() {
    return `${this.prefix}:bridge-started`;
  }
  /** Written by GET /health/ready (with a short expiry) to prove Redis takes writes. */
  readyProbe() {
    return `${this.prefix}:health:ready-probe`;
  }
}
