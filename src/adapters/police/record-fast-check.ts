import {
  CONSENT_PURPOSES,
  CONSENT_STATUSES,
  GENDERS,
  LAWFUL_BASIS_CODES,
  PERSON_ROLES,
  RECORD_STATUSES,
  REFERRAL_TYPES,
  RISK_LEVELS,
  RISK_TOOLS,
  type CrimeRecord,
} from '../../domain/crime-record';
import { normaliseNhsNumber } from '../../domain/nhs-number';
import {
  ADDRESS_LINES_MAX,
  CODE,
  CRIME_REF,
  DATE,
  DATETIME,
  EMAIL_MAX,
  FREE_TEXT_MAX,
  HOME_OFFICE_CLASS,
  isRealDate,
  LANGUAGE,
  OFFENCE_CODE,
  OFFICER_PHONE_MAX,
  PERSONS_MAX,
  POSTCODE_MAX,
  REF,
  RISK_SCORE_MAX,
  SAFE_PHONE,
  SHORT_TEXT_MAX,
} from './record-rules';

/**
 * A hand-written check of a normalised CrimeRecord candidate for the common, plainly valid
 * record: it returns the value the joi schema would return, or undefined when it is not sure,
 * and the schema then decides (and words the reason). It accepts a subset of what the schema
 * accepts: anything unusual (an unknown key, a number with a leading zero, an email outside a
 * plain ASCII shape) is left to joi.
 */
export function fastCheckRecord(candidate: unknown): CrimeRecord | undefined {
  if (!isPlain(candidate) || !hasOnly(candidate, RECORD_KEYS)) return undefined;
  const c = candidate;
  if (!matches(c.crimeReference, CRIME_REF)) return undefined;
  const recordVersion = wholeNumber(c.recordVersion, 1, Number.MAX_SAFE_INTEGER);
  if (recordVersion === undefined || !oneOf(c.recordStatus, RECORD_STATUSES) || !optional(c.lastModified, dateTime)) return undefined;
  const offence = offenceOf(c.offence);
  if (!offence) return undefined;
  const out: Plain = { ...c, recordVersion, offence };
  if (!copyOptional(c, out, 'flags', (v) => listOf(v, flagOf))) return undefined;
  if (!copyOptional(c, out, 'risk', riskOf)) return undefined;
  if (!copyOptional(c, out, 'mdtDecision', mdtOf)) return undefined;
  if (!copyOptional(c, out, 'persons', (v) => listOf(v, personOf, PERSONS_MAX))) return undefined;
  if (!optional(c.summary, freeText)) return undefined;
  if (!copyOptional(c, out, 'officerInCase', officerOf)) return undefined;
  // Cast as the schema's value is: the schema, not the type, says what is present.
  return out as unknown as CrimeRecord;
}

type Plain = Record<string, unknown>;

const RECORD_KEYS = keys(
  'crimeReference recordVersion recordStatus lastModified offence flags risk mdtDecision persons summary officerInCase',
);
const OFFENCE_KEYS = keys('homeOfficeClass offenceCode description legislation committedFrom committedTo');
const FLAG_KEYS = keys('code raisedAt raisedBy');
const RISK_KEYS = keys('tool level score assessedAt assessor');
const MDT_KEYS = keys('decidedAt referrals');
const REFERRAL_KEYS = keys('type subjectRef reason');
const PERSON_KEYS = keys(
  'ref role forename surname dateOfBirth gender nhsNumber address safeContact language consents lawfulBasis clinicalIndicators relationshipToVictim',
);
const ADDRESS_KEYS = keys('lines town postcode');
const SAFE_CONTACT_KEYS = keys('phone email safeTimeToCall voicemailSafe');
const CONSENT_KEYS = keys('purpose status recordedAt recordedBy');
const BASIS_KEYS = keys('code authorisedBy authorisedAt');
const RELATIONSHIP_KEYS = keys('victimRef relationship');
const OFFICER_KEYS = keys('collar name email phone');

