import fc from 'fast-check';
import {
  WORKING_DAYS_TIME_ZONE,
  bankHolidays,
  isBankHoliday,
  isWorkingDay,
  londonDate,
  londonMidnight,
  workingDaysBetween,
  workingDaysDeadline,
} from '../../src/domain/working-days';

/**
 * referral-lifecycle.md "Service levels": working days exclude weekends and England and Wales
 * bank holidays. Expected dates are written out from gov.uk/bank-holidays, not derived from src;
 * the suite is also run with TZ=America/New_York and TZ=Asia/Tokyo (the machine's zone must not matter).
 */

/** Independent weekday oracle: midday UTC is the same calendar day everywhere in the UK. */
function weekdayName(date: string): string {
  return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date(`${date}T12:00:00Z`).getUTCDay()]!;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

const at = (iso: string) => new Date(iso);
const justBefore = (instant: Date) => new Date(instant.getTime() - 1);

describe('bankHolidays', () => {
  // gov.uk/bank-holidays, England and Wales.
  const GOV_UK: Record<number, string[]> = {
    2021: ['01-01', '04-02', '04-05', '05-03', '05-31', '08-30', '12-27', '12-28'],
    2022: ['01-03', '04-15', '04-18', '05-02', '06-02', '06-03', '08-29', '09-19', '12-26', '12-27'],
    2023: ['01-02', '04-07', '04-10', '05-01', '05-08', '05-29', '08-28', '12-25', '12-26'],
    2024: ['01-01', '03-29', '04-01', '05-06', '05-27', '08-26', '12-25', '12-26'],
    2025: ['01-01', '04-18', '04-21', '05-05', '05-26', '08-25', '12-25', '12-26'],
    2026: ['01-01', '04-03', '04-06', '05-04', '05-25', '08-31', '12-25', '12-28'],
    2027: ['01-01', '03-26', '03-29', '05-03', '05-31', '08-30', '12-27', '12-28'],
  };
  const govUk = Object.entries(GOV_UK).map(([year, days]) => [Number(year), days.map((d) => `${year}-${d}`)] as const);

  it.each(govUk)('%i equals the gov.uk list exactly', (year, expected) => {
    expect(bankHolidays(year)).toEqual(expected);
  });

  it.each(govUk)('%i: every listed holiday is a weekday (checks the expectations themselves)', (_year, expected) => {
    expect(expected.filter((date) => ['Sat', 'Sun'].includes(weekdayName(date)))).toEqual([]);
  });

  it.each(govUk)('%i: isBankHoliday agrees with the list, and no other day of the year is one', (year, expected) => {
    const holidays = new Set(expected);
    const found: string[] = [];
    for (let date = `${year}-01-01`; date.startsWith(`${year}-`); date = addDays(date, 1)) {
      if (isBankHoliday(date)) found.push(date);
    }
    expect(found).toEqual([...holidays]);
  });

  it('returns a copy: changing the result does not change the next answer', () => {
    const first = bankHolidays(2026);
    first.push('2026-07-01');
    first.splice(0, 1);
    expect(bankHolidays(2026)).toEqual(GOV_UK[2026]!.map((d) => `2026-${d}`));
  });

  describe('Easter (Good Friday and Easter Monday around Easter Sunday)', () => {
    it.each([
      ['1978-03-26'],
      ['2000-04-23'],
      ['2008-03-23'], // earliest this century
      ['2016-03-27'],
      ['2019-04-21'],
      ['2024-03-31'],
      ['2025-04-20'],
      ['2038-04-25'], // the latest possible date
      ['2285-03-22'], // the earliest possible date
    ])('Easter Sunday %s', (easter) => {
      const year = Number(easter.slice(0, 4));
      const spring = bankHolidays(year).filter((d) => /-0[34]-/.test(d));
      expect(spring).toEqual([addDays(easter, -2), addDays(easter, 1)]);
      expect(weekdayName(addDays(easter, -2))).toBe('Fri');
      expect(isBankHoliday(easter)).toBe(false);
    });
  });

  describe('substitute days', () => {
    it.each([
      ['Saturday', 2021, ['2021-12-27', '2021-12-28']],
      ['Saturday', 2027, ['2027-12-27', '2027-12-28']],
      ['Sunday', 2022, ['2022-12-26', '2022-12-27']],
      ['Friday', 2026, ['2026-12-25', '2026-12-28']],
      ['Thursday', 2025, ['2025-12-25', '2025-12-26']],
    ] as const)('Christmas on a %s (%i)', (day, year, expected) => {
      expect(weekdayName(`${year}-12-25`).slice(0, 3)).toBe(day.slice(0, 3));
      expect(bankHolidays(year).filter((d) => d.startsWith(`${year}-12-`))).toEqual(expected);
    });

    it.each([
      ['Saturday', 2022, '2022-01-03'],
      ['Sunday', 2023, '2023-01-02'],
      ['Thursday', 2026, '2026-01-01'],
    ] as const)('New Year on a %s (%i) → %s', (day, year, expected) => {
      expect(weekdayName(`${year}-01-01`).slice(0, 3)).toBe(day.slice(0, 3));
      expect(bankHolidays(year).filter((d) => d.startsWith(`${year}-01-`))).toEqual([expected]);
    });
  });

  describe('one-off proclamations', () => {
    it.each([
      ['2020 VE Day 75: Early May on Fri 8 May, not Mon 4 May', ['2020-05-08'], ['2020-05-04']],
      ['2022 Platinum Jubilee: Spring on Thu 2 June, Jubilee Fri 3 June, nothing on 30 May', ['2022-06-02', '2022-06-03'], ['2022-05-30']],
      ['2022 State Funeral of Queen Elizabeth II', ['2022-09-19'], []],
      ['2023 Coronation of King Charles III, beside Early May', ['2023-05-08', '2023-05-01'], []],
      ['1995 VE Day 50: Early May on Mon 8 May', ['1995-05-08'], ['1995-05-01']],
      ['1999 Millennium', ['1999-12-31'], []],
      ['2002 Golden Jubilee', ['2002-06-03', '2002-06-04'], ['2002-05-27']],
      ['2011 Royal Wedding', ['2011-04-29'], []],
      ['2012 Diamond Jubilee', ['2012-06-04', '2012-06-05'], ['2012-05-28']],
    ])('%s', (_label, holidays, notHolidays) => {
      for (const date of holidays) expect([date, isBankHoliday(date)]).toEqual([date, true]);
      for (const date of notHolidays) expect([date, isBankHoliday(date)]).toEqual([date, false]);
    });

    it('leaves other years to the rules (2021 and 2024 have the usual eight)', () => {
      expect(bankHolidays(2021)).toHaveLength(8);
      expect(bankHolidays(2024)).toHaveLength(8);
    });
  });

  it('refuses years before the current rules (1978) instead of guessing', () => {
    expect(() => bankHolidays(1977)).toThrow(RangeError);
    expect(() => bankHolidays(2026.5)).toThrow(RangeError);
    expect(() => isWorkingDay('1977-12-30')).toThrow(RangeError);
    expect(bankHolidays(1978)).toContain('1978-05-01');
  });
});

