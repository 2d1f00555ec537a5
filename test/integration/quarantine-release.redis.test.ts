import type { Server } from '@hapi/hapi';
import { SCOPE } from '../../src/api/auth';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { CONFLICT_REASON, ingestDocument } from '../../src/pipeline/ingest/feed-ingest';
import { intakeJobId } from '../../src/queues/topology';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';

/**
 * Releasing a quarantined record: read again through today's validation, queued if it passes
 * now; refused while it still fails, and always for a conflicting version.
 */
describe('POST /v1/quarantine/{id}/release', () => {
  let ctx: BridgeContext;
  let server: Server;
  const [record] = generateFeedRecords({ records: 20, seed: 5, prefix: 'CC-26' }).filter((g) => g.kind === 'full');

  beforeAll(async () => {
    // A crime-reference rule the police's references do not meet: the record is quarantined.
    ctx = createContext(testConfig({ POLICE_CRIME_REF_PATTERN: '^XX-' }), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const release = (id: string, scopes = [SCOPE.dlqRedrive]) =>
    server.inject({ method: 'POST', url: `/v1/quarantine/${id}/release`, headers: operatorHeader(ctx.config, scopes) });

  it('refused while it still fails; queued for intake once the rule is fixed; audited; dlq:redrive only', async () => {
    expect(record).toBeDefined();
    const summary = await ingestDocument(ctx, Buffer.from(feedDocument([record!.xml])), 'push');
    expect(summary.quarantined).toHaveLength(1);
    const [entry] = await ctx.quarantine.list();
    expect(entry!.reason).toMatch(/CrimeReference/);

    const still = await release(entry!.id);
    expect([still.statusCode, JSON.parse(still.payload).why]).toEqual([409, expect.stringMatching(/^it still fails: .*CrimeReference/)]);
    expect((await release(entry!.id, [SCOPE.referralsRead] as never)).statusCode).toBe(403);

    (ctx.config.police as { crimeRefPattern?: RegExp }).crimeRefPattern = /^CC-/;
    const ok = await release(entry!.id);
    expect([ok.statusCode, JSON.parse(ok.payload)]).toEqual([200, { id: entry!.id, outcome: 'released', queued: true }]);
    expect(await ctx.quarantine.get(entry!.id)).toBeUndefined();
    expect(await ctx.queues.intake.getJob(intakeJobId(record!.crimeReference, record!.recordVersion))).toBeDefined();
    expect((await ctx.audit.query({})).some((e) => e.action === 'quarantine.released' && e.outcome === 'queued')).toBe(true);
    expect((await release(entry!.id)).statusCode).toBe(404);
  });

  it('a conflicting version is never released', async () => {
    const conflict = await ctx.quarantine.add(
      { crimeReference: 'CC-26-0000999', recordVersion: 2, reason: CONFLICT_REASON, source: 'pull' },
      { any: 'thing' },
    );
    const res = await release(conflict.id);
    expect([res.statusCode, JSON.parse(res.payload).why]).toEqual([409, expect.stringContaining('never released')]);
    expect(await ctx.quarantine.get(conflict.id)).toBeDefined();
  });
});
