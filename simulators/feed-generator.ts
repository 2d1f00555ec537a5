import type { ReferralType } from '../src/domain/crime-record';
import { referralIdFor } from '../src/domain/referral-id';

/**
 * Synthetic police records for the demo, tests and benchmarks. Every name, number and address
 * is invented. The generator also returns the ground truth (what each record should become),
 * so a run can prove that nothing was lost.
 */
export type RecordKind =
  | 'full'
  | 'victim-no-consent'
  | 'suspect-no-basis'
  | 'malformed-nhs'
  | 'malformed-code'
  | 'malformed-xml-field'
  | 'out-of-scope'
  | 'no-mdt'
  | 'withdrawn-later'
  | 'consent-withdrawn-later';

export interface GeneratedRecord {
  crimeReference: string;
  recordVersion: number;
  kind: RecordKind;
  xml: string;
  /** Referral ids this version should yield (empty for quarantined / out-of-scope / no MDT). */
  expectedReferrals: { referralId: string; type: ReferralType; decision: 'QUEUED' | 'HELD' | 'CANCELLED' }[];
  expectQuarantine: boolean;
}

const FORENAMES = [
  'Alex',
  'Sam',
  'Jordan',
  'Casey',
  'Robin',
  'Morgan',
  'Jamie',
  'Taylor',
  'Riley',
  'Avery',
  'Quinn',
  'Charlie',
  'Rowan',
  'Skyler',
];
const SURNAMES = [
  'Morgan',
  'Taylor',
  'Hughes',
  'Evans',
  'Price',
  'Lloyd',
  'Rees',
  'Walsh',
  'Bennett',
  'Carter',
  'Fletcher',
  'Hayes',
  'Pryce',
  'Dale',
];
const TOWNS: [string, string][] = [
  ['Warrington', 'WA1'],
  ['Runcorn', 'WA7'],
  ['Widnes', 'WA8'],
  ['Chester', 'CH1'],
  ['Crewe', 'CW1'],
  ['Northwich', 'CW9'],
];
const RELATIONSHIPS = ['EX_PARTNER', 'ACQUAINTANCE', 'STRANGER', 'COLLEAGUE', 'NEIGHBOUR'];

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random NHS number that passes Modulus 11 (9-digit stem + check digit). */
export function validNhsNumber(random: () => number): string {
  for (;;) {
    const stem = Array.from({ length: 9 }, (_, i) => (i === 0 ? 9 : Math.floor(random() * 10)));
    const sum = stem.reduce((acc, d, i) => acc + d * (10 - i), 0);
    const check = 11 - (sum % 11);
    if (check === 10) continue;
    return [...stem, check === 11 ? 0 : check].join('');
  }
}

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const KIND_WEIGHTS: [RecordKind, number][] = [
  ['full', 66],
  ['victim-no-consent', 8],
  ['suspect-no-basis', 6],
  ['malformed-nhs', 3],
  ['malformed-code', 2],
  ['malformed-xml-field', 1],
  ['out-of-scope', 5],
  ['no-mdt', 3],
  ['withdrawn-later', 3],
  ['consent-withdrawn-later', 3],
];

function pickKind(random: () => number): RecordKind {
  const total = KIND_WEIGHTS.reduce((a, [, w]) => a + w, 0);
  let r = random() * total;
  for (const [kind, weight] of KIND_WEIGHTS) {
    if ((r -= weight) < 0) return kind;
  }
  return 'full';
}

export interface GenerateOptions {
  records: number;
  seed?: number;
  force?: string;
  /** Crime reference prefix, so separate runs do not collide. */
  prefix?: string;
  now?: Date;
}

/**
 * `records` crime records; kinds that change later (withdrawals) add a second version at the
 * end of the feed, as an RMS change sequence would.
 */
export function generateFeedRecords(opts: GenerateOptions): GeneratedRecord[] {
  const random = mulberry32(opts.seed ?? 20261122);
  const force = opts.force ?? 'CHESHIRE';
  const prefix = opts.prefix ?? 'CC-26';
  const now = opts.now ?? new Date('2026-11-22T10:00:00Z');
  const first: GeneratedRecord[] = [];
  const later: GeneratedRecord[] = [];
  for (let i = 0; i < opts.records; i++) {
    const kind = pickKind(random);
    const crimeReference = `${prefix}-${String(i + 1).padStart(7, '0')}`;
    const facts = randomFacts(random, now);
    if (kind === 'withdrawn-later' || kind === 'consent-withdrawn-later') {
      first.push(buildRecord(force, crimeReference, 1, 'full', facts));
      later.push(buildRecord(force, crimeReference, 2, kind, facts));
    } else {
      first.push(buildRecord(force, crimeReference, 1, kind, facts));
    }
  }
  return [...first, ...later];
}