describe('isBankHoliday / isWorkingDay', () => {
  it.each([
    ['2026-11-23', 'an ordinary Monday', true],
    ['2026-11-27', 'an ordinary Friday', true],
    ['2026-11-21', 'a Saturday', false],
    ['2026-11-22', 'a Sunday', false],
    ['2026-04-03', 'Good Friday', false],
    ['2026-12-28', 'the Boxing Day substitute', false],
    ['2026-12-26', 'Boxing Day itself, a Saturday', false],
    ['2027-12-24', 'Christmas Eve, a Friday', true],
  ])('%s (%s): working day %s', (date, _label, working) => {
    expect(isWorkingDay(date)).toBe(working);
  });

  it('a weekend is not a bank holiday; its weekday substitute is', () => {
    expect(isBankHoliday('2021-12-25')).toBe(false);
    expect(isBankHoliday('2021-12-27')).toBe(true);
  });

  it.each(['2026-02-30', '2026-13-01', '2026-1-5', '26-01-05', '2026-01-05T00:00:00Z', ''])('rejects %j', (bad) => {
    expect(() => isWorkingDay(bad)).toThrow(RangeError);
    expect(() => isBankHoliday(bad)).toThrow(RangeError);
    expect(() => londonMidnight(bad)).toThrow(RangeError);
  });
});