/** Digits only, no sign, point, exponent or leading zero: such a string is exactly the number joi makes of it. */
const PLAIN_WHOLE = /^(0|[1-9][0-9]{0,14})$/;

/**
 * A subset of what @hapi/address accepts (tlds off): dot-separated atoms of word characters,
 * plus and hyphen; domain labels of letters, digits and inner hyphens; a letters-only TLD.
 */
const PLAIN_EMAIL = /^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const EMAIL_LOCAL_MAX = 64;

function offenceOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, OFFENCE_KEYS)) return undefined;
  const ok =
    matches(v.homeOfficeClass, HOME_OFFICE_CLASS) &&
    optional(v.offenceCode, (x) => matches(x, OFFENCE_CODE)) &&
    optional(v.description, short) &&
    optional(v.legislation, short) &&
    optional(v.committedFrom, date) &&
    optional(v.committedTo, date);
  return ok ? { ...v } : undefined;
}

function flagOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, FLAG_KEYS)) return undefined;
  const ok = matches(v.code, CODE) && optional(v.raisedAt, dateTime) && optional(v.raisedBy, short);
  return ok ? { ...v } : undefined;
}

function riskOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, RISK_KEYS)) return undefined;
  const ok = oneOf(v.tool, RISK_TOOLS) && oneOf(v.level, RISK_LEVELS) && optional(v.assessedAt, dateTime) && optional(v.assessor, short);
  if (!ok) return undefined;
  if (v.score === undefined) return { ...v };
  const score = wholeNumber(v.score, 0, RISK_SCORE_MAX);
  return score === undefined ? undefined : { ...v, score };
}

function mdtOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, MDT_KEYS) || !optional(v.decidedAt, dateTime)) return undefined;
  const out: Plain = { ...v };
  return copyOptional(v, out, 'referrals', (x) => listOf(x, referralOf)) ? out : undefined;
}

function referralOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, REFERRAL_KEYS)) return undefined;
  const ok = oneOf(v.type, REFERRAL_TYPES) && matches(v.subjectRef, REF) && optional(v.reason, freeText);
  return ok ? { ...v } : undefined;
}

function personOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, PERSON_KEYS)) return undefined;
  const ok =
    matches(v.ref, REF) &&
    oneOf(v.role, PERSON_ROLES) &&
    optional(v.forename, short) &&
    optional(v.surname, short) &&
    optional(v.dateOfBirth, date) &&
    optional(v.gender, (x) => oneOf(x, GENDERS)) &&
    optional(v.language, (x) => matches(x, LANGUAGE)) &&
    optional(v.clinicalIndicators, freeText);
  if (!ok) return undefined;
  const out: Plain = { ...v };
  if (v.nhsNumber !== undefined) {
    const digits = typeof v.nhsNumber === 'string' ? normaliseNhsNumber(v.nhsNumber) : undefined;
    if (digits === undefined) return undefined;
    out.nhsNumber = digits;
  }
  const consents = listOf(v.consents, consentOf);
  if (!consents) return undefined;
  out.consents = consents;
  const nested =
    copyOptional(v, out, 'address', addressOf) &&
    copyOptional(v, out, 'safeContact', safeContactOf) &&
    copyOptional(v, out, 'lawfulBasis', lawfulBasisOf) &&
    copyOptional(v, out, 'relationshipToVictim', relationshipOf);
  return nested ? out : undefined;
}

function addressOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, ADDRESS_KEYS)) return undefined;
  if (!optional(v.town, short) || !optional(v.postcode, (x) => text(x, POSTCODE_MAX))) return undefined;
  const out: Plain = { ...v };
  const line = (x: unknown) => (short(x) ? x : undefined);
  return copyOptional(v, out, 'lines', (x) => listOf(x, line, ADDRESS_LINES_MAX)) ? out : undefined;
}

function safeContactOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, SAFE_CONTACT_KEYS)) return undefined;
  const ok =
    optional(v.phone, (x) => matches(x, SAFE_PHONE)) &&
    optional(v.email, email) &&
    optional(v.safeTimeToCall, short) &&
    optional(v.voicemailSafe, (x) => typeof x === 'boolean');
  return ok ? { ...v } : undefined;
}

function consentOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, CONSENT_KEYS)) return undefined;
  const ok =
    oneOf(v.purpose, CONSENT_PURPOSES) &&
    oneOf(v.status, CONSENT_STATUSES) &&
    optional(v.recordedAt, dateTime) &&
    optional(v.recordedBy, short);
  return ok ? { ...v } : undefined;
}

function lawfulBasisOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, BASIS_KEYS)) return undefined;
  const ok = oneOf(v.code, LAWFUL_BASIS_CODES) && optional(v.authorisedBy, short) && optional(v.authorisedAt, dateTime);
  return ok ? { ...v } : undefined;
}

function relationshipOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, RELATIONSHIP_KEYS)) return undefined;
  return matches(v.victimRef, REF) && matches(v.relationship, CODE) ? { ...v } : undefined;
}

function officerOf(v: unknown): Plain | undefined {
  if (!isPlain(v) || !hasOnly(v, OFFICER_KEYS)) return undefined;
  const ok = short(v.collar) && optional(v.name, short) && optional(v.email, email) && optional(v.phone, (x) => text(x, OFFICER_PHONE_MAX));
  return ok ? { ...v } : undefined;
}

// ---- field checks ------------------------------------------------------------------------

function keys(names: string): ReadonlySet<string> {
  return new Set(names.split(' '));
}

/** An object literal's shape; joi would coerce a JSON string or read another object's keys, which is joi's to do. */
function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** No key outside the schema's, and none present with an undefined value: normalise never makes one, so joi may judge it. */
function hasOnly(v: Plain, allowed: ReadonlySet<string>): boolean {
  for (const key in v) if (!allowed.has(key) || v[key] === undefined) return false;
  return true;
}

function optional(v: unknown, check: (x: unknown) => boolean): boolean {
  return v === undefined || check(v);
}

/** Checks and converts v[key] into out[key] when present; false when it fails. */
function copyOptional(v: Plain, out: Plain, key: string, convert: (x: unknown) => unknown): boolean {
  const value = v[key];
  if (value === undefined) return true;
  const converted = convert(value);
  if (converted === undefined) return false;
  out[key] = converted;
  return true;
}

function listOf<T>(v: unknown, item: (x: unknown) => T | undefined, max = Infinity): T[] | undefined {
  if (!Array.isArray(v) || v.length > max) return undefined;
  const out: T[] = new Array<T>(v.length);
  for (let i = 0; i < v.length; i++) {
    const converted = item(v[i]);
    if (converted === undefined) return undefined;
    out[i] = converted;
  }
  return out;
}

/** Joi rejects the empty string; its max counts UTF-16 code units, as length does. */
function text(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}

function short(v: unknown): v is string {
  return text(v, SHORT_TEXT_MAX);
}

function freeText(v: unknown): v is string {
  return text(v, FREE_TEXT_MAX);
}

function matches(v: unknown, pattern: RegExp): v is string {
  return typeof v === 'string' && v.length > 0 && pattern.test(v);
}

function oneOf(v: unknown, list: readonly string[]): boolean {
  return typeof v === 'string' && list.includes(v);
}

function date(v: unknown): boolean {
  return matches(v, DATE) && isRealDate(v);
}

function dateTime(v: unknown): boolean {
  return matches(v, DATETIME) && isRealDate(v);
}

function email(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > EMAIL_MAX) return false;
  const at = v.indexOf('@');
  return at > 0 && at <= EMAIL_LOCAL_MAX && PLAIN_EMAIL.test(v);
}

function wholeNumber(v: unknown, min: number, max: number): number | undefined {
  if (typeof v !== 'string' || !PLAIN_WHOLE.test(v)) return undefined;
  const n = Number(v);
  return n >= min && n <= max ? n : undefined;
}
