import { sanitiseAuditEvent, type AuditEventInput } from '../../src/store/audit-log';

/**
 * The audit trail's metadata-only rule on its own: clean events pass untouched; anything that
 * looks like personal data or free text is dropped and named, never kept.
 */
const REFERRAL = '00000000-0000-5000-8000-000000000001';

const clean: AuditEventInput[] = [
  {
    actor: 'system',
    action: 'record.ingested',
    referralId: REFERRAL,
    crimeReference: 'CC-26-0001234',
    partner: 'POLICE',
    outcome: 'applied',
  },
  { actor: 'police-push', action: 'record.quarantined', crimeReference: 'CC-26-BAD1', partner: 'POLICE', outcome: 'nhs-number-invalid' },
  { actor: 'nhs-bars', action: 'referral.sent', referralId: REFERRAL, partner: 'NHS', status: 'SENT', outcome: 'ok' },
  {
    actor: 'charity-webhook',
    action: 'referral.status_changed',
    referralId: REFERRAL,
    partner: 'CHARITY',
    status: 'IN_PROGRESS',
    outcome: 'applied',
  },
  {
    actor: 'nhs-poll',
    action: 'referral.status_changed',
    referralId: REFERRAL,
    partner: 'NHS',
    status: 'in-progress',
    outcome: 'ignored:same',
  },
  {
    actor: 'reconcile',
    action: 'referral.status_changed',
    referralId: REFERRAL,
    partner: 'BRIDGE',
    status: 'FAILED',
    outcome: 'partner-lost',
  },
  { actor: 'operator:alice', action: 'dead_letter.redriven', target: `nhs-delivery-${REFERRAL}-q2-3`, outcome: 'redriven' },
  { actor: 'operator:bob.smith', action: 'dead_letter.discarded', target: 'intake-CC-26-0001234-v3-0', outcome: 'discarded' },
  {
    actor: 'operator:u-123_abc@iasu',
    action: 'admin.read',
    target: '/referrals/{referralId}/timeline',
    referralId: REFERRAL,
    outcome: 'ok',
  },
  { actor: 'operator:carol', action: 'admin.read', target: 'GET:/dead-letters', outcome: 'ok' },
  { actor: 'operator:auth0|5f7c8ec7c33c6c004bbafe82', action: 'admin.read', target: '/v1/referrals/{id}' },
  { actor: 'operator:google-oauth2|103547991597142817347', action: 'admin.read', target: '/v1/audit' },
  { actor: `operator:samlp|ops+a1/Zm9v=${'x'.repeat(230)}`, action: 'admin.read', target: '/v1/audit' },
  { actor: 'charity-poll', action: 'referral.status_changed', crimeReference: '42/12345/26', status: 'ENGAGED' },
  { actor: 'police-poll', action: 'record.ingested', crimeReference: 'CR-2026-000123' },
];

