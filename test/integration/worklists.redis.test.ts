import type { Server } from '@hapi/hapi';
import { SCOPE, type Scope } from '../../src/api/auth';
import { RESPONSE_SCHEMAS } from '../../src/api/response-schemas';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import type { ReferralStatus } from '../../src/domain/lifecycle';
import { capturedLogger, dropKeys, operatorHeader, testConfig } from '../helpers/bridge';
import { advocacyReferral, clinicalReferral } from '../helpers/referrals';

/**
 * The operators' worklists over the API: referrals by status, partner, crime and time with a
 * cursor; a crime's story; the quarantine; service levels. Metadata only.
 */
const PLANTED = 'Zebedee Quarantinedperson';

describe('worklists API', () => {
  let ctx: BridgeContext;
  let server: Server;

  beforeAll(async () => {
    ctx = createContext(testConfig(), capturedLogger().logger);
    server = await createServer(ctx, { port: 0 });
    // Five referrals of two crimes: two HELD (with reasons), two at the charity, one at the trust.
    const seeds: { crime: string; type: 'CLINICAL' | 'ADVOCACY'; subject: string; status: ReferralStatus | 'HELD'; reason?: string }[] = [
      { crime: 'CC-26-0000001', type: 'ADVOCACY', subject: 'V1', status: 'HELD', reason: 'NO_CONSENT' },
      { crime: 'CC-26-0000001', type: 'CLINICAL', subject: 'S1', status: 'SENT' },
      { crime: 'CC-26-0000002', type: 'ADVOCACY', subject: 'V2', status: 'SENT' },
      { crime: 'CC-26-0000002', type: 'ADVOCACY', subject: 'V3', status: 'HELD', reason: 'CONSENT_REFUSED' },
      { crime: 'CC-26-0000002', type: 'CLINICAL', subject: 'S2', status: 'ACCEPTED' },
    ];
    for (const [i, s] of seeds.entries()) {
      const base = s.type === 'CLINICAL' ? clinicalReferral() : advocacyReferral();
      const id = `0e0e0e0e-0000-5000-8000-00000000000${i}`;
      const create = {
        referralId: id,
        type: s.type,
        crimeReference: s.crime,
        recordVersion: 1 + (i % 2),
        correlationId: `c0ffee00-0000-4000-8000-00000000000${i}`,
      };
      await ctx.referrals.saveData({ ...base, referralId: id, crimeReference: s.crime });
      if (s.status === 'HELD') {
        await ctx.referrals.transition(id, { to: 'HELD', source: 'intake', create, patch: { heldReason: s.reason! } });
        continue;
      }
      await ctx.referrals.transition(id, { to: 'QUEUED', source: 'intake', create });
      await ctx.referrals.transition(id, { to: 'SENT', source: s.type === 'CLINICAL' ? 'NHS' : 'CHARITY' });
      if (s.status === 'ACCEPTED')
        await ctx.referrals.transition(id, { to: 'ACCEPTED', source: 'nhs-poll', detail: 'Task status accepted' });
    }
    await ctx.quarantine.add(
      { crimeReference: 'CC-26-0000002', recordVersion: 3, reason: 'Person[1]/NhsNumber: fails the modulus 11 check', source: 'feed' },
      { forename: PLANTED },
    );
    await ctx.quarantine.add(
      { crimeReference: 'CC-26-0000009', recordVersion: 1, reason: 'Person[2]/DateOfBirth: not a date', source: 'push' },
      { forename: PLANTED },
    );
  });
  afterAll(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const get = async (url: string, scopes: Scope[] = [SCOPE.referralsRead]) => {
    const res = await server.inject({ url, headers: operatorHeader(ctx.config, scopes) });
    return { status: res.statusCode, body: JSON.parse(res.payload) as Record<string, unknown>, payload: res.payload };
  };

  it('HELD referrals with their reasons; filters by partner and crime', async () => {
    const held = await get('/v1/referrals?status=HELD');
    expect(held.status).toBe(200);
    expect((held.body.items as { heldReason: string }[]).map((r) => r.heldReason).sort()).toEqual(['CONSENT_REFUSED', 'NO_CONSENT']);
    const nhs = await get('/v1/referrals?partner=NHS');
    expect((nhs.body.items as { partner: string }[]).every((r) => r.partner === 'NHS')).toBe(true);
    expect(nhs.body.items).toHaveLength(2);
    const crime = await get('/v1/referrals?crimeReference=CC-26-0000001');
    expect((crime.body.items as { crimeReference: string }[]).map((r) => r.crimeReference)).toEqual(['CC-26-0000001', 'CC-26-0000001']);
    expect((await get(`/v1/referrals?updatedSince=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.items).toEqual(
      [],
    );
  });

  it('pages with a cursor: every referral once, newest change first', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await get(`/v1/referrals?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...(page.body.items as { referralId: string }[]).map((r) => r.referralId));
      cursor = page.body.nextCursor as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    const all = (await get('/v1/referrals')).body.items as { referralId: string; updatedAt: string }[];
    expect(all.map((r) => r.referralId)).toEqual(seen);
    expect(all.map((r) => r.updatedAt)).toEqual([...all.map((r) => r.updatedAt)].sort().reverse());
  });

  it('a bad query names the field; a made-up cursor is refused', async () => {
    for (const [url, field] of [
      ['/v1/referrals?status=LOST', '"status"'],
      ['/v1/referrals?partner=POLICE', '"partner"'],
      ['/v1/referrals?updatedSince=yesterday', '"updatedSince"'],
      ['/v1/referrals?limit=0', '"limit"'],
      ['/v1/referrals?cursor=bm90LWEtY3Vyc29y', '"cursor"'],
    ] as const) {
      const res = await get(url);
      expect([url, res.status, res.body.message]).toEqual([url, 400, expect.stringContaining(field)]);
    }
  });

  it("a crime's story: its referrals with timelines, in one chronological list, with its quarantine entries and versions", async () => {
    const res = await get('/v1/crimes/CC-26-0000002');
    expect(res.status).toBe(200);
    const story = res.body as {
      referrals: { status: string; timeline: unknown[] }[];
      story: { status: string; at: string }[];
      quarantine: { reason: string }[];
      versionsSeen: number[];
    };
    expect(story.referrals.map((r) => r.status).sort()).toEqual(['ACCEPTED', 'HELD', 'SENT']);
    expect(story.story.map((e) => e.at)).toEqual([...story.story.map((e) => e.at)].sort());
    expect(story.story).toHaveLength(story.referrals.reduce((n, r) => n + r.timeline.length, 0));
    expect(story.quarantine.map((q) => q.reason)).toEqual(['Person[1]/NhsNumber: fails the modulus 11 check']);
    expect(story.versionsSeen).toEqual([1, 2, 3]);
    expect(res.payload).not.toContain(PLANTED);
    expect((await get('/v1/crimes/CC-26-0009999')).status).toBe(404);
    expect((await get('/v1/crimes/not%20a%20ref')).status).toBe(400);
  });

  it('quarantine: reasons for everyone with referrals:read; the record itself for admin only, audited', async () => {
    const list = await get('/v1/quarantine');
    expect(list.body.total).toBe(2);
    expect(list.payload).not.toContain(PLANTED);
    const id = (list.body.items as { id: string }[])[0]!.id;
    expect((await get(`/v1/quarantine/${id}`)).body).toMatchObject({ id, reason: expect.any(String) });
    expect((await get(`/v1/quarantine/${id}?include=personal`)).status).toBe(403);
    const full = await get(`/v1/quarantine/${id}?include=personal`, [SCOPE.admin]);
    expect(full.body.record).toEqual({ forename: PLANTED });
    const audit = await ctx.audit.query({});
    expect(audit.some((e) => e.target === `quarantine:${id}` && e.outcome === 'personal')).toBe(true);
  });

  it('discarding a quarantine entry needs dlq:redrive and a reason code; it is audited', async () => {
    const id = ((await get('/v1/quarantine')).body.items as { id: string; crimeReference: string }[]).find(
      (q) => q.crimeReference === 'CC-26-0000009',
    )!.id;
    const post = (scopes: string[], payload: unknown) =>
      server.inject({
        method: 'POST',
        url: `/v1/quarantine/${id}/discard`,
        headers: operatorHeader(ctx.config, scopes as never),
        payload: payload as object,
      });
    expect((await post([SCOPE.referralsRead], { reason: 'test-data' })).statusCode).toBe(403);
    const bad = await post([SCOPE.dlqRedrive], { reason: `${PLANTED} asked me to` });
    expect([bad.statusCode, JSON.parse(bad.payload).message]).toEqual([400, expect.stringContaining('"reason"')]);
    expect((await post([SCOPE.dlqRedrive], { reason: 'test-data' })).statusCode).toBe(200);
    expect((await get(`/v1/quarantine/${id}`)).status).toBe(404);
    expect((await ctx.audit.query({})).some((e) => e.action === 'quarantine.discarded' && e.outcome === 'test-data')).toBe(true);
  });

  it('every answer matches the response schema the OpenAPI description publishes', async () => {
    const qid = ((await get('/v1/quarantine')).body.items as { id: string }[])[0]!.id;
    const cases: [string, string, Scope[]][] = [
      ['GET /v1/referrals', '/v1/referrals?limit=2', [SCOPE.referralsRead]],
      ['GET /v1/crimes/{crimeReference}', '/v1/crimes/CC-26-0000002', [SCOPE.referralsRead]],
      ['GET /v1/quarantine', '/v1/quarantine', [SCOPE.referralsRead]],
      ['GET /v1/quarantine/{id}', `/v1/quarantine/${qid}?include=personal`, [SCOPE.admin]],
      ['GET /v1/service-levels', '/v1/service-levels', [SCOPE.referralsRead]],
      ['GET /v1/referrals/{id}', '/v1/referrals/0e0e0e0e-0000-5000-8000-000000000004', [SCOPE.referralsRead]],
    ];
    for (const [route, url, scopes] of cases) {
      const res = await get(url, scopes);
      expect([route, res.status]).toEqual([route, 200]);
      expect([route, RESPONSE_SCHEMAS[route]!.validate(res.body).error?.message]).toEqual([route, undefined]);
    }
  });

  it("service levels: Victims' Code breaches open now apart from those closed late", async () => {
    const breach = (referralId: string, sentAt: string | null) => ({
      kind: 'victims-code-breach',
      referralId,
      crimeReference: 'CC-26-0000002',
      clockStart: '2026-11-02T09:00:00Z',
      deadline: '2026-11-04T09:00:00Z',
      sentAt,
    });
    const report = {
      generatedAt: '2026-11-20T00:00:00Z',
      counts: { NHS: {}, CHARITY: {} },
      discrepancies: [],
      serviceLevels: { breaches: [breach('a', null), breach('b', '2026-11-06T09:00:00Z')], overdue: [] },
      pendingWriteBacks: 0,
      unreachable: [],
    };
    await ctx.redis.set(ctx.keys.reconcileReport(), JSON.stringify(report));
    const res = await get('/v1/service-levels');
    expect(res.body).toMatchObject({
      generatedAt: '2026-11-20T00:00:00Z',
      open: [{ referralId: 'a' }],
      closedLate: [{ referralId: 'b' }],
      clinicalOverdue: [],
    });
  });
});
