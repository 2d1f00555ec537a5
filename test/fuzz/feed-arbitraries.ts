import fc from 'fast-check';
import type { CrimeRecord } from '../../src/domain/crime-record';
import { DEFAULT_MAX_VALUE_CHARS } from '../../src/adapters/police/feed-parser';
import { isValidNhsNumber } from '../../src/domain/nhs-number';
import { escapeXml, feedDocument, generateFeedRecords, type GeneratedRecord } from '../../simulators/feed-generator';

/**
 * fast-check arbitraries for fuzzing the police feed (police-feed.md §4).
 *
 * A *page* is N valid records from simulators/feed-generator.ts, some of them mutated at the
 * record level, with the ground truth of which records must be quarantined (and with what field
 * and rule in the reason) and what every good record must parse to. A *document case* is such a
 * page with one document-level mutation on top (truncation, DOCTYPE/ENTITY, wrong encodings,
 * byte flips, deep nesting, huge attributes, BOMs, odd markup, namespace prefixes, size limits)
 * and what the parser may do with it.
 *
 * Every value is built deterministically from what fast-check generated (no Math.random), so a
 * seed and path replay a case exactly. Generated values print as a short description (never the
 * document itself, which may be megabytes).
 */

// ---- record-level mutations ---------------------------------------------------------------

/** Mutations that must get the record quarantined. */
export const BAD_RECORD_MUTATIONS = [
  'invalid-date',
  'invalid-nhs',
  'unknown-code',
  'missing-required',
  'huge-attribute',
  'wrong-type',
] as const;
/** Mutations the parser must see through: the record stays good and parses to a known value. */
export const BENIGN_RECORD_MUTATIONS = [
  'deep-nesting',
  'huge-unknown-attribute',
  'nhs-with-spaces',
  'markup-in-record',
  'unicode-text',
  'real-date',
] as const;
export const RECORD_MUTATIONS = [...BAD_RECORD_MUTATIONS, ...BENIGN_RECORD_MUTATIONS] as const;
export type BadRecordMutation = (typeof BAD_RECORD_MUTATIONS)[number];
export type RecordMutationKind = (typeof RECORD_MUTATIONS)[number];

/** What fast-check generates for one mutation; `pick` chooses the site, `value`/`alt`/`n` parameterise it. */
export interface RecordMutationSpec {
  kind: RecordMutationKind;
  pick: number;
  value: string;
  alt: string;
  n: number;
}

export interface AppliedMutation {
  kind: RecordMutationKind;
  site: string;
  bad: boolean;
  /** For bad mutations: a fragment the reason must contain (the field's path) and the rule's wording. */
  field?: string;
  rule?: RegExp;
  /**
   * A long value under the parser's limit may still be cut by it, when its tag as a whole is over
   * the limit: then the reason is OVER_LIMIT_RULE on the attribute (`…/@name`).
   */
  mayBeOverLimit?: boolean;
  /** Values that must never appear in a reason, a log line or an error. */
  planted: string[];
  touches?: 'crimeReference' | 'recordVersion';
  /** Nesting depth added inside the record (deep-nesting). */
  depth?: number;
  /** How the good record's expected value differs from the clean record's. */
  transform?: (record: CrimeRecord) => void;
}

export interface PageRecord {
  index: number;
  baseSeed: number;
  baseKind: GeneratedRecord['kind'];
  crimeReference: string;
  recordVersion: number;
  cleanXml: string;
  xml: string;
  applied: AppliedMutation[];
  bad: boolean;
  planted: string[];
  /** Deepest element nesting added inside the record by any mutation. */
  depth: number;
}

export interface Page {
  records: PageRecord[];
  cursor?: { next: string; more: boolean };
  xml: string;
  planted: string[];
}

export interface PageOptions {
  minRecords?: number;
  maxRecords?: number;
  /** Upper bound of the nesting depth a record-level deep-nesting mutation adds. */
  maxRecordDepth?: number;
  /** Upper bound of a record-level huge attribute value, in characters. */
  maxRecordAttribute?: number;
}

export const DATE_RULE = /(is not a real date|has an invalid format)$/;
export const NHS_RULE = /(fails the NHS Modulus 11 check|must be 10 digits)$/;
export const CODE_RULE = /has an unknown code$/;
export const REQUIRED_RULE = /is required$/;
export const TOO_LONG_RULE = /(is too long|has an invalid format|is not an email address)$/;
/** Over the parser's own limit the value is never read, and the reason names it by its XML path (`OfficerInCase/@name`). */
export const OVER_LIMIT_RULE = /is over the parser's limit of \d+ characters$/;
export const TYPE_RULE =
  /(must be a number|must be a whole number|is too small|is too large|must be true or false|is required|has an invalid format)$/;

/** A planted value is only checked when it is long enough not to occur in a reason by chance ("P1", "10"). */
export const MIN_PLANTED = 5;

type Setter = (record: CrimeRecord, value: string, person: number) => void;
interface SiteDef {
  label: string;
  /** Global regex of exactly three groups covering the whole match: kept prefix, replaced part, kept suffix. */
  re: RegExp;
  field: string;
  touches?: 'crimeReference' | 'recordVersion';
  type?: 'date' | 'datetime';
  set?: Setter;
}
interface Site {
  def: SiteDef;
  m: RegExpMatchArray;
  occurrence: number;
  /** Index of the Person the site is in (-1 outside any): the record's `persons[i]`. */
  person: number;
}

const attr = (el: string, name: string): RegExp => new RegExp(`(<${el}\\b[^>]*?\\s${name}=")([^"]*)(")`, 'g');
const elem = (name: string): RegExp => new RegExp(`(<${name}>)([^<]*)(</${name}>)`, 'g');
const dropAttr = (el: string, name: string): RegExp => new RegExp(`(<${el}\\b[^>]*?)(\\s${name}="[^"]*")()`, 'g');
const dropElem = (name: string): RegExp => new RegExp(`()(<${name}>[^<]*</${name}>)()`, 'g');
const before = (tag: string): RegExp => new RegExp(`()()(${tag})`, 'g');

function findSites(xml: string, defs: SiteDef[]): Site[] {
  const out: Site[] = [];
  for (const def of defs) {
    let occurrence = 0;
    for (const m of xml.matchAll(def.re)) {
      const person = (xml.slice(0, m.index).match(/<Person\b/g) ?? []).length - 1;
      out.push({ def, m, occurrence: occurrence++, person });
    }
  }
  return out;
}

function splice(xml: string, site: Site, replacement: string): string {
  const { m } = site;
  const start = m.index!;
  return xml.slice(0, start) + (m[1] ?? '') + replacement + (m[3] ?? '') + xml.slice(start + m[0].length);
}

const person = (r: CrimeRecord, occurrence: number) => r.persons[occurrence]!;

