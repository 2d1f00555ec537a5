import type { CrimeRecord } from '../../domain/crime-record';
import { fastCheckRecord } from './record-fast-check';
import { normaliseRecord, type RecordCandidate } from './record-normalise';
import { CRIME_REF } from './record-rules';
import { validateWithSchema } from './record-schema';

/**
 * Turns one xml2js `CrimeRecord` node into a validated CrimeRecord, or a quarantine reason.
 * Reasons name the field and the rule broken, never the value (it may be personal data).
 */
export type RecordParseResult =
  | { ok: true; record: CrimeRecord }
  | { ok: false; index: number; crimeReference?: string; recordVersion?: number; reason: string; raw: unknown };

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
  let candidate: RecordCandidate;
  try {
    candidate = normaliseRecord(node);
  } catch (err) {
    return { ok: false, index, reason: `record ${index + 1} is not a CrimeRecord element: ${(err as Error).message}`, raw: node };
  }
  const crimeReference =
    typeof candidate.crimeReference === 'string' && CRIME_REF.test(candidate.crimeReference) ? candidate.crimeReference : undefined;
  const versionNumber = Number(candidate.recordVersion);
  const recordVersion = Number.isInteger(versionNumber) && versionNumber > 0 ? versionNumber : undefined;
  const fail = (reason: string): RecordParseResult => ({ ok: false, index, crimeReference, recordVersion, reason, raw: node });

  const record = fastCheckRecord(candidate) ?? validatedBySchema(candidate);
  if (typeof record === 'string') return fail(record);
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

/** The schema's value, or the reason it gives for the first rule broken. */
function validatedBySchema(candidate: RecordCandidate): CrimeRecord | string {
  const { error, value } = validateWithSchema(candidate);
  if (!error) return value as CrimeRecord;
  const detail = error.details[0]!;
  return `${describePath(detail.path)} ${REASONS[detail.type] ?? `is invalid (${detail.type})`}`;
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
