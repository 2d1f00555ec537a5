/**
 * The field rules of a CrimeRecord shared by the joi schema and the fast check, so the two
 * cannot drift apart on a pattern, a length or what a real date is.
 */
export const CRIME_REF = /^[A-Za-z0-9/-]{1,40}$/;
export const DATE = /^\d{4}-\d{2}-\d{2}$/;
export const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
export const REF = /^[A-Za-z0-9_-]{1,20}$/;
export const CODE = /^[A-Z_]{1,40}$/;
export const HOME_OFFICE_CLASS = /^[0-9]{1,3}[A-Z]?$/;
export const OFFENCE_CODE = /^[0-9]{1,3}\/[0-9]{1,3}$/;
export const SAFE_PHONE = /^[0-9 +()-]{5,20}$/;
export const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

export const FREE_TEXT_MAX = 4000;
export const SHORT_TEXT_MAX = 200;
export const POSTCODE_MAX = 10;
export const OFFICER_PHONE_MAX = 30;
export const EMAIL_MAX = 254;
export const ADDRESS_LINES_MAX = 10;
export const PERSONS_MAX = 50;
export const RISK_SCORE_MAX = 1000;

/** Date.parse is most of a date's validation cost and a page repeats its dates: verdicts are kept, a bounded number. */
const realDates = new Map<string, boolean>();
const REAL_DATES_KEPT = 10_000;

/** Whether a date or date-time that matched DATE or DATETIME names a day that exists. */
export function isRealDate(value: string): boolean {
  let real = realDates.get(value);
  if (real === undefined) {
    real = survivesRoundTrip(value);
    if (realDates.size >= REAL_DATES_KEPT) realDates.clear();
    realDates.set(value, real);
  }
  return real;
}

/** Date.parse rolls 2026-02-30 over to March; a real date must survive the round trip. */
function survivesRoundTrip(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const probe = new Date(Date.UTC(y, m - 1, d));
  const sameDay = probe.getUTCFullYear() === y && probe.getUTCMonth() === m - 1 && probe.getUTCDate() === d;
  return sameDay && !Number.isNaN(Date.parse(value));
}
