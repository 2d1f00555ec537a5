import type { Job } from 'bullmq';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { ingestDocument } from '../../src/pipeline/ingest/feed-ingest';
import { IntakeSlots, processIntakePage, startIntakeWorker } from '../../src/pipeline/intake';
import { expireDeadLetterPersonalData, redriveDeadLetter } from '../../src/operations/dead-letter-admin';
import {
  intakeJobId,
  isIntakePage,
  PAGE_JOB_RECORDS,
  QUEUE,
  type DeadLetterJob,
  type IntakePageJob,
  type IntakeQueueJob,
} from '../../src/queues/topology';
import { feedDocument, generateFeedRecords } from '../../simulators/feed-generator';
import { capturedLogger, dropKeys, testConfig, waitFor } from '../helpers/bridge';

/** A bulk document's records travel PAGE_JOB_RECORDS to a job; a record that fails there goes on alone. */
describe('intake page jobs on real Redis', () => {
  let ctx: BridgeContext;

  beforeEach(() => {
    ctx = createContext(testConfig({ DELIVERY_FIRST_ATTEMPT_IN_FLIGHT: '0' }), capturedLogger().logger);
  });
  afterEach(async () => {
    await dropKeys(ctx.config);
    await ctx.close();
  });

  const waitingJobs = async () => (await ctx.queues.intake.getJobs(['waiting', 'delayed', 'prioritized'])) as Job<IntakeQueueJob>[];

  test('a bulk document becomes page jobs holding every record once; read again, it adds nothing', async () => {
    const generated = generateFeedRecords({ records: 2 * PAGE_JOB_RECORDS + 7, seed: 11, prefix: 'PAGE' }).filter(
      (g) => !g.expectQuarantine,
    );
    const document = Buffer.from(feedDocument(generated.map((g) => g.xml)));
    await ingestDocument(ctx, document, 'pull');
    const jobs = await waitingJobs();
    expect(jobs.every((j) => isIntakePage(j.data))).toBe(true);
    const entries = jobs.flatMap((j) => (j.data as IntakePageJob).page.map((r) => intakeJobId(r.crimeReference, r.recordVersion)));
    expect(entries.sort()).toEqual(generated.map((g) => intakeJobId(g.crimeReference, g.recordVersion)).sort());
    expect(jobs.map((j) => (j.data as IntakePageJob).page.length).sort((a, b) => b - a)[0]).toBeLessThanOrEqual(PAGE_JOB_RECORDS);

    await ingestDocument(ctx, document, 'pull');
    expect((await waitingJobs()).map((j) => j.id).sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  test('a page applies each crime to its latest version; a record whose crime is busy is queued on its own and applied later', async () => {
    const generated = generateFeedRecords({ records: PAGE_JOB_RECORDS + 10, seed: 12, prefix: 'PAGE' }).filter((g) => !g.expectQuarantine);
    await ingestDocument(ctx, Buffer.from(feedDocument(generated.map((g) => g.xml))), 'pull');
    const pages = await waitingJobs();
    const latest = new Map<string, number>();
    for (const g of generated) latest.set(g.crimeReference, Math.max(latest.get(g.crimeReference) ?? 0, g.recordVersion));
    const [busyCrime] = latest.keys();
    const token = await ctx.lock.acquire(`crime:${busyCrime}`, 30_000);

    const slots = new IntakeSlots(4);
    for (const page of pages) {
      await processIntakePage(ctx, { id: page.id, data: page.data as IntakePageJob }, slots);
      await page.remove();
    }
    for (const [crime, version] of latest)
      if (crime !== busyCrime) expect([crime, await ctx.referrals.crimeVersion(crime)]).toEqual([crime, version]);
    expect(await ctx.referrals.crimeVersion(busyCrime!)).toBe(0);
    const alone = await waitingJobs();
    expect(alone.length).toBeGreaterThan(0);
    expect(alone.every((j) => !isIntakePage(j.data) && j.data.crimeReference === busyCrime)).toBe(true);

    await ctx.lock.release(`crime:${busyCrime}`, token!);
    const worker = startIntakeWorker(ctx);
    try {
      await waitFor(async () => (await ctx.referrals.crimeVersion(busyCrime!)) === latest.get(busyCrime!), 'busy crime applied on its own');
    } finally {
      await worker.close();
    }
  });

  test('a page that ran out of attempts: its dead letter redrives each record on its own, and loses the records after RETENTION_DAYS', async () => {
    const generated = generateFeedRecords({ records: PAGE_JOB_RECORDS + 10, seed: 13, prefix: 'PAGE' }).filter((g) => !g.expectQuarantine);
    await ingestDocument(ctx, Buffer.from(feedDocument(generated.map((g) => g.xml))), 'pull');
    const page = (await waitingJobs()).find((j) => isIntakePage(j.data));
    const records = (page!.data as IntakePageJob).page;
    const entry = (id: string, failedAt: string): DeadLetterJob => ({
      queue: QUEUE.intake,
      jobId: String(page!.id),
      jobName: 'page',
      data: page!.data,
      partner: 'BRIDGE',
      errorKind: 'transient',
      reason: 'redis unavailable',
      attempts: 9,
      failedAt,
      correlationId: id,
    });
    await ctx.queues.intake.obliterate({ force: true });
    await ctx.queues.deadLetter.add('intake:page', entry('fresh', new Date().toISOString()), { jobId: 'dl-page' });
    await ctx.queues.deadLetter.add('intake:page', entry('old', '2020-01-01T00:00:00Z'), { jobId: 'dl-old-page' });

    expect(await redriveDeadLetter(ctx, 'dl-page', 'operator:tester')).toMatchObject({ outcome: 'redriven' });
    const alone = await waitingJobs();
    expect(alone.map((j) => j.id).sort()).toEqual(records.map((r) => intakeJobId(r.crimeReference, r.recordVersion)).sort());
    expect(alone.every((j) => !isIntakePage(j.data) && j.data.source === 'redrive')).toBe(true);

    expect(await expireDeadLetterPersonalData(ctx)).toBe(1);
    const old = (await ctx.queues.deadLetter.getJob('dl-old-page'))!.data.data as IntakePageJob;
    expect(old.page.every((r) => (r as Partial<typeof r>).sealed === undefined)).toBe(true);
    expect(await redriveDeadLetter(ctx, 'dl-old-page', 'operator:tester')).toMatchObject({ outcome: 'refused' });
  });

  test('IntakeSlots runs at most its limit at once', async () => {
    const slots = new IntakeSlots(2);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 7 }, () =>
        slots.run(async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
  });
});
