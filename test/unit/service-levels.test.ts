import type { ReferralStatus } from '../../src/domain/lifecycle';
import { evaluateServiceLevel, type ServiceLevelInput } from '../../src/reconcile/service-levels';

/** referral-lifecycle.md "Service levels" on concrete calendars (England and Wales). */
const ids = { referralId: '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22', crimeReference: 'CC-26-0001234' };

function advocacy(basisAt: string | undefined, timeline: [string, ReferralStatus][], status?: ReferralStatus): ServiceLevelInput {
  return {
    ...ids,
    type: 'ADVOCACY',
    status: status ?? timeline.at(-1)![1],
    ...(basisAt ? { basisAt } : {}),
    timeline: timeline.map(([at, s]) => ({ at, status: s })),
  };
}
function clinical(timeline: [string, ReferralStatus][]): ServiceLevelInput {
  return { ...ids, type: 'CLINICAL', status: timeline.at(-1)![1], timeline: timeline.map(([at, s]) => ({ at, status: s })) };
}
const at = (iso: string) => new Date(iso);

describe("Victims' Code: advocacy SENT within 2 working days of consent", () => {
  // Consent Friday 2026-11-20 14:00 GMT: working days Mon 23, Tue 24; due before Wed 25 00:00.
  const consent = '2026-11-20T14:00:00Z';

  it('sent on the Tuesday is on time', () => {
    expect(
      evaluateServiceLevel(
        advocacy(consent, [
          [consent, 'QUEUED'],
          ['2026-11-24T23:59:00Z', 'SENT'],
        ]),
        at('2026-12-01T00:00:00Z'),
        5,
      ),
    ).toBeUndefined();
  });

  it('sent on the Wednesday is a breach, reported with when it was sent', () => {
    expect(
      evaluateServiceLevel(
        advocacy(consent, [
          [consent, 'QUEUED'],
          ['2026-11-25T00:00:00Z', 'SENT'],
        ]),
        at('2026-12-01T00:00:00Z'),
        5,
      ),
    ).toEqual({
      kind: 'victims-code-breach',
      ...ids,
      clockStart: consent,
      deadline: '2026-11-25T00:00:00.000Z',
      sentAt: '2026-11-25T00:00:00Z',
    });
  });

  it('still waiting: no breach until the deadline, a breach from it', () => {
    const waiting = advocacy(consent, [[consent, 'QUEUED']]);
    expect(evaluateServiceLevel(waiting, at('2026-11-24T23:59:59Z'), 5)).toBeUndefined();
    expect(evaluateServiceLevel(waiting, at('2026-11-25T00:00:00Z'), 5)).toMatchObject({ kind: 'victims-code-breach', sentAt: null });
  });

  it('a delivery that FAILED past the deadline is a breach: the victim is still waiting', () => {
    expect(
      evaluateServiceLevel(
        advocacy(consent, [
          [consent, 'QUEUED'],
          ['2026-11-21T00:00:00Z', 'FAILED'],
        ]),
        at('2026-11-26T00:00:00Z'),
        5,
      ),
    ).toMatchObject({ sentAt: null });
  });

  it('over Christmas 2026 the bank holidays do not count (Dec 25 Fri, Dec 28 Mon substitute)', () => {
    const xmas = advocacy('2026-12-24T10:00:00Z', [
      ['2026-12-24T10:00:00Z', 'QUEUED'],
      ['2026-12-30T16:00:00Z', 'SENT'],
    ]);
    expect(evaluateServiceLevel(xmas, at('2027-01-05T00:00:00Z'), 5)).toBeUndefined();
  });

  it('a webhook can overtake the 201: the first partner status counts as sent', () => {
    expect(
      evaluateServiceLevel(
        advocacy(consent, [
          [consent, 'QUEUED'],
          ['2026-11-23T09:00:00Z', 'ACCEPTED'],
        ]),
        at('2026-12-01T00:00:00Z'),
        5,
      ),
    ).toBeUndefined();
  });

  it('no clock while HELD (no consent) or after a withdrawal before sending', () => {
    expect(evaluateServiceLevel(advocacy(undefined, [['2026-11-01T00:00:00Z', 'HELD']]), at('2026-12-01T00:00:00Z'), 5)).toBeUndefined();
    expect(
      evaluateServiceLevel(
        advocacy(consent, [
          [consent, 'QUEUED'],
          ['2026-11-20T15:00:00Z', 'CANCELLED'],
        ]),
        at('2026-12-01T00:00:00Z'),
        5,
      ),
    ).toBeUndefined();
  });

  it('without a recorded consent time the clock starts when the bridge queued it', () => {
    expect(evaluateServiceLevel(advocacy(undefined, [[consent, 'QUEUED']]), at('2026-11-25T00:00:00Z'), 5)).toMatchObject({
      clockStart: consent,
    });
  });
});

describe('clinical: ACCEPTED or REJECTED within N working days of reaching the trust', () => {
  // Sent Monday 2026-11-23 09:00; 5 working days: 24, 25, 26, 27, 30 → due before Tue 1 Dec.
  const sent: [string, ReferralStatus][] = [
    ['2026-11-23T08:00:00Z', 'QUEUED'],
    ['2026-11-23T09:00:00Z', 'SENT'],
  ];

  it('not answered on the deadline is overdue; before it is not', () => {
    expect(evaluateServiceLevel(clinical(sent), at('2026-11-30T23:59:59Z'), 5)).toBeUndefined();
    expect(evaluateServiceLevel(clinical(sent), at('2026-12-01T00:00:00Z'), 5)).toEqual({
      kind: 'clinical-overdue',
      ...ids,
      clockStart: '2026-11-23T09:00:00Z',
      deadline: '2026-12-01T00:00:00.000Z',
      status: 'SENT',
    });
  });

  it('an answer (accepted, rejected, or further) ends the clock', () => {
    for (const answer of ['ACCEPTED', 'REJECTED', 'IN_PROGRESS', 'COMPLETED'] as const) {
      expect(evaluateServiceLevel(clinical([...sent, ['2026-12-10T00:00:00Z', answer]]), at('2026-12-20T00:00:00Z'), 5)).toBeUndefined();
    }
  });

  it('the number of working days is configuration', () => {
    expect(evaluateServiceLevel(clinical(sent), at('2026-11-26T00:00:00Z'), 2)).toMatchObject({ deadline: '2026-11-26T00:00:00.000Z' });
  });

  it('never sent: the clock runs from when the bridge queued it', () => {
    expect(evaluateServiceLevel(clinical([['2026-11-23T08:00:00Z', 'QUEUED']]), at('2026-12-01T00:00:00Z'), 5)).toMatchObject({
      clockStart: '2026-11-23T08:00:00Z',
      status: 'QUEUED',
    });
  });
});
