import fc from 'fast-check';
import { STATUS_ORDER } from '../../src/domain/lifecycle';
import type { TimelineEntry } from '../../src/domain/referral-state';
import { decodeTimelineEntry, encodeTimelineEntry } from '../../src/store/timeline-codec';

describe('timeline entries as stored', () => {
  const entry = (e: TimelineEntry) => e;

  it('read back as they were written, and as the JSON objects written before read', () => {
    const status = fc.constantFrom(...STATUS_ORDER);
    const arbitrary = fc.record(
      {
        seq: fc.integer({ min: 1, max: 10_000 }),
        at: fc.date({ min: new Date('2000-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
        status,
        from: status,
        source: fc.constantFrom('police', 'NHS', 'CHARITY', 'operator:alice', 'reconcile'),
        detail: fc.string({ unit: 'grapheme', maxLength: 80 }),
      },
      { requiredKeys: ['seq', 'at', 'status', 'source'] },
    );
    fc.assert(
      fc.property(arbitrary, (e) => {
        expect(decodeTimelineEntry(encodeTimelineEntry(e))).toEqual(e);
        expect(decodeTimelineEntry(JSON.stringify(e))).toEqual(e);
      }),
      { numRuns: 500 },
    );
  });

  it('takes half the bytes of the JSON object form', () => {
    const sent = entry({
      seq: 2,
      at: '2026-12-03T16:45:19.213Z',
      status: 'SENT',
      from: 'QUEUED',
      source: 'NHS',
      detail: 'partner confirmed receipt',
    });
    expect(encodeTimelineEntry(sent)).toBe('[2,1796316319213,"SENT","QUEUED","NHS","partner confirmed receipt"]');
    expect(encodeTimelineEntry(sent).length).toBeLessThan(JSON.stringify(sent).length * 0.6);
    const first = entry({ seq: 1, at: '2026-12-03T16:45:18.977Z', status: 'QUEUED', source: 'police' });
    expect(encodeTimelineEntry(first)).toBe('[1,1796316318977,"QUEUED",null,"police"]');
    expect(Object.keys(decodeTimelineEntry(encodeTimelineEntry(first)))).toEqual(['seq', 'at', 'status', 'source']);
  });
});
