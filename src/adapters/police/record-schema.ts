import Joi from 'joi';
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
} from '../../domain/crime-record';
import { isValidNhsNumber } from '../../domain/nhs-number';
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

/** The joi schema of a normalised CrimeRecord candidate: the authority on what is valid, and why not. */
const date = Joi.string().pattern(DATE).custom(realDate, 'calendar date');
const dateTime = Joi.string().pattern(DATETIME).custom(realDate, 'calendar date-time');
const short = Joi.string().max(SHORT_TEXT_MAX);
const freeText = Joi.string().max(FREE_TEXT_MAX);
const ref = Joi.string().pattern(REF);

function realDate(value: string, helpers: Joi.CustomHelpers) {
  return isRealDate(value) ? value : helpers.error('date.base');
}

const nhsNumber = Joi.string().custom((value: string, helpers) => {
  const digits = value.replace(/\s+/g, '');
  if (!/^\d{10}$/.test(digits)) return helpers.error('nhs.format');
  if (!isValidNhsNumber(digits)) return helpers.error('nhs.modulus11');
  return digits;
}, 'NHS number');

const consent = Joi.object({
  purpose: Joi.string()
    .valid(...CONSENT_PURPOSES)
    .required(),
  status: Joi.string()
    .valid(...CONSENT_STATUSES)
    .required(),
  recordedAt: dateTime,
  recordedBy: short,
});

const person = Joi.object({
  ref: ref.required(),
  role: Joi.string()
    .valid(...PERSON_ROLES)
    .required(),
  forename: short,
  surname: short,
  dateOfBirth: date,
  gender: Joi.string().valid(...GENDERS),
  nhsNumber,
  address: Joi.object({ lines: Joi.array().items(short).max(ADDRESS_LINES_MAX), town: short, postcode: Joi.string().max(POSTCODE_MAX) }),
  safeContact: Joi.object({
    phone: Joi.string().pattern(SAFE_PHONE),
    email: Joi.string().email({ tlds: false }).max(EMAIL_MAX),
    safeTimeToCall: short,
    voicemailSafe: Joi.boolean(),
  }),
  language: Joi.string().pattern(LANGUAGE),
  consents: Joi.array().items(consent).required(),
  lawfulBasis: Joi.object({
    code: Joi.string()
      .valid(...LAWFUL_BASIS_CODES)
      .required(),
    authorisedBy: short,
    authorisedAt: dateTime,
  }),
  clinicalIndicators: freeText,
  relationshipToVictim: Joi.object({
    victimRef: ref.required(),
    relationship: Joi.string().pattern(CODE).required(),
  }),
});

const recordSchema = Joi.object({
  crimeReference: Joi.string().pattern(CRIME_REF).required(),
  recordVersion: Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).required(),
  recordStatus: Joi.string()
    .valid(...RECORD_STATUSES)
    .required(),
  lastModified: dateTime,
  offence: Joi.object({
    homeOfficeClass: Joi.string().pattern(HOME_OFFICE_CLASS).required(),
    offenceCode: Joi.string().pattern(OFFENCE_CODE),
    description: short,
    legislation: short,
    committedFrom: date,
    committedTo: date,
  }).required(),
  flags: Joi.array().items(
    Joi.object({
      code: Joi.string().pattern(CODE).required(),
      raisedAt: dateTime,
      raisedBy: short,
    }),
  ),
  risk: Joi.object({
    tool: Joi.string()
      .valid(...RISK_TOOLS)
      .required(),
    level: Joi.string()
      .valid(...RISK_LEVELS)
      .required(),
    score: Joi.number().integer().min(0).max(RISK_SCORE_MAX),
    assessedAt: dateTime,
    assessor: short,
  }),
  mdtDecision: Joi.object({
    decidedAt: dateTime,
    referrals: Joi.array().items(
      Joi.object({
        type: Joi.string()
          .valid(...REFERRAL_TYPES)
          .required(),
        subjectRef: ref.required(),
        reason: freeText,
      }),
    ),
  }),
  persons: Joi.array().items(person).max(PERSONS_MAX),
  summary: freeText,
  officerInCase: Joi.object({
    collar: short.required(),
    name: short,
    email: Joi.string().email({ tlds: false }).max(EMAIL_MAX),
    phone: Joi.string().max(OFFICER_PHONE_MAX),
  }),
});

/** Joi's verdict and value: with convert on, numbers, booleans and NHS numbers come back converted. */
export function validateWithSchema(candidate: unknown): Joi.ValidationResult {
  return recordSchema.validate(candidate, { abortEarly: true, convert: true, stripUnknown: false });
}
