import { parseStringPromise } from 'xml2js';
import { writeBackIdempotencyKey, writeBackToXml, type WriteBack } from '../../src/mappings/referral-to-write-back';

const REFERRAL_ID = 'b1f6f6b4-3d2e-5b7a-9c1d-0e2f3a4b5c6d';

function outcome(overrides: Partial<WriteBack> = {}): WriteBack {
  return {
    crimeReference: 'CC-26-0001234',
    referralId: REFERRAL_ID,
    partner: 'NHS',
    partnerReference: 'ServiceRequest/123',
    status: 'ACCEPTED',
    statusAt: '2026-11-22T11:02:00Z',
    detail: 'Triaged by the liaison team',
    seq: 4,
    ...overrides,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the parsed XML tree is untyped
async function parsed(xml: string): Promise<Record<string, any>> {
  return parseStringPromise(xml, { explicitArray: false, strict: true });
}

describe('writeBackToXml', () => {
  it('produces the ReferralOutcome document of police-feed.md §3 in the feed namespace, with every element in contract order', async () => {
    const xml = writeBackToXml(outcome());
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const doc = await parsed(xml);
    expect(Object.keys(doc)).toEqual(['ReferralOutcome']);
    const root = doc.ReferralOutcome;
    expect(root.$).toEqual({ xmlns: 'urn:iasu:police-feed:1' });
    const { $, ...elements } = root;
    expect($).toBeDefined();
    expect(elements).toEqual({
      CrimeReference: 'CC-26-0001234',
      ReferralId: REFERRAL_ID,
      Partner: 'NHS',
      PartnerReference: 'ServiceRequest/123',
      Status: 'ACCEPTED',
      StatusAt: '2026-11-22T11:02:00Z',
      Detail: 'Triaged by the liaison team',
    });
    expect(Object.keys(elements)).toEqual(['CrimeReference', 'ReferralId', 'Partner', 'PartnerReference', 'Status', 'StatusAt', 'Detail']);
  });

  it('never carries the seq (it belongs to the idempotency key only)', () => {
    const xml = writeBackToXml(outcome({ seq: 987654 }));
    expect(xml).not.toContain('987654');
    expect(xml).not.toMatch(/<Seq/i);
  });

  it('escapes every value: markup characters round-trip, characters XML cannot carry are dropped', async () => {
    const xml = writeBackToXml(
      outcome({ detail: `charity status <DECLINED> & "closed" 'ok'\u0001`, partnerReference: 'CH-1</PartnerReference><Status>COMPLETED' }),
    );
    const root = (await parsed(xml)).ReferralOutcome;
    expect(root.Detail).toBe(`charity status <DECLINED> & "closed" 'ok'`);
    expect(root.PartnerReference).toBe('CH-1</PartnerReference><Status>COMPLETED');
    expect(root.Status).toBe('ACCEPTED');
  });

  it('omits PartnerReference and Detail when absent', async () => {
    const xml = writeBackToXml(outcome({ partner: 'CHARITY', partnerReference: undefined, detail: undefined, status: 'HELD' }));
    expect(xml).not.toContain('PartnerReference');
    expect(xml).not.toContain('Detail');
    const root = (await parsed(xml)).ReferralOutcome;
    const { $, ...elements } = root;
    expect($.xmlns).toBe('urn:iasu:police-feed:1');
    expect(elements).toEqual({
      CrimeReference: 'CC-26-0001234',
      ReferralId: REFERRAL_ID,
      Partner: 'CHARITY',
      Status: 'HELD',
      StatusAt: '2026-11-22T11:02:00Z',
    });
  });

  it('omits empty-string optional values too', () => {
    const xml = writeBackToXml(outcome({ partnerReference: '', detail: '' }));
    expect(xml).not.toContain('PartnerReference');
    expect(xml).not.toContain('Detail');
  });

  it('escapes special characters and they round-trip', async () => {
    const detail = `a & b < c > d "quoted" 'single' ]]> <script>`;
    const xml = writeBackToXml(outcome({ detail, partnerReference: 'Task/1?x=1&y=<2>' }));
    expect(xml).not.toContain('<script>');
    expect(xml).toContain('&amp;');
    expect(xml).toContain('&lt;');
    const root = (await parsed(xml)).ReferralOutcome;
    expect(root.Detail).toBe(detail);
    expect(root.PartnerReference).toBe('Task/1?x=1&y=<2>');
  });

  it('keeps non-ASCII text intact', async () => {
    const root = (await parsed(writeBackToXml(outcome({ detail: 'Überweisung — accepté ✓' })))).ReferralOutcome;
    expect(root.Detail).toBe('Überweisung — accepté ✓');
  });

  it.each(['QUEUED', 'SENT', 'REJECTED', 'COMPLETED', 'CANCELLED', 'FAILED'] as const)('carries status %s', async (status) => {
    expect((await parsed(writeBackToXml(outcome({ status })))).ReferralOutcome.Status).toBe(status);
  });
});

describe('writeBackIdempotencyKey', () => {
  it('is {referralId}:{status}:{seq}', () => {
    expect(writeBackIdempotencyKey(outcome())).toBe(`${REFERRAL_ID}:ACCEPTED:4`);
    expect(writeBackIdempotencyKey({ referralId: 'r1', status: 'CANCELLED', seq: 0 })).toBe('r1:CANCELLED:0');
  });

  it('is the same for the same change and differs by status and seq', () => {
    const a = writeBackIdempotencyKey(outcome());
    expect(writeBackIdempotencyKey(outcome({ detail: 'other', statusAt: '2027-01-01T00:00:00Z' }))).toBe(a);
    expect(writeBackIdempotencyKey(outcome({ status: 'IN_PROGRESS' }))).not.toBe(a);
    expect(writeBackIdempotencyKey(outcome({ seq: 5 }))).not.toBe(a);
    expect(writeBackIdempotencyKey(outcome({ referralId: 'other' }))).not.toBe(a);
  });

  it('matches the contract format', () => {
    expect(writeBackIdempotencyKey(outcome({ seq: 12 }))).toMatch(/^[0-9a-f-]{36}:[A-Z_]+:\d+$/);
  });
});