interface Facts {
  victim: { forename: string; surname: string; dob: string; nhs: string; town: [string, string]; phone: string };
  suspect: { forename: string; surname: string; dob: string; nhs: string; town: [string, string] };
  relationship: string;
  level: string;
  basisOrConsent: 'basis' | 'consent';
  decidedAt: string;
  /** The record's other times, fixed offsets before `now` (so the default `now` gives the fixtures' values). */
  times: {
    committedFrom: string;
    committedTo: string;
    raisedAt: string;
    assessedAt: string;
    advocacyConsentAt: string;
    clinicalConsentAt: string;
    basisAt: string;
  };
}

const HOUR = 3600_000;
const instant = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function recordTimes(now: Date): Facts['times'] {
  const before = (ms: number) => new Date(now.getTime() - ms);
  return {
    committedFrom: instant(before(82 * 24 * HOUR)).slice(0, 10),
    committedTo: instant(before(2 * 24 * HOUR)).slice(0, 10),
    raisedAt: instant(before(18 * HOUR)),
    assessedAt: instant(before(16.5 * HOUR)),
    advocacyConsentAt: instant(before(16 * HOUR + 20 * 60_000)),
    clinicalConsentAt: instant(before(2 * HOUR)),
    basisAt: instant(before(25 * 60_000)),
  };
}

function randomFacts(random: () => number, now: Date): Facts {
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  const dob = () =>
    `${1950 + Math.floor(random() * 55)}-${String(1 + Math.floor(random() * 12)).padStart(2, '0')}-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}`;
  const decided = new Date(now.getTime() - Math.floor(random() * 48) * 3600_000);
  return {
    victim: {
      forename: pick(FORENAMES),
      surname: pick(SURNAMES),
      dob: dob(),
      nhs: validNhsNumber(random),
      town: pick(TOWNS),
      phone: `07700900${String(Math.floor(random() * 1000)).padStart(3, '0')}`,
    },
    suspect: { forename: pick(FORENAMES), surname: pick(SURNAMES), dob: dob(), nhs: validNhsNumber(random), town: pick(TOWNS) },
    relationship: pick(RELATIONSHIPS),
    level: pick(['STANDARD', 'MEDIUM', 'HIGH']),
    basisOrConsent: random() < 0.6 ? 'basis' : 'consent',
    decidedAt: instant(decided),
    times: recordTimes(now),
  };
}