describe('londonDate / londonMidnight', () => {
  it('uses Europe/London', () => {
    expect(WORKING_DAYS_TIME_ZONE).toBe('Europe/London');
  });

  it.each([
    ['2026-01-14T23:30:00Z', '2026-01-14', 'GMT: the UTC date'],
    ['2026-07-14T22:30:00Z', '2026-07-14', '23:30 BST'],
    ['2026-07-14T23:30:00Z', '2026-07-15', '00:30 BST, still the 14th in UTC'],
    ['2026-03-29T00:59:59Z', '2026-03-29', 'the second before BST starts'],
    ['2026-10-24T22:59:59.999Z', '2026-10-24', 'the last BST instant of the 24th'],
    ['2026-10-24T23:00:00Z', '2026-10-25', 'midnight BST on the day BST ends'],
    ['2026-10-25T23:59:59Z', '2026-10-25', 'the last GMT second of the 25th'],
  ])('%s → %s (%s)', (instant, date) => {
    expect(londonDate(at(instant))).toBe(date);
  });

  it.each([
    ['2026-01-14', '2026-01-14T00:00:00.000Z', 'GMT'],
    ['2026-07-14', '2026-07-13T23:00:00.000Z', 'BST'],
    ['2026-03-29', '2026-03-29T00:00:00.000Z', 'BST starts at 01:00 GMT that day'],
    ['2026-03-30', '2026-03-29T23:00:00.000Z', 'first BST midnight'],
    ['2026-10-25', '2026-10-24T23:00:00.000Z', 'BST ends at 02:00 BST that day'],
    ['2026-10-26', '2026-10-26T00:00:00.000Z', 'first GMT midnight'],
  ])('midnight of %s is %s (%s)', (date, instant) => {
    expect(londonMidnight(date).toISOString()).toBe(instant);
  });

  it('rejects an invalid Date', () => {
    expect(() => londonDate(new Date(NaN))).toThrow(RangeError);
  });

  it('property: londonMidnight(londonDate(t)) <= t < londonMidnight(the next date)', () => {
    fc.assert(
      fc.property(fc.date({ min: at('1978-01-02T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }), (t) => {
        const date = londonDate(t);
        const start = londonMidnight(date).getTime();
        const next = londonMidnight(addDays(date, 1)).getTime();
        expect(start).toBeLessThanOrEqual(t.getTime());
        expect(t.getTime()).toBeLessThan(next);
        // A London day is 23, 24 or 25 hours long.
        expect([23, 24, 25]).toContain((next - start) / 3_600_000);
      }),
      { numRuns: 500, seed: 20261122 },
    );
  });
});

describe('workingDaysDeadline', () => {
  it('consent on Friday 14:00 + 2 → Wednesday 00:00 London: on time until the end of Tuesday', () => {
    const deadline = workingDaysDeadline(at('2026-11-20T14:00:00Z'), 2);
    expect(deadline.toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(londonDate(justBefore(deadline))).toBe('2026-11-24');
  });

  it('Thursday before Good Friday + 2 → end of Wed 8 April (Good Friday and Easter Monday skipped)', () => {
    const deadline = workingDaysDeadline(at('2026-04-02T10:00:00+01:00'), 2);
    expect(deadline.toISOString()).toBe('2026-04-08T23:00:00.000Z'); // Thu 9 April 00:00 BST
    expect(londonDate(justBefore(deadline))).toBe('2026-04-08');
  });

  it('Christmas Eve 2026 + 2: skips Fri 25, the weekend and the Mon 28 substitute → end of Wed 30 December', () => {
    expect(workingDaysDeadline(at('2026-12-24T16:00:00Z'), 2).toISOString()).toBe('2026-12-31T00:00:00.000Z');
  });

  it('clinical default of 5 across Christmas: Mon 21 December 2026 → end of Wed 30 December', () => {
    expect(workingDaysDeadline(at('2026-12-21T09:00:00Z'), 5).toISOString()).toBe('2026-12-31T00:00:00.000Z');
  });

  it('counts from the London date of the consent, not the UTC (or machine) date', () => {
    // Thu 11 June 2026 23:30 BST = 22:30Z: Thursday, so Fri 12 and Mon 15 → Tue 16 00:00 BST.
    expect(workingDaysDeadline(at('2026-06-11T22:30:00Z'), 2).toISOString()).toBe('2026-06-15T23:00:00.000Z');
    // 23:30Z that Thursday is Fri 12 June 00:30 BST: Mon 15 and Tue 16 → Wed 17 00:00 BST.
    expect(workingDaysDeadline(at('2026-06-11T23:30:00Z'), 2).toISOString()).toBe('2026-06-16T23:00:00.000Z');
  });

  it('across the October change the deadline is midnight GMT', () => {
    // Thu 22 October 2026 (BST) + 2: Fri 23, Mon 26 → Tue 27 00:00 GMT.
    expect(workingDaysDeadline(at('2026-10-22T10:00:00+01:00'), 2).toISOString()).toBe('2026-10-27T00:00:00.000Z');
  });

  it('across the March change the deadline is midnight BST', () => {
    // Thu 26 March 2026 (GMT) + 2: Fri 27, Mon 30 → Tue 31 00:00 BST.
    expect(workingDaysDeadline(at('2026-03-26T10:00:00Z'), 2).toISOString()).toBe('2026-03-30T23:00:00.000Z');
  });

  it.each([
    ['a working day: the end of that day', '2026-11-25T14:00:00Z', '2026-11-26T00:00:00.000Z'],
    ['a working day, last minute', '2026-11-25T23:59:00Z', '2026-11-26T00:00:00.000Z'],
    ['a Saturday: the end of Monday', '2026-11-21T10:00:00Z', '2026-11-24T00:00:00.000Z'],
    ['Good Friday: the end of Tuesday after Easter Monday', '2026-04-03T10:00:00+01:00', '2026-04-07T23:00:00.000Z'],
  ])('n = 0 from %s', (_label, from, deadline) => {
    expect(workingDaysDeadline(at(from), 0).toISOString()).toBe(deadline);
  });

  it.each([-1, 1.5, NaN, Infinity])('rejects n = %p', (n) => {
    expect(() => workingDaysDeadline(at('2026-11-20T14:00:00Z'), n)).toThrow(RangeError);
  });

  it('property: the deadline is a London midnight ending the n-th working day after the start', () => {
    fc.assert(
      fc.property(
        fc.date({ min: at('1978-01-02T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 15 }),
        (from, n) => {
          const deadline = workingDaysDeadline(from, n);
          const lastDay = londonDate(justBefore(deadline));
          expect(londonMidnight(londonDate(deadline)).getTime()).toBe(deadline.getTime());
          expect(isWorkingDay(lastDay)).toBe(true);
          expect(workingDaysBetween(from, justBefore(deadline))).toBe(n);
        },
      ),
      { numRuns: 500, seed: 20261122 },
    );
  });
});

describe('workingDaysBetween', () => {
  it.each([
    ['the same London day', '2026-11-23T08:00:00Z', '2026-11-23T23:59:00Z', 0],
    ['to before from', '2026-11-25T08:00:00Z', '2026-11-23T08:00:00Z', 0],
    ['Monday → Wednesday', '2026-11-23T08:00:00Z', '2026-11-25T08:00:00Z', 2],
    ['Friday → Monday (weekend skipped)', '2026-11-20T14:00:00Z', '2026-11-23T09:00:00Z', 1],
    ['Friday → Saturday', '2026-11-20T14:00:00Z', '2026-11-21T09:00:00Z', 0],
    ['Thursday → Tuesday over Easter 2026', '2026-04-02T10:00:00+01:00', '2026-04-07T10:00:00+01:00', 1],
    ['Thursday → Tuesday over the 2025 Early May weekend', '2025-05-01T10:00:00+01:00', '2025-05-06T10:00:00+01:00', 2],
    ['Christmas Eve 2026 → Mon 4 January 2027 (25, 28 and 1 January are holidays)', '2026-12-24T10:00:00Z', '2027-01-04T10:00:00Z', 4],
    ['London dates: Thu 23:30 BST → Fri 00:30 BST', '2026-06-11T22:30:00Z', '2026-06-11T23:30:00Z', 1],
  ])('%s: %s → %s is %i', (_label, from, to, days) => {
    expect(workingDaysBetween(at(from), at(to))).toBe(days);
  });

  it('is a count, not the on-time test: done on the Saturday after a Thursday start counts 1 yet misses a 1-day deadline', () => {
    const from = at('2026-11-19T10:00:00Z');
    const saturday = at('2026-11-21T10:00:00Z');
    expect(workingDaysBetween(from, saturday)).toBe(1);
    expect(saturday.getTime()).toBeGreaterThanOrEqual(workingDaysDeadline(from, 1).getTime());
  });
});
