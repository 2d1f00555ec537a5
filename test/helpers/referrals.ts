import type { BridgeContext } from '../../src/context';
import type { Referral } from '../../src/domain/referral';

/** Referrals as the police mapping produces them from shared/fixtures/police/example-feed.xml. */
export function clinicalReferral(overrides: Partial<Referral> = {}): Referral {
  return {
    referralId: '7d5c3c2e-0f7b-5a55-9a7e-0d6f5f1d2b10',
    type: 'CLINICAL',
    crimeReference: 'CC-26-0001234',
    recordVersion: 3,
    force: 'CHESHIRE',
    subject: {
      ref: 'P2',
      role: 'SUSPECT',
      forename: 'Sam',
      surname: 'Taylor',
      dateOfBirth: '1986-01-30',
      gender: 'MALE',
      nhsNumber: '9912003888',
      address: { lines: ['9 Other Road'], town: 'Runcorn', postcode: 'WA7 2AB' },
      clinicalIndicators: 'Reports low mood; alcohol misuse',
    },
    otherParties: [{ ref: 'P1', role: 'VICTIM', relationshipToSubject: 'EX_PARTNER' }],
    offence: {
      homeOfficeClass: '8Q',
      offenceCode: '8/65',
      description: 'Stalking involving fear of violence',
      legislation: 'Protection from Harassment Act 1997 s4A',
      committedFrom: '2026-09-01',
      committedTo: '2026-11-20',
    },
    risk: { tool: 'S-DASH', level: 'HIGH', score: 9, assessedAt: '2026-11-21T17:30:00Z', assessor: '4521' },
    consent: { purpose: 'CLINICAL_REFERRAL', status: 'REFUSED', recordedAt: '2026-11-22T08:00:00Z', recordedBy: '4521' },
    lawfulBasis: { code: 'DPA2018-S8-P1', authorisedBy: 'Insp 0771', authorisedAt: '2026-11-22T09:35:00Z' },
    mdtReason: 'Fixation with ex-partner; possible untreated mental illness',
    mdtDecidedAt: '2026-11-22T09:30:00Z',
    summary: "Repeated unwanted contact and loitering outside the victim's workplace.",
    officerInCase: { collar: '4521', name: 'DC Jordan Lee', email: 'jordan.lee@police.example', phone: '01606000000' },
    recordLastModified: '2026-11-22T09:58:00Z',
    ...overrides,
  };
}

export function advocacyReferral(overrides: Partial<Referral> = {}): Referral {
  return {
    referralId: '3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e22',
    type: 'ADVOCACY',
    crimeReference: 'CC-26-0001234',
    recordVersion: 3,
    force: 'CHESHIRE',
    subject: {
      ref: 'P1',
      role: 'VICTIM',
      forename: 'Alex',
      surname: 'Morgan',
      dateOfBirth: '1990-04-12',
      gender: 'FEMALE',
      nhsNumber: '9000000009',
      address: { lines: ['1 Example Street'], town: 'Warrington', postcode: 'WA1 1AA' },
      safeContact: { phone: '07700900123', email: 'alex@example.org', safeTimeToCall: 'weekdays 10:00-14:00', voicemailSafe: false },
      language: 'en',
    },
    otherParties: [{ ref: 'P2', role: 'SUSPECT', relationshipToSubject: 'EX_PARTNER' }],
    perpetrator: { forename: 'Sam', surname: 'Taylor', relationshipToVictim: 'EX_PARTNER' },
    offence: {
      homeOfficeClass: '8Q',
      offenceCode: '8/65',
      description: 'Stalking involving fear of violence',
      legislation: 'Protection from Harassment Act 1997 s4A',
      committedFrom: '2026-09-01',
      committedTo: '2026-11-20',
    },
    risk: { tool: 'S-DASH', level: 'HIGH', score: 9, assessedAt: '2026-11-21T17:30:00Z', assessor: '4521' },
    consent: { purpose: 'ADVOCACY_REFERRAL', status: 'GIVEN', recordedAt: '2026-11-21T17:40:00Z', recordedBy: '4521' },
    mdtDecidedAt: '2026-11-22T09:30:00Z',
    summary: "Repeated unwanted contact and loitering outside the victim's workplace.",
    officerInCase: { collar: '4521', name: 'DC Jordan Lee', email: 'jordan.lee@police.example', phone: '01606000000' },
    recordLastModified: '2026-11-22T09:58:00Z',
    ...overrides,
  };
}

/**
 * A referral saved and committed QUEUED, as intake leaves it, with no delivery attempt or job
 * yet (the test makes those). Returns the QUEUED change's seq, which names its delivery job.
 */
export async function queueWithoutDelivery(ctx: BridgeContext, referral: Referral, correlationId: string): Promise<number> {
  await ctx.referrals.saveData(referral);
  const t = await ctx.referrals.transition(referral.referralId, {
    to: 'QUEUED',
    source: 'test',
    create: {
      referralId: referral.referralId,
      type: referral.type,
      crimeReference: referral.crimeReference,
      recordVersion: 3,
      correlationId,
    },
  });
  if (!t.applied) throw new Error('setup failed');
  return t.seq;
}
