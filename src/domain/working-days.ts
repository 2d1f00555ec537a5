/**
 * Working days for the service levels of referral-lifecycle.md: the Victims' Code "within 2
 * working days" and the clinical follow-up threshold. A working day is Monday to Friday and not
 * an England and Wales bank holiday.
 *
 * Calendar dates are 'YYYY-MM-DD' strings and all date arithmetic is in UTC on whole days, so
 * the machine's TZ never matters; only londonDate/londonMidnight cross between instants and
 * London dates, through Intl with an explicit time zone.
 */

/** Working days are counted on the calendar of England and Wales. */
export const WORKING_DAYS_TIME_ZONE = 'Europe/London';

/**
 * Every rule below is in force from 1978 (Early May bank holiday introduced; New Year's Day from
 * 1974, Spring and Summer from 1971). Earlier years would need other rules, so they are refused
 * rather than answered wrongly.
 */
const FIRST_SUPPORTED_YEAR = 1978;

/**
 * One-off changes by royal proclamation, on top of the rules. A new proclamation is one line:
 * `remove` must name a date the rules give (a typo fails loudly instead of being ignored) and
 * `add` a date they do not.
 */
interface Proclamation {
  readonly year: number;
  readonly remove?: readonly string[];
  readonly add?: readonly string[];
}

const PROCLAMATIONS: readonly Proclamation[] = [
  // Wedding of the Prince of Wales and Lady Diana Spencer (London Gazette; Wikipedia "Public holidays in the United Kingdom").
  { year: 1981, add: ['1981-07-29'] },
  // VE Day 50: Early May moved from Mon 1 May to Mon 8 May (Wikipedia "Public holidays in the United Kingdom").
  { year: 1995, remove: ['1995-05-01'], add: ['1995-05-08'] },
  // Millennium bank holiday, Fri 31 December 1999 (Wikipedia "Public holidays in the United Kingdom").
  { year: 1999, add: ['1999-12-31'] },
  // Golden Jubilee: Spring moved from Mon 27 May to Tue 4 June, Jubilee holiday Mon 3 June (ibid.).
  { year: 2002, remove: ['2002-05-27'], add: ['2002-06-03', '2002-06-04'] },
  // Wedding of Prince William and Catherine Middleton, Fri 29 April 2011 (ibid.).
  { year: 2011, add: ['2011-04-29'] },
  // Diamond Jubilee: Spring moved from Mon 28 May to Mon 4 June, Jubilee holiday Tue 5 June (ibid.).
  { year: 2012, remove: ['2012-05-28'], add: ['2012-06-04', '2012-06-05'] },
  // VE Day 75: Early May moved from Mon 4 May to Fri 8 May (gov.uk/bank-holidays, 2020).
  { year: 2020, remove: ['2020-05-04'], add: ['2020-05-08'] },
  // Platinum Jubilee: Spring moved from Mon 30 May to Thu 2 June, Jubilee holiday Fri 3 June (gov.uk/bank-holidays, 2022).
  { year: 2022, remove: ['2022-05-30'], add: ['2022-06-02', '2022-06-03'] },
  // Bank holiday for the State Funeral of Queen Elizabeth II, Mon 19 September 2022 (gov.uk/bank-holidays, 2022).
  { year: 2022, add: ['2022-09-19'] },
  // Bank holiday for the Coronation of King Charles III, Mon 8 May 2023 (gov.uk/bank-holidays, 2023).
  { year: 2023, add: ['2023-05-08'] },
];

const DAY_MS = 86_400_000;

/** A calendar date as whole days since 1970-01-01 (UTC arithmetic only, so TZ cannot shift it). */
type DayNumber = number;

const SUNDAY = 0;
const MONDAY = 1;
const FRIDAY = 5;
const SATURDAY = 6;

function dayNumber(year: number, month: number, day: number): DayNumber {
  return Date.UTC(year, month - 1, day) / DAY_MS;
}

function weekday(day: DayNumber): number {
  return new Date(day * DAY_MS).getUTCDay();
}

function isoDate(day: DayNumber): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Strict 'YYYY-MM-DD': a real calendar date (no 2026-02-30) in a supported year. */
function parseDate(date: string): DayNumber {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match) {
    const year = Number(match[1]);
    const day = dayNumber(year, Number(match[2]), Number(match[3]));
    if (isoDate(day) === date) {
      checkYear(year);
      return day;
    }
  }
  throw new RangeError(`not a calendar date 'YYYY-MM-DD': ${JSON.stringify(date)}`);
}

function checkYear(year: number): void {
  if (!Number.isInteger(year) || year < FIRST_SUPPORTED_YEAR || year > 9999) {
    throw new RangeError(`bank holidays are known for ${FIRST_SUPPORTED_YEAR}-9999, not ${year}`);
  }
}

/** Easter Sunday, Gregorian calendar: the anonymous algorithm as given by Meeus. */
function easterSunday(year: number): DayNumber {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return dayNumber(year, month, day);
}

function firstMonday(year: number, month: number): DayNumber {
  const first = dayNumber(year, month, 1);
  return first + ((MONDAY - weekday(first) + 7) % 7);
}

function lastMonday(year: number, month: number): DayNumber {
  const last = dayNumber(year, month + 1, 0);
  return last - ((weekday(last) - MONDAY + 7) % 7);
}

