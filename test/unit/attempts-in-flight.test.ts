import { AttemptsInFlight, type Attempt } from '../../src/queues/attempts-in-flight';

/** An attempt the test finishes by hand, recording whether it was started, queued or lost. */
function attempt(log: string[], name: string, queueFails = false): Attempt & { finish(): void } {
  let finish = () => {};
  return {
    start: () => {
      log.push(`start ${name}`);
      return new Promise<void>((resolve) => (finish = resolve));
    },
    queue: async () => {
      log.push(`queue ${name}`);
      if (queueFails) throw new Error('redis down');
    },
    lost: (err) => log.push(`lost ${name}: ${(err as Error).message}`),
    finish: () => finish(),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('AttemptsInFlight: first attempts, their waiting line and the queue', () => {
  test('up to the limit start at once; the next waits and starts when one ends, in order', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 1000 });
    const [a, b, c] = ['a', 'b', 'c'].map((n) => attempt(log, n));
    await slots.offer('NHS', 1, a!);
    await slots.offer('NHS', 1, b!);
    await slots.offer('NHS', 1, c!);
    expect(log).toEqual(['start a']);
    expect([slots.size, slots.waiting]).toEqual([1, 2]);
    a!.finish();
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    b!.finish();
    await settle();
    c!.finish();
    await slots.idle();
    expect(log).toEqual(['start a', 'start b', 'start c']);
    expect([slots.size, slots.waiting]).toEqual([0, 0]);
  });

  test('lanes are separate: one partner full does not hold the other', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 1000 });
    await slots.offer('NHS', 1, attempt(log, 'nhs-1'));
    await slots.offer('NHS', 1, attempt(log, 'nhs-2'));
    await slots.offer('CHARITY', 1, attempt(log, 'charity-1'));
    expect(log).toEqual(['start nhs-1', 'start charity-1']);
  });

  test('one that waited longer than maxWaitMs is queued instead of started', async () => {
    const log: string[] = [];
    let now = 0;
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 2000 }, () => now);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => attempt(log, n));
    await slots.offer('POLICE', 1, a!);
    await slots.offer('POLICE', 1, b!);
    now = 1500;
    await slots.offer('POLICE', 1, c!);
    now = 2500; // b has waited 2.5 s, c 1 s
    a!.finish();
    await settle();
    expect(log).toEqual(['start a', 'queue b', 'start c']);
  });

  test('from holdFrom waiting, the caller is held until the line shortens, and at most maxWaitMs', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 60_000, holdFrom: 1 });
    const [a, b, c] = ['a', 'b', 'c'].map((n) => attempt(log, n));
    await slots.offer('POLICE', 1, a!);
    await slots.offer('POLICE', 1, b!); // the first in line: not held
    let cOffered = false;
    const offeringC = slots.offer('POLICE', 1, c!).then(() => (cOffered = true));
    await settle();
    expect([cOffered, slots.waiting]).toEqual([false, 2]);
    a!.finish(); // b starts, c is now first in line
    await offeringC;
    expect(log).toEqual(['start a', 'start b']);
    expect(slots.waiting).toBe(1);

    const quick = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 30, holdFrom: 0 });
    await quick.offer('NHS', 1, attempt(log, 'd'));
    const started = Date.now();
    await quick.offer('NHS', 1, attempt(log, 'e')); // held, and let go when maxWaitMs passes
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(quick.waiting).toBe(1);
  });

  test('close lets held callers go', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 60_000, holdFrom: 0 });
    await slots.offer('NHS', 1, attempt(log, 'a'));
    const held = slots.offer('NHS', 1, attempt(log, 'b'));
    void slots.close();
    await held;
    expect(log).toEqual(['start a', 'queue b']);
  });

  test('a full line, a limit of 0, or a stopping process: queued at once, and a queue failure reaches the caller', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 1, maxWaitMs: 1000 });
    await slots.offer('NHS', 1, attempt(log, 'a'));
    await slots.offer('NHS', 1, attempt(log, 'b'));
    await slots.offer('NHS', 1, attempt(log, 'c'));
    await slots.offer('CHARITY', 0, attempt(log, 'd'));
    expect(log).toEqual(['start a', 'queue c', 'queue d']);
    await expect(slots.offer('CHARITY', 0, attempt(log, 'e', true))).rejects.toThrow('redis down');
  });

  test('close queues those waiting (a failure is reported, not thrown), waits for those running, then queues every new one', async () => {
    const log: string[] = [];
    const slots = new AttemptsInFlight({ maxWaiting: 10, maxWaitMs: 1000 });
    const a = attempt(log, 'a');
    await slots.offer('NHS', 1, a);
    await slots.offer('NHS', 1, attempt(log, 'b'));
    await slots.offer('NHS', 1, attempt(log, 'c', true));
    let closed = false;
    const closing = slots.close().then(() => (closed = true));
    await settle();
    expect(log).toEqual(['start a', 'queue b', 'queue c', 'lost c: redis down']);
    expect(closed).toBe(false);
    a.finish();
    await closing;
    await slots.offer('NHS', 1, attempt(log, 'd'));
    expect(log.slice(4)).toEqual(['queue d']);
  });
});
