import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { defaultJobOptions, QUEUE } from '../../src/queues/topology';
import { expireDeadLetterPersonalData, redriveDeadLetter } from '../../src/operations/dead-letter-admin';
import { advocacyReferral } from '../helpers/referrals';
import { capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/** Nothing personal stays longer than configured, and Redis does not grow without bound. */
describe('retention', () => {
  let ctx: BridgeContext;
  const day = 24 * 3600;

  beforeAll(() => {
    ctx = createContext(testConfig({ RETENTION_DAYS: '30', QUARANTINE_RETENTION_DAYS: '14' }), capturedLogger().logger);
  });
  afterAll(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  /** A referral's details saved and its state QUEUED, as intake leaves them. */
  const queue = async (referral: ReturnType<typeof advocacyReferral>) => {
    const id = referral.referralId;
    await ctx.referrals.saveData(referral);
    await ctx.referrals.transition(id, {
      to: 'QUEUED',
      source: 'test',
      create: { referralId: id, type: 'ADVOCACY', crimeReference: referral.crimeReference, recordVersion: 1, correlationId: id },
    });
  };

  test('the details go once the partner has the frozen payload, which expires RETENTION_DAYS after a terminal status', async () => {
    const referral = advocacyReferral();
    const id = referral.referralId;
    await queue(referral);
    await ctx.referrals.saveOutbound(id, { externalReference: id });
    // Make the clock visible: shorten both, then a terminal status must set them back to the full period.
    await ctx.redis.expire(ctx.keys.data(id), 60);
    await ctx.redis.expire(ctx.keys.outbound(id), 60);
    await ctx.referrals.transition(id, { to: 'SENT', source: 'test' });
    expect(await ctx.redis.exists(ctx.keys.data(id))).toBe(0);
    await ctx.referrals.transition(id, { to: 'COMPLETED', source: 'test' });
    const ttl = await ctx.redis.ttl(ctx.keys.outbound(id));
    expect(ttl).toBeGreaterThan(30 * day - 60);
    expect(ttl).toBeLessThanOrEqual(30 * day);
    // The metadata (no personal data) stays: a late record version must not bring it back to life.
    expect(await ctx.redis.ttl(ctx.keys.referral(id))).toBe(-1);
  });

  test("a crime's referrals are fields of its small hash, not a set of their own; those listed in a set before are still found", async () => {
    const referral = advocacyReferral({ referralId: '0b6f3a0e-6c1d-5f4e-8a2b-7d9c1e3f5a60', crimeReference: 'CC-26-0000777' });
    await queue(referral);
    expect(await ctx.redis.exists(ctx.keys.crimeReferrals('CC-26-0000777'))).toBe(0);
    expect(await ctx.redis.hget(ctx.keys.crime('CC-26-0000777'), `referral:${referral.referralId}`)).toBe('1');
    expect(await ctx.redis.call('OBJECT', 'ENCODING', ctx.keys.crime('CC-26-0000777'))).toBe('listpack');
    await ctx.redis.sadd(ctx.keys.crimeReferrals('CC-26-0000777'), 'listed-before', referral.referralId);
    expect((await ctx.referrals.idsForCrime('CC-26-0000777')).sort()).toEqual([referral.referralId, 'listed-before'].sort());
    expect(await ctx.referrals.idsForCrime('CC-26-0000778')).toEqual([]);
    // Nor does the referral's hash repeat the id its key holds.
    expect(await ctx.redis.hget(ctx.keys.referral(referral.referralId), 'referralId')).toBeNull();
    expect((await ctx.referrals.get(referral.referralId))?.referralId).toBe(referral.referralId);
    expect((await ctx.referrals.getMany(['absent', referral.referralId])).map((m) => m.referralId)).toEqual([referral.referralId]);
  });

  test('details of a referral never sent expire RETENTION_DAYS after its terminal status', async () => {
    const referral = advocacyReferral({ referralId: '5d1c7a2e-0b9f-5e3a-9c41-2f8e6b0d4a17' });
    const id = referral.referralId;
    await queue(referral);
    await ctx.redis.expire(ctx.keys.data(id), 60);
    expect(await ctx.referrals.transition(id, { to: 'CANCELLED', source: 'test' })).toMatchObject({ applied: true });
    const ttl = await ctx.redis.ttl(ctx.keys.data(id));
    expect(ttl).toBeGreaterThan(30 * day - 60);
    expect(ttl).toBeLessThanOrEqual(30 * day);
  });

  test('a quarantined record expires after QUARANTINE_RETENTION_DAYS', async () => {
    const entry = await ctx.quarantine.add(
      { crimeReference: 'CC-26-0000099', recordVersion: 1, reason: 'test', source: 'push' },
      '<CrimeRecord/>',
    );
    const ttl = await ctx.redis.ttl(ctx.keys.quarantine(entry.id));
    expect(ttl).toBeGreaterThan(14 * day - 60);
    expect(ttl).toBeLessThanOrEqual(14 * day);
  });

  test('finished jobs are pruned by age and count on every working queue; dead letters wait for an operator', () => {
    for (const queue of [QUEUE.intake, QUEUE.nhsDelivery, QUEUE.charityDelivery, QUEUE.policeWriteBacks, QUEUE.reconcile]) {
      const opts = defaultJobOptions(ctx.config, queue);
      expect([queue, opts.removeOnComplete]).toEqual([
        queue,
        expect.objectContaining({ age: expect.any(Number), count: expect.any(Number) }),
      ]);
      expect([queue, opts.removeOnFail]).toEqual([queue, expect.objectContaining({ age: expect.any(Number), count: expect.any(Number) })]);
    }
    expect(defaultJobOptions(ctx.config, QUEUE.deadLetter)).toMatchObject({ removeOnComplete: false, removeOnFail: false });
    // A finished page job holds fifty sealed police records (~160 KB) that nothing reads again.
    expect((defaultJobOptions(ctx.config, QUEUE.intake).removeOnComplete as { count: number }).count).toBeLessThanOrEqual(50);
    // Finished deliveries and cancels are read by nothing: a thousand each, not a day's worth.
    for (const queue of [QUEUE.nhsDelivery, QUEUE.charityDelivery])
      expect((defaultJobOptions(ctx.config, queue).removeOnComplete as { count: number }).count).toBeLessThanOrEqual(1000);
  });

  test('a dead letter keeps its metadata but loses its sealed police record after RETENTION_DAYS', async () => {
    const entry = (failedAt: string, jobId: string) => ({
      queue: QUEUE.intake,
      jobId,
      jobName: 'record',
      data: {
        sealed: ctx.cipher.sealJson({ forename: 'Plantedname' }, jobId),
        crimeReference: 'CC-26-0000077',
        recordVersion: 1,
        force: 'CHESHIRE',
        correlationId: 'c',
        source: 'push',
      },
      partner: 'BRIDGE' as const,
      errorKind: 'permanent' as const,
      reason: 'test',
      attempts: 1,
      failedAt,
      crimeReference: 'CC-26-0000077',
    });
    const now = new Date('2026-11-22T12:00:00Z');
    await ctx.queues.deadLetter.add('intake:record', entry('2026-10-01T00:00:00Z', 'old'), { jobId: 'dl-old' });
    await ctx.queues.deadLetter.add('intake:record', entry('2026-11-20T00:00:00Z', 'new'), { jobId: 'dl-new' });
    expect(await expireDeadLetterPersonalData(ctx, now)).toBe(1);
    const old = (await ctx.queues.deadLetter.getJob('dl-old'))!.data;
    expect(old).toMatchObject({ reason: 'test', crimeReference: 'CC-26-0000077', data: { sealedExpired: true } });
    expect(JSON.stringify(old)).not.toMatch(/enc\d\./);
    expect((await ctx.queues.deadLetter.getJob('dl-new'))!.data.data).toHaveProperty('sealed');
    const refused = await redriveDeadLetter(ctx, 'dl-old', 'operator:tester');
    expect(refused).toMatchObject({ outcome: 'refused', why: expect.stringContaining('expired') });
  });
});