/** The holidays the standing rules give, before any proclamation. */
function ruleHolidays(year: number): DayNumber[] {
  const newYear = dayNumber(year, 1, 1);
  const easter = easterSunday(year);
  const christmas = dayNumber(year, 12, 25);
  const christmasWeekday = weekday(christmas);
  // Christmas Day and Boxing Day, each moved to the next weekday not already taken.
  const christmasPair =
    christmasWeekday === SATURDAY
      ? [christmas + 2, christmas + 3] // Mon 27 for Christmas, Tue 28 for Boxing Day
      : christmasWeekday === SUNDAY
        ? [christmas + 1, christmas + 2] // Boxing Day Mon 26, Christmas substitute Tue 27
        : christmasWeekday === FRIDAY
          ? [christmas, christmas + 3] // Boxing Day (Saturday) substitute Mon 28
          : [christmas, christmas + 1];
  return [
    weekday(newYear) === SATURDAY ? newYear + 2 : weekday(newYear) === SUNDAY ? newYear + 1 : newYear,
    easter - 2, // Good Friday
    easter + 1, // Easter Monday
    firstMonday(year, 5), // Early May
    lastMonday(year, 5), // Spring
    lastMonday(year, 8), // Summer
    ...christmasPair,
  ];
}

// Memoised per year: reconciliation asks about the same few years for every referral.
const holidaysByYear = new Map<number, ReadonlySet<string>>();

function holidaySet(year: number): ReadonlySet<string> {
  const known = holidaysByYear.get(year);
  if (known) return known;
  checkYear(year);
  const dates = new Set(ruleHolidays(year).map(isoDate));
  for (const change of PROCLAMATIONS) {
    if (change.year !== year) continue;
    for (const date of change.remove ?? []) {
      if (!dates.delete(date)) throw new Error(`bank holiday table: ${date} is not a ${year} holiday to remove`);
    }
    for (const date of change.add ?? []) {
      if (!date.startsWith(`${year}-`) || dates.has(date)) throw new Error(`bank holiday table: cannot add ${date} to ${year}`);
      dates.add(date);
    }
  }
  const sorted: ReadonlySet<string> = new Set([...dates].sort());
  holidaysByYear.set(year, sorted);
  return sorted;
}

/** England and Wales bank holidays of a year, 'YYYY-MM-DD', sorted. */
export function bankHolidays(year: number): string[] {
  return [...holidaySet(year)];
}

export function isBankHoliday(date: string): boolean {
  parseDate(date);
  return holidaySet(Number(date.slice(0, 4))).has(date);
}

function isWorkingDayNumber(day: DayNumber): boolean {
  const w = weekday(day);
  if (w === SATURDAY || w === SUNDAY) return false;
  const date = isoDate(day);
  return !holidaySet(Number(date.slice(0, 4))).has(date);
}

/** Not a Saturday or Sunday and not a bank holiday. */
export function isWorkingDay(date: string): boolean {
  return isWorkingDayNumber(parseDate(date));
}

// h23, not hour12: false, so midnight is 00 and never 24.
const LONDON_PARTS = new Intl.DateTimeFormat('en-GB', {
  timeZone: WORKING_DAYS_TIME_ZONE,
  calendar: 'gregory',
  numberingSystem: 'latn',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** London wall-clock fields of an instant, read back as if they were UTC. */
function londonWallClockMs(instant: Date): number {
  const fields: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of LONDON_PARTS.formatToParts(instant)) fields[part.type] = Number(part.value);
  const { year, month, day, hour, minute, second } = fields;
  if (
    year === undefined ||
    month === undefined ||
    day === undefined ||
    hour === undefined ||
    minute === undefined ||
    second === undefined
  ) {
    throw new Error('Intl did not give a full London date and time');
  }
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function checkInstant(instant: Date): number {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError('invalid Date');
  return ms;
}

/** The calendar date in Europe/London of an instant, 'YYYY-MM-DD' (BST aware). */
export function londonDate(instant: Date): string {
  checkInstant(instant);
  return isoDate(Math.floor(londonWallClockMs(instant) / DAY_MS));
}

/** London's offset from UTC at an instant, in ms (0 in GMT, +1h in BST). */
function londonOffsetMs(ms: number): number {
  const wholeSecond = Math.floor(ms / 1000) * 1000;
  return londonWallClockMs(new Date(wholeSecond)) - wholeSecond;
}

/** 00:00 Europe/London at the start of a calendar date, as an instant (BST aware). */
export function londonMidnight(date: string): Date {
  return new Date(midnightMs(parseDate(date)));
}

function midnightMs(day: DayNumber): number {
  const wall = day * DAY_MS;
  // London's clocks change at 01:00 UTC, never between 23:00 and 00:00 UTC, so the offset at
  // 00:00 UTC of the date is the one in force at London midnight, change days included.
  return wall - londonOffsetMs(wall);
}

/**
 * The deadline "within n working days of `from`": the first instant after the end of the n-th
 * working day following the London date of `from` (i.e. 00:00 London of the next calendar day).
 * Something done before the returned instant is on time. n >= 0 (n = 0: end of the same day
 * if it is a working day, otherwise the end of the next working day).
 */
export function workingDaysDeadline(from: Date, n: number): Date {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`working days must be a whole number >= 0, not ${n}`);
  let day = parseDate(londonDate(from));
  if (n === 0) {
    while (!isWorkingDayNumber(day)) day += 1;
  } else {
    for (let counted = 0; counted < n;) {
      day += 1;
      if (isWorkingDayNumber(day)) counted += 1;
    }
  }
  return new Date(midnightMs(day + 1));
}

/**
 * Whole working days from the London date of `from` to the London date of `to` (0 if same day
 * or to < from): the working days after the first date, up to and including the second. For
 * reporting how long something has waited; whether it is late is `workingDaysDeadline`'s answer
 * (done on the Saturday after a Thursday start counts 1 here, yet misses a 1-day deadline).
 */
export function workingDaysBetween(from: Date, to: Date): number {
  const first = parseDate(londonDate(from));
  const last = parseDate(londonDate(to));
  let count = 0;
  for (let day = first + 1; day <= last; day += 1) if (isWorkingDayNumber(day)) count += 1;
  return count;
}
