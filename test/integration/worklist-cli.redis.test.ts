import { createContext } from '../../src/app';
import { table, worklistCommand, WorklistUsageError } from '../../src/cli/worklist-command';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';
import { advocacyReferral } from '../helpers/referrals';

/** The worklists from a shell: tables within 120 columns, `--json` as the API, usage errors named. */
describe('iasu-bridge referrals / crime / quarantine', () => {
  let ctx: BridgeContext;
  const ID = '0e0e0e0e-0000-5000-8000-000000000abc';

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    await ctx.referrals.saveData({ ...advocacyReferral(), referralId: ID, crimeReference: 'CC-26-0000123' });
    await ctx.referrals.transition(ID, {
      to: 'HELD',
      source: 'intake',
      create: {
        referralId: ID,
        type: 'ADVOCACY',
        crimeReference: 'CC-26-0000123',
        recordVersion: 2,
        correlationId: 'c0ffee00-0000-4000-8000-000000000abc',
      },
      patch: { heldReason: 'NO_CONSENT' },
    });
    await ctx.quarantine.add(
      {
        crimeReference: 'CC-26-0000123',
        recordVersion: 3,
        reason: `Person[1]/NhsNumber: fails the modulus 11 check ${'x'.repeat(150)}`,
        source: 'feed',
      },
      {},
    );
  });
  afterAll(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  async function run(command: string, ...args: string[]) {
    let out = '';
    let err = '';
    const code = await worklistCommand(command, args, ctx, { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  }

  it('referrals list: a table of HELD referrals with the reason, every line within 120 columns', async () => {
    const { code, out } = await run('referrals', 'list', '--status', 'HELD');
    expect(code).toBe(0);
    expect(out).toContain('NO_CONSENT');
    expect(out).toContain('CC-26-0000123');
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    expect(JSON.parse((await run('referrals', 'list', '--json')).out).items).toHaveLength(1);
  });

  it('crime show: the referrals, the story and the quarantine; an unknown crime exits 1', async () => {
    const { code, out } = await run('crime', 'show', 'CC-26-0000123');
    expect(code).toBe(0);
    expect(out).toMatch(/versions seen 2, 3/);
    expect(out).toContain('Story');
    expect(out).toContain('Quarantine');
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    expect((await run('crime', 'show', 'CC-26-0009999')).code).toBe(1);
  });

  it('quarantine list and show', async () => {
    const list = await run('quarantine', 'list');
    expect(list.out).toContain('Person[1]/NhsNumber');
    for (const line of list.out.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    const id = JSON.parse((await run('quarantine', 'list', '--json')).out).items[0].id as string;
    expect((await run('quarantine', 'show', id)).out).toContain('modulus 11');
    expect((await run('quarantine', 'show', 'ffffffffffffffffffffffffffffffff')).code).toBe(1);
  });

  it('--help on every command; bad options are usage errors that name the option', async () => {
    for (const [command, sub] of [
      ['referrals', 'list'],
      ['crime', 'show'],
      ['quarantine', 'list'],
    ] as const) {
      const help = await run(command, sub, '--help');
      expect([command, help.code, help.out]).toEqual([command, 0, expect.stringContaining('iasu-bridge referrals list')]);
    }
    await expect(run('referrals', 'list', '--status', 'LOST')).rejects.toThrow(WorklistUsageError);
    await expect(run('referrals', 'list', '--limit', 'abc')).rejects.toThrow(/--limit/);
    await expect(run('referrals', 'list', '--cursor', 'nonsense')).rejects.toThrow(/--cursor/);
  });

  it('table() cuts the widest columns to fit, with an ellipsis', () => {
    const out = table(['a', 'b'], [['x'.repeat(200), 'short']], 40);
    expect(out.split('\n').every((l) => l.length <= 40)).toBe(true);
    expect(out).toContain('…');
  });
});