describe('sanitiseAuditEvent', () => {
  it.each(clean.map((e) => [e.action, e.actor, e] as const))('keeps a clean %s by %s untouched', (_a, _b, event) => {
    const result = sanitiseAuditEvent(event);
    expect(result).toEqual({ event, rejected: [] });
    expect(result.event).not.toBe(event); // a copy: nothing the caller holds is written
  });

  const base: AuditEventInput = { actor: 'system', action: 'referral.status_changed', referralId: REFERRAL };

  it.each<[string, keyof AuditEventInput, string]>([
    ['a name with a space in outcome', 'outcome', 'Jane Doe'],
    ['a name with a space in status', 'status', 'Jane Doe'],
    ['a dotted name in status', 'status', 'Jane.Doe'],
    ['an underscored name in outcome', 'outcome', 'called_Jane_Doe'],
    ['a name in target', 'target', '/victims/Jane-Doe'],
    ['an email in target', 'target', '/referrals/jane.doe@example.com'],
    ['an email in outcome', 'outcome', 'jane.doe@example.com'],
    ['a query string in target', 'target', '/referrals?name=Jane'],
    ['a UK mobile in outcome', 'outcome', '07700900123'],
    ['an international phone in outcome', 'outcome', '+447700900123'],
    ['a dashed phone in status', 'status', '0770-090-0123'],
    ['a phone inside a code', 'outcome', 'callback:07700900123'],
    ['a phone with spaces', 'outcome', '07700 900123'],
    ['an NHS number in target', 'target', '/patients/9434765919'],
    ['a grouped NHS number in outcome', 'outcome', '943-476-5919'],
    ['an ISO date of birth in status', 'status', '1990-04-12'],
    ['a UK date of birth in status', 'status', '12.04.1990'],
    ['a two-digit-year date in outcome', 'outcome', 'dob:12-04-90'],
    ['a compact date of birth in outcome', 'outcome', 'dob:19900412'],
    ['a month-name date in target', 'target', 'born-12Apr1990'],
    ['a date of birth in target', 'target', '/lookup/1990-04-12'],
    ['a postcode in outcome', 'outcome', 'SW1A1AA'],
    ['a dashed postcode in target', 'target', 'area/wa1-1aa'],
    ['free text in outcome', 'outcome', 'victim very distressed, call after 6pm'],
    ['free text in status', 'status', 'see notes'],
    ['newline injection in outcome', 'outcome', 'ok\nactor=operator:mallory'],
    ['newline injection in status', 'status', 'SENT\r\nrejected'],
    ['a trailing newline', 'outcome', 'ok\n'],
    ['an over-long outcome', 'outcome', 'x'.repeat(65)],
    ['an over-long target', 'target', 'a'.repeat(121)],
    ['an over-long status', 'status', 'S'.repeat(65)],
    ['an empty status', 'status', ''],
    ['a non-UUID referral id', 'referralId', 'Jane Doe'],
    ['a referral id with text after it', 'referralId', `${REFERRAL} Jane`],
    ['a DOB as crime reference', 'crimeReference', '1990-04-12'],
    ['a UK DOB as crime reference', 'crimeReference', '12/04/1990'],
    ['a phone as crime reference', 'crimeReference', '07700900123'],
    ['an NHS number as crime reference', 'crimeReference', '9434765919'],
    ['a name as crime reference', 'crimeReference', 'JANE-DOE'],
    ['a title-case name as crime reference', 'crimeReference', 'Jane-Doe-1'],
    ['a crime reference with a space', 'crimeReference', 'CC 26 0001234'],
    ['an over-long crime reference', 'crimeReference', `CC-${'1'.repeat(40)}`],
    ['an unknown partner', 'partner', 'Jane Doe'],
    ['a lower-case partner', 'partner', 'nhs'],
  ])('drops %s', (_what, field, value) => {
    const { event, rejected } = sanitiseAuditEvent({ ...base, [field]: value } as AuditEventInput);
    const expected: Partial<AuditEventInput> = { ...base };
    delete expected[field]; // a referral id that fails replaces the good one, so neither is kept
    expect(rejected).toEqual([field]);
    expect(event).toEqual(expected);
    if (value) expect(JSON.stringify(event)).not.toContain(value);
  });

  it.each([
    ['an operator subject with spaces', 'operator:Jane Doe', 'operator:unknown'],
    ['an operator subject that is an email', 'operator:jane.doe@example.com', 'operator:unknown'],
    ['an operator subject with a newline', 'operator:alice\nsystem', 'operator:unknown'],
    ['an over-long operator subject', `operator:${'a'.repeat(256)}`, 'operator:unknown'],
    ['an operator subject that is an NHS number', 'operator:9434765919', 'operator:unknown'],
    ['an operator subject that is a phone number', 'operator:07700900123', 'operator:unknown'],
    ['a name as actor', 'Jane Doe', 'unknown'],
    ['an unknown system actor', 'cron', 'unknown'],
    ['an empty actor', '', 'unknown'],
  ])('replaces %s with a placeholder actor', (_what, actor, placeholder) => {
    const { event, rejected } = sanitiseAuditEvent({ ...base, actor });
    expect(rejected).toEqual(['actor']);
    expect(event).toEqual({ ...base, actor: placeholder });
  });

  it('records a missing actor as unknown', () => {
    const { event, rejected } = sanitiseAuditEvent({ action: 'admin.read' } as AuditEventInput);
    expect(event).toEqual({ actor: 'unknown', action: 'admin.read' });
    expect(rejected).toEqual(['actor']);
  });

  it('drops non-string values and keys that are not audit fields, without keeping their names', () => {
    const { event, rejected } = sanitiseAuditEvent({
      ...base,
      status: 42,
      outcome: { text: 'Jane Doe' },
      name: 'Jane Doe',
      'Jane Doe': 'x',
      dateOfBirth: '1990-04-12',
      at: '2026-01-01T00:00:00Z',
    } as unknown as AuditEventInput);
    expect(event).toEqual(base);
    expect(rejected).toEqual(['status', 'outcome', 'unknown-field']);
  });

  it('ignores fields that are undefined or null', () => {
    const { event, rejected } = sanitiseAuditEvent({ ...base, status: undefined, outcome: null } as unknown as AuditEventInput);
    expect(event).toEqual(base);
    expect(rejected).toEqual([]);
  });

  it('writes nothing when the action is not an audit action', () => {
    expect(sanitiseAuditEvent({ actor: 'system', action: 'referral.deleted' } as unknown as AuditEventInput)).toEqual({
      event: undefined,
      rejected: ['action'],
    });
    expect(sanitiseAuditEvent({ actor: 'Jane Doe' } as AuditEventInput)).toEqual({ event: undefined, rejected: ['action', 'actor'] });
    expect(sanitiseAuditEvent(undefined as unknown as AuditEventInput)).toEqual({ event: undefined, rejected: ['action', 'actor'] });
  });

  it('drops every planted field at once and keeps the metadata', () => {
    const { event, rejected } = sanitiseAuditEvent({
      actor: 'operator:jane.doe@example.com',
      action: 'admin.read',
      referralId: REFERRAL,
      crimeReference: '1990-04-12',
      partner: 'NHS',
      status: '1990-04-12',
      outcome: 'Jane Doe 07700900123',
      target: '/victims/jane.doe@example.com',
    });
    expect(event).toEqual({ actor: 'operator:unknown', action: 'admin.read', referralId: REFERRAL, partner: 'NHS' });
    expect(rejected).toEqual(['actor', 'crimeReference', 'status', 'outcome', 'target']);
  });
});
