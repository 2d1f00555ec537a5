import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { changeStatus } from '../../src/pipeline/status-changes';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * A status change and its audit event are one commit: the event is in the log exactly when the
 * change is in the store, never one without the other.
 */
describe('status changes are audited in their own commit', () => {
  const ID = '00000000-0000-5000-8000-0000000000b1';
  const create = { referralId: ID, type: 'CLINICAL' as const, crimeReference: 'CC-26-0000777', recordVersion: 1, correlationId: 'corr-1' };
  let ctx: BridgeContext;

  beforeEach(() => {
    ctx = createContext(testConfig(), capturedLogger().logger);
  });
  afterEach(async () => {
    await ctx.writeBacks.close();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test('an applied change writes its event (and any others asked for) to the log and the referral’s stream', async () => {
    await changeStatus(ctx, ID, { to: 'QUEUED', source: 'police', create });
    await changeStatus(ctx, ID, { to: 'SENT', source: 'NHS', patch: { partnerRef: 'ServiceRequest/1' } }, [
      { actor: 'system', action: 'referral.sent', partner: 'NHS', status: 'SENT', outcome: 'delivered' },
    ]);
    await changeStatus(ctx, ID, { to: 'ACCEPTED', source: 'nhs-poll' });
    const events = await ctx.audit.query({ referralId: ID });
    expect(
      events.map(({ actor, action, referralId, crimeReference, partner, status, outcome }) => ({
        actor,
        action,
        referralId,
        crimeReference,
        partner,
        status,
        outcome,
      })),
    ).toEqual([
      {
        actor: 'system',
        action: 'referral.status_changed',
        referralId: ID,
        crimeReference: 'CC-26-0000777',
        partner: undefined,
        status: 'QUEUED',
        outcome: undefined,
      },
      {
        actor: 'system',
        action: 'referral.status_changed',
        referralId: ID,
        crimeReference: 'CC-26-0000777',
        partner: undefined,
        status: 'SENT',
        outcome: 'from_QUEUED',
      },
      {
        actor: 'system',
        action: 'referral.sent',
        referralId: ID,
        crimeReference: 'CC-26-0000777',
        partner: 'NHS',
        status: 'SENT',
        outcome: 'delivered',
      },
      {
        actor: 'nhs-poll',
        action: 'referral.status_changed',
        referralId: ID,
        crimeReference: 'CC-26-0000777',
        partner: undefined,
        status: 'ACCEPTED',
        outcome: 'from_SENT',
      },
    ]);
    // The log holds the same entries under the same ids.
    expect((await ctx.audit.query({})).map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  test('a change the state machine or a stale read refuses writes no event', async () => {
    await changeStatus(ctx, ID, { to: 'QUEUED', source: 'police', create });
    expect(await changeStatus(ctx, ID, { to: 'COMPLETED', source: 'NHS', expectFrom: ['SENT'] })).toMatchObject({ applied: false });
    expect(await changeStatus(ctx, ID, { to: 'QUEUED', source: 'police' })).toMatchObject({ applied: false });
    expect((await ctx.audit.query({ referralId: ID })).map((e) => e.status)).toEqual(['QUEUED']);
  });

  test('when the audit log cannot be written, the change is not made either', async () => {
    await ctx.redis.set(ctx.keys.audit(), 'not a stream');
    await expect(changeStatus(ctx, ID, { to: 'QUEUED', source: 'police', create })).rejects.toThrow();
    expect(await ctx.referrals.get(ID)).toBeUndefined();
    expect(await ctx.referrals.timeline(ID)).toEqual([]);
    expect(await ctx.referrals.outboxSize()).toBe(0);
  });
});
