import type { Worker } from 'bullmq';
import nock from 'nock';
import { actor, dlqCommand } from '../../src/cli/dlq-command';
import { loadConfig } from '../../src/config';
import { createContext } from '../../src/app';
import type { BridgeContext } from '../../src/context';
import { charityDelivery } from '../../src/pipeline/delivery/charity-delivery';
import type { AuditSink } from '../../src/operations/dead-letter-admin';
import { startDeliveryWorker } from '../../src/pipeline/delivery/delivery';
import { enqueueDelivery } from '../../src/pipeline/delivery/delivery-jobs';
import type { DeadLetterJob } from '../../src/queues/topology';
import { generateDataKeySpec } from '../../src/store/crypto';
import { advocacyReferral, queueWithoutDelivery } from '../helpers/referrals';
import { capturedLogger, dropKeys, REDIS_URL, waitFor } from '../helpers/bridge';
import { restoreNockAfterAll } from '../helpers/nock';

restoreNockAfterAll();

/**
 * `iasu-bridge dlq list|show|redrive|discard`: config from the environment, answers on io.out,
 * exit 0 done, 1 refused, 2 usage. The dead letters are real: a charity 422 from the delivery
 * worker (nock), in this process, on the same Redis prefix the command reads.
 */
const CHARITY = 'http://charity.test';
const CORRELATION = 'c0ffee00-0000-4000-8000-000000000000';
const PLANTED = 'Zebedeeplanted';

