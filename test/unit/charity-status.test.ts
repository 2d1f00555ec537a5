import { CHARITY_STATUSES, charityStatusToBridgeStatus } from '../../src/mappings/charity-status';
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
