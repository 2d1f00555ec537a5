import { CHARITY_STATUSES, charityStatusToBridgeStatus, decideCharityUpdate, type CharityUpdate } from '../../src/mappings/charity-status';
import { STATUS_ORDER } from '../../src/domain/lifecycle';

describe('charityStatusToBridgeStatus', () => {
  it.each([
    ['RECEIVED', 'SENT'],
    ['ALLOCATED', 'ACCEPTED'],
    ['CONTACTED', 'IN_PROGRESS'],
    ['ENGAGED', 'IN_PROGRESS'],
    ['DECLINED', 'COMPLETED'],
    ['UNCONTACTABLE', 'COMPLETED'],
    ['CLOSED', 'COMPLETED'],
    ['CANCELLED', 'CANCELLED'],
  ])('%s → %s', (charity, bridge) => {
    expect(charityStatusToBridgeStatus(charity)).toBe(bridge);
  });

  it.each(['', 'allocated', 'Received', 'PENDING', ' CLOSED', 'constructor', 'toString', '__proto__'])(
    'is undefined for the unknown status %p',
    (status) => {
      expect(charityStatusToBridgeStatus(status)).toBeUndefined();
    },
  );

  it('lists the statuses in the order of charity-api.md, each mapped', () => {
    expect(CHARITY_STATUSES).toEqual(['RECEIVED', 'ALLOCATED', 'CONTACTED', 'ENGAGED', 'DECLINED', 'UNCONTACTABLE', 'CLOSED', 'CANCELLED']);
    for (const status of CHARITY_STATUSES) expect(charityStatusToBridgeStatus(status)).toBeDefined();
  });

  it('never maps a later charity status to an earlier bridge status along each path', () => {
    const paths = [
      ['RECEIVED', 'ALLOCATED', 'CONTACTED', 'ENGAGED', 'CLOSED'],
      ['RECEIVED', 'ALLOCATED', 'CONTACTED', 'DECLINED', 'CLOSED'],
      ['RECEIVED', 'ALLOCATED', 'CONTACTED', 'UNCONTACTABLE', 'CLOSED'],
    ];
    for (const path of paths) {
      const ranks = path.map((s) => STATUS_ORDER.indexOf(charityStatusToBridgeStatus(s)!));
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    }
  });
});

