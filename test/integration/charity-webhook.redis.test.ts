import type { Server } from '@hapi/hapi';
import { signCharityPayload } from '../../src/adapters/charity/webhook-signature';
import { createServer } from '../../src/api/server';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { advocacyReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * POST /v1/webhooks/charity on real Redis (charity-api.md "Webhook to the bridge"): signature
 * over the raw bytes, 300 s window, rotation, a repeated eventId applied once, never backwards,
 * 404 for a referral the charity cannot hold.
 */
const SECRET_NEW = 'whsec-new-0123456789abcdef';
const SECRET_OLD = 'whsec-old-0123456789abcdef';
const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';
const referral = advocacyReferral();
const ID = referral.referralId;
const CHARITY_ID = 'CH-000042';

describe('charity webhook', () => {
  let ctx: BridgeContext;
  let server: Server;
  let logs: () => string;
  let eventSeq = 0;

  beforeEach(async () => {
    const captured = capturedLogger();
    logs = captured.text;
    ctx = createContext(testConfig({ CHARITY_WEBHOOK_SECRETS: `${SECRET_NEW},${SECRET_OLD}` }), captured.logger);
    server = await createServer(ctx, { port: 0 });
  });
  afterEach(async () => {
    await server.stop();
    await dropKeys(ctx.config);
    await ctx.close();
  });

  async function sentReferral(status: 'SENT' | 'HELD' = 'SENT'): Promise<void> {
    await ctx.referrals.transition(ID, {
      to: status === 'HELD' ? 'HELD' : 'QUEUED',
      source: 'test',
      create: { referralId: ID, type: 'ADVOCACY', crimeReference: referral.crimeReference, recordVersion: 3, correlationId: CORRELATION },
    });
    if (status === 'SENT')
      await ctx.referrals.transition(ID, { to: 'SENT', source: 'test', patch: { partnerRef: CHARITY_ID, partnerStatus: 'RECEIVED' } });
  }

  function event(
    status: string,
    occurredAt: string,
    overrides: { eventId?: string; id?: string; externalReference?: string; statusReason?: string | null } = {},
  ) {
    return {
      eventId: overrides.eventId ?? `evt_${String(++eventSeq).padStart(6, '0')}`,
      type: 'referral.status_changed',
      occurredAt,
      referral: {
        id: overrides.id ?? CHARITY_ID,
        externalReference: overrides.externalReference ?? ID,
        status,
        statusReason: overrides.statusReason ?? null,
      },
    };
  }

  function deliver(body: unknown, opts: { secret?: string; t?: number; signature?: string | null; raw?: string } = {}) {
    const raw = opts.raw ?? JSON.stringify(body);
    const t = opts.t ?? Math.floor(Date.now() / 1000);
    const signature = opts.signature === undefined ? signCharityPayload(opts.secret ?? SECRET_NEW, raw, t) : opts.signature;
    return server.inject({
      method: 'POST',
      url: '/v1/webhooks/charity',
      headers: { 'content-type': 'application/json', ...(signature === null ? {} : { 'x-charity-signature': signature }) },
      payload: raw,
    });
  }

  const status = async () => (await ctx.referrals.get(ID))?.status;

  test('a signed status change is applied, recorded and queued for the police', async () => {
    await sentReferral();
    const res = await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'));
    expect(res.statusCode).toBe(200);
    expect(res.result).toMatchObject({ result: 'applied' });
    expect(await ctx.referrals.get(ID)).toMatchObject({
      status: 'ACCEPTED',
      partnerStatus: 'ALLOCATED',
      partnerStatusAt: '2026-11-22T11:00:00Z',
    });
    const last = (await ctx.referrals.timeline(ID)).at(-1);
    expect(last).toMatchObject({ status: 'ACCEPTED', source: 'charity-webhook', detail: 'charity status ALLOCATED' });
    expect(await ctx.referrals.outboxSize()).toBe(3);
  });

  test.each([
    ['missing', null],
    ['malformed', 't=abc,v1=xyz'],
    ['made with another secret', signCharityPayload('someone-elses-secret-000', '{}', Math.floor(Date.now() / 1000))],
  ])('a %s signature is 401 and changes nothing', async (_label, signature) => {
    await sentReferral();
    const res = await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'), { signature });
    expect(res.statusCode).toBe(401);
    expect(await status()).toBe('SENT');
  });

  test('a signature over different bytes is 401: the raw body is what is signed', async () => {
    await sentReferral();
    const body = event('ALLOCATED', '2026-11-22T11:00:00Z');
    const signedRaw = JSON.stringify(body);
    const sentRaw = JSON.stringify(body, null, 1); // same JSON, other bytes
    const res = await deliver(body, { raw: sentRaw, signature: signCharityPayload(SECRET_NEW, signedRaw, Math.floor(Date.now() / 1000)) });
    expect(res.statusCode).toBe(401);
  });

  test('a timestamp more than 300 s away is 401; within 300 s is accepted', async () => {
    await sentReferral();
    const now = Math.floor(Date.now() / 1000);
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'), { t: now - 301 })).statusCode).toBe(401);
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'), { t: now + 301 })).statusCode).toBe(401);
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'), { t: now - 290 })).statusCode).toBe(200);
  });

  test('during a rotation both secrets are accepted', async () => {
    await sentReferral();
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'), { secret: SECRET_OLD })).statusCode).toBe(200);
    expect((await deliver(event('CONTACTED', '2026-11-22T11:05:00Z'), { secret: SECRET_NEW })).statusCode).toBe(200);
    expect(await status()).toBe('IN_PROGRESS');
  });

  test('a repeated eventId is answered 200 and applied once', async () => {
    await sentReferral();
    const e = event('ALLOCATED', '2026-11-22T11:00:00Z');
    expect((await deliver(e)).result).toMatchObject({ result: 'applied' });
    const before = (await ctx.referrals.timeline(ID)).length;
    const again = await deliver(e);
    expect(again.statusCode).toBe(200);
    expect(again.result).toMatchObject({ result: 'duplicate' });
    expect((await ctx.referrals.timeline(ID)).length).toBe(before);
  });

  test('a repeat while the first copy is still being applied is 503, and is applied once that claim lapses', async () => {
    await sentReferral();
    const e = event('ALLOCATED', '2026-11-22T11:00:00Z');
    // What a process that died mid-apply leaves: the claim, and no change to the referral.
    expect(await ctx.webhookEvents.claim('charity', e.eventId)).toBe('claimed');
    const meanwhile = await deliver(e);
    expect(meanwhile.statusCode).toBe(503);
    expect(await status()).toBe('SENT');
    const key = ctx.keys.webhookEvent('charity', e.eventId);
    expect(await ctx.redis.ttl(key)).toBeLessThanOrEqual(60);
    await ctx.redis.pexpire(key, 1);
    await new Promise((r) => setTimeout(r, 20));
    const retried = await deliver(e);
    expect(retried.statusCode).toBe(200);
    expect(retried.result).toMatchObject({ result: 'applied' });
    expect(await status()).toBe('ACCEPTED');
    // Applied: repeats are duplicates for the retry window, not 503s.
    expect(await ctx.redis.ttl(key)).toBeGreaterThan(24 * 3600);
    expect((await deliver(e)).result).toMatchObject({ result: 'duplicate' });
  });

  test('an event id claimed by an earlier version of the bridge (value 1) counts as applied', async () => {
    await sentReferral();
    const e = event('ALLOCATED', '2026-11-22T11:00:00Z');
    await ctx.redis.set(ctx.keys.webhookEvent('charity', e.eventId), '1', 'EX', 600);
    expect((await deliver(e)).result).toMatchObject({ result: 'duplicate' });
    expect(await status()).toBe('SENT');
  });

  test("a failed apply releases the claim, so the charity's retry is applied", async () => {
    await sentReferral();
    const e = event('ALLOCATED', '2026-11-22T11:00:00Z');
    const real = ctx.referrals.get.bind(ctx.referrals);
    // The handler's own read succeeds; the apply's read under the lock fails once.
    const get = jest.spyOn(ctx.referrals, 'get').mockImplementationOnce(real).mockRejectedValueOnce(new Error('redis hiccup'));
    expect((await deliver(e)).statusCode).toBe(500);
    get.mockRestore();
    expect(await ctx.redis.exists(ctx.keys.webhookEvent('charity', e.eventId))).toBe(0);
    expect((await deliver(e)).result).toMatchObject({ result: 'applied' });
  });

  test('out of order: an older status arriving late never moves the referral back', async () => {
    await sentReferral();
    await deliver(event('CONTACTED', '2026-11-22T11:05:00Z'));
    const late = await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'));
    expect(late.statusCode).toBe(200);
    expect(late.result).toMatchObject({ result: 'ignored' });
    expect(await ctx.referrals.get(ID)).toMatchObject({ status: 'IN_PROGRESS', partnerStatus: 'CONTACTED' });
  });

  test('DECLINED completes the referral and CLOSED afterwards keeps DECLINED as the outcome', async () => {
    await sentReferral();
    await deliver(event('DECLINED', '2026-11-22T12:00:00Z', { statusReason: 'CLIENT_DECLINED' }));
    expect(await ctx.referrals.get(ID)).toMatchObject({ status: 'COMPLETED', partnerOutcome: 'DECLINED' });
    expect((await ctx.referrals.timeline(ID)).at(-1)?.detail).toBe('charity status DECLINED (CLIENT_DECLINED)');
    const closed = await deliver(event('CLOSED', '2026-11-22T13:00:00Z'));
    expect(closed.result).toMatchObject({ result: 'recorded' });
    expect(await ctx.referrals.get(ID)).toMatchObject({ status: 'COMPLETED', partnerStatus: 'CLOSED', partnerOutcome: 'DECLINED' });
  });

  test('an outcome arriving after CLOSED is still kept, without moving the status', async () => {
    await sentReferral();
    await deliver(event('CLOSED', '2026-11-22T13:00:00Z'));
    const late = await deliver(event('UNCONTACTABLE', '2026-11-22T12:00:00Z'));
    expect(late.result).toMatchObject({ result: 'recorded' });
    expect(await ctx.referrals.get(ID)).toMatchObject({ status: 'COMPLETED', partnerStatus: 'CLOSED', partnerOutcome: 'UNCONTACTABLE' });
  });

  test('CANCELLED from the charity cancels the referral', async () => {
    await sentReferral();
    await deliver(event('CANCELLED', '2026-11-22T12:00:00Z'));
    expect(await status()).toBe('CANCELLED');
  });

  test.each([
    ['an unknown referral', { externalReference: '6f1c0000-0000-5000-8000-000000000000' }],
    ['another charity id than the one the bridge holds', { id: 'CH-999999' }],
  ])('%s is 404', async (_label, overrides) => {
    await sentReferral();
    const res = await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z', overrides));
    expect(res.statusCode).toBe(404);
    expect(await status()).toBe('SENT');
  });

  test('a referral the bridge is holding back (never sent) is 404 and stays HELD', async () => {
    await sentReferral('HELD');
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'))).statusCode).toBe(404);
    expect(await status()).toBe('HELD');
  });

  test('a status arriving before the delivery recorded the charity id is applied and records it', async () => {
    await ctx.referrals.transition(ID, {
      to: 'QUEUED',
      source: 'test',
      create: { referralId: ID, type: 'ADVOCACY', crimeReference: referral.crimeReference, recordVersion: 3, correlationId: CORRELATION },
    });
    expect((await deliver(event('ALLOCATED', '2026-11-22T11:00:00Z'))).statusCode).toBe(200);
    expect(await ctx.referrals.get(ID)).toMatchObject({ status: 'ACCEPTED', partnerRef: CHARITY_ID });
  });

  test('a body that is not a valid event is 400; an event is never half-applied', async () => {
    await sentReferral();
    expect((await deliver(undefined, { raw: '{not json' })).statusCode).toBe(400);
    expect((await deliver({ ...event('ALLOCATED', 'yesterday') })).statusCode).toBe(400);
    expect((await deliver({ ...event('ALLOCATED', '2026-11-22T11:00:00Z'), type: 'referral.deleted' })).statusCode).toBe(400);
    expect(await status()).toBe('SENT');
  });

  test('no secret configured: 503', async () => {
    const closed = createContext(testConfig(), capturedLogger().logger);
    await closed.redis.ping(); // connected, so close() below does not race the connect
    const closedServer = await createServer(closed, { port: 0 });
    try {
      const res = await closedServer.inject({
        method: 'POST',
        url: '/v1/webhooks/charity',
        headers: { 'content-type': 'application/json' },
        payload: '{}',
      });
      expect(res.statusCode).toBe(503);
    } finally {
      await closedServer.stop();
      await closed.close();
    }
  });

  test('no personal data in the logs, and a free-text statusReason does not reach the timeline', async () => {
    await sentReferral();
    await deliver(event('CONTACTED', '2026-11-22T11:00:00Z', { statusReason: 'Spoke to Alex Morgan at 1 Example Street' }));
    await deliver(event('ALLOCATED', '2026-11-22T10:00:00Z'), { signature: 't=1,v1=00' });
    const timeline = JSON.stringify(await ctx.referrals.timeline(ID));
    expect(timeline).not.toContain('Alex');
    const text = logs();
    expect(text).toContain(ID);
    for (const planted of ['Alex', 'Morgan', 'Example Street', referral.subject.safeContact!.phone!]) expect(text).not.toContain(planted);
  });
});