const DATE_SITES: SiteDef[] = [
  {
    label: 'DateOfBirth',
    re: elem('DateOfBirth'),
    field: '/DateOfBirth',
    type: 'date',
    set: (r, v, o) => void (person(r, o).dateOfBirth = v),
  },
  {
    label: 'CommittedFrom',
    re: elem('CommittedFrom'),
    field: 'Offence/CommittedFrom',
    type: 'date',
    set: (r, v) => void (r.offence.committedFrom = v),
  },
  {
    label: 'CommittedTo',
    re: elem('CommittedTo'),
    field: 'Offence/CommittedTo',
    type: 'date',
    set: (r, v) => void (r.offence.committedTo = v),
  },
  { label: 'LastModified', re: elem('LastModified'), field: 'LastModified', type: 'datetime' },
  { label: 'Flag@raisedAt', re: attr('Flag', 'raisedAt'), field: 'Flag[0]/raisedAt', type: 'datetime' },
  { label: 'RiskAssessment@assessedAt', re: attr('RiskAssessment', 'assessedAt'), field: 'RiskAssessment/assessedAt', type: 'datetime' },
  { label: 'MdtDecision@decidedAt', re: attr('MdtDecision', 'decidedAt'), field: 'MdtDecision/decidedAt', type: 'datetime' },
  { label: 'Consent@recordedAt', re: attr('Consent', 'recordedAt'), field: 'Consent[0]/recordedAt', type: 'datetime' },
  { label: 'LawfulBasis@authorisedAt', re: attr('LawfulBasis', 'authorisedAt'), field: 'LawfulBasis/authorisedAt', type: 'datetime' },
];

const NHS_SITES: SiteDef[] = [{ label: 'NhsNumber', re: elem('NhsNumber'), field: '/NhsNumber' }];

const CODE_SITES: SiteDef[] = [
  { label: 'RiskAssessment@tool', re: attr('RiskAssessment', 'tool'), field: 'RiskAssessment/tool' },
  { label: 'RiskAssessment@level', re: attr('RiskAssessment', 'level'), field: 'RiskAssessment/level' },
  { label: 'RecordStatus', re: elem('RecordStatus'), field: 'RecordStatus' },
  { label: 'Gender', re: elem('Gender'), field: '/gender' },
  { label: 'Person@role', re: attr('Person', 'role'), field: '/role' },
  { label: 'Consent@purpose', re: attr('Consent', 'purpose'), field: 'Consent[0]/purpose' },
  { label: 'Consent@status', re: attr('Consent', 'status'), field: 'Consent[0]/status' },
  { label: 'Referral@type', re: attr('Referral', 'type'), field: '/type' },
  { label: 'LawfulBasis@code', re: attr('LawfulBasis', 'code'), field: 'LawfulBasis/code' },
];

const REQUIRED_SITES: SiteDef[] = [
  { label: 'CrimeReference', re: dropElem('CrimeReference'), field: 'CrimeReference', touches: 'crimeReference' },
  { label: 'RecordVersion', re: dropElem('RecordVersion'), field: 'RecordVersion', touches: 'recordVersion' },
  { label: 'RecordStatus', re: dropElem('RecordStatus'), field: 'RecordStatus' },
  { label: 'Offence', re: /()(<Offence>[\s\S]*?<\/Offence>)()/g, field: 'Offence' },
  { label: 'HomeOfficeClass', re: dropElem('HomeOfficeClass'), field: 'Offence/HomeOfficeClass' },
  { label: 'Person@ref', re: dropAttr('Person', 'ref'), field: '/ref' },
  { label: 'Person@role', re: dropAttr('Person', 'role'), field: '/role' },
  { label: 'Consent@purpose', re: dropAttr('Consent', 'purpose'), field: 'Consent[0]/purpose' },
  { label: 'Consent@status', re: dropAttr('Consent', 'status'), field: 'Consent[0]/status' },
  { label: 'RiskAssessment@tool', re: dropAttr('RiskAssessment', 'tool'), field: 'RiskAssessment/tool' },
  { label: 'RiskAssessment@level', re: dropAttr('RiskAssessment', 'level'), field: 'RiskAssessment/level' },
  { label: 'Referral@type', re: dropAttr('Referral', 'type'), field: '/type' },
  { label: 'Referral@subject', re: dropAttr('Referral', 'subject'), field: '/subjectRef' },
  { label: 'OfficerInCase@collar', re: dropAttr('OfficerInCase', 'collar'), field: 'OfficerInCase/collar' },
  { label: 'Flag@code', re: dropAttr('Flag', 'code'), field: 'Flag[0]/code' },
  { label: 'LawfulBasis@code', re: dropAttr('LawfulBasis', 'code'), field: 'LawfulBasis/code' },
  { label: 'RelationshipToVictim@victim', re: dropAttr('RelationshipToVictim', 'victim'), field: 'RelationshipToVictim/victimRef' },
  {
    label: 'RelationshipToVictim#text',
    re: /(<RelationshipToVictim\b[^>]*>)([^<]*)(<\/RelationshipToVictim>)/g,
    field: 'RelationshipToVictim/relationship',
  },
];

const HUGE_SITES: SiteDef[] = [
  { label: 'Referral@reason', re: attr('Referral', 'reason'), field: '/reason' },
  { label: 'SafeContact@safeTimeToCall', re: attr('SafeContact', 'safeTimeToCall'), field: 'SafeContact/safeTimeToCall' },
  { label: 'SafeContact@email', re: attr('SafeContact', 'email'), field: 'SafeContact/email' },
  { label: 'SafeContact@phone', re: attr('SafeContact', 'phone'), field: 'SafeContact/phone' },
  { label: 'Consent@recordedBy', re: attr('Consent', 'recordedBy'), field: 'Consent[0]/recordedBy' },
  { label: 'Flag@raisedBy', re: attr('Flag', 'raisedBy'), field: 'Flag[0]/raisedBy' },
  { label: 'RiskAssessment@assessor', re: attr('RiskAssessment', 'assessor'), field: 'RiskAssessment/assessor' },
  { label: 'OfficerInCase@name', re: attr('OfficerInCase', 'name'), field: 'OfficerInCase/name' },
  { label: 'OfficerInCase@phone', re: attr('OfficerInCase', 'phone'), field: 'OfficerInCase/phone' },
  { label: 'OfficerInCase@email', re: attr('OfficerInCase', 'email'), field: 'OfficerInCase/email' },
  { label: 'LawfulBasis@authorisedBy', re: attr('LawfulBasis', 'authorisedBy'), field: 'LawfulBasis/authorisedBy' },
];

const TYPE_SITES: SiteDef[] = [
  { label: 'RecordVersion', re: elem('RecordVersion'), field: 'RecordVersion', touches: 'recordVersion' },
  { label: 'RiskAssessment@score', re: attr('RiskAssessment', 'score'), field: 'RiskAssessment/score' },
  { label: 'SafeContact@voicemailSafe', re: attr('SafeContact', 'voicemailSafe'), field: 'SafeContact/voicemailSafe' },
  { label: 'RecordStatus<element>', re: elem('RecordStatus'), field: 'RecordStatus' },
  { label: 'CrimeReference<element>', re: elem('CrimeReference'), field: 'CrimeReference', touches: 'crimeReference' },
  { label: 'HomeOfficeClass<element>', re: elem('HomeOfficeClass'), field: 'Offence/HomeOfficeClass' },
  { label: 'Flag<text>', re: /(<Flags>)(<Flag\b[^>]*\/>)(<\/Flags>)/g, field: 'Flag[0]/code' },
];