describe('decideCharityUpdate', () => {
  type Current = Parameters<typeof decideCharityUpdate>[0];
  const T = (minute: number) => `2026-11-22T11:${String(minute).padStart(2, '0')}:00Z`;
  const update = (status: string, at: string, statusReason: string | null = null): CharityUpdate => ({ status, statusReason, at });

  /** What the caller stores after an applied decision (charity-updates.ts builds the same patch). */
  function after(current: Current, decision: ReturnType<typeof decideCharityUpdate>): Current {
    if (decision.kind !== 'apply') return current;
    return {
      partnerStatus: decision.partnerStatus,
      partnerStatusAt: decision.partnerStatusAt,
      ...(decision.partnerOutcome ? { partnerOutcome: decision.partnerOutcome } : {}),
    };
  }

  it.each([
    ['RECEIVED', 'SENT'],
    ['ALLOCATED', 'ACCEPTED'],
    ['CONTACTED', 'IN_PROGRESS'],
    ['ENGAGED', 'IN_PROGRESS'],
    ['DECLINED', 'COMPLETED'],
    ['UNCONTACTABLE', 'COMPLETED'],
    ['CLOSED', 'COMPLETED'],
    ['CANCELLED', 'CANCELLED'],
  ])('the first update (no current partner status) %s applies as %s', (status, to) => {
    const decision = decideCharityUpdate({}, update(status, T(0)));
    expect(decision).toMatchObject({ kind: 'apply', to, partnerStatus: status, partnerStatusAt: T(0), detail: `charity status ${status}` });
  });

  it('RECEIVED → ALLOCATED → CONTACTED → ENGAGED applies each step, each with its bridge status', () => {
    let current: Current = {};
    const seen: string[] = [];
    ['RECEIVED', 'ALLOCATED', 'CONTACTED', 'ENGAGED'].forEach((status, i) => {
      const decision = decideCharityUpdate(current, update(status, T(i)));
      expect(decision.kind).toBe('apply');
      if (decision.kind === 'apply') seen.push(decision.to);
      current = after(current, decision);
    });
    expect(seen).toEqual(['SENT', 'ACCEPTED', 'IN_PROGRESS', 'IN_PROGRESS']);
    expect(current).toEqual({ partnerStatus: 'ENGAGED', partnerStatusAt: T(3), partnerOutcome: 'ENGAGED' });
  });

  it.each([
    ['ALLOCATED after CONTACTED, even with a later time', 'CONTACTED', undefined, 'ALLOCATED'],
    ['RECEIVED after ALLOCATED', 'ALLOCATED', undefined, 'RECEIVED'],
    ['CONTACTED after ENGAGED', 'ENGAGED', 'ENGAGED', 'CONTACTED'],
    ['CONTACTED after CLOSED with no outcome', 'CLOSED', undefined, 'CONTACTED'],
    ['ENGAGED after CLOSED that already kept DECLINED', 'CLOSED', 'DECLINED', 'ENGAGED'],
    ['DECLINED after CANCELLED that already kept ENGAGED', 'CANCELLED', 'ENGAGED', 'DECLINED'],
  ])('an older rank is ignored as not-newer: %s', (_what, currentStatus, currentOutcome, status) => {
    const current: Current = {
      partnerStatus: currentStatus,
      partnerStatusAt: T(5),
      ...(currentOutcome ? { partnerOutcome: currentOutcome } : {}),
    };
    expect(decideCharityUpdate(current, update(status, T(9)))).toEqual({ kind: 'ignore', why: 'not-newer' });
  });

  describe('a late outcome for a case that has none yet is kept, without moving the status', () => {
    it.each([
      ['DECLINED after CLOSED', 'CLOSED', 'DECLINED', T(4)],
      ['UNCONTACTABLE after CLOSED', 'CLOSED', 'UNCONTACTABLE', T(4)],
      ['ENGAGED after CLOSED, even timed later', 'CLOSED', 'ENGAGED', T(9)],
      ['DECLINED after CANCELLED', 'CANCELLED', 'DECLINED', T(4)],
    ])('%s → outcome only', (_what, currentStatus, status, at) => {
      expect(decideCharityUpdate({ partnerStatus: currentStatus, partnerStatusAt: T(5) }, update(status, at))).toEqual({
        kind: 'outcome',
        partnerOutcome: status,
      });
    });

    it('an outcome already kept is never replaced by a late one', () => {
      expect(
        decideCharityUpdate({ partnerStatus: 'CLOSED', partnerStatusAt: T(5), partnerOutcome: 'ENGAGED' }, update('DECLINED', T(4))),
      ).toEqual({ kind: 'ignore', why: 'not-newer' });
    });

    it('a late non-outcome status (ALLOCATED, CONTACTED) after CLOSED is plainly ignored', () => {
      for (const status of ['RECEIVED', 'ALLOCATED', 'CONTACTED']) {
        expect(decideCharityUpdate({ partnerStatus: 'CLOSED', partnerStatusAt: T(5) }, update(status, T(4)))).toEqual({
          kind: 'ignore',
          why: 'not-newer',
        });
      }
    });
  });

  it.each([
    ['at the same time', T(5)],
    ['later', T(6)],
    ['earlier', T(4)],
  ])('the same status again (%s) is ignored as not-newer', (_what, at) => {
    expect(decideCharityUpdate({ partnerStatus: 'CONTACTED', partnerStatusAt: T(5) }, update('CONTACTED', at))).toEqual({
      kind: 'ignore',
      why: 'not-newer',
    });
  });

  describe('same rank, different status: only if later', () => {
    const engaged: Current = { partnerStatus: 'ENGAGED', partnerStatusAt: T(5), partnerOutcome: 'ENGAGED' };

    it('ENGAGED then DECLINED later applies (as COMPLETED)', () => {
      expect(decideCharityUpdate(engaged, update('DECLINED', T(6)))).toMatchObject({
        kind: 'apply',
        to: 'COMPLETED',
        partnerStatus: 'DECLINED',
        partnerStatusAt: T(6),
      });
    });

    it.each([
      ['earlier', T(4)],
      ['at the same instant', T(5)],
    ])('ENGAGED then DECLINED %s is ignored', (_what, at) => {
      expect(decideCharityUpdate(engaged, update('DECLINED', at))).toEqual({ kind: 'ignore', why: 'not-newer' });
    });

    it('CLOSED then CANCELLED (both final, same rank) applies only if later', () => {
      const closed: Current = { partnerStatus: 'CLOSED', partnerStatusAt: T(5) };
      expect(decideCharityUpdate(closed, update('CANCELLED', T(6)))).toMatchObject({ kind: 'apply', to: 'CANCELLED' });
      expect(decideCharityUpdate(closed, update('CANCELLED', T(4)))).toEqual({ kind: 'ignore', why: 'not-newer' });
    });

    it('an unparseable update time never counts as later', () => {
      expect(decideCharityUpdate(engaged, update('DECLINED', 'not a time'))).toEqual({ kind: 'ignore', why: 'not-newer' });
    });
  });

  describe('the outcome a closed case keeps', () => {
    it.each(['ENGAGED', 'DECLINED', 'UNCONTACTABLE'])('%s becomes the partnerOutcome when first seen', (status) => {
      expect(decideCharityUpdate({ partnerStatus: 'CONTACTED', partnerStatusAt: T(1) }, update(status, T(2)))).toMatchObject({
        kind: 'apply',
        partnerOutcome: status,
      });
    });

    it('DECLINED then CLOSED applies as COMPLETED and keeps the outcome DECLINED', () => {
      const declined = decideCharityUpdate({ partnerStatus: 'CONTACTED', partnerStatusAt: T(1) }, update('DECLINED', T(2)));
      const closed = decideCharityUpdate(after({}, declined), update('CLOSED', T(3)));
      expect(closed).toEqual({
        kind: 'apply',
        to: 'COMPLETED',
        partnerStatus: 'CLOSED',
        partnerStatusAt: T(3),
        partnerOutcome: 'DECLINED',
        detail: 'charity status CLOSED',
      });
    });

    it('ENGAGED then CLOSED keeps the outcome ENGAGED', () => {
      const closed = decideCharityUpdate(
        { partnerStatus: 'ENGAGED', partnerStatusAt: T(2), partnerOutcome: 'ENGAGED' },
        update('CLOSED', T(3)),
      );
      expect(closed).toMatchObject({ kind: 'apply', to: 'COMPLETED', partnerStatus: 'CLOSED', partnerOutcome: 'ENGAGED' });
    });

    it('UNCONTACTABLE then CLOSED keeps the outcome UNCONTACTABLE', () => {
      const closed = decideCharityUpdate(
        { partnerStatus: 'UNCONTACTABLE', partnerStatusAt: T(2), partnerOutcome: 'UNCONTACTABLE' },
        update('CLOSED', T(3)),
      );
      expect(closed).toMatchObject({ kind: 'apply', partnerOutcome: 'UNCONTACTABLE' });
    });

    it.each([
      ['with no status before', {}],
      ['straight after CONTACTED', { partnerStatus: 'CONTACTED', partnerStatusAt: T(1) }],
    ])('CLOSED with no earlier outcome (%s) carries no partnerOutcome', (_what, current: Current) => {
      const decision = decideCharityUpdate(current, update('CLOSED', T(3)));
      expect(decision.kind).toBe('apply');
      expect(decision).not.toHaveProperty('partnerOutcome');
    });

    it.each(['RECEIVED', 'ALLOCATED', 'CONTACTED', 'CANCELLED'])('%s is not an outcome', (status) => {
      expect(decideCharityUpdate({}, update(status, T(0)))).not.toHaveProperty('partnerOutcome');
    });
  });

  it.each(['', 'allocated', 'PENDING', 'REOPENED', ' CLOSED', 'constructor', '__proto__', 'hasOwnProperty'])(
    'the unknown status %p is ignored as unknown-status',
    (status) => {
      expect(decideCharityUpdate({}, update(status, T(0)))).toEqual({ kind: 'ignore', why: 'unknown-status' });
      expect(decideCharityUpdate({ partnerStatus: 'ALLOCATED', partnerStatusAt: T(0) }, update(status, T(9)))).toEqual({
        kind: 'ignore',
        why: 'unknown-status',
      });
    },
  );

  describe('statusReason: codes travel into the timeline, free text never does', () => {
    it.each(['NO_RESPONSE', 'CLIENT_REQUEST', 'MOVED_OUT_OF_AREA', 'X', 'DUPLICATE2'])('the code %p appears in detail', (reason) => {
      const decision = decideCharityUpdate({}, update('UNCONTACTABLE', T(0), reason));
      expect(decision).toMatchObject({ kind: 'apply', detail: `charity status UNCONTACTABLE (${reason})` });
    });

    it.each([
      'Spoke to Alex at home',
      'Alex Morgan moved to 1 Example Street',
      'NO RESPONSE',
      'no_response',
      'NO_RESPONSE; called 07700900123',
      'NO_RESPONSE\nAlex at home',
      '07700900123',
      'A'.repeat(41),
      '',
    ])('the free text %p never appears in detail', (reason) => {
      const decision = decideCharityUpdate({}, update('DECLINED', T(0), reason));
      expect(decision).toMatchObject({ kind: 'apply', detail: 'charity status DECLINED' });
      if (reason) expect(JSON.stringify(decision)).not.toContain(reason);
    });

    it('a null statusReason leaves detail plain', () => {
      expect(decideCharityUpdate({}, update('ALLOCATED', T(0), null))).toMatchObject({ detail: 'charity status ALLOCATED' });
    });

    it('nothing of the free text reaches any field of the decision', () => {
      const decision = decideCharityUpdate(
        { partnerStatus: 'CONTACTED', partnerStatusAt: T(1) },
        update('DECLINED', T(2), 'Spoke to Alex at home'),
      );
      expect(JSON.stringify(decision)).not.toMatch(/Alex|Spoke|home/);
    });
  });

  describe('purity', () => {
    it('does not mutate its arguments, and the same inputs give the same decision', () => {
      const current: Current = Object.freeze({ partnerStatus: 'DECLINED', partnerStatusAt: T(2), partnerOutcome: 'DECLINED' });
      const upd: CharityUpdate = Object.freeze({ status: 'CLOSED', statusReason: 'NO_RESPONSE', at: T(3) });
      const before = JSON.stringify([current, upd]);
      const first = decideCharityUpdate(current, upd); // frozen: a write would throw in strict mode
      expect(JSON.stringify([current, upd])).toBe(before);
      expect(decideCharityUpdate(current, upd)).toEqual(first);
    });

    it('the decision is not tied to the inputs: changing it later leaves the inputs untouched', () => {
      const current: Current = { partnerStatus: 'ENGAGED', partnerStatusAt: T(2), partnerOutcome: 'ENGAGED' };
      const upd: CharityUpdate = { status: 'CLOSED', statusReason: null, at: T(3) };
      const decision = decideCharityUpdate(current, upd);
      if (decision.kind !== 'apply') throw new Error('expected apply');
      decision.partnerOutcome = 'CHANGED';
      decision.partnerStatus = 'CHANGED';
      expect(current).toEqual({ partnerStatus: 'ENGAGED', partnerStatusAt: T(2), partnerOutcome: 'ENGAGED' });
      expect(upd).toEqual({ status: 'CLOSED', statusReason: null, at: T(3) });
    });

    it('a decision for one referral does not leak into the next call', () => {
      decideCharityUpdate({ partnerStatus: 'DECLINED', partnerStatusAt: T(2), partnerOutcome: 'DECLINED' }, update('CLOSED', T(3)));
      expect(decideCharityUpdate({}, update('CLOSED', T(3)))).not.toHaveProperty('partnerOutcome');
    });
  });
});