describe('iasu-bridge dlq', () => {
  const env = {
    REDIS_URL,
    REDIS_PREFIX: `{iasu-dlq-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}}`,
    DATA_KEYS: generateDataKeySpec('cli'),
    CHARITY_API_URL: CHARITY,
    CHARITY_API_KEY: 'k',
    LOG_LEVEL: 'warn',
    DELIVERY_BACKOFF_MS: '20',
  };
  const saved = { ...process.env };
  let ctx: BridgeContext;
  let worker: Worker;
  let out: string;
  let err: string;
  const io = () => ({ out: (s: string) => void (out += s), err: (s: string) => void (err += s) });
  const dlq = (...args: string[]) => dlqCommand(args, io());

  beforeEach(() => {
    Object.assign(process.env, env);
    out = '';
    err = '';
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
    ctx = createContext(loadConfig(), capturedLogger().logger);
    worker = startDeliveryWorker(ctx, charityDelivery(ctx));
  });
  afterEach(async () => {
    await worker.close();
    await dropKeys(ctx.config);
    await ctx.close();
    process.env = { ...saved };
    nock.cleanAll();
    nock.enableNetConnect();
  });

  /** A charity referral answered 422: FAILED, with its dead letter. */
  async function failedReferral(n: number): Promise<{ referralId: string; deadLetterId: string }> {
    const base = advocacyReferral();
    const referral = advocacyReferral({
      referralId: `3b9e1f0a-5a43-5d0c-8b8e-6a2b7c1d9e${String(n).padStart(2, '0')}`,
      crimeReference: `CC-26-00088${String(n).padStart(2, '0')}`,
      subject: { ...base.subject, forename: PLANTED },
    });
    nock(CHARITY)
      .post('/v1/referrals')
      .reply(422, { errors: [{ path: 'client.safeContact', message: 'is required' }] });
    await enqueueDelivery(ctx, referral.referralId, CORRELATION, await queueWithoutDelivery(ctx, referral, CORRELATION));
    const job = await waitFor(
      async () =>
        (await ctx.queues.deadLetter.getJobs(['waiting'])).find((j) => (j.data as DeadLetterJob).referralId === referral.referralId),
      'dead letter',
    );
    await waitFor(async () => (await ctx.referrals.get(referral.referralId))?.status === 'FAILED', 'FAILED');
    return { referralId: referral.referralId, deadLetterId: String(job.id) };
  }

  test('list: a table by default, JSON with --json; filters', async () => {
    const { referralId, deadLetterId } = await failedReferral(1);
    expect(await dlq('list')).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('Dead letters: 1');
    expect(lines[1]).toMatch(/^ID\s+QUEUE\s+JOB\s+PARTNER\s+KIND\s+TRIES\s+AGE\s+REFERRAL \/ CRIME\s+REASON$/);
    expect(lines[2]).toContain(deadLetterId);
    expect(lines[2]).toMatch(/charity-delivery\s+deliver\s+CHARITY\s+permanent\s+1\s+0m\s+/);
    expect(lines[2]).toContain(referralId);
    expect(lines[2]).toContain('client.safeContact');
    expect(out).not.toContain(PLANTED);

    out = '';
    expect(await dlq('list', '--json')).toBe(0);
    const listed = JSON.parse(out) as { items: { id: string; partner: string }[]; truncated: boolean };
    expect(listed).toEqual({
      items: [expect.objectContaining({ id: deadLetterId, partner: 'CHARITY', errorKind: 'permanent' })],
      truncated: false,
    });

    out = '';
    expect(await dlq('list', '--partner', 'nhs', '--json')).toBe(0);
    expect(JSON.parse(out)).toEqual({ items: [], truncated: false });
    out = '';
    expect(await dlq('list', '--kind', 'permanent', '--queue', 'charity-delivery', '--older-than-minutes', '10')).toBe(0);
    expect(out.trim()).toBe('No dead letters match.');

    await failedReferral(2);
    out = '';
    expect(await dlq('list', '--limit', '1')).toBe(0);
    expect(out).toContain('Dead letters: 1');
    expect(out).toContain('more match');
  });

  test('show: metadata and timeline; --personal recorded in the audit trail before it is shown', async () => {
    const { referralId, deadLetterId } = await failedReferral(1);
    expect(await dlq('show', deadLetterId)).toBe(0);
    expect(out).toContain(`Dead letter ${deadLetterId}`);
    expect(out).toContain('permanent: ');
    expect(out).toContain('redrive      possible');
    expect(out).toContain('Referral: FAILED');
    expect(out).toMatch(/1\. \S+ {2}QUEUED {2}\[test\]/);
    expect(out).not.toContain(PLANTED);

    out = '';
    expect(await dlq('show', deadLetterId, '--json')).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ id: deadLetterId, referralId, referral: { status: 'FAILED' } });

    // Without a sink given, the command writes to the bridge's own audit trail (and fails closed if it cannot).
    out = '';
    expect(await dlq('show', deadLetterId, '--personal')).toBe(0);
    expect(out).toContain(PLANTED);
    expect((await ctx.audit.query({ referralId })).filter((e) => e.action === 'admin.read')).toEqual([
      expect.objectContaining({ actor: actor(), target: deadLetterId }),
    ]);

    const events: Parameters<AuditSink['record']>[0][] = [];
    out = '';
    expect(
      await dlqCommand(['show', deadLetterId, '--personal', '--json'], { ...io(), audit: { record: async (e) => void events.push(e) } }),
    ).toBe(0);
    expect(out).toContain(PLANTED);
    expect(events).toEqual([expect.objectContaining({ actor: actor(), action: 'admin.read', referralId, target: deadLetterId })]);

    out = '';
    expect(await dlq('show', 'charity-delivery-nope-0')).toBe(1);
    expect(out).toContain('no dead letter');
  });

  test('redrive one: the referral is queued again and delivered; a second redrive is refused (exit 1)', async () => {
    const { referralId, deadLetterId } = await failedReferral(1);
    nock(CHARITY).post('/v1/referrals').reply(201, { id: 'CH-000321', status: 'RECEIVED' });
    expect(await dlq('redrive', deadLetterId)).toBe(0);
    expect(out).toBe(`redriven  ${deadLetterId} -> job ${referralId}-q3\n`);
    await waitFor(async () => (await ctx.referrals.get(referralId))?.status === 'SENT', 'SENT');
    expect((await ctx.referrals.timeline(referralId)).find((e) => e.source === 'redrive')).toMatchObject({
      detail: `redriven by ${actor()}`,
    });
    expect(actor()).toMatch(/^operator:[A-Za-z0-9._@-]{1,64}$/);

    out = '';
    expect(await dlq('redrive', deadLetterId)).toBe(1);
    expect(out).toContain('refused');
  });

  test('redrive by filter and --all; refusals make exit 1', async () => {
    const first = await failedReferral(1);
    const second = await failedReferral(2);
    out = '';
    expect(await dlq('redrive', '--partner', 'NHS')).toBe(0);
    expect(out).toBe('no dead letters match\n');

    // One of the two is no longer FAILED: it is refused, the other redriven.
    await ctx.referrals.transition(first.referralId, { to: 'CANCELLED', source: 'police', detail: 'CONSENT_WITHDRAWN' });
    nock(CHARITY).post('/v1/referrals').reply(201, { id: 'CH-000322', status: 'RECEIVED' });
    out = '';
    expect(await dlq('redrive', '--all')).toBe(1);
    expect(out).toContain(`refused   ${first.deadLetterId}: the referral is CANCELLED`);
    expect(out).toContain(`redriven  ${second.deadLetterId}`);
    expect(out).toContain('1 redriven, 1 refused');
    await waitFor(async () => (await ctx.referrals.get(second.referralId))?.status === 'SENT', 'SENT');

    out = '';
    expect(await dlq('redrive', '--kind', 'permanent', '--json')).toBe(1);
    expect(JSON.parse(out)).toEqual({
      results: [{ id: first.deadLetterId, outcome: 'refused', why: expect.stringContaining('CANCELLED') }],
    });
  });

  test('discard with a reason removes it; unknown id exit 1', async () => {
    const { deadLetterId } = await failedReferral(1);
    expect(await dlq('discard', deadLetterId, '--reason', 'duplicate of a referral made by phone')).toBe(0);
    expect(out).toBe(`discarded ${deadLetterId}\n`);
    expect(await ctx.queues.deadLetter.getJob(deadLetterId)).toBeUndefined();
    out = '';
    expect(await dlq('show', deadLetterId)).toBe(0);
    expect(out).toContain(`discarded    by ${actor()}`);
    expect(out).not.toContain('duplicate of a referral');
    out = '';
    expect(await dlq('discard', 'charity-delivery-nope-0', '--reason', 'x')).toBe(1);
    expect(out).toContain('no dead letter with that id');
  });

  test.each([
    [[]],
    [['bogus']],
    [['list', '--partner', 'NOBODY']],
    [['list', '--older-than-minutes', 'soon']],
    [['list', '--nope']],
    [['list', 'extra']],
    [['show']],
    [['show', 'a', 'b']],
    [['redrive']],
    [['redrive', 'ID', '--all']],
    [['redrive', '--all', '--partner', 'NHS']],
    [['redrive', 'ID', '--kind', 'auth']],
    [['discard', 'ID']],
    [['discard', 'ID', '--reason', 'two\nlines']],
    [['discard', 'ID', '--reason', '']],
    [['discard', '--reason', 'why']],
  ])('usage error %j exits 2 with the usage on stderr', async (args) => {
    expect(await dlqCommand(args, io())).toBe(2);
    expect(err).toContain('usage: iasu-bridge dlq');
    expect(out).toBe('');
  });
});