const DEEP_SITES: SiteDef[] = [
  { label: 'CrimeRecord', re: before('<Summary>'), field: '' },
  { label: 'Person', re: before('<Language>'), field: '' },
  { label: 'Offence', re: before('<CommittedFrom>'), field: '' },
  { label: 'Summary#text', re: /(<Summary>[^<]*)()(<\/Summary>)/g, field: '' },
  { label: 'Flags', re: /(<Flags>)()()/g, field: '' },
];

const UNKNOWN_ATTRIBUTE_SITES: SiteDef[] = [
  { label: 'CrimeRecord', re: /(<CrimeRecord)()(>)/g, field: '' },
  { label: 'Person', re: /(<Person)()(\s)/g, field: '' },
  { label: 'Summary', re: /(<Summary)()(>)/g, field: '' },
  { label: 'Flag', re: /(<Flag)()(\s)/g, field: '' },
  { label: 'OfficerInCase', re: /(<OfficerInCase)()(\s)/g, field: '' },
  { label: 'Address', re: /(<Address)()(>)/g, field: '' },
];

const MARKUP_BETWEEN_SITES: SiteDef[] = [
  { label: 'before RecordVersion', re: before('<RecordVersion>'), field: '' },
  { label: 'before Offence', re: before('<Offence>'), field: '' },
  { label: 'before Person', re: before('<Person\\s'), field: '' },
  { label: 'before </CrimeRecord>', re: before('</CrimeRecord>'), field: '' },
  { label: 'before Town', re: before('<Town>'), field: '' },
  { label: 'before Flag', re: before('<Flag\\s'), field: '' },
];
const MARKUP_IN_TEXT_SITES: SiteDef[] = [
  // Never inside an entity reference (&amp;): split between two plain characters.
  { label: 'inside Summary text', re: /(<Summary>[^<&]{3})()([^<&])/gu, field: '' },
  { label: 'inside Forename text', re: /(<Forename>[^<&])()([^<&])/gu, field: '' },
];
const CDATA_SITE: SiteDef = { label: 'Summary as CDATA', re: /(<Summary>)([^<]+)(<\/Summary>)/g, field: '' };

const UNICODE_SITES: SiteDef[] = [
  { label: 'Summary', re: elem('Summary'), field: '', set: (r, v) => void (r.summary = v) },
  { label: 'Forename', re: elem('Forename'), field: '', set: (r, v, o) => void (person(r, o).forename = v) },
];

const REAL_DATE_SITES = DATE_SITES.filter((s) => s.set);

function unescapeXml(value: string): string {
  return value
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function repeatTo(token: string, length: number): string {
  return token.repeat(Math.ceil(length / token.length)).slice(0, length);
}

/** Applies one mutation to a record's XML; undefined when the record has no site for it. */
export function applyRecordMutation(xml: string, spec: RecordMutationSpec): { xml: string; applied: AppliedMutation } | undefined {
  const pickFrom = (defs: SiteDef[], filter?: (s: Site) => boolean): Site | undefined => {
    const all = findSites(xml, defs).filter((s) => !filter || filter(s));
    return all.length ? all[spec.pick % all.length] : undefined;
  };
  const bad = (site: Site, rule: RegExp, planted: string[], replacement: string) => ({
    xml: splice(xml, site, replacement),
    applied: {
      kind: spec.kind,
      site: `${site.def.label}#${site.occurrence}`,
      bad: true,
      field: site.def.field,
      rule,
      planted: planted.filter((p) => p.length >= MIN_PLANTED),
      ...(site.def.touches ? { touches: site.def.touches } : {}),
    } satisfies AppliedMutation,
  });
  const benign = (site: Site, replacement: string, extra: Partial<AppliedMutation> = {}) => ({
    xml: splice(xml, site, replacement),
    applied: { kind: spec.kind, site: `${site.def.label}#${site.occurrence}`, bad: false, planted: [], ...extra } satisfies AppliedMutation,
  });

  switch (spec.kind) {
    case 'invalid-date': {
      const site = pickFrom(DATE_SITES);
      if (!site) return undefined;
      const value = site.def.type === 'date' ? spec.value : spec.alt;
      return bad(site, DATE_RULE, [value], escapeXml(value));
    }
    case 'invalid-nhs': {
      const site = pickFrom(NHS_SITES);
      return site && bad(site, NHS_RULE, [spec.value], escapeXml(spec.value));
    }
    case 'unknown-code': {
      const site = pickFrom(CODE_SITES);
      return site && bad(site, CODE_RULE, [spec.value], escapeXml(spec.value));
    }
    case 'missing-required': {
      const site = pickFrom(REQUIRED_SITES);
      return site && bad(site, REQUIRED_RULE, [], '');
    }
    case 'huge-attribute': {
      const site = pickFrom(HUGE_SITES);
      if (!site) return undefined;
      const value = repeatTo(spec.value, spec.n);
      if (escapeXml(value).length > DEFAULT_MAX_VALUE_CHARS)
        return bad(
          { ...site, def: { ...site.def, field: `@${site.def.label.split('@')[1]}` } },
          OVER_LIMIT_RULE,
          [value.slice(0, 48)],
          escapeXml(value),
        );
      const tooLong = bad(site, TOO_LONG_RULE, [value.slice(0, 48)], escapeXml(value));
      return { ...tooLong, applied: { ...tooLong.applied, mayBeOverLimit: true } };
    }
    case 'wrong-type': {
      const site = pickFrom(TYPE_SITES);
      if (!site) return undefined;
      const old = site.m[2] ?? '';
      const word = spec.value;
      const n = Math.max(1, spec.n);
      let replacement: string;
      let planted: string[] = [];
      switch (site.def.label) {
        case 'RecordVersion': {
          const options = [word, `${n}.${(n % 9) + 1}`, '0', `-${n}`, `0x${n.toString(16)}`, '9'.repeat(20)];
          replacement = options[spec.pick % options.length]!;
          break;
        }
        case 'RiskAssessment@score': {
          const options = [word, `${n}.${(n % 9) + 1}`, `-${n}`, String(1000 + n)];
          replacement = options[spec.pick % options.length]!;
          break;
        }
        case 'SafeContact@voicemailSafe': {
          const options = [word, 'yes', 'no', '1', '0', 'maybe'];
          replacement = options[spec.pick % options.length]!;
          break;
        }
        case 'Flag<text>':
          replacement = `<Flag>${/code="([^"]*)"/.exec(old)?.[1] ?? 'STALKING'}</Flag>`;
          break;
        default:
          // An element where text is expected: <RecordStatus><ACTIVE/></RecordStatus>.
          replacement = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(old) ? `<${old}/>` : `<${word}>${escapeXml(old)}</${word}>`;
      }
      if (replacement === word) planted = [word];
      return bad(site, TYPE_RULE, planted, replacement);
    }
    case 'deep-nesting': {
      const site = pickFrom(DEEP_SITES);
      if (!site) return undefined;
      const depth = Math.max(1, spec.n);
      return benign(site, '<Dn>'.repeat(depth) + '</Dn>'.repeat(depth), { depth });
    }
    case 'huge-unknown-attribute': {
      const site = pickFrom(UNKNOWN_ATTRIBUTE_SITES);
      return site && benign(site, ` xFuzz="${escapeXml(repeatTo(spec.value, spec.n))}"`);
    }
    case 'nhs-with-spaces': {
      const site = pickFrom(NHS_SITES, (s) => isValidNhsNumber(s.m[2] ?? ''));
      if (!site) return undefined;
      const d = site.m[2]!;
      const styles = [
        `${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}`,
        `${d.slice(0, 3)}  ${d.slice(3, 6)}  ${d.slice(6)}`,
        ` ${d} `,
        `${d.slice(0, 3)}\t${d.slice(3, 6)}\n${d.slice(6)}`,
      ];
      return benign(site, styles[spec.n % styles.length]!);
    }
    case 'markup-in-record': {
      const t = spec.value;
      const comment = `<!--${t}-->`;
      const pi = `<?fuzz ${t}?>`;
      const cdata = `<![CDATA[${t}]]>`;
      const mode = spec.n % 3;
      if (mode === 2) {
        const site = pickFrom([CDATA_SITE]);
        if (site) return benign(site, `<![CDATA[${unescapeXml(site.m[2]!)}]]>`);
      }
      if (mode === 1) {
        const site = pickFrom(MARKUP_IN_TEXT_SITES);
        if (site) return benign(site, spec.pick % 2 ? pi : comment);
      }
      const site = pickFrom(MARKUP_BETWEEN_SITES);
      return site && benign(site, [comment, pi, cdata][spec.pick % 3]!);
    }
    case 'unicode-text': {
      const site = pickFrom(UNICODE_SITES);
      if (!site) return undefined;
      const value = spec.value;
      return benign(site, escapeXml(value), { transform: (r) => site.def.set!(r, value, site.person) });
    }
    case 'real-date': {
      const site = pickFrom(REAL_DATE_SITES);
      if (!site) return undefined;
      const value = spec.value;
      return benign(site, value, { transform: (r) => site.def.set!(r, value, site.person) });
    }
  }
}

// ---- value arbitraries ---------------------------------------------------------------------

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const daysIn = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();
const isRealDate = (y: number, m: number, d: number) => m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m);