function buildRecord(force: string, crimeReference: string, version: number, kind: RecordKind, f: Facts): GeneratedRecord {
  const outOfScope = kind === 'out-of-scope';
  const withdrawn = kind === 'withdrawn-later';
  const victimConsent = kind === 'victim-no-consent' ? 'REFUSED' : kind === 'consent-withdrawn-later' ? 'WITHDRAWN' : 'GIVEN';
  const suspectConsent = kind === 'suspect-no-basis' ? 'REFUSED' : f.basisOrConsent === 'consent' ? 'GIVEN' : 'REFUSED';
  const suspectBasis = kind !== 'suspect-no-basis' && f.basisOrConsent === 'basis';
  const victimNhs = kind === 'malformed-nhs' ? f.victim.nhs.slice(0, 9) + String((Number(f.victim.nhs[9]) + 1) % 10) : f.victim.nhs;
  const riskTool = kind === 'malformed-code' ? 'GUESSWORK' : 'S-DASH';
  const hasMdt = kind !== 'no-mdt' && !outOfScope;
  const mdt = hasMdt
    ? `<MdtDecision decidedAt="${f.decidedAt}">
      <Referral type="CLINICAL" subject="P2" reason="Fixation on the victim; possible untreated mental illness"/>
      <Referral type="ADVOCACY" subject="P1"/>
    </MdtDecision>`
    : '';
  const versionXml = kind === 'malformed-xml-field' ? 'three' : String(version);
  const xml = `<CrimeRecord>
    <CrimeReference>${crimeReference}</CrimeReference>
    <RecordVersion>${versionXml}</RecordVersion>
    <RecordStatus>${withdrawn ? 'WITHDRAWN' : 'ACTIVE'}</RecordStatus>
    <LastModified>${f.decidedAt}</LastModified>
    <Offence>
      <HomeOfficeClass>${outOfScope ? '8L' : '8Q'}</HomeOfficeClass>
      <OffenceCode>${outOfScope ? '195/12' : '8/65'}</OffenceCode>
      <Description>${outOfScope ? 'Harassment' : 'Stalking involving fear of violence'}</Description>
      <Legislation>Protection from Harassment Act 1997 s4A</Legislation>
      <CommittedFrom>${f.times.committedFrom}</CommittedFrom>
      <CommittedTo>${f.times.committedTo}</CommittedTo>
    </Offence>
    <Flags>${outOfScope ? '' : `<Flag code="STALKING" raisedAt="${f.times.raisedAt}" raisedBy="4521"/>`}</Flags>
    <RiskAssessment tool="${riskTool}" level="${f.level}" score="9" assessedAt="${f.times.assessedAt}" assessor="4521"/>
    ${mdt}
    <Person ref="P1" role="VICTIM">
      <Forename>${escapeXml(f.victim.forename)}</Forename>
      <Surname>${escapeXml(f.victim.surname)}</Surname>
      <DateOfBirth>${f.victim.dob}</DateOfBirth>
      <Gender>FEMALE</Gender>
      <NhsNumber>${victimNhs}</NhsNumber>
      <Address><Line>${10 + (crimeReference.length % 80)} Example Street</Line><Town>${f.victim.town[0]}</Town><Postcode>${f.victim.town[1]} 1AA</Postcode></Address>
      <SafeContact phone="${f.victim.phone}" email="victim.${crimeReference.toLowerCase()}@example.org" safeTimeToCall="weekdays 10:00-14:00" voicemailSafe="false"/>
      <Language>en</Language>
      <Consent purpose="ADVOCACY_REFERRAL" status="${victimConsent}" recordedAt="${f.times.advocacyConsentAt}" recordedBy="4521"/>
    </Person>
    <Person ref="P2" role="SUSPECT">
      <Forename>${escapeXml(f.suspect.forename)}</Forename>
      <Surname>${escapeXml(f.suspect.surname)}</Surname>
      <DateOfBirth>${f.suspect.dob}</DateOfBirth>
      <Gender>MALE</Gender>
      <NhsNumber>${f.suspect.nhs}</NhsNumber>
      <Address><Line>9 Other Road</Line><Town>${f.suspect.town[0]}</Town><Postcode>${f.suspect.town[1]} 2AB</Postcode></Address>
      <Consent purpose="CLINICAL_REFERRAL" status="${suspectConsent}" recordedAt="${f.times.clinicalConsentAt}" recordedBy="4521"/>
      ${suspectBasis ? `<LawfulBasis code="DPA2018-S8-P1" authorisedBy="Insp 0771" authorisedAt="${f.times.basisAt}"/>` : ''}
      <ClinicalIndicators>Reports low mood; alcohol misuse</ClinicalIndicators>
      <RelationshipToVictim victim="P1">${f.relationship}</RelationshipToVictim>
    </Person>
    <Summary>Repeated unwanted contact and loitering outside the victim's workplace.</Summary>
    <OfficerInCase collar="4521" name="DC Jordan Lee" email="jordan.lee@police.example" phone="01606000000"/>
  </CrimeRecord>`;

  const expectQuarantine = kind === 'malformed-nhs' || kind === 'malformed-code' || kind === 'malformed-xml-field';
  const expectedReferrals: GeneratedRecord['expectedReferrals'] = [];
  if (!expectQuarantine && hasMdt) {
    const clinical = withdrawn ? 'CANCELLED' : kind === 'suspect-no-basis' ? 'HELD' : 'QUEUED';
    const advocacy = withdrawn || victimConsent === 'WITHDRAWN' ? 'CANCELLED' : victimConsent === 'GIVEN' ? 'QUEUED' : 'HELD';
    expectedReferrals.push({ referralId: referralIdFor(force, crimeReference, 'CLINICAL', 'P2'), type: 'CLINICAL', decision: clinical });
    expectedReferrals.push({ referralId: referralIdFor(force, crimeReference, 'ADVOCACY', 'P1'), type: 'ADVOCACY', decision: advocacy });
  }
  return { crimeReference, recordVersion: version, kind, xml, expectedReferrals, expectQuarantine };
}

/** Wraps record fragments into one CrimeFlagFeed document. */
export function feedDocument(
  records: string[],
  opts: { force?: string; cursor?: { next: string; more: boolean }; generatedAt?: string } = {},
): string {
  const cursor = opts.cursor ? `\n  <Cursor next="${escapeXml(opts.cursor.next)}" more="${opts.cursor.more}"/>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
<CrimeFlagFeed xmlns="urn:iasu:police-feed:1" force="${opts.force ?? 'CHESHIRE'}" generatedAt="${opts.generatedAt ?? '2026-11-22T10:00:00Z'}">${cursor}
  ${records.join('\n  ')}
</CrimeFlagFeed>
`;
}
