import { taskStatusToBridgeStatus } from '../../src/mappings/fhir-status';

describe('taskStatusToBridgeStatus (nhs-fhir.md Mode A status table)', () => {
  it.each([
    ['requested', 'SENT'],
    ['received', 'SENT'],
    ['accepted', 'ACCEPTED'],
    ['rejected', 'REJECTED'],
    ['in-progress', 'IN_PROGRESS'],
    ['completed', 'COMPLETED'],
    ['cancelled', 'CANCELLED'],
    ['failed', 'REJECTED'],
  ])('%s → %s', (taskStatus, bridgeStatus) => {
    expect(taskStatusToBridgeStatus(taskStatus)).toBe(bridgeStatus);
  });

  it.each(['draft', 'ready', 'on-hold', 'entered-in-error', 'Accepted', '', 'toString', '__proto__', 'constructor'])(
    'has no bridge status for %p',
    (taskStatus) => {
      expect(taskStatusToBridgeStatus(taskStatus)).toBeUndefined();
    },
  );
});