export const realDateArb = fc
  .tuple(fc.integer({ min: 1900, max: 2099 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }))
  .map(([y, m, d]) => `${y}-${pad(m)}-${pad(Math.min(d, daysIn(y, m)))}`);

const wordArb = fc.stringMatching(/^[A-Za-z]{4,12}$/).map((s) => `Wt${s}`);

/** Dates that are not real (month 13, 30 February...) or not in yyyy-mm-dd form. */
export const invalidDateArb: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 1900, max: 2099 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }))
    .filter(([y, m, d]) => !isRealDate(y, m, d))
    .map(([y, m, d]) => `${y}-${pad(m)}-${pad(d)}`),
  realDateArb.map((s) => `${s.slice(8, 10)}/${s.slice(5, 7)}/${s.slice(0, 4)}`),
  realDateArb.filter((s) => s[5] === '0' || s[8] === '0').map((s) => s.split('-').map(Number).join('-')),
  realDateArb.map((s) => `${s}T10:00:00Z`),
  realDateArb.map((s) => `1${s}`),
  wordArb,
);

/** Date-times that are not real or lack the offset. Never 24:00, which ISO 8601 allows. */
export const invalidDateTimeArb: fc.Arbitrary<string> = fc.oneof(
  invalidDateArb.filter((s) => /^\d{4}-\d{2}-\d{2}$/.test(s)).map((s) => `${s}T10:00:00Z`),
  fc
    .tuple(realDateArb, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 25, max: 99 }), fc.integer({ min: 60, max: 99 }))
    .map(
      ([d, which, hour, sixty]) =>
        `${d}T${which === 0 ? pad(hour) : '10'}:${which === 1 ? pad(sixty) : '30'}:${which === 2 ? pad(sixty) : '00'}Z`,
    ),
  realDateArb.map((d) => `${d}T10:00:00`),
  fc
    .tuple(realDateArb, fc.boolean(), fc.integer({ min: 24, max: 99 }), fc.integer({ min: 60, max: 99 }))
    .map(([d, hours, h, m]) => `${d}T10:00:00+${hours ? pad(h) : '01'}:${hours ? '00' : pad(m)}`),
  realDateArb,
  realDateArb.map((d) => `${d} 10:00:00Z`),
  wordArb,
);

const digits = (min: number, max: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** Values of NhsNumber that must be refused: a wrong check digit, a check digit of 10, a wrong length, letters. */
export const invalidNhsArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.tuple(digits(9, 9), fc.integer({ min: 1, max: 9 })).map(([stem, offset]) => {
      const sum = [...stem].reduce((acc, d, i) => acc + Number(d) * (10 - i), 0);
      const check = 11 - (sum % 11);
      const correct = check === 11 ? 0 : check;
      return stem + String(check === 10 ? offset : (correct + offset) % 10);
    }),
    fc.oneof(digits(5, 9), digits(11, 14)),
    fc
      .tuple(digits(10, 10), fc.nat(9), fc.constantFrom('O', 'I', 'x', '-', '+', '.'))
      .map(([d, i, c]) => d.slice(0, i) + c + d.slice(i + 1)),
  )
  .filter((v) => !(/^\d{10}$/.test(v) && isValidNhsNumber(v)));

const unknownCodeArb = fc.stringMatching(/^[A-Z_]{3,16}$/).map((s) => `ZQ${s}`);
const tokenArb = fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((s) => `Hv${s}`);
const markupTextArb = fc.stringMatching(/^[A-Za-z0-9 .,]{0,24}$/);
const UNICODE_TOKENS = ['é', 'ß', 'Ω', '—', '日本語', '😀', '👩‍👩‍👧', 'ﬁ', 'Łódź', 'ğ', 'Жанна', 'عربى', 'e\u0301', '€', '𝔘'];
export const unicodeTextArb = fc.array(fc.constantFrom(...UNICODE_TOKENS), { minLength: 1, maxLength: 12 }).map((a) => a.join(' '));

