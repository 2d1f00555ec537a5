import IORedis from 'ioredis';
import type { BridgeConfig } from '../../src/config';
import { AuditLog, type AuditEntry, type AuditEventInput, type AuditKeys } from '../../src/store/audit-log';
import { REDIS_URL, capturedLogger, dropKeys, testConfig } from '../helpers/bridge';

/**
 * The audit trail on real Redis: an append-only stream ordered by time with an index per
 * referral, queryable by referral and time range, exported as JSON lines, trimmed after the
 * retention period — and holding no personal data, checked on the raw stored values.
 */
const id = (n: number) => `00000000-0000-5000-8000-${String(n).padStart(12, '0')}`;
const R1 = id(1);
const R2 = id(2);
const T0 = new Date('2026-11-26T12:00:00.000Z').getTime();
const at = (offsetMs: number) => new Date(T0 + offsetMs);
const DAY = 24 * 3600 * 1000;

function auditKeys(prefix: string): AuditKeys {
  return {
    audit: () => `${prefix}:audit`,
    auditLastId: () => `${prefix}:audit-last-id`,
    auditByReferral: (referralId: string) => `${prefix}:audit:referral:${referralId}`,
  };
}

describe('AuditLog', () => {
  let config: BridgeConfig;
  let redis: IORedis;
  let keys: AuditKeys;
  let audit: AuditLog;
  let logs: () => string;

  beforeEach(() => {
    config = testConfig();
    redis = new IORedis(REDIS_URL);
    keys = auditKeys(config.redis.prefix);
    const captured = capturedLogger();
    logs = captured.text;
    audit = new AuditLog(redis, keys, { retentionDays: 30, logger: captured.logger });
  });

  afterEach(async () => {
    redis.disconnect();
    await dropKeys(config);
  });

  /** Two referrals' events, and one about neither, across five seconds (two in the same millisecond). */
  async function seed(): Promise<void> {
    await audit.record(
      {
        actor: 'police-push',
        action: 'record.ingested',
        referralId: R1,
        crimeReference: 'CC-26-0001234',
        partner: 'POLICE',
        outcome: 'applied',
      },
      at(0),
    );
    await audit.record(
      {
        actor: 'police-poll',
        action: 'record.ingested',
        referralId: R2,
        crimeReference: 'CC-26-0005678',
        partner: 'POLICE',
        outcome: 'applied',
      },
      at(1000),
    );
    await audit.record(
      { actor: 'system', action: 'referral.sent', referralId: R1, partner: 'NHS', status: 'SENT', outcome: 'ok' },
      at(2000),
    );
    await audit.record(
      {
        actor: 'charity-webhook',
        action: 'referral.status_changed',
        referralId: R2,
        partner: 'CHARITY',
        status: 'IN_PROGRESS',
        outcome: 'applied',
      },
      at(3000),
    );
    await audit.record(
      { actor: 'operator:alice', action: 'admin.read', referralId: R1, target: '/referrals/{referralId}', outcome: 'ok' },
      at(3000),
    );
    await audit.record(
      { actor: 'operator:bob', action: 'dead_letter.redriven', target: `nhs-delivery-${R1}-q2-3`, outcome: 'redriven' },
      at(4000),
    );
    await audit.record(
      { actor: 'nhs-bars', action: 'referral.status_changed', referralId: R1, partner: 'NHS', status: 'ACCEPTED', outcome: 'applied' },
      at(5000),
    );
  }

  const summary = (events: AuditEntry[]) =>
    events.map((e) => `${e.at.slice(17, 23)} ${e.action} ${e.referralId === R1 ? 'R1' : e.referralId === R2 ? 'R2' : '-'}`);

  it('answers by referral id, oldest first, with only that referral’s events', async () => {
    await seed();
    const r1 = await audit.query({ referralId: R1 });
    expect(summary(r1)).toEqual([
      '00.000 record.ingested R1',
      '02.000 referral.sent R1',
      '03.000 admin.read R1',
      '05.000 referral.status_changed R1',
    ]);
    expect(r1[0]).toEqual({
      id: `${T0}-0`,
      at: '2026-11-26T12:00:00.000Z',
      actor: 'police-push',
      action: 'record.ingested',
      referralId: R1,
      crimeReference: 'CC-26-0001234',
      partner: 'POLICE',
      outcome: 'applied',
    });
    expect(summary(await audit.query({ referralId: R2 }))).toEqual(['01.000 record.ingested R2', '03.000 referral.status_changed R2']);
    expect(await audit.query({ referralId: id(3) })).toEqual([]);
    expect(await audit.query({ referralId: 'not-a-uuid' })).toEqual([]);
  });

  it('stores mixed events compactly: one field layout, so a stream node holds the names once', async () => {
    const events: AuditEventInput[] = [];
    for (let n = 0; n < 300; n++) {
      events.push({
        actor: 'police-poll',
        action: 'record.ingested',
        partner: 'POLICE',
        crimeReference: `CC-26-${n}`,
        outcome: 'queued_v1',
      });
      events.push({
        actor: 'system',
        action: 'referral.status_changed',
        referralId: id(n),
        crimeReference: `CC-26-${n}`,
        status: 'SENT',
        outcome: 'from_QUEUED',
      });
      events.push({
        actor: 'system',
        action: 'referral.sent',
        referralId: id(n),
        crimeReference: `CC-26-${n}`,
        partner: 'NHS',
        status: 'SENT',
        outcome: 'delivered',
      });
    }
    await audit.recordMany(events, at(0));
    const bytes = Number(await redis.call('MEMORY', 'USAGE', keys.audit(), 'SAMPLES', '0'));
    // Each entry holding its own names took 153 bytes; one layout, 113.
    expect(bytes / events.length).toBeLessThan(125);
    const [entry] = await audit.query({ referralId: id(7) });
    expect(entry).toEqual({
      id: expect.any(String),
      at: at(0).toISOString(),
      actor: 'system',
      action: 'referral.status_changed',
      referralId: id(7),
      crimeReference: 'CC-26-7',
      status: 'SENT',
      outcome: 'from_QUEUED',
    });
  });

  it('answers by time range with inclusive bounds, across referrals and with a referral', async () => {
    await seed();
    expect(summary(await audit.query({}))).toHaveLength(7);
    expect(summary(await audit.query({ from: at(1000), to: at(3000) }))).toEqual([
      '01.000 record.ingested R2',
      '02.000 referral.sent R1',
      '03.000 referral.status_changed R2',
      '03.000 admin.read R1',
    ]);
    expect(summary(await audit.query({ from: at(3000) }))).toEqual([
      '03.000 referral.status_changed R2',
      '03.000 admin.read R1',
      '04.000 dead_letter.redriven -',
      '05.000 referral.status_changed R1',
    ]);
    expect(summary(await audit.query({ to: at(999) }))).toEqual(['00.000 record.ingested R1']);
    expect(summary(await audit.query({ referralId: R1, from: at(1), to: at(3000) }))).toEqual([
      '02.000 referral.sent R1',
      '03.000 admin.read R1',
    ]);
    expect(await audit.query({ from: at(5001) })).toEqual([]);
    expect(await audit.query({ from: at(3000), to: at(1000) })).toEqual([]);
  });

  it('honours limit, also across pages', async () => {
    await seed();
    expect(summary(await audit.query({ limit: 2 }))).toEqual(['00.000 record.ingested R1', '01.000 record.ingested R2']);
    expect(summary(await audit.query({ referralId: R1, limit: 3 }))).toHaveLength(3);
    expect(await audit.query({ limit: 0 })).toEqual([]);

    for (let i = 0; i < 1100; i++)
      await audit.record({ actor: 'system', action: 'referral.status_changed', referralId: R2, status: 'SENT' }, at(10_000 + i));
    expect(await audit.query({ limit: 1050 })).toHaveLength(1050);
    expect(await audit.query({})).toHaveLength(1000); // the default
    const r2 = await audit.query({ referralId: R2, limit: 5000 });
    expect(r2).toHaveLength(1102);
    expect(new Set(r2.map((e) => e.id)).size).toBe(1102);
  });

  it('exports JSON lines equal to query, in pages', async () => {
    await seed();
    for (let i = 0; i < 1200; i++)
      await audit.record(
        { actor: 'system', action: 'referral.sent', referralId: i % 2 ? R1 : R2, partner: 'NHS', status: 'SENT' },
        at(10_000 + i),
      );

    for (const filter of [{}, { referralId: R1 }, { from: at(1000), to: at(3000) }, { referralId: R2, from: at(10_500), limit: 7 }]) {
      const chunks: string[] = [];
      const count = await audit.exportJsonLines(filter, (line) => {
        chunks.push(line);
      });
      expect(count).toBe(chunks.length);
      for (const chunk of chunks) expect(chunk).toMatch(/^\{[^\n]*\}\n$/);
      const parsed = chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEntry);
      expect(parsed).toEqual(await audit.query({ limit: 10_000, ...filter }));
    }
    // Every event, past the query default: export has no limit unless asked for one.
    expect(await audit.exportJsonLines({}, () => undefined)).toBe(1207);
    // A writer with back-pressure is awaited, in order.
    const slow: string[] = [];
    await audit.exportJsonLines({ referralId: R1, limit: 3 }, async (line) => {
      await new Promise((r) => setTimeout(r, 5));
      slow.push(line);
    });
    expect(slow.map((l) => (JSON.parse(l) as AuditEntry).at)).toEqual([at(0), at(2000), at(3000)].map((d) => d.toISOString()));
  });

  it('is append-only: no method changes or deletes an event, and ids only go forwards', async () => {
    const methods = Object.getOwnPropertyNames(AuditLog.prototype)
      .filter((m) => m !== 'constructor')
      .sort();
    expect(methods).toEqual(['append', 'exportJsonLines', 'prepare', 'query', 'record', 'recordMany', 'recordOrThrow', 'scriptArgs']);
    for (const m of methods) expect(m).not.toMatch(/delete|remove|update|edit|set|put|patch|trim|clear|purge|del|replace/i);

    // Same millisecond, then an event stamped earlier than the last: neither goes backwards.
    for (let i = 0; i < 5; i++) await audit.record({ actor: 'system', action: 'referral.sent', referralId: R1 }, at(1000));
    await audit.record({ actor: 'system', action: 'referral.sent', referralId: R1 }, at(500));
    await audit.record({ actor: 'system', action: 'referral.sent', referralId: R2 }, at(2000));
    await audit.record({ actor: 'system', action: 'referral.sent' });

    const raw = await redis.xrange(keys.audit(), '-', '+');
    const ids = raw.map(([streamId]) => streamId);
    expect(ids.slice(0, 7)).toEqual([
      `${T0 + 1000}-0`,
      `${T0 + 1000}-1`,
      `${T0 + 1000}-2`,
      `${T0 + 1000}-3`,
      `${T0 + 1000}-4`,
      `${T0 + 1000}-5`,
      `${T0 + 2000}-0`,
    ]);
    expect(ids).toHaveLength(8);
    const asPairs = ids.map((s) => s.split('-').map(BigInt) as [bigint, bigint]);
    for (let i = 1; i < asPairs.length; i++) {
      const [ms, seq] = asPairs[i]!;
      const [pms, pseq] = asPairs[i - 1]!;
      expect(ms > pms || (ms === pms && seq > pseq)).toBe(true);
    }
    // The late event is stamped with the time it joined the log, so `at` is ordered too.
    const events = await audit.query({});
    expect(events[5]!.at).toBe(at(1000).toISOString());
    expect(events.map((e) => e.at)).toEqual([...events.map((e) => e.at)].sort());

    // A referral's events are the log's, under the same ids.
    expect(await audit.query({ referralId: R1 })).toEqual(events.slice(0, 6));
    expect(await audit.query({ referralId: R2 })).toEqual([events[6]]);
  });

  it('trims events older than the retention period, in the log and in each referral’s index', async () => {
    const now = Date.now();
    const daysAgo = (d: number) => new Date(now - d * DAY);
    await audit.record({ actor: 'system', action: 'record.ingested', referralId: R1, outcome: 'applied' }, daysAgo(45));
    await audit.record({ actor: 'system', action: 'record.ingested', referralId: R2, outcome: 'applied' }, daysAgo(40));
    await audit.record({ actor: 'system', action: 'referral.sent', referralId: R1, status: 'SENT' }, daysAgo(31));
    await audit.record({ actor: 'system', action: 'referral.sent', referralId: R2, status: 'SENT' }, daysAgo(29));
    // Each write trims what is older than the retention period before its own time: nothing yet.
    expect(await redis.xlen(keys.audit())).toBe(4);

    await audit.record({ actor: 'nhs-bars', action: 'referral.status_changed', referralId: R1, status: 'ACCEPTED' }, daysAgo(0));
    expect((await audit.query({})).map((e) => e.action)).toEqual(['referral.sent', 'referral.status_changed']);
    expect((await audit.query({ referralId: R1 })).map((e) => e.action)).toEqual(['referral.status_changed']);
    // R1's index let go of the trimmed ids as it was written (it would otherwise only grow).
    expect((await redis.get(keys.auditByReferral(R1)))?.split(',').filter(Boolean)).toHaveLength(1);
    // R2's index had no write since: it still names its trimmed event, which a query skips, and
    // goes with the key's expiry, set on every write.
    expect((await audit.query({ referralId: R2 })).map((e) => e.action)).toEqual(['referral.sent']);
    const ttl = await redis.ttl(keys.auditByReferral(R1));
    expect(ttl).toBeGreaterThan(30 * 24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(30 * 24 * 3600);
    expect(await redis.ttl(keys.auditByReferral(R2))).toBeGreaterThan(0);
    expect(await redis.ttl(keys.audit())).toBe(-1); // the log itself is trimmed, never expired
  });

  it('stores no planted personal data in any field, in any referral’s index, in any key or in the log', async () => {
    const planted = [
      'Jane Doe',
      'Jane.Doe',
      'jane.doe@example.com',
      '07700900123',
      '07700 900123',
      '1990-04-12',
      '12/04/1990',
      '9434765919',
      'SW1A 1AA',
      'SW1A1AA',
    ];
    const events: AuditEventInput[] = [
      {
        actor: 'operator:Jane Doe',
        action: 'admin.read',
        referralId: R1,
        crimeReference: '1990-04-12',
        partner: 'NHS',
        status: '1990-04-12',
        outcome: 'Jane Doe',
        target: '/victims/jane.doe@example.com',
      },
      {
        actor: 'operator:jane.doe@example.com',
        action: 'admin.read',
        referralId: R1,
        crimeReference: '07700900123',
        status: '07700900123',
        outcome: 'jane.doe@example.com',
        target: '/referrals?phone=07700900123',
      },
      {
        actor: 'Jane Doe',
        action: 'referral.status_changed',
        referralId: R1,
        crimeReference: 'Jane-Doe',
        status: 'Jane.Doe',
        outcome: 'dob:1990-04-12',
        target: '/lookup/12/04/1990',
      },
      {
        actor: 'operator:07700900123',
        action: 'dead_letter.discarded',
        crimeReference: '12/04/1990',
        status: '9434765919',
        outcome: 'SW1A1AA',
        target: 'SW1A 1AA',
      },
      {
        actor: 'system',
        action: 'record.quarantined',
        crimeReference: 'CC-26-0001234',
        status: 'free text: Jane Doe',
        outcome: 'ok\nname=Jane Doe',
        target: `x${'a'.repeat(200)}`,
      },
      { actor: 'system', action: 'record.ingested', referralId: 'Jane Doe' as string, partner: 'Jane Doe' as 'NHS' },
      {
        actor: 'system',
        action: 'referral.sent',
        referralId: R2,
        name: 'Jane Doe',
        dateOfBirth: '1990-04-12',
        email: 'jane.doe@example.com',
      } as unknown as AuditEventInput,
      { actor: 'Jane Doe', action: 'Jane Doe' } as unknown as AuditEventInput,
    ];
    for (const [i, event] of events.entries()) await audit.record(event, at(i * 1000));

    const stored = [
      ...(await redis.xrange(keys.audit(), '-', '+')).flatMap(([, fields]) => fields),
      await redis.get(keys.auditByReferral(R1)),
      await redis.get(keys.auditByReferral(R2)),
    ].join('\n');
    // Key names and log lines without the parts that are random or the machine's (prefix, pid, hostname).
    const allKeys = (await redis.keys(`${config.redis.prefix}:*`)).map((k) => k.slice(config.redis.prefix.length));
    const logLines = logs()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const { pid: _pid, hostname: _host, time: _time, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return JSON.stringify(rest);
      });
    expect(allKeys.sort()).toEqual([':audit', ':audit-last-id', `:audit:referral:${R1}`, `:audit:referral:${R2}`]);
    for (const text of [stored, allKeys.join('\n'), logLines.join('\n')]) {
      for (const p of planted) expect(text.toLowerCase()).not.toContain(p.toLowerCase());
      for (const fragment of ['jane', 'doe', 'example.com', '07700', '900123', '1990', '12/04', '9434765919', 'sw1a', '1aa'])
        expect(text.toLowerCase()).not.toContain(fragment);
    }

    // What was kept is the metadata, and what was dropped is named.
    const kept = await audit.query({});
    expect(kept).toHaveLength(7); // the last event had no valid action: nothing to record
    expect(
      kept.map((e) => [e.actor, e.action, e.referralId, e.crimeReference, e.partner, e.status, e.outcome, e.target, e.rejected]),
    ).toEqual([
      [
        'operator:unknown',
        'admin.read',
        R1,
        undefined,
        'NHS',
        undefined,
        undefined,
        undefined,
        ['actor', 'crimeReference', 'status', 'outcome', 'target'],
      ],
      [
        'operator:unknown',
        'admin.read',
        R1,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        ['actor', 'crimeReference', 'status', 'outcome', 'target'],
      ],
      [
        'unknown',
        'referral.status_changed',
        R1,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        ['actor', 'crimeReference', 'status', 'outcome', 'target'],
      ],
      [
        'operator:unknown',
        'dead_letter.discarded',
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        ['actor', 'crimeReference', 'status', 'outcome', 'target'],
      ],
      [
        'system',
        'record.quarantined',
        undefined,
        'CC-26-0001234',
        undefined,
        undefined,
        undefined,
        undefined,
        ['status', 'outcome', 'target'],
      ],
      ['system', 'record.ingested', undefined, undefined, undefined, undefined, undefined, undefined, ['referralId', 'partner']],
      ['system', 'referral.sent', R2, undefined, undefined, undefined, undefined, undefined, ['unknown-field']],
    ]);
    // Dropping was noisy enough to find (field names only, checked above for planted data).
    expect(logs()).toContain('audit event fields dropped');
    expect(logs()).toContain('audit event dropped');
  });

  it('never fails the caller when the write fails; recordOrThrow does', async () => {
    await redis.set(keys.audit(), 'not a stream');
    await expect(audit.record({ actor: 'system', action: 'referral.sent', referralId: R1 })).resolves.toBeUndefined();
    expect(logs()).toContain('audit write failed');
    await expect(audit.recordOrThrow({ actor: 'system', action: 'referral.sent', referralId: R1 })).rejects.toThrow();
    // Nothing half-written: the referral's index did not get the event the log could not take.
    expect(await redis.exists(keys.auditByReferral(R1))).toBe(0);
  });

  it('records many events in order, over batches, each also in its referral’s index', async () => {
    const events: AuditEventInput[] = Array.from({ length: 250 }, (_, i) => ({
      actor: 'police-poll',
      action: 'record.ingested',
      ...(i % 2 ? { referralId: i % 4 === 1 ? R1 : R2 } : {}),
      outcome: `queued_v${i}`,
    }));
    // One invalid event is dropped, the rest still go.
    await audit.recordMany(
      [...events.slice(0, 10), { actor: 'system', action: 'nonsense' } as unknown as AuditEventInput, ...events.slice(10)],
      at(0),
    );
    const all = await audit.query({ limit: 1000 });
    expect(all.map((e) => e.outcome)).toEqual(events.map((e) => e.outcome));
    // One millisecond for all: the sequence numbers run on across the batches of a hundred.
    expect(all.map((e) => e.id)).toEqual(events.map((_, i) => `${T0}-${i}`));
    expect((await audit.query({ referralId: R1, limit: 1000 })).map((e) => e.outcome)).toEqual(
      events.filter((e) => e.referralId === R1).map((e) => e.outcome),
    );
    expect((await audit.query({ referralId: R2, limit: 1000 })).map((e) => e.outcome)).toEqual(
      events.filter((e) => e.referralId === R2).map((e) => e.outcome),
    );
    expect(events.filter((e) => e.referralId === R2)).toHaveLength(62);
    expect(logs()).toContain('audit event dropped');
  });

  it('continues after the keys’ own last ids when it has no record of the last id (a log from before it was kept)', async () => {
    const ids: (string | undefined)[] = [];
    const append = async (referralId: string, ms: number) =>
      ids.push(await audit.recordOrThrow({ actor: 'system', action: 'referral.sent', referralId }, at(ms)));
    await append(R1, 5000);
    await append(R1, 5000);
    await redis.del(keys.auditLastId());
    await append(R2, 1000);
    // The log's newest entries trimmed by hand: its own last id still counts.
    await redis.del(keys.auditLastId());
    await redis.xtrim(keys.audit(), 'MAXLEN', 0);
    await append(R1, 1000);
    // No log at all: the referral's index remembers where it got to.
    await redis.del(keys.auditLastId(), keys.audit());
    await append(R1, 1000);
    expect(ids).toEqual([`${T0 + 5000}-0`, `${T0 + 5000}-1`, `${T0 + 5000}-2`, `${T0 + 5000}-3`, `${T0 + 5000}-4`]);
    expect(await redis.get(keys.auditLastId())).toBe(`${T0 + 5000}-4`);
    expect((await audit.query({ referralId: R1 })).map((e) => e.id)).toEqual([`${T0 + 5000}-4`]);
  });

  it('keeps a referral’s index compact: ids, not a copy of its entries', async () => {
    await seed();
    const key = keys.auditByReferral(R1);
    expect(await redis.type(key)).toBe('string');
    // Four events; a stream holding them took some 4.8 KB, a list on Redis 7.0 some 280 bytes.
    expect(await redis.memory('USAGE', key, 'SAMPLES', '0')).toBeLessThanOrEqual(240);
  });

  it('reads and appends to a referral’s stream written before the index, without a WRONGTYPE', async () => {
    // What an earlier bridge left: the log and a referral's own stream, holding the same entry.
    const legacy = ['actor', 'police-push', 'action', 'record.ingested', 'referralId', R1, 'outcome', 'applied'];
    await redis.xadd(keys.audit(), `${T0}-0`, ...legacy);
    await redis.xadd(keys.auditByReferral(R1), `${T0}-0`, ...legacy);
    await redis.expire(keys.auditByReferral(R1), 3600);
    await redis.set(keys.auditLastId(), `${T0}-0`);

    await audit.recordOrThrow({ actor: 'system', action: 'referral.sent', referralId: R1, status: 'SENT' }, at(1000));
    await audit.recordMany(
      [
        { actor: 'nhs-bars', action: 'referral.status_changed', referralId: R1, status: 'ACCEPTED' },
        { actor: 'police-poll', action: 'record.ingested', referralId: R2, outcome: 'applied' },
        { actor: 'operator:alice', action: 'admin.read', referralId: R1, target: '/referrals/{referralId}' },
      ],
      at(2000),
    );

    expect(await redis.type(keys.auditByReferral(R1))).toBe('stream');
    expect(await redis.ttl(keys.auditByReferral(R1))).toBeGreaterThan(3600);
    expect(await redis.type(keys.auditByReferral(R2))).toBe('string');
    const r1 = await audit.query({ referralId: R1 });
    expect(r1.map((e) => [e.id, e.action])).toEqual([
      [`${T0}-0`, 'record.ingested'],
      [`${T0 + 1000}-0`, 'referral.sent'],
      [`${T0 + 2000}-0`, 'referral.status_changed'],
      [`${T0 + 2000}-2`, 'admin.read'],
    ]);
    expect(r1).toEqual((await audit.query({})).filter((e) => e.referralId === R1));
    expect(await audit.query({ referralId: R1, from: at(1000), limit: 2 })).toEqual(r1.slice(1, 3));
    expect((await audit.query({ referralId: R2 })).map((e) => e.id)).toEqual([`${T0 + 2000}-1`]);
  });

  it('refuses a retention period that is not a positive number', () => {
    expect(() => new AuditLog(redis, keys, { retentionDays: 0 })).toThrow(RangeError);
    expect(() => new AuditLog(redis, keys, { retentionDays: Number.NaN })).toThrow(RangeError);
  });
});
