import {
  AT_PARTNER_STATUSES,
  STATUS_ORDER,
  TERMINAL_STATUSES,
  canTransition,
  isTerminal,
  type ReferralStatus,
} from '../../src/domain/lifecycle';
import { isValidNhsNumber, normaliseNhsNumber } from '../../src/domain/nhs-number';

const ALL: ReferralStatus[] = ['HELD', 'QUEUED', 'SENT', 'ACCEPTED', 'IN_PROGRESS', 'REJECTED', 'COMPLETED', 'CANCELLED', 'FAILED'];

describe('canTransition', () => {
  it('lists statuses in the spec order, with REJECTED, COMPLETED and CANCELLED terminal', () => {
    expect(STATUS_ORDER).toEqual(ALL);
    expect([...TERMINAL_STATUSES].sort()).toEqual(['CANCELLED', 'COMPLETED', 'REJECTED']);
    expect(ALL.filter(isTerminal)).toEqual(['REJECTED', 'COMPLETED', 'CANCELLED']);
    expect([...AT_PARTNER_STATUSES].sort()).toEqual(['ACCEPTED', 'IN_PROGRESS', 'SENT']);
  });

  it('applies anything as the first status', () => {
    for (const to of ALL) expect(canTransition(undefined, to)).toEqual({ apply: true });
  });

  it('treats the same status as a no-op', () => {
    for (const s of ALL) expect(canTransition(s, s)).toEqual({ apply: false, why: 'same' });
  });

  it.each([
    ['HELD', 'QUEUED'],
    ['QUEUED', 'SENT'],
    ['SENT', 'ACCEPTED'],
    ['ACCEPTED', 'IN_PROGRESS'],
    ['IN_PROGRESS', 'COMPLETED'],
    ['IN_PROGRESS', 'REJECTED'],
    ['SENT', 'REJECTED'],
    ['SENT', 'COMPLETED'],
    ['QUEUED', 'CANCELLED'],
    ['HELD', 'CANCELLED'],
    ['ACCEPTED', 'CANCELLED'],
    ['QUEUED', 'FAILED'],
    ['SENT', 'FAILED'],
  ] as [ReferralStatus, ReferralStatus][])('moves forward %s → %s', (from, to) => {
    expect(canTransition(from, to)).toEqual({ apply: true });
  });

  it.each([
    ['SENT', 'QUEUED'],
    ['ACCEPTED', 'SENT'],
    ['IN_PROGRESS', 'ACCEPTED'],
    ['IN_PROGRESS', 'QUEUED'],
    ['ACCEPTED', 'QUEUED'],
  ] as [ReferralStatus, ReferralStatus][])('refuses backwards %s → %s', (from, to) => {
    expect(canTransition(from, to)).toEqual({ apply: false, why: 'backwards' });
  });

  it.each(['SENT', 'ACCEPTED', 'IN_PROGRESS'] as ReferralStatus[])('refuses %s → HELD (the partner already has it)', (from) => {
    expect(canTransition(from, 'HELD')).toEqual({ apply: false, why: 'backwards' });
  });

  it('terminal statuses are final', () => {
    for (const from of ['REJECTED', 'COMPLETED', 'CANCELLED'] as ReferralStatus[]) {
      for (const to of ALL.filter((s) => s !== from)) expect(canTransition(from, to)).toEqual({ apply: false, why: 'terminal' });
    }
  });

  it('refuses COMPLETED → CANCELLED and CANCELLED → QUEUED', () => {
    expect(canTransition('COMPLETED', 'CANCELLED')).toEqual({ apply: false, why: 'terminal' });
    expect(canTransition('CANCELLED', 'QUEUED')).toEqual({ apply: false, why: 'terminal' });
    expect(canTransition('REJECTED', 'COMPLETED')).toEqual({ apply: false, why: 'terminal' });
  });

  it('allows FAILED → QUEUED (redrive) and FAILED → CANCELLED, nothing else from FAILED', () => {
    expect(canTransition('FAILED', 'QUEUED')).toEqual({ apply: true });
    expect(canTransition('FAILED', 'CANCELLED')).toEqual({ apply: true });
    for (const to of ['HELD', 'SENT', 'ACCEPTED', 'IN_PROGRESS', 'REJECTED', 'COMPLETED'] as ReferralStatus[]) {
      expect(canTransition('FAILED', to)).toEqual({ apply: false, why: 'backwards' });
    }
  });

  it('allows QUEUED → HELD (a later version removed the basis before delivery)', () => {
    expect(canTransition('QUEUED', 'HELD')).toEqual({ apply: true });
  });

  it('is forward-only over the whole matrix, apart from the named exceptions', () => {
    const exceptions = new Set(['QUEUED>HELD', 'FAILED>QUEUED', 'FAILED>CANCELLED']);
    for (const from of ALL) {
      for (const to of ALL) {
        const verdict = canTransition(from, to);
        const expected =
          from !== to &&
          !isTerminal(from) &&
          (exceptions.has(`${from}>${to}`) || (from !== 'FAILED' && ALL.indexOf(to) > ALL.indexOf(from)));
        expect([from, to, verdict.apply]).toEqual([from, to, expected]);
      }
    }
  });
});

describe('NHS number', () => {
  it.each(['9000000009', '9912003888', '9434765919', '4010232137'])('accepts the valid number %s', (n) => {
    expect(isValidNhsNumber(n)).toBe(true);
    expect(normaliseNhsNumber(n)).toBe(n);
  });

  it.each(['9000000008', '9912003880', '9434765918', '9434765910'])('rejects %s (wrong check digit)', (n) => {
    expect(isValidNhsNumber(n)).toBe(false);
    expect(normaliseNhsNumber(n)).toBeUndefined();
  });

  it('rejects every number whose computed check digit is 10', () => {
    // 9 0 0 0 0 0 0 0 5: 9*10 + 5*2 = 100, 100 % 11 = 1, 11 - 1 = 10 → no valid check digit.
    for (let d = 0; d <= 9; d++) expect(isValidNhsNumber(`900000005${d}`)).toBe(false);
  });

  it('accepts a check digit of 0 when 11 - (sum mod 11) is 11', () => {
    // 9 1 0 0 0 0 0 0 0: 9*10 + 1*9 = 99 = 9*11, so 11 - 0 = 11 → check digit 0.
    expect(isValidNhsNumber('9100000000')).toBe(true);
    expect(isValidNhsNumber('9100000001')).toBe(false);
  });

  it.each(['', '900000000', '90000000090', '900000000a', '90000-0009', '+900000009'])('rejects the wrong shape %p', (n) => {
    expect(isValidNhsNumber(n)).toBe(false);
    expect(normaliseNhsNumber(n)).toBeUndefined();
  });

  it('normalises spaces but isValidNhsNumber wants bare digits', () => {
    expect(normaliseNhsNumber('900 000 0009')).toBe('9000000009');
    expect(normaliseNhsNumber(' 991 200 3888 ')).toBe('9912003888');
    expect(normaliseNhsNumber('900\t000\t0009')).toBe('9000000009');
    expect(isValidNhsNumber('900 000 0009')).toBe(false);
    expect(normaliseNhsNumber('900 000 0008')).toBeUndefined();
  });
});