export function recordMutationArb(opts: PageOptions = {}): fc.Arbitrary<RecordMutationSpec> {
  const maxDepth = opts.maxRecordDepth ?? 3000;
  const maxAttr = opts.maxRecordAttribute ?? 20_000;
  const pick = fc.nat({ max: 1000 });
  const spec = (kind: RecordMutationKind, value: fc.Arbitrary<string>, alt: fc.Arbitrary<string>, n: fc.Arbitrary<number>) =>
    fc.record({ kind: fc.constant(kind), pick, value, alt, n });
  const none = fc.constant('');
  const zero = fc.constant(0);
  return fc.oneof(
    spec('invalid-date', invalidDateArb, invalidDateTimeArb, zero),
    spec('invalid-nhs', invalidNhsArb, none, zero),
    spec('unknown-code', unknownCodeArb, none, zero),
    spec('missing-required', none, none, zero),
    spec('huge-attribute', tokenArb, none, fc.integer({ min: 4001, max: Math.max(4001, maxAttr) })),
    spec('wrong-type', wordArb, none, fc.integer({ min: 1, max: 1_000_000 })),
    // Mostly shallow, sometimes as deep as allowed (past the ~2,000 levels where recursion starts to matter).
    spec(
      'deep-nesting',
      none,
      none,
      fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: Math.min(1000, maxDepth), max: maxDepth })),
    ),
    spec('huge-unknown-attribute', tokenArb, none, fc.integer({ min: 1, max: maxAttr })),
    spec('nhs-with-spaces', none, none, fc.nat(3)),
    spec('markup-in-record', markupTextArb, none, fc.nat(2)),
    spec('unicode-text', unicodeTextArb, none, zero),
    spec('real-date', realDateArb, none, zero),
  );
}

// ---- pages ---------------------------------------------------------------------------------

export interface RecordSpec {
  seed: number;
  mutations: RecordMutationSpec[];
}

/** A valid base record: the generator's kinds that parse OK (never its own malformed kinds). */
export function baseRecord(seed: number, index: number): GeneratedRecord {
  for (let s = seed; ; s++) {
    const versions = generateFeedRecords({ records: 1, seed: s, prefix: `FZ${index}` });
    const good = versions.filter((g) => !g.expectQuarantine);
    if (good.length) return good[s % good.length]!;
  }
}

export function buildRecord(index: number, spec: RecordSpec): PageRecord {
  const base = baseRecord(spec.seed, index);
  let xml = base.xml;
  const applied: AppliedMutation[] = [];
  // Benign mutations first, so none of them can overwrite (repair) a planted bad value.
  const ordered = [...spec.mutations].sort((a, b) => Number(isBad(a.kind)) - Number(isBad(b.kind)));
  for (const m of ordered) {
    const result = applyRecordMutation(xml, m);
    if (!result) continue;
    xml = result.xml;
    applied.push(result.applied);
  }
  return {
    index,
    baseSeed: spec.seed,
    baseKind: base.kind,
    crimeReference: base.crimeReference,
    recordVersion: base.recordVersion,
    cleanXml: base.xml,
    xml,
    applied,
    bad: applied.some((a) => a.bad),
    planted: applied.flatMap((a) => a.planted),
    depth: applied.reduce((max, a) => Math.max(max, a.depth ?? 0), 0),
  };
}

export function isBad(kind: RecordMutationKind): kind is BadRecordMutation {
  return (BAD_RECORD_MUTATIONS as readonly string[]).includes(kind);
}

export function buildPage(specs: RecordSpec[], generatedCursor?: { next: string; more: boolean }): Page {
  // A plain object (fast-check's records are not), so it compares equal to the parser's.
  const cursor = generatedCursor ? { next: generatedCursor.next, more: generatedCursor.more } : undefined;
  const records = specs.map((s, i) => buildRecord(i, s));
  const xml = feedDocument(
    records.map((r) => r.xml),
    cursor ? { cursor } : {},
  );
  return withDescription({ records, ...(cursor ? { cursor } : {}), xml, planted: records.flatMap((r) => r.planted) }, () =>
    describePage(records, cursor),
  );
}

export function describePage(records: PageRecord[], cursor?: { next: string; more: boolean }): string {
  const recs = records.map(
    (r) =>
      `#${r.index} seed=${r.baseSeed} ${r.baseKind} ${r.crimeReference}@v${r.recordVersion} ${r.bad ? 'BAD' : 'good'}` +
      (r.applied.length ? ` [${r.applied.map((a) => `${a.kind}@${a.site}${a.depth ? `(depth ${a.depth})` : ''}`).join(', ')}]` : ''),
  );
  return `page(${records.length} records${cursor ? `, cursor ${cursor.next}` : ''}): ${recs.join('; ')}`;
}

function withDescription<T extends object>(value: T, describe: () => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: describe, enumerable: false });
  return value;
}

export function recordSpecArb(opts: PageOptions = {}): fc.Arbitrary<RecordSpec> {
  const mutation = recordMutationArb(opts);
  return fc.record({
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    mutations: fc.oneof(
      { weight: 2, arbitrary: fc.constant([] as RecordMutationSpec[]) },
      { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) },
      { weight: 1, arbitrary: fc.array(mutation, { minLength: 2, maxLength: 3 }) },
    ),
  });
}

export function pageArb(opts: PageOptions = {}): fc.Arbitrary<Page> {
  return fc
    .record({
      records: fc.array(recordSpecArb(opts), { minLength: opts.minRecords ?? 1, maxLength: opts.maxRecords ?? 6 }),
      cursor: fc.option(fc.record({ next: fc.stringMatching(/^[0-9a-f]{1,32}$/), more: fc.boolean() }), { nil: undefined }),
    })
    .map(({ records, cursor }) => buildPage(records, cursor));
}

// ---- document-level mutations ----------------------------------------------------------------

export const DOC_MUTATIONS = [
  'truncate',
  'doctype-internal',
  'doctype-external',
  'billion-laughs',
  'wrong-encoding',
  'byte-flip',
  'deep-nesting',
  'huge-attribute',
  'bom',
  'odd-markup',
  'namespace-prefix',
  'size-limit',
] as const;
export type DocMutationKind = (typeof DOC_MUTATIONS)[number];

export interface DocMutationSpec {
  kind: DocMutationKind;
  variant: number;
  pick: number;
  n: number;
  text: string;
  flips: { at: number; xor: number }[];
}

/**
 * What the parser may do with a document:
 * - `reject`: must reject with FeedError (optionally with a message matching `rejectMessage`);
 * - `preserve`: must resolve, and every record obeys the page's ground truth;
 * - `either-preserve`: FeedError, or resolve with the page's ground truth (records in
 *   `mayQuarantine` may instead be quarantined with a reason: never silently changed or dropped);
 * - `either`: FeedError, or resolve with at most as many records, each sane (byte flips).
 */
export type DocExpectation = 'reject' | 'preserve' | 'either-preserve' | 'either';

export interface DocCase {
  page: Page;
  spec: DocMutationSpec;
  label: string;
  input: Buffer | string;
  maxBytes: number;
  expect: DocExpectation;
  rejectMessage?: RegExp;
  /** Records made bad by the document mutation (e.g. a 5 MB value in a known attribute). */
  nowBad: Map<number, AppliedMutation>;
  mayQuarantine: Set<number>;
  /** Strings that must appear in no output at all: entity replacement text, a local file's content. */
  canaries: string[];
  /** Deepest nesting inside each record index, including the document mutation's. */
  depthByRecord: Map<number, number>;
}

export interface DocEnv {
  /** A local HTTP server that counts requests: an external entity must never be fetched. */
  httpUrl: string;
  /** A local file whose content is `fileCanary`: a SYSTEM entity must never read it. */
  filePath: string;
  fileCanary: string;
}

