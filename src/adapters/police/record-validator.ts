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
  type CrimeRecord,
} from '../../domain/crime-record';
import { isValidNhsNumber } from '../../domain/nhs-number';
import { dropUndefined } from '../../domain/objects';

/**
 * Turns one xml2js `CrimeRecord` node into a validated CrimeRecord, or a quarantine reason.
 * Reasons name the field and the rule broken, never the value (it may be personal data).
 */
export type RecordParseResult =
  | { ok: true; record: CrimeRecord }
  | { ok: false; index: number; crimeReference?: string; recordVersion?: number; reason: string; raw: unknown };

const CRIME_REF = /^[A-Za-z0-9/-]{1,40}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const FREE_TEXT_MAX = 4000;
const SHORT_TEXT_MAX = 200;

const date = Joi.string().pattern(DATE).custom(realDate, 'calendar date');
const dateTime = Joi.string().pattern(DATETIME).custom(realDate, 'calendar date-time');
const short = Joi.string().max(SHORT_TEXT_MAX);
const freeText = Joi.string().max(FREE_TEXT_MAX);
const REF = /^[A-Za-z0-9_-]{1,20}$/;
const ref = Joi.string().pattern(REF);

/** Date.parse is most of a date's validation cost and a page repeats its dates: verdicts are kept, a bounded number. */
const realDates = new Map<string, boolean>();
const REAL_DATES_KEPT = 10_000;

function realDate(value: string, helpers: Joi.CustomHelpers) {
  let real = realDates.get(value);
  if (real === undefined) {
    real = isRealDate(value);
    if (realDates.size >= REAL_DATES_KEPT) realDates.clear();
    realDates.set(value, real);
  }
  return real ? value : helpers.error('date.base');
}

