import type { Job } from 'bullmq';
import IORedis from 'ioredis';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { referralIdFor } from '../../src/domain/referral-id';
import { ingestDocument } from '../../src/pipeline/ingest/feed-ingest';
import { processIntake } from '../../src/pipeline/intake';
import type { IntakeJob } from '../../src/queues/topology';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { capturedLogger, dropKeys, REDIS_URL, testConfig } from '../helpers/bridge';

/** Intake against real Redis: de-duplication, quarantine, version order, consent changes, encryption at rest. */
describe('intake on real Redis', () => {
  let ctx: BridgeContext;
  const logs = capturedLogger();

  // Intake's own decisions, seen in the queues: no first delivery attempts (first-deliveries.redis.test.ts has those).
  beforeEach(() => {
    ctx = createContext(testConfig({ DELIVERY_FIRST_ATTEMPT_IN_FLIGHT: '0' }), logs.logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const record = (
    crimeReference: string,
    version: number,
    opts: { victimConsent?: string; status?: string; suspectBasis?: boolean; victimForename?: string } = {},
  ) => {
    const [generated] = generateFeedRecords({ records: 1, seed: 7, prefix: 'X' });
    let xml = generated!.xml
      .replace(/<CrimeReference>[^<]+</, `<CrimeReference>${crimeReference}<`)
      .replace(/<RecordVersion>[^<]+</, `<RecordVersion>${version}<`);
    xml = xml.replace(
      /purpose="ADVOCACY_REFERRAL" status="[A-Z_]+"/,
      `purpose="ADVOCACY_REFERRAL" status="${opts.victimConsent ?? 'GIVEN'}"`,
    );
    xml = xml.replace(/<RecordStatus>[A-Z]+</, `<RecordStatus>${opts.status ?? 'ACTIVE'}<`);
    xml = xml.replace(/<HomeOfficeClass>[^<]+</, '<HomeOfficeClass>8Q<');
    if (!xml.includes('<MdtDecision')) throw new Error('fixture record lost its MDT decision');
    xml = xml.replace(/purpose="CLINICAL_REFERRAL" status="[A-Z_]+"/, 'purpose="CLINICAL_REFERRAL" status="REFUSED"');
    xml = xml.replace(/<LawfulBasis[^>]*\/>/, '');
    if (opts.suspectBasis !== false)
      xml = xml.replace(
        '<ClinicalIndicators>',
        '<LawfulBasis code="DPA2018-S8-P4" authorisedBy="Insp 1" authorisedAt="2026-11-22T09:35:00Z"/><ClinicalIndicators>',
      );
    if (opts.victimForename) xml = xml.replace(/<Forename>[^<]+<\/Forename>/, `<Forename>${opts.victimForename}</Forename>`);
    return xml;
  };

  async function runIntake(): Promise<void> {
    const jobs = (await ctx.queues.intake.getJobs(['waiting', 'prioritized'])) as Job<IntakeJob>[];
    for (const job of jobs.sort((a, b) => a.data.recordVersion - b.data.recordVersion)) {
      await processIntake(ctx, job);
      await job.remove();
    }
  }

  test("intake's one call at the start of a record: the crime's lock, its applied version and each referral's state", async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-S1', 2)])), 'push');
    await runIntake();
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-S1', 'ADVOCACY', 'P1');
    const unknown = referralIdFor('CHESHIRE', 'CC-26-S1', 'CLINICAL', 'P9');
    const lockKey = ctx.keys.lock('crime:CC-26-S1');
    const first = await ctx.referrals.lockCrime('CC-26-S1', [unknown, advocacy], 30_000);
    expect(first.token).toEqual(expect.any(String));
    expect(first.version).toBe(2);
    expect(first.metas).toEqual([undefined, await ctx.referrals.get(advocacy)]);
    expect(first.metas[1]).toMatchObject({ referralId: advocacy, status: 'QUEUED', recordVersion: 2, statusSeq: 1 });
    expect(await ctx.redis.get(lockKey)).toBe(first.token);
    // Held: no token, nothing read.
    expect(await ctx.referrals.lockCrime('CC-26-S1', [advocacy], 30_000)).toEqual({ version: 0, metas: [] });
    // Another's token releases nothing; the holder's records the version it applied and releases.
    await ctx.referrals.unlockCrime('CC-26-S1', 'not-the-token', 9);
    expect(await ctx.redis.get(lockKey)).toBe(first.token);
    await ctx.referrals.unlockCrime('CC-26-S1', first.token!, 3);
    expect(await ctx.redis.get(lockKey)).toBeNull();
    const again = await ctx.referrals.lockCrime('CC-26-S1', [], 30_000);
    expect(again).toMatchObject({ token: expect.any(String), version: 3, metas: [] });
    // Released without a version, the version stands.
    await ctx.referrals.unlockCrime('CC-26-S1', again.token!);
    expect(await ctx.referrals.crimeVersion('CC-26-S1')).toBe(3);
    expect(await ctx.redis.get(lockKey)).toBeNull();
    expect(await ctx.referrals.lockCrime('CC-26-NEVER', [advocacy], 30_000)).toMatchObject({ version: 0, metas: [first.metas[1]] });
  });

  test('a lock call resent after a Redis restart finds its own token and goes on', async () => {
    // As if the first run's reply was lost: the lock already holds the token the resent call carries.
    const first = await ctx.referrals.lockCrime('CC-26-S2', [], 30_000, 'token-1');
    const resent = await ctx.referrals.lockCrime('CC-26-S2', [], 30_000, 'token-1');
    expect([first.token, resent.token]).toEqual(['token-1', 'token-1']);
    expect(await ctx.referrals.lockCrime('CC-26-S2', [], 30_000, 'token-2')).toEqual({ version: 0, metas: [] });
  });

  test('a page is queued once however often it is read; bad records are quarantined beside good ones', async () => {
    const bad = record('CC-26-BAD1', 1).replace(/<NhsNumber>\d+</, '<NhsNumber>1234567890<');
    const page = Buffer.from(feedDocument([record('CC-26-A1', 1), bad, record('CC-26-A2', 1)]));
    const first = await ingestDocument(ctx, page, 'pull');
    const second = await ingestDocument(ctx, page, 'pull');
    expect(first.accepted).toBe(2);
    expect(first.quarantined).toEqual([{ crimeReference: 'CC-26-BAD1', reason: expect.stringContaining('Modulus 11') }]);
    expect(second.accepted).toBe(2);
    expect(await ctx.queues.intake.getJobCounts('waiting')).toEqual({ waiting: 2 });
    const jobIds = (await ctx.queues.intake.getJobs(['waiting'])).map((j) => j.id).sort();
    expect(jobIds).toEqual(['CC-26-A1@v1', 'CC-26-A2@v1']);
    expect(await ctx.quarantine.count()).toBe(1);
    const [entry] = await ctx.quarantine.list();
    expect(entry).toMatchObject({ crimeReference: 'CC-26-BAD1', recordVersion: 1, source: 'pull' });
  });

  test('QUEUED referrals get one delivery job each; HELD ones wait; a replay changes nothing', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-B1', 1, { victimConsent: 'NOT_ASKED' })])), 'push');
    await runIntake();
    const clinical = referralIdFor('CHESHIRE', 'CC-26-B1', 'CLINICAL', 'P2');
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-B1', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.get(clinical))?.status).toBe('QUEUED');
    expect(await ctx.referrals.get(advocacy)).toMatchObject({ status: 'HELD', heldReason: 'CONSENT_NOT_ASKED' });
    expect((await ctx.queues.nhsDelivery.getJobs(['waiting'])).map((j) => j.data.referralId)).toEqual([clinical]);
    expect(await ctx.queues.charityDelivery.getJobCounts('waiting')).toEqual({ waiting: 0 });

    // The same version again (a re-read page after its job was pruned): no new status, no new job.
    await ctx.queues.intake.obliterate({ force: true });
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-B1', 1, { victimConsent: 'NOT_ASKED' })])), 'pull');
    await runIntake();
    expect(await ctx.referrals.timeline(clinical)).toHaveLength(1);
    expect(await ctx.queues.nhsDelivery.getJobCounts('waiting')).toEqual({ waiting: 1 });

    // Version 2 brings the victim's consent: the held referral is released.
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-B1', 2)])), 'pull');
    await runIntake();
    expect((await ctx.referrals.get(advocacy))?.status).toBe('QUEUED');
    expect(await ctx.queues.charityDelivery.getJobCounts('waiting')).toEqual({ waiting: 1 });
    // Every change is in the police write-back outbox until the RMS stores it.
    expect(await ctx.referrals.outboxSize()).toBe(3);
  });

  test('details about to be sent are sealed uncompressed (sending deletes them); held ones, which may wait for weeks, compressed', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-Z1', 1, { victimConsent: 'NOT_ASKED' })])), 'push');
    // The intake job's copy of the record is read once, by intake.
    const [job] = (await ctx.queues.intake.getJobs(['waiting'])) as Job<IntakeJob>[];
    expect(job!.data.sealed).toMatch(/^enc1\./);
    await runIntake();
    const clinical = referralIdFor('CHESHIRE', 'CC-26-Z1', 'CLINICAL', 'P2');
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-Z1', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.get(clinical))?.status).toBe('QUEUED');
    // The binary forms' first byte: 0x01 enc1, 0x02 enc2 (crypto.ts).
    expect((await ctx.redis.getBuffer(ctx.keys.data(clinical)))?.[0]).toBe(0x01);
    expect((await ctx.referrals.get(advocacy))?.status).toBe('HELD');
    expect((await ctx.redis.getBuffer(ctx.keys.data(advocacy)))?.[0]).toBe(0x02);
    expect((await ctx.referrals.loadData(advocacy))?.referralId).toBe(advocacy);
    expect((await ctx.referrals.loadData(clinical))?.referralId).toBe(clinical);
  });

  test('the same crime and version with different content is quarantined as a conflict; the first content stands', async () => {
    const planted = 'Quillonerazeph';
    const first = await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-F1', 1)])), 'push');
    expect(first).toMatchObject({ accepted: 1, quarantined: [] });
    // While the first is still queued (its job id would swallow the second) ...
    const waiting = await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-F1', 1, { victimForename: planted })])), 'push');
    expect(waiting).toMatchObject({
      accepted: 0,
      quarantined: [{ crimeReference: 'CC-26-F1', reason: expect.stringContaining('conflict') }],
    });
    await runIntake();
    // ... and after its job is gone (it would have been applied over the first).
    await ctx.queues.intake.obliterate({ force: true });
    const later = await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-F1', 1, { victimConsent: 'WITHDRAWN' })])), 'pull');
    expect(later).toMatchObject({
      accepted: 0,
      quarantined: [{ crimeReference: 'CC-26-F1', reason: expect.stringContaining('conflict') }],
    });
    expect(await ctx.queues.intake.getJobCounts('waiting')).toEqual({ waiting: 0 });
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-F1', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.get(advocacy))?.status).toBe('QUEUED');

    const entries = await ctx.quarantine.list();
    expect(entries).toHaveLength(2);
    for (const e of entries)
      expect(e).toMatchObject({ crimeReference: 'CC-26-F1', recordVersion: 1, reason: expect.stringMatching(/^conflict: RecordVersion/) });
    expect(JSON.stringify(entries)).not.toContain(planted);
    expect(logs.text()).not.toContain(planted);
    // A re-read of a conflicting page quarantines nothing twice.
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-F1', 1, { victimConsent: 'WITHDRAWN' })])), 'pull');
    expect(await ctx.quarantine.count()).toBe(2);
  });

  test('the same crime and version twice in one page: identical is one job, different content a conflict', async () => {
    const page = feedDocument([
      record('CC-26-G1', 1),
      record('CC-26-G1', 1),
      record('CC-26-G2', 1),
      record('CC-26-G2', 1, { victimConsent: 'REFUSED' }),
    ]);
    const summary = await ingestDocument(ctx, Buffer.from(page), 'push');
    expect(summary.quarantined).toEqual([{ crimeReference: 'CC-26-G2', reason: expect.stringContaining('conflict') }]);
    expect((await ctx.queues.intake.getJobs(['waiting'])).map((j) => j.id).sort()).toEqual(['CC-26-G1@v1', 'CC-26-G2@v1']);
  });

  test('an identical re-send stays idempotent: no quarantine, no second referral or delivery', async () => {
    const doc = Buffer.from(feedDocument([record('CC-26-H1', 1)]));
    await ingestDocument(ctx, doc, 'push');
    await runIntake();
    await ctx.queues.intake.obliterate({ force: true });
    // Laid out differently (attribute order, whitespace): the same content.
    const relaid = feedDocument([
      record('CC-26-H1', 1).replace(/<Flag code="([A-Z]+)" raisedAt="([^"]+)"/, '<Flag   raisedAt="$2" code="$1"'),
    ]);
    expect(relaid).not.toBe(doc.toString());
    for (const again of [doc, Buffer.from(relaid)]) {
      expect(await ingestDocument(ctx, again, 'pull')).toMatchObject({ accepted: 1, quarantined: [] });
      await runIntake();
    }
    expect(await ctx.quarantine.count()).toBe(0);
    const clinical = referralIdFor('CHESHIRE', 'CC-26-H1', 'CLINICAL', 'P2');
    expect(await ctx.referrals.timeline(clinical)).toHaveLength(1);
    expect(await ctx.referrals.idsForCrime('CC-26-H1')).toHaveLength(2);
    expect(await ctx.queues.nhsDelivery.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });

  test('a referral the MDT names twice in one record is created and queued once', async () => {
    const twice = record('CC-26-D1', 1).replace(
      '<Referral type="ADVOCACY" subject="P1"/>',
      '<Referral type="ADVOCACY" subject="P1"/><Referral type="ADVOCACY" subject="P1"/>',
    );
    expect(twice.match(/type="ADVOCACY" subject="P1"/g)).toHaveLength(2);
    await ingestDocument(ctx, Buffer.from(feedDocument([twice])), 'pull');
    await runIntake();
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-D1', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.timeline(advocacy)).map((e) => e.status)).toEqual(['QUEUED']);
    expect((await ctx.queues.charityDelivery.getJobs(['waiting'])).map((j) => j.data.referralId)).toEqual([advocacy]);
  });

  test('a referral queued for delivery is committed with its details or not at all; the retry finishes the job', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-E1', 1)])), 'pull');
    const [job] = (await ctx.queues.intake.getJobs(['waiting'])) as Job<IntakeJob>[];
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-E1', 'ADVOCACY', 'P1');
    const transition = ctx.referrals.transition.bind(ctx.referrals);
    const commit = jest
      .spyOn(ctx.referrals, 'transition')
      .mockImplementation((id, req) => (id === advocacy ? Promise.reject(new Error('OOM command not allowed')) : transition(id, req)));
    await expect(processIntake(ctx, job!)).rejects.toThrow('OOM');
    commit.mockRestore();
    expect(await ctx.referrals.get(advocacy)).toBeUndefined();
    expect(await ctx.referrals.loadData(advocacy)).toBeUndefined();
    expect(await ctx.queues.charityDelivery.getJobCounts('waiting')).toEqual({ waiting: 0 });
    await processIntake(ctx, job!);
    expect((await ctx.referrals.get(advocacy))?.status).toBe('QUEUED');
    expect((await ctx.referrals.loadData(advocacy))?.referralId).toBe(advocacy);
    expect((await ctx.queues.charityDelivery.getJobs(['waiting'])).map((j) => j.data.referralId)).toEqual([advocacy]);
  });

  test('details saved apart from a status change (a held referral re-held) that fail to save fail the job, and its retry saves them', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-E2', 1, { victimConsent: 'NOT_ASKED' })])), 'pull');
    await runIntake();
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-E2', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.get(advocacy))?.status).toBe('HELD');
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-E2', 2, { victimConsent: 'NOT_ASKED' })])), 'pull');
    const [job] = (await ctx.queues.intake.getJobs(['waiting'])) as Job<IntakeJob>[];
    const save = ctx.referrals.saveData.bind(ctx.referrals);
    const saveData = jest
      .spyOn(ctx.referrals, 'saveData')
      .mockImplementation((r) => (r.type === 'ADVOCACY' ? Promise.reject(new Error('OOM command not allowed')) : save(r)));
    await expect(processIntake(ctx, job!)).rejects.toThrow('OOM');
    saveData.mockRestore();
    expect((await ctx.referrals.loadData(advocacy))?.recordVersion).toBe(1);
    await processIntake(ctx, job!);
    expect((await ctx.referrals.loadData(advocacy))?.recordVersion).toBe(2);
  });

  test('an older version never overwrites a newer one', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-C1', 3, { victimConsent: 'WITHDRAWN' })])), 'pull');
    await runIntake();
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-C1', 'ADVOCACY', 'P1');
    expect((await ctx.referrals.get(advocacy))?.status).toBe('CANCELLED');
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-C1', 2, { victimConsent: 'GIVEN' })])), 'pull');
    await runIntake();
    expect((await ctx.referrals.get(advocacy))?.status).toBe('CANCELLED');
    expect(await ctx.counters.all()).toMatchObject({ recordsStale: 1 });
  });

  test('withdrawal: a referral not yet sent is cancelled here; one the partner holds gets a cancel job', async () => {
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-D1', 1)])), 'pull');
    await runIntake();
    const clinical = referralIdFor('CHESHIRE', 'CC-26-D1', 'CLINICAL', 'P2');
    const advocacy = referralIdFor('CHESHIRE', 'CC-26-D1', 'ADVOCACY', 'P1');
    // Pretend the charity already has the advocacy referral.
    await ctx.referrals.transition(advocacy, { to: 'SENT', source: 'test', patch: { partnerRef: 'CH-000001' } });
    await ingestDocument(ctx, Buffer.from(feedDocument([record('CC-26-D1', 2, { status: 'WITHDRAWN' })])), 'pull');
    await runIntake();
    expect(await ctx.referrals.get(clinical)).toMatchObject({ status: 'CANCELLED', cancelReason: 'RECORD_WITHDRAWN' });
    expect((await ctx.referrals.get(advocacy))?.status).toBe('SENT');
    const cancels = await ctx.queues.charityDelivery.getJobs(['waiting', 'prioritized']);
    expect(cancels.filter((j) => j.name === 'cancel').map((j) => j.data)).toEqual([
      expect.objectContaining({ referralId: advocacy, action: 'cancel', cancelReason: 'RECORD_WITHDRAWN' }),
    ]);
  });

  test('personal data at rest is encrypted: no planted name in any raw Redis value', async () => {
    const planted = 'Zephyrinequill';
    await ingestDocument(
      ctx,
      Buffer.from(
        feedDocument([
          record('CC-26-E1', 1, { victimForename: planted }),
          record('CC-26-E2', 1).replace(/<NhsNumber>\d+</, `<NhsNumber>${planted}<`),
        ]),
      ),
      'pull',
    );
    await runIntake();
    const raw = new IORedis(REDIS_URL);
    try {
      const keys: string[] = [];
      for await (const batch of raw.scanStream({ match: `${ctx.config.redis.prefix}:*` }) as AsyncIterable<string[]>) keys.push(...batch);
      expect(keys.length).toBeGreaterThan(5);
      let dump = '';
      for (const key of keys) {
        const type = await raw.type(key);
        if (type === 'string') dump += await raw.get(key);
        else if (type === 'hash') dump += JSON.stringify(await raw.hgetall(key));
        else if (type === 'list') dump += JSON.stringify(await raw.lrange(key, 0, -1));
        else if (type === 'set') dump += JSON.stringify(await raw.smembers(key));
        else if (type === 'zset') dump += JSON.stringify(await raw.zrange(key, 0, -1));
        else if (type === 'stream') dump += JSON.stringify(await raw.xrange(key, '-', '+'));
        else if (type !== 'none') throw new Error(`unread key type ${type}: the check must see every value`);
      }
      // The audit trail was written, and read above.
      expect(keys.some((k) => k.endsWith(':audit'))).toBe(true);
      expect(dump).toContain('enc2.');
      expect(dump).not.toContain(planted);
      expect(logs.text()).not.toContain(planted);
    } finally {
      raw.disconnect();
    }
  });
});