export interface DocOptions extends PageOptions {
  maxBytes?: number;
  /** Nesting depth of the document-level deep-nesting mutation. */
  docDepth?: { min: number; max: number };
  /** Size of the document-level huge attribute. */
  hugeBytes?: { min: number; max: number };
}

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;

export function docMutationArb(opts: DocOptions = {}): fc.Arbitrary<DocMutationSpec> {
  const depth = opts.docDepth ?? { min: 10_000, max: 10_000 };
  const huge = opts.hugeBytes ?? { min: 5 * 1024 * 1024, max: 5 * 1024 * 1024 };
  const base = (kind: DocMutationKind, variants: number, n: fc.Arbitrary<number> = fc.constant(0)) =>
    fc.record({
      kind: fc.constant(kind),
      variant: fc.nat(variants - 1),
      pick: fc.nat({ max: 1_000_000 }),
      n,
      text: fc.stringMatching(/^[A-Za-z0-9]{6,12}$/),
      flips: fc.constant([] as { at: number; xor: number }[]),
    });
  return fc.oneof(
    { weight: 3, arbitrary: base('truncate', 1) },
    { weight: 2, arbitrary: base('doctype-internal', 6) },
    { weight: 2, arbitrary: base('doctype-external', 6) },
    { weight: 1, arbitrary: base('billion-laughs', 2, fc.integer({ min: 3, max: 10 })) },
    { weight: 2, arbitrary: base('wrong-encoding', 7, fc.nat(11)) },
    {
      weight: 3,
      arbitrary: base('byte-flip', 1).chain((s) =>
        fc
          .array(fc.record({ at: fc.nat({ max: 10_000_000 }), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 8 })
          .map((flips) => ({ ...s, flips })),
      ),
    },
    { weight: 1, arbitrary: base('deep-nesting', 3, fc.integer(depth)) },
    { weight: 1, arbitrary: base('huge-attribute', 5, fc.integer(huge)) },
    { weight: 2, arbitrary: base('bom', 7) },
    { weight: 2, arbitrary: base('odd-markup', 18) },
    { weight: 2, arbitrary: base('namespace-prefix', 7) },
    { weight: 1, arbitrary: base('size-limit', 1, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2000 }))) },
  );
}

const DECL = '<?xml version="1.0" encoding="UTF-8"?>';
const ROOT_OPEN = '<CrimeFlagFeed xmlns="urn:iasu:police-feed:1"';
const WRONG_ENCODINGS = [
  'UTF-16',
  'UTF-16LE',
  'UTF-16BE',
  'ISO-8859-1',
  'latin1',
  'windows-1252',
  'US-ASCII',
  'UTF-32',
  'Shift_JIS',
  'EBCDIC-US',
  'UTF8',
  'UTF-7',
];

function insertAfterDecl(xml: string, text: string): string {
  return xml.replace(DECL, DECL + '\n' + text);
}

/** Inserts before the first `<Summary>` (every generated record has one, unless mutated away). */
function intoFirstSummary(xml: string, text: string): string {
  return xml.includes('<Summary>')
    ? xml.replace('<Summary>', `<Summary>${text}`)
    : xml.replace('</CrimeFlagFeed>', `<Note>${text}</Note></CrimeFlagFeed>`);
}

/** Start of record i's `<CrimeRecord` tag in the document (records are in order). */
function recordStart(xml: string, index: number): number {
  let at = -1;
  for (let i = 0; i <= index; i++) at = xml.indexOf('<CrimeRecord', at + 1);
  return at;
}

/** Just after record i's start tag (which may carry attributes from a record-level mutation). */
function recordContentStart(xml: string, index: number): number {
  return xml.indexOf('>', recordStart(xml, index)) + 1;
}

const FIRST_RECORD = /<CrimeRecord(?=[\s>])/;
const RECORD_OPEN = /<CrimeRecord(?=[\s>])/g;