/** Date.parse rolls 2026-02-30 over to March; a real date must survive the round trip. */
function isRealDate(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const probe = new Date(Date.UTC(y, m - 1, d));
  const sameDay = probe.getUTCFullYear() === y && probe.getUTCMonth() === m - 1 && probe.getUTCDate() === d;
  return sameDay && !Number.isNaN(Date.parse(value));
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
  address: Joi.object({ lines: Joi.array().items(short).max(10), town: short, postcode: Joi.string().max(10) }),
  safeContact: Joi.object({
    phone: Joi.string().pattern(/^[0-9 +()-]{5,20}$/),
    email: Joi.string().email({ tlds: false }).max(254),
    safeTimeToCall: short,
    voicemailSafe: Joi.boolean(),
  }),
  language: Joi.string().pattern(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/),
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
    relationship: Joi.string()
      .pattern(/^[A-Z_]{1,40}$/)
      .required(),
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
    homeOfficeClass: Joi.string()
      .pattern(/^[0-9]{1,3}[A-Z]?$/)
      .required(),
    offenceCode: Joi.string().pattern(/^[0-9]{1,3}\/[0-9]{1,3}$/),
    description: short,
    legislation: short,
    committedFrom: date,
    committedTo: date,
  }).required(),
  flags: Joi.array().items(
    Joi.object({
      code: Joi.string()
        .pattern(/^[A-Z_]{1,40}$/)
        .required(),
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
    score: Joi.number().integer().min(0).max(1000),
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
  persons: Joi.array().items(person).max(50),
  summary: freeText,
  officerInCase: Joi.object({
    collar: short.required(),
    name: short,
    email: Joi.string().email({ tlds: false }).max(254),
    phone: Joi.string().max(30),
  }),
});

const REASONS: Record<string, string> = {
  'any.required': 'is required',
  'any.only': 'has an unknown code',
  'string.pattern.base': 'has an invalid format',
  'string.max': 'is too long',
  'string.email': 'is not an email address',
  'string.base': 'must be text',
  'string.empty': 'is empty',
  'number.base': 'must be a number',
  'number.integer': 'must be a whole number',
  'number.min': 'is too small',
  'number.max': 'is too large',
  'number.unsafe': 'is too large',
  'boolean.base': 'must be true or false',
  'date.base': 'is not a real date',
  'nhs.format': 'must be 10 digits',
  'nhs.modulus11': 'fails the NHS Modulus 11 check',
  'array.max': 'has too many entries',
  'object.unknown': 'is not expected here',
};

export function parseCrimeRecord(node: unknown, index: number, crimeRefPattern?: RegExp): RecordParseResult {
  let candidate: ReturnType<typeof normalise>;
  try {
    candidate = normalise(node);
  } catch (err) {
    return { ok: false, index, reason: `record ${index + 1} is not a CrimeRecord element: ${(err as Error).message}`, raw: node };
  }
  const crimeReference =
    typeof candidate.crimeReference === 'string' && CRIME_REF.test(candidate.crimeReference) ? candidate.crimeReference : undefined;
  const versionNumber = Number(candidate.recordVersion);
  const recordVersion = Number.isInteger(versionNumber) && versionNumber > 0 ? versionNumber : undefined;
  const fail = (reason: string): RecordParseResult => ({ ok: false, index, crimeReference, recordVersion, reason, raw: node });

  const { error, value } = recordSchema.validate(candidate, { abortEarly: true, convert: true, stripUnknown: false });
  if (error) {
    const detail = error.details[0]!;
    return fail(`${describePath(detail.path)} ${REASONS[detail.type] ?? `is invalid (${detail.type})`}`);
  }
  const record = value as CrimeRecord;
  if (crimeRefPattern && !crimeRefPattern.test(record.crimeReference)) return fail('CrimeReference does not match the force pattern');

  // Reasons name the element by position and the rule broken, never a value: a ref may be anything the RMS typed, even a name.
  const refs = new Set<string>();
  for (const [i, p] of record.persons.entries()) {
    if (refs.has(p.ref)) return fail(`Person[${i}]/ref repeats an earlier Person's ref`);
    refs.add(p.ref);
  }
  for (const [i, r] of (record.mdtDecision?.referrals ?? []).entries()) {
    if (!refs.has(r.subjectRef)) return fail(`MdtDecision/Referral[${i}]/subject names no Person in the record`);
  }
  for (const [i, p] of record.persons.entries()) {
    if (p.relationshipToVictim && !refs.has(p.relationshipToVictim.victimRef)) {
      return fail(`Person[${i}]/RelationshipToVictim names no Person in the record`);
    }
  }
  return { ok: true, record };
}

function describePath(path: (string | number)[]): string {
  const out: string[] = [];
  for (const segment of path) {
    // By position, never by ref: even a well-formed ref may be a name.
    if (typeof segment === 'number') out[out.length - 1] = `${out[out.length - 1]}[${segment}]`;
    else out.push(ELEMENT_NAMES[segment] ?? segment);
  }
  return out.join('/');
}

const ELEMENT_NAMES: Record<string, string> = {
  crimeReference: 'CrimeReference',
  recordVersion: 'RecordVersion',
  recordStatus: 'RecordStatus',
  lastModified: 'LastModified',
  offence: 'Offence',
  homeOfficeClass: 'HomeOfficeClass',
  offenceCode: 'OffenceCode',
  committedFrom: 'CommittedFrom',
  committedTo: 'CommittedTo',
  flags: 'Flag',
  risk: 'RiskAssessment',
  mdtDecision: 'MdtDecision',
  referrals: 'Referral',
  persons: 'Person',
  nhsNumber: 'NhsNumber',
  dateOfBirth: 'DateOfBirth',
  consents: 'Consent',
  lawfulBasis: 'LawfulBasis',
  safeContact: 'SafeContact',
  relationshipToVictim: 'RelationshipToVictim',
  officerInCase: 'OfficerInCase',
  summary: 'Summary',
  clinicalIndicators: 'ClinicalIndicators',
};

// ---- xml2js node → plain candidate -------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- xml2js gives an untyped tree, read defensively
type XNode = Record<string, any>;

function normalise(node: unknown) {
  if (!node || typeof node !== 'object' || Array.isArray(node)) throw new Error('element has no children');
  const n = node as XNode;
  const offence = child(n, 'Offence');
  const mdt = child(n, 'MdtDecision');
  const risk = child(n, 'RiskAssessment');
  const officer = child(n, 'OfficerInCase');
  return dropUndefined({
    crimeReference: text(n, 'CrimeReference'),
    recordVersion: text(n, 'RecordVersion'),
    recordStatus: text(n, 'RecordStatus'),
    lastModified: text(n, 'LastModified'),
    offence: offence
      ? dropUndefined({
          homeOfficeClass: text(offence, 'HomeOfficeClass'),
          offenceCode: text(offence, 'OffenceCode'),
          description: text(offence, 'Description'),
          legislation: text(offence, 'Legislation'),
          committedFrom: text(offence, 'CommittedFrom'),
          committedTo: text(offence, 'CommittedTo'),
        })
      : undefined,
    flags: children(child(n, 'Flags'), 'Flag').map((f) =>
      dropUndefined({ code: attr(f, 'code'), raisedAt: attr(f, 'raisedAt'), raisedBy: attr(f, 'raisedBy') }),
    ),
    risk: risk
      ? dropUndefined({
          tool: attr(risk, 'tool'),
          level: attr(risk, 'level'),
          score: attr(risk, 'score'),
          assessedAt: attr(risk, 'assessedAt'),
          assessor: attr(risk, 'assessor'),
        })
      : undefined,
    mdtDecision: mdt
      ? dropUndefined({
          decidedAt: attr(mdt, 'decidedAt'),
          referrals: children(mdt, 'Referral').map((r) =>
            dropUndefined({ type: attr(r, 'type'), subjectRef: attr(r, 'subject'), reason: attr(r, 'reason') }),
          ),
        })
      : undefined,
    persons: children(n, 'Person').map(normalisePerson),
    summary: text(n, 'Summary'),
    officerInCase: officer
      ? dropUndefined({
          collar: attr(officer, 'collar'),
          name: attr(officer, 'name'),
          email: attr(officer, 'email'),
          phone: attr(officer, 'phone'),
        })
      : undefined,
  });
}

function normalisePerson(p: XNode) {
  const address = child(p, 'Address');
  const safe = child(p, 'SafeContact');
  const basis = child(p, 'LawfulBasis');
  const relationship = child(p, 'RelationshipToVictim');
  const voicemail = safe ? attr(safe, 'voicemailSafe') : undefined;
  return dropUndefined({
    ref: attr(p, 'ref'),
    role: attr(p, 'role'),
    forename: text(p, 'Forename'),
    surname: text(p, 'Surname'),
    dateOfBirth: text(p, 'DateOfBirth'),
    gender: text(p, 'Gender'),
    nhsNumber: text(p, 'NhsNumber'),
    address: address
      ? dropUndefined({
          lines: children(address, 'Line')
            .map(nodeText)
            .filter((l): l is string => !!l),
          town: text(address, 'Town'),
          postcode: text(address, 'Postcode'),
        })
      : undefined,
    safeContact: safe
      ? dropUndefined({
          phone: attr(safe, 'phone'),
          email: attr(safe, 'email'),
          safeTimeToCall: attr(safe, 'safeTimeToCall'),
          voicemailSafe: voicemail === undefined ? undefined : voicemail === 'true' ? true : voicemail === 'false' ? false : voicemail,
        })
      : undefined,
    language: text(p, 'Language'),
    consents: children(p, 'Consent').map((c) =>
      dropUndefined({
        purpose: attr(c, 'purpose'),
        status: attr(c, 'status'),
        recordedAt: attr(c, 'recordedAt'),
        recordedBy: attr(c, 'recordedBy'),
      }),
    ),
    lawfulBasis: basis
      ? dropUndefined({ code: attr(basis, 'code'), authorisedBy: attr(basis, 'authorisedBy'), authorisedAt: attr(basis, 'authorisedAt') })
      : undefined,
    clinicalIndicators: text(p, 'ClinicalIndicators'),
    relationshipToVictim: relationship
      ? dropUndefined({ victimRef: attr(relationship, 'victim'), relationship: nodeText(relationship) })
      : undefined,
  });
}

function children(node: XNode | undefined, name: string): XNode[] {
  const list = node?.[name];
  if (!Array.isArray(list)) return [];
  return list.map((item) => (item && typeof item === 'object' ? (item as XNode) : ({ _: item } as XNode)));
}

function child(node: XNode | undefined, name: string): XNode | undefined {
  return children(node, name)[0];
}

function nodeText(node: XNode | string | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === 'string') return node === '' ? undefined : node;
  const value = node._;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function text(node: XNode | undefined, name: string): string | undefined {
  const list = node?.[name];
  if (!Array.isArray(list)) return undefined;
  const first = list[0];
  return typeof first === 'string' ? (first === '' ? undefined : first) : nodeText(first as XNode);
}

function attr(node: XNode | undefined, name: string): string | undefined {
  const value = node?.$?.[name];
  return typeof value === 'string' ? value : undefined;
}
