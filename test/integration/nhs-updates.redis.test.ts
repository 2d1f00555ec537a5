import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import type { NhsUpdate } from '../../src/domain/nhs-update';
import { nhsUpdateFromBars } from '../../src/mappings/bars-response';
import { nhsUpdateFromTask } from '../../src/mappings/fhir-status';
import { listDeadLetters } from '../../src/operations/dead-letter-admin';
import { applyNhsUpdate, type NhsUpdateSource } from '../../src/pipeline/partner-status/nhs-updates';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';
import { clinicalReferral } from '../helpers/referrals';

/**
 * The Task poll, the BaRS endpoint and the reconciler reach a referral through one function
 * with one set of rules: given the same update, each source ends in the same state.
 */
const SOURCES: NhsUpdateSource[] = ['nhs-poll', 'nhs-bars', 'reconcile'];
const referral = clinicalReferral();
const ID = referral.referralId;

describe('one entry point for NHS status', () => {
  let ctx: BridgeContext;
  let logs: () => string;

  beforeEach(() => {
    const captured = capturedLogger();
    logs = captured.text;
    ctx = createContext(testConfig(), captured.logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  async function referralAt(status: 'SENT' | 'HELD'): Promise<void> {
    await ctx.referrals.saveData(referral);
    const create = {
      referralId: ID,
      type: 'CLINICAL' as const,
      crimeReference: referral.crimeReference,
      recordVersion: 3,
      correlationId: 'c0ffee00-0000-4000-8000-000000000002',
    };
    if (status === 'HELD') {
      await ctx.referrals.transition(ID, { to: 'HELD', source: 'test', create });
      return;
    }
    await ctx.referrals.transition(ID, { to: 'QUEUED', source: 'test', create });
    await ctx.referrals.transition(ID, { to: 'SENT', source: 'NHS' });
  }

  /** Each source in turn from a fresh referral: the results and the states they leave. */
  async function fromEachSource(status: 'SENT' | 'HELD', updates: NhsUpdate[]) {
    const seen: unknown[] = [];
    for (const source of SOURCES) {
      await referralAt(status);
      const results = [];
      for (const update of updates) results.push(await applyNhsUpdate(ctx, ID, update, source));
      const meta = await ctx.referrals.get(ID);
      const timeline = (await ctx.referrals.timeline(ID)).map((e) => ({
        status: e.status,
        detail: e.detail,
        bySource: e.source === source || e.source === 'test' || e.source === 'NHS',
      }));
      seen.push({
        results,
        status: meta?.status,
        partnerStatus: meta?.partnerStatus,
        lastError: meta?.lastError,
        timeline,
        deadLetters: (await listDeadLetters(ctx, { partner: 'NHS' })).length,
      });
      await dropKeys(ctx.config);
    }
    return seen;
  }

  it('the same update from the poll, the BaRS endpoint and the reconciler: the same results and the same referral', async () => {
    const sequences: [string, NhsUpdate[], ReferralStatus][] = [
      [
        'forward, then a repeat, then backwards',
        [nhsUpdateFromTask('accepted'), nhsUpdateFromTask('accepted'), nhsUpdateFromTask('received')],
        'ACCEPTED',
      ],
      ["a status with no bridge meaning is kept as the trust's own", [nhsUpdateFromTask('on-hold')], 'SENT'],
      ['to the end', [nhsUpdateFromTask('in-progress'), nhsUpdateFromTask('completed')], 'COMPLETED'],
    ];
    for (const [what, updates, final] of sequences) {
      const [first, ...others] = await fromEachSource('SENT', updates);
      expect([what, (first as { status: string }).status]).toEqual([what, final]);
      for (const other of others) expect([what, other]).toEqual([what, first]);
    }
  });

  it('a repeat is ignored, a backwards step recorded but not applied, a HELD referral never moved (with an alert)', async () => {
    const [sent] = await fromEachSource('SENT', [
      nhsUpdateFromTask('accepted'),
      nhsUpdateFromTask('accepted'),
      nhsUpdateFromTask('received'),
    ]);
    expect(sent).toMatchObject({ results: ['applied', 'ignored', 'recorded'], status: 'ACCEPTED', partnerStatus: 'received' });
    const held = await fromEachSource('HELD', [nhsUpdateFromTask('accepted')]);
    for (const h of held) expect(h).toMatchObject({ results: ['ignored'], status: 'HELD', partnerStatus: undefined });
    expect(logs()).toContain('the trust reports a referral the bridge is holding back');
  });

  it('a refusal fails the referral and is dead-lettered once, however often it is reported', async () => {
    const refusal = nhsUpdateFromBars(
      {
        messageId: 'resp-9',
        respondsTo: 'm-1',
        code: 'fatal-error',
        detail: 'REC_UNPROCESSABLE_ENTITY (invalid)',
        text: 'Sam Taylor is not known here',
      },
      'new',
    );
    expect(refusal).toMatchObject({ to: 'FAILED', refusal: { id: 'bars-response-resp-9' } });
    const all = await fromEachSource('SENT', [refusal, refusal]);
    for (const one of all) {
      expect(one).toMatchObject({
        results: ['applied', 'ignored'],
        status: 'FAILED',
        deadLetters: 1,
        lastError: 'trust refused the message: REC_UNPROCESSABLE_ENTITY (invalid)',
      });
    }
    expect(logs()).not.toContain('Sam Taylor');
  });

  it('the sources read into the same update: a Task accepted and a BaRS Encounter planned both mean ACCEPTED', () => {
    const bars = nhsUpdateFromBars(
      { messageId: 'r', respondsTo: 'm', code: 'ok', serviceRequestStatus: 'active', encounterStatus: 'planned' },
      'new',
    );
    expect([nhsUpdateFromTask('accepted').to, bars.to]).toEqual(['ACCEPTED', 'ACCEPTED']);
    expect(bars).toEqual({ partnerStatus: 'active/planned', to: 'ACCEPTED', detail: 'BaRS response active/planned' });
  });
});
