import { dropUndefined } from '../../domain/objects';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- xml2js gives an untyped tree, read defensively
type XNode = Record<string, any>;

/**
 * An xml2js-shaped `CrimeRecord` node as the plain candidate the schema validates: element text
 * and attributes under the domain's field names, empty text and absent elements left out.
 * Throws when the node is not an element with children.
 */
export function normaliseRecord(node: unknown) {
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

export type RecordCandidate = ReturnType<typeof normaliseRecord>;
