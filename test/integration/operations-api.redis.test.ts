import type { Server } from '@hapi/hapi';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';

/** GET /metrics and the audit trail's API, on real Redis. */
describe('operations API', () => {
  let ctx: BridgeContext;
  let server: Server;
  const referralId = '00000000-0000-5000-8000-000000000042';

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
    await ctx.referrals.transition(referralId, {
      to: 'QUEUED',
      source: 'police',
      create: { referralId, type: 'ADVOCACY', crimeReference: 'CC-26-0000042', recordVersion: 1, correlationId: referralId },
    });
    await ctx.audit.record({
      actor: 'police-poll',
      action: 'record.ingested',
      crimeReference: 'CC-26-0000042',
      partner: 'POLICE',
      outcome: 'queued_v1',
    });
    await ctx.audit.record({
      actor: 'system',
      action: 'referral.status_changed',
      referralId,
      crimeReference: 'CC-26-0000042',
      status: 'QUEUED',
    });
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  test("/metrics: Prometheus text for metrics:read, with the bridge's own figures", async () => {
    const res = await server.inject({ url: '/metrics', headers: operatorHeader(ctx.config, ['metrics:read']) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.payload).toMatch(/^iasu_referrals\{partner="CHARITY",status="QUEUED"\} 1$/m);
    expect(res.payload).toMatch(/^iasu_queue_jobs\{queue="intake",state="waiting"\} \d+$/m);
    expect(res.payload).not.toContain(referralId);
  });

  test('/v1/audit: by referral and time range, for administrators; the read itself is audited', async () => {
    const admin = operatorHeader(ctx.config, ['admin'], 'auditor1');
    expect((await server.inject({ url: '/v1/audit', headers: operatorHeader(ctx.config, ['referrals:read']) })).statusCode).toBe(403);
    const res = await server.inject({ url: `/v1/audit?referralId=${referralId}`, headers: admin });
    expect(res.statusCode).toBe(200);
    const { events } = JSON.parse(res.payload) as { events: { action: string; referralId?: string; actor: string }[] };
    expect(events.map((e) => e.action)).toEqual(['referral.status_changed', 'admin.read']);
    expect(events.at(-1)).toMatchObject({ actor: 'operator:auditor1', referralId });
    const future = await server.inject({ url: '/v1/audit?from=2099-01-01T00:00:00Z', headers: admin });
    expect(JSON.parse(future.payload).events).toEqual([]);
    expect((await server.inject({ url: '/v1/audit?referralId=not-a-uuid', headers: admin })).statusCode).toBe(400);
  });

  test('/v1/audit/export: JSON lines, one event per line, oldest first', async () => {
    const res = await server.inject({ url: '/v1/audit/export', headers: operatorHeader(ctx.config, ['admin']) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.payload
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { at: string; action: string });
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.map((l) => l.action).slice(0, 3)).toEqual(['record.ingested', 'referral.status_changed', 'admin.read']);
    expect([...lines].sort((a, b) => a.at.localeCompare(b.at))).toEqual(lines);
  });
});
