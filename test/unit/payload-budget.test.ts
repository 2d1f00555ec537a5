import { PayloadBudget } from '../../src/api/payload-budget';

describe('PayloadBudget', () => {
  it('admits bodies while they fit, in bytes, and gives each back once', () => {
    const budget = new PayloadBudget(100);
    const a = budget.tryReserve(60)!;
    expect(budget.tryReserve(41)).toBeUndefined();
    const b = budget.tryReserve(40)!;
    expect(budget.bytesInFlight).toBe(100);
    expect(budget.tryReserve(1)).toBeUndefined();
    a();
    a(); // a second release (finish, then close) gives nothing back twice
    expect(budget.bytesInFlight).toBe(40);
    b();
    expect(budget.bytesInFlight).toBe(0);
  });

  it('always has room for one body up to the route limit, even over a smaller capacity', () => {
    const budget = new PayloadBudget(10);
    const big = budget.tryReserve(50, 50)!;
    expect(big).toBeDefined();
    expect(budget.tryReserve(1, 50)).toBeUndefined();
    big();
    expect(budget.tryReserve(1, 50)).toBeDefined();
  });
});
