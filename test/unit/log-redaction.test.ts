import { Writable } from 'node:stream';
import { createLogger, PERSONAL_KEYS } from '../../src/logger';
import { CENSOR, MAX_DEPTH, redactor } from '../../src/log-redaction';

const PLANTED = 'Philippa Quarmby-Planted';

function capture(): { lines: () => Record<string, unknown>[]; text: () => string; logger: ReturnType<typeof createLogger> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** `{ a: { a: … { [key]: value } } }`, the key `depth` levels down. */
function nested(depth: number, key: string, value: unknown): Record<string, unknown> {
  let obj: Record<string, unknown> = { [key]: value, kept: 'ok' };
  for (let i = 0; i < depth; i++) obj = { a: obj };
  return obj;
}

describe('log redaction', () => {
  it('censors every personal key at the top of a line and keeps the rest', () => {
    const { logger, lines, text } = capture();
    logger.info({ surname: PLANTED, nhsNumber: '9434765919', referralId: 'r-1', partner: 'NHS' }, 'delivered');
    const [line] = lines();
    expect(line).toMatchObject({ surname: CENSOR, nhsNumber: CENSOR, referralId: 'r-1', partner: 'NHS', msg: 'delivered' });
    expect(text()).not.toContain(PLANTED);
    expect(text()).not.toContain('9434765919');
  });

  it.each(PERSONAL_KEYS.map((key) => [key]))('censors %s at every depth down to the limit', (key) => {
    const { logger, text } = capture();
    for (let depth = 0; depth < MAX_DEPTH; depth++) logger.warn(nested(depth, key, PLANTED), 'nested');
    expect(text()).not.toContain(PLANTED);
    // The neighbours of the censored value are kept at every depth.
    expect(text().match(/"kept":"ok"/g)).toHaveLength(MAX_DEPTH);
  });

  it('censors personal keys deeper than pino redact paths reached (depth 5 and 6)', () => {
    const { logger, text } = capture();
    logger.info(nested(5, 'forename', PLANTED));
    logger.info(nested(6, 'address', { line1: PLANTED }));
    expect(text()).not.toContain(PLANTED);
  });

  it('censors whole whatever is nested past the limit', () => {
    const { logger, text } = capture();
    logger.info(nested(MAX_DEPTH + 2, 'unlisted', PLANTED));
    expect(text()).not.toContain(PLANTED);
    expect(text()).toContain(CENSOR);
  });

  it('censors inside arrays', () => {
    const { logger, lines, text } = capture();
    logger.info({ referrals: [{ referralId: 'r-1', perpetrator: { name: PLANTED } }, { referralId: 'r-2' }] });
    expect(text()).not.toContain(PLANTED);
    expect(lines()[0]!.referrals).toEqual([{ referralId: 'r-1', perpetrator: CENSOR }, { referralId: 'r-2' }]);
  });

  it("censors a child logger's bindings", () => {
    const { logger, lines, text } = capture();
    logger.child({ referralId: 'r-1', subject: { surname: PLANTED } }).info('bound');
    expect(text()).not.toContain(PLANTED);
    expect(lines()[0]).toMatchObject({ referralId: 'r-1', subject: CENSOR });
  });

  it("censors an error's own personal fields and keeps its message and type", () => {
    const { logger, lines, text } = capture();
    const err = Object.assign(new Error('partner answered 422'), { body: `patient ${PLANTED} unknown`, status: 422 });
    logger.error({ err, referralId: 'r-1' }, 'delivery failed');
    expect(text()).not.toContain(PLANTED);
    expect(lines()[0]!.err).toMatchObject({ type: 'Error', message: 'partner answered 422', body: CENSOR, status: 422 });
    expect(err.body).toContain(PLANTED);
  });

  it('leaves the caller’s object as it was, and returns one without personal keys unchanged', () => {
    const redact = redactor(PERSONAL_KEYS);
    const clean = { referralId: 'r-1', nested: { partner: 'NHS' }, list: [1, 2] };
    expect(redact(clean)).toBe(clean);
    const original = { referralId: 'r-1', client: { surname: PLANTED } };
    const redacted = redact(original);
    expect(redacted).toEqual({ referralId: 'r-1', client: CENSOR });
    expect(original.client.surname).toBe(PLANTED);
  });

  it('writes a line with a cycle instead of throwing, and keeps shared values that are not cycles', () => {
    const { logger, lines } = capture();
    const shared = { partner: 'NHS' };
    const looped: Record<string, unknown> = { referralId: 'r-1', one: shared, two: shared };
    looped.self = looped;
    logger.info(looped, 'looped');
    expect(lines()[0]).toMatchObject({ referralId: 'r-1', one: shared, two: shared, self: '[Circular]' });
  });

  it('reads values through toJSON as JSON.stringify would, and leaves dates alone', () => {
    const redact = redactor(PERSONAL_KEYS);
    const at = new Date('2026-12-07T10:00:00Z');
    const withToJson = { toJSON: () => ({ email: 'planted@example.org', at }) };
    expect(redact({ value: withToJson, at })).toEqual({ value: { email: CENSOR, at }, at });
  });
});