export function buildDocCase(page: Page, spec: DocMutationSpec, env: DocEnv, opts: DocOptions = {}): DocCase {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const n = page.records.length;
  const pickRecord = spec.pick % n;
  const depthByRecord = new Map(page.records.map((r) => [r.index, r.depth]));
  const c: DocCase = {
    page,
    spec,
    label: spec.kind,
    input: page.xml,
    maxBytes,
    expect: 'preserve',
    nowBad: new Map(),
    mayQuarantine: new Set(),
    canaries: [],
    depthByRecord,
  };
  const xml = page.xml;
  const canary = `CANARY-${spec.text}`;
  switch (spec.kind) {
    case 'truncate': {
      const bytes = Buffer.from(xml, 'utf8');
      const at = spec.pick % bytes.length;
      const rootEnd = bytes.lastIndexOf('</CrimeFlagFeed>') + '</CrimeFlagFeed>'.length;
      c.input = bytes.subarray(0, at);
      c.label = `truncate at byte ${at} of ${bytes.length}`;
      c.expect = at < rootEnd ? 'reject' : 'preserve';
      break;
    }
    case 'doctype-internal': {
      c.canaries.push(canary);
      const decl = `<!DOCTYPE CrimeFlagFeed [<!ENTITY fz "${canary}">]>`;
      const variants: [string, () => string][] = [
        ['internal entity', () => intoFirstSummary(insertAfterDecl(xml, decl), '&fz;')],
        ['lower-case doctype', () => intoFirstSummary(insertAfterDecl(xml, decl.replace('DOCTYPE', 'doctype')), '&fz;')],
        ['no XML declaration', () => intoFirstSummary(xml.replace(DECL, decl), '&fz;')],
        ['entity in an attribute', () => insertAfterDecl(xml, decl).replace(ROOT_OPEN, `${ROOT_OPEN} note="&fz;"`)],
        ['bare ENTITY without DOCTYPE', () => intoFirstSummary(insertAfterDecl(xml, `<!ENTITY fz "${canary}">`), '&fz;')],
        [
          'DOCTYPE split over lines',
          () => intoFirstSummary(insertAfterDecl(xml, decl.replace('<!DOCTYPE ', '<!DOCTYPE\n\t').replace('[', '[\n ')), '&fz;'),
        ],
      ];
      const [label, build] = variants[spec.variant % variants.length]!;
      c.input = build();
      c.label = `doctype-internal: ${label}`;
      c.expect = 'reject';
      c.rejectMessage = /DOCTYPE and ENTITY declarations are not allowed/;
      break;
    }
    case 'doctype-external': {
      c.canaries.push(env.fileCanary);
      const variants: [string, () => string, DocExpectation][] = [
        [
          'SYSTEM http entity',
          () => intoFirstSummary(insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed [<!ENTITY xxe SYSTEM "${env.httpUrl}/xxe">]>`), '&xxe;'),
          'reject',
        ],
        [
          'SYSTEM file entity',
          () => intoFirstSummary(insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed [<!ENTITY xxe SYSTEM "file://${env.filePath}">]>`), '&xxe;'),
          'reject',
        ],
        [
          'parameter entity',
          () => insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed [<!ENTITY % p SYSTEM "${env.httpUrl}/dtd"> %p;]>`),
          'reject',
        ],
        ['external DTD', () => insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed SYSTEM "${env.httpUrl}/ext.dtd">`), 'reject'],
        ['PUBLIC DTD', () => insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed PUBLIC "-//FUZZ//EN" "${env.httpUrl}/pub.dtd">`), 'reject'],
        // Not a DOCTYPE: an unknown element in a record, which must be ignored and never followed.
        [
          'XInclude',
          () =>
            xml.replace(
              '<Summary>',
              `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://${env.filePath}" parse="text"/><Summary>`,
            ),
          'preserve',
        ],
      ];
      const [label, build, expect] = variants[spec.variant % variants.length]!;
      c.input = build();
      c.label = `doctype-external: ${label}`;
      c.expect = expect;
      if (expect === 'reject') c.rejectMessage = /DOCTYPE and ENTITY declarations are not allowed/;
      break;
    }
    case 'billion-laughs': {
      c.canaries.push(canary);
      const levels = Math.max(2, spec.n);
      const lines =
        spec.variant === 0
          ? [`<!ENTITY lol0 "${canary}">`, ...Array.from({ length: levels }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`)]
          : [`<!ENTITY big "${canary}${'x'.repeat(50_000)}">`];
      const ref = spec.variant === 0 ? `&lol${levels};` : '&big;'.repeat(1000);
      c.input = intoFirstSummary(insertAfterDecl(xml, `<!DOCTYPE CrimeFlagFeed [\n${lines.join('\n')}\n]>`), ref);
      c.label = spec.variant === 0 ? `billion laughs (${levels} levels)` : 'quadratic blow-up';
      c.expect = 'reject';
      c.rejectMessage = /DOCTYPE and ENTITY declarations are not allowed/;
      break;
    }
    case 'wrong-encoding': {
      const declared = WRONG_ENCODINGS[spec.n % WRONG_ENCODINGS.length]!;
      // Some non-ASCII text, so latin1 bytes differ from UTF-8 bytes.
      const withAccent = xml.replace('</CrimeFlagFeed>', '<Note>Zoë Ångström</Note></CrimeFlagFeed>');
      const utf16be = (s: string) => {
        const le = Buffer.from(s, 'utf16le');
        for (let i = 0; i + 1 < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
        return le;
      };
      const variants: [string, () => Buffer | string][] = [
        [`declares ${declared}, UTF-8 bytes`, () => Buffer.from(xml.replace('encoding="UTF-8"', `encoding="${declared}"`))],
        ['latin1 bytes, declares UTF-8', () => Buffer.from(withAccent, 'latin1')],
        ['latin1 bytes, declares ISO-8859-1', () => Buffer.from(withAccent.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1')],
        ['UTF-16LE with BOM', () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml.replace('UTF-8', 'UTF-16'), 'utf16le')])],
        ['UTF-16BE with BOM', () => Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(xml.replace('UTF-8', 'UTF-16'))])],
        ['UTF-16LE without BOM, declares UTF-8', () => Buffer.from(xml, 'utf16le')],
        [
          'overlong / surrogate UTF-8 sequences',
          () => {
            const b = Buffer.from(withAccent, 'utf8');
            const at = b.indexOf('Zo\u00eb');
            return Buffer.concat([b.subarray(0, at), Buffer.from(spec.pick % 2 ? [0xc0, 0xbc] : [0xed, 0xa0, 0x80]), b.subarray(at)]);
          },
        ],
      ];
      const [label, build] = variants[spec.variant % variants.length]!;
      c.input = build();
      c.label = `wrong-encoding: ${label}`;
      c.expect = 'reject';
      break;
    }
    case 'byte-flip': {
      const bytes = Buffer.from(xml, 'utf8');
      for (const f of spec.flips) {
        const at = f.at % bytes.length;
        bytes[at] = bytes[at]! ^ f.xor;
      }
      c.input = bytes;
      c.label = `byte-flip x${spec.flips.length}`;
      c.expect = 'either';
      break;
    }
    case 'deep-nesting': {
      const depth = spec.n;
      const deep = '<Deep>'.repeat(depth) + '</Deep>'.repeat(depth);
      if (spec.variant === 0) {
        c.input = xml.replace(FIRST_RECORD, `${deep}\n  <CrimeRecord`);
        c.label = `deep-nesting ${depth} levels between records`;
      } else {
        const start = recordStart(xml, pickRecord);
        const tag = spec.variant === 1 ? '<Summary' : '<Language>';
        let at = xml.indexOf(tag, start);
        const end = xml.indexOf('</CrimeRecord>', start);
        if (at < 0 || at > end) at = end;
        c.input = xml.slice(0, at) + deep + xml.slice(at);
        c.label = `deep-nesting ${depth} levels inside record ${pickRecord} (${spec.variant === 1 ? 'CrimeRecord' : 'Person'})`;
        depthByRecord.set(pickRecord, (depthByRecord.get(pickRecord) ?? 0) + depth);
      }
      c.expect = 'preserve';
      break;
    }
    case 'huge-attribute': {
      const value = repeatTo(spec.text, spec.n);
      switch (spec.variant) {
        case 0:
          c.input = xml.replace(ROOT_OPEN, `${ROOT_OPEN} padding="${value}"`);
          c.label = `huge attribute (${spec.n} B) on the root`;
          break;
        case 1:
          c.input = xml.replace(FIRST_RECORD, `<Padding data="${value}"/>\n  <CrimeRecord`);
          c.label = `huge attribute (${spec.n} B) on an unknown element`;
          break;
        case 2: {
          const start = recordStart(xml, pickRecord);
          c.input = xml.slice(0, start) + `<CrimeRecord padding="${value}"` + xml.slice(start + '<CrimeRecord'.length);
          c.label = `huge unknown attribute (${spec.n} B) on record ${pickRecord}`;
          break;
        }
        case 3: {
          // A known attribute: that record must now be quarantined as too long.
          const start = recordStart(xml, pickRecord);
          const end = xml.indexOf('</CrimeRecord>', start);
          const m = /(<OfficerInCase\b[^>]*?\sname=")([^"]*)(")/.exec(xml.slice(start, end));
          if (m) {
            const at = start + m.index + m[1]!.length;
            c.input = xml.slice(0, at) + value + xml.slice(at + m[2]!.length);
            c.label = `huge OfficerInCase/@name (${spec.n} B) in record ${pickRecord}`;
            c.nowBad.set(pickRecord, {
              kind: 'huge-attribute',
              site: 'OfficerInCase@name',
              bad: true,
              ...(value.length > DEFAULT_MAX_VALUE_CHARS
                ? { field: 'OfficerInCase/@name', rule: OVER_LIMIT_RULE }
                : { field: 'OfficerInCase/name', rule: TOO_LONG_RULE, mayBeOverLimit: true }),
              planted: [value.slice(0, 48)],
            });
          } else {
            c.input = xml.replace(ROOT_OPEN, `${ROOT_OPEN} padding="${value}"`);
            c.label = `huge attribute (${spec.n} B) on the root (record has no OfficerInCase@name)`;
          }
          break;
        }
        default: {
          // Cursor/@next is capped at 200 characters: the document is refused.
          const cursor = `<Cursor next="${value}" more="false"/>`;
          c.input = page.cursor ? xml.replace(/<Cursor [^>]*\/>/, cursor) : xml.replace(/(<CrimeFlagFeed [^>]*>)/, `$1\n  ${cursor}`);
          c.label = `huge Cursor/@next (${spec.n} B)`;
          c.expect = 'reject';
          c.rejectMessage = /Cursor\/@next is missing or invalid/;
        }
      }
      if (spec.variant !== 4) c.expect = 'preserve';
      break;
    }
    case 'bom': {
      const bytes = Buffer.from(xml, 'utf8');
      const variants: [string, () => Buffer | string, DocExpectation][] = [
        ['UTF-8 BOM', () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]), 'preserve'],
        ['BOM in a string', () => '\ufeff' + xml, 'preserve'],
        ['double UTF-8 BOM', () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), bytes]), 'either-preserve'],
        ['UTF-16LE BOM on UTF-8 bytes', () => Buffer.concat([Buffer.from([0xff, 0xfe]), bytes]), 'reject'],
        ['UTF-16BE BOM on UTF-8 bytes', () => Buffer.concat([Buffer.from([0xfe, 0xff]), bytes]), 'reject'],
        ['UTF-32LE BOM on UTF-8 bytes', () => Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x00]), bytes]), 'reject'],
        ['BOM after the XML declaration', () => Buffer.from(xml.replace(DECL, DECL + '\ufeff'), 'utf8'), 'either-preserve'],
      ];
      const [label, build, expect] = variants[spec.variant % variants.length]!;
      c.input = build();
      c.label = `bom: ${label}`;
      c.expect = expect;
      break;
    }
    case 'odd-markup': {
      const t = spec.text;
      const markups = [`<!--${t}-->`, `<?fuzz ${t}?>`, `<![CDATA[${t}]]>`];
      const markup = markups[spec.variant % 3]!;
      const kind = ['comment', 'PI', 'CDATA'][spec.variant % 3]!;
      const placement = Math.floor(spec.variant / 3) % 6;
      const isCdata = spec.variant % 3 === 2;
      const inside = recordContentStart(xml, pickRecord);
      const placements: [string, () => string, DocExpectation][] = [
        ['before the XML declaration', () => markup + xml, 'either-preserve'],
        ['in the prolog', () => insertAfterDecl(xml, markup), isCdata ? 'either-preserve' : 'preserve'],
        ['between records', () => xml.replace(FIRST_RECORD, `${markup}<CrimeRecord`), 'preserve'],
        ['inside a record', () => xml.slice(0, inside) + markup + xml.slice(inside), 'preserve'],
        ['after the root', () => xml + markup + '\n', isCdata ? 'either-preserve' : 'preserve'],
        ['inside the root start, before the first child', () => xml.replace(/(<CrimeFlagFeed [^>]*>)/, `$1${markup}`), 'preserve'],
      ];
      const [where, build, expect] = placements[placement]!;
      c.input = build();
      c.label = `odd-markup: ${kind} ${where}`;
      c.expect = expect;
      break;
    }
    case 'namespace-prefix': {
      const p = `n${spec.text.toLowerCase().slice(0, 5)}`;
      const ns = 'urn:iasu:police-feed:1';
      const declared = xml.replace(ROOT_OPEN, `${ROOT_OPEN} xmlns:${p}="${ns}"`);
      const variants: [string, () => string, DocExpectation][] = [
        [
          'every element prefixed',
          () => xml.replace(ROOT_OPEN, `<CrimeFlagFeed xmlns:${p}="${ns}"`).replace(/<(\/?)([A-Z][A-Za-z]*)/g, `<$1${p}:$2`),
          'either-preserve',
        ],
        [
          'records prefixed (same namespace)',
          () => declared.replace(/<(\/?)CrimeRecord(?=[\s>])/g, `<$1${p}:CrimeRecord`),
          'either-preserve',
        ],
        [
          `Summary/Forename/Town/Language of record ${pickRecord} prefixed (same namespace)`,
          () => {
            const start = recordStart(declared, pickRecord);
            const end = declared.indexOf('</CrimeRecord>', start);
            const body = declared.slice(start, end).replace(/<(\/?)(Summary|Forename|Town|Language)>/g, `<$1${p}:$2>`);
            return declared.slice(0, start) + body + declared.slice(end);
          },
          'either-preserve',
        ],
        ['unused prefixes declared', () => declared.replace(RECORD_OPEN, `<CrimeRecord xmlns:${p}x="urn:x"`), 'preserve'],
        [
          'foreign element inside a record',
          () => xml.replace('<Summary>', `<${p}:Note xmlns:${p}="urn:other">${spec.text}</${p}:Note><Summary>`),
          'preserve',
        ],
        ['default namespace re-declared on records', () => xml.replace(RECORD_OPEN, `<CrimeRecord xmlns="${ns}"`), 'preserve'],
        [
          `record ${pickRecord} in a foreign default namespace`,
          () => {
            const at = recordStart(xml, pickRecord) + '<CrimeRecord'.length;
            return xml.slice(0, at) + ' xmlns="urn:other:1"' + xml.slice(at);
          },
          'either',
        ],
      ];
      const [label, build, expect] = variants[spec.variant % variants.length]!;
      c.input = build();
      c.label = `namespace-prefix: ${label}`;
      c.expect = expect;
      if (spec.variant % variants.length === 2) c.mayQuarantine.add(pickRecord);
      break;
    }
    case 'size-limit': {
      const size = Buffer.byteLength(xml, 'utf8');
      c.maxBytes = size - spec.n;
      c.input = spec.pick % 2 ? Buffer.from(xml, 'utf8') : xml;
      c.label = `size-limit: ${size} bytes, limit ${c.maxBytes}`;
      c.expect = spec.n === 0 ? 'preserve' : 'reject';
      if (spec.n > 0) c.rejectMessage = /over the limit/;
      break;
    }
  }
  return withDescription(c, () => `${c.label} | ${describePage(page.records, page.cursor)}`);
}

export const PLAIN = 'plain page';

/** A page with no document-level mutation, as a DocCase. */
export function plainCase(page: Page, maxBytes = DEFAULT_MAX_BYTES): DocCase {
  const c: DocCase = {
    page,
    spec: { kind: 'size-limit', variant: 0, pick: 0, n: 0, text: '', flips: [] },
    label: PLAIN,
    input: Buffer.from(page.xml, 'utf8'),
    maxBytes,
    expect: 'preserve',
    nowBad: new Map(),
    mayQuarantine: new Set(),
    canaries: [],
    depthByRecord: new Map(page.records.map((r) => [r.index, r.depth])),
  };
  return withDescription(c, () => `${PLAIN} | ${describePage(page.records, page.cursor)}`);
}

export function docCaseArb(env: DocEnv, opts: DocOptions = {}): fc.Arbitrary<DocCase> {
  return fc.tuple(pageArb({ maxRecords: 4, ...opts }), docMutationArb(opts)).map(([page, spec]) => buildDocCase(page, spec, env, opts));
}
