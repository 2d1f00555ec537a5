import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { assertRedisReachable } from '../store/redis';
import type { BridgeContext } from '../context';
import {
  DEAD_LETTER_ERROR_KINDS,
  DEAD_LETTER_PARTNERS,
  DEAD_LETTER_QUEUES,
  discardDeadLetter,
  listDeadLetters,
  redriveDeadLetter,
  redriveMatching,
  showDeadLetter,
  strictAuditSink,
  validDiscardReason,
  type AuditSink,
  type DeadLetterDetail,
  type DeadLetterFilter,
  type DeadLetterSummary,
  type RedriveResult,
} from '../operations/dead-letter-admin';

/**
 * `iasu-bridge dlq list|show|redrive|discard`: the dead-letter tools of the API, from a shell on
 * a host with the bridge's config. Output on `io.out` (stdout); logs and usage on stderr.
 * Exit codes: 0 done, 1 a redrive or discard was refused (or nothing found to show), 2 usage.
 */
export const DLQ_USAGE = `usage: iasu-bridge dlq <subcommand>

  list [--partner P] [--kind K] [--queue Q] [--older-than-minutes N] [--newer-than-minutes N]
       [--limit N] [--json]       dead letters, oldest first (default limit 100)
  show ID [--personal] [--json]   one dead letter: metadata, the referral's timeline, whether it can
                                  be redriven; --personal adds the personal data (audited)
  redrive ID                      put one back into its queue
  redrive --all                   every dead letter
  redrive --partner P --kind K --queue Q --older-than-minutes N --newer-than-minutes N
                                  every dead letter matching (at least one filter)
  discard ID --reason "..."       remove one without redriving (reason: 1-200 characters, one line)

  P: ${DEAD_LETTER_PARTNERS.join('|')}   K: ${DEAD_LETTER_ERROR_KINDS.join('|')}
  Q: ${DEAD_LETTER_QUEUES.join('|')}`;

export interface DlqIo {
  out: (s: string) => void;
  /** Usage errors; stderr when not given. */
  err?: (s: string) => void;
  /** Where operator actions and personal-data reads are recorded (the audit trail). */
  audit?: AuditSink;
}

class UsageError extends Error {}

const FILTER_OPTIONS = {
  partner: { type: 'string' },
  kind: { type: 'string' },
  queue: { type: 'string' },
  'older-than-minutes': { type: 'string' },
  'newer-than-minutes': { type: 'string' },
} as const;

export async function dlqCommand(args: string[], io: DlqIo): Promise<number> {
  const err = io.err ?? ((s: string) => void process.stderr.write(s));
  let run: (ctx: BridgeContext) => Promise<number>;
  try {
    run = parse(args, io);
  } catch (e) {
    // parseArgs throws (ERR_PARSE_ARGS_*) for unknown or malformed options.
    const parseArgsError = String((e as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
    if (!(e instanceof UsageError) && !parseArgsError) throw e;
    err(`iasu-bridge dlq: ${(e as Error).message.split('\n')[0]}\n${DLQ_USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  // Refuse in one line, rather than hang, when Redis is not there.
  await assertRedisReachable(config.redis, 5000);
  const [{ createContext }, { createLogger }] = await Promise.all([import('../app'), import('../logger')]);
  // Logs go to stderr so stdout is only the answer (`--json` pipes cleanly).
  const ctx = createContext(config, createLogger(config.logLevel, process.stderr));
  // The operator's actions go into the audit trail, or do not happen.
  io.audit ??= strictAuditSink(ctx.audit);
  try {
    return await run(ctx);
  } finally {
    await ctx.close();
  }
}

function parse(args: string[], io: DlqIo): (ctx: BridgeContext) => Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { ...FILTER_OPTIONS, limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } },
      });
      if (positionals.length) throw new UsageError(`list takes no arguments (got '${positionals[0]}')`);
      const filter = filterFrom(values);
      filter.limit = count(values.limit, '--limit', 1, 100_000);
      return async (ctx) => {
        const asked = filter.limit!;
        const items = await listDeadLetters(ctx, { ...filter, limit: asked + 1 });
        const shown = items.slice(0, asked);
        if (values.json) io.out(`${JSON.stringify({ items: shown, truncated: items.length > asked }, null, 2)}\n`);
        else {
          io.out(`${formatDeadLetterTable(shown)}\n`);
          if (items.length > asked) io.out(`(first ${asked} shown; more match: narrow the filter or raise --limit)\n`);
        }
        return 0;
      };
    }
    case 'show': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { personal: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
      });
      const id = oneId(positionals, 'show');
      return async (ctx) => {
        const detail = await showDeadLetter(ctx, id, { withPersonalData: values.personal });
        if (!detail) {
          io.out(`no dead letter with id ${id}\n`);
          return 1;
        }
        if (values.personal) {
          // Recorded before it is shown; with no audit trail configured, personal data is not shown.
          if (!io.audit) {
            io.out('personal data is not shown: no audit trail is configured for this command\n');
            return 1;
          }
          await io.audit.record({
            actor: actor(),
            action: 'admin.read',
            ...(detail.referralId ? { referralId: detail.referralId } : {}),
            ...(detail.crimeReference ? { crimeReference: detail.crimeReference } : {}),
            partner: detail.partner,
            outcome: 'ok',
            target: id,
          });
        }
        io.out(values.json ? `${JSON.stringify(detail, null, 2)}\n` : `${formatDeadLetterDetail(detail)}\n`);
        return 0;
      };
    }
    case 'redrive': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { ...FILTER_OPTIONS, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
      });
      const filter = filterFrom(values);
      const hasFilter = Object.keys(filter).length > 0;
      const by = actor();
      let act: (ctx: BridgeContext) => Promise<RedriveResult[]>;
      if (positionals.length > 0) {
        if (hasFilter || values.all) throw new UsageError('redrive takes an ID, or --all, or filters: not both');
        const id = oneId(positionals, 'redrive');
        act = async (ctx) => [await redriveDeadLetter(ctx, id, by, io.audit)];
      } else if (values.all || hasFilter) {
        if (values.all && hasFilter)
          throw new UsageError('--all redrives every dead letter: give it without filters, or filters without it');
        act = (ctx) => redriveMatching(ctx, filter, by, io.audit);
      } else {
        throw new UsageError('redrive needs an ID, --all, or at least one filter');
      }
      return async (ctx) => {
        const results = await act(ctx);
        if (values.json) io.out(`${JSON.stringify({ results }, null, 2)}\n`);
        else if (results.length === 0) io.out('no dead letters match\n');
        else
          for (const r of results)
            io.out(r.outcome === 'redriven' ? `redriven  ${r.id} -> job ${r.newJobId}\n` : `refused   ${r.id}: ${r.why}\n`);
        const refused = results.filter((r) => r.outcome === 'refused').length;
        if (!values.json && results.length > 1) io.out(`${results.length - refused} redriven, ${refused} refused\n`);
        return refused > 0 ? 1 : 0;
      };
    }
    case 'discard': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { reason: { type: 'string' }, json: { type: 'boolean', default: false } },
      });
      const id = oneId(positionals, 'discard');
      const reason = validDiscardReason(values.reason);
      if (reason === undefined) throw new UsageError('discard needs --reason "..." (1 to 200 characters, one line)');
      return async (ctx) => {
        const result = await discardDeadLetter(ctx, id, reason, actor(), io.audit);
        if (values.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
        else io.out(result.outcome === 'discarded' ? `discarded ${result.id}\n` : `refused   ${result.id}: ${result.why}\n`);
        return result.outcome === 'discarded' ? 0 : 1;
      };
    }
    case undefined:
      throw new UsageError('a subcommand is needed');
    default:
      throw new UsageError(`unknown subcommand '${sub}'`);
  }
}

function filterFrom(values: {
  partner?: string;
  kind?: string;
  queue?: string;
  'older-than-minutes'?: string;
  'newer-than-minutes'?: string;
}): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (values.partner !== undefined) filter.partner = oneOf(values.partner.toUpperCase(), DEAD_LETTER_PARTNERS, '--partner');
  if (values.kind !== undefined) filter.errorKind = oneOf(values.kind.toLowerCase(), DEAD_LETTER_ERROR_KINDS, '--kind');
  if (values.queue !== undefined) filter.queue = oneOf(values.queue, DEAD_LETTER_QUEUES, '--queue');
  if (values['older-than-minutes'] !== undefined)
    filter.olderThanMs = count(values['older-than-minutes'], '--older-than-minutes', 0, 366 * 24 * 60) * 60_000;
  if (values['newer-than-minutes'] !== undefined)
    filter.newerThanMs = count(values['newer-than-minutes'], '--newer-than-minutes', 0, 366 * 24 * 60) * 60_000;
  return filter;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function count(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

function oneId(positionals: string[], sub: string): string {
  if (positionals.length !== 1) throw new UsageError(`${sub} needs exactly one dead-letter ID`);
  const id = positionals[0]!;
  if (!/^[A-Za-z0-9@._/-]{1,300}$/.test(id)) throw new UsageError('a dead-letter ID is letters, digits and . _ @ / - only');
  return id;
}

/** The person at the keyboard, as the audit trail names operators. */
export function actor(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? process.env.LOGNAME ?? '';
  }
  const clean = name.replace(/[^A-Za-z0-9._@-]/g, '').slice(0, 64);
  return `operator:${clean || 'unknown'}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)

export function formatAge(failedAt: string, now = new Date()): string {
  const ms = now.getTime() - Date.parse(failedAt);
  if (!Number.isFinite(ms)) return '?';
  const m = Math.max(0, Math.floor(ms / 60_000));
  if (m < 60) return `${m}m`;
  if (m < 48 * 60) return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(m / 1440)}d`;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function formatDeadLetterTable(items: DeadLetterSummary[], now = new Date()): string {
  if (items.length === 0) return 'No dead letters match.';
  const header = ['ID', 'QUEUE', 'JOB', 'PARTNER', 'KIND', 'TRIES', 'AGE', 'REFERRAL / CRIME', 'REASON'];
  const rows = items.map((s) => [
    s.id,
    s.queue,
    s.jobName,
    s.partner,
    s.errorKind,
    String(s.attempts),
    formatAge(s.failedAt, now),
    s.referralId ?? s.crimeReference ?? '-',
    clip(s.reason.replace(/\s+/g, ' '), 70),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [`Dead letters: ${items.length}`, line(header), ...rows.map(line)].join('\n');
}

export function formatDeadLetterDetail(d: DeadLetterDetail): string {
  const lines = [
    `Dead letter ${d.id}`,
    `  queue        ${d.queue} (job ${d.jobName}, id ${d.jobId})`,
    `  partner      ${d.partner}`,
    `  error        ${d.errorKind}: ${d.reason}`,
    `  attempts     ${d.attempts}`,
    `  failed at    ${d.failedAt}`,
  ];
  if (d.referralId) lines.push(`  referral     ${d.referralId}`);
  if (d.crimeReference) lines.push(`  crime ref    ${d.crimeReference}`);
  if (d.correlationId) lines.push(`  correlation  ${d.correlationId}`);
  if (d.discarded) lines.push(`  discarded    by ${d.discarded.by} at ${d.discarded.at}`);
  if (d.discardReason !== undefined) lines.push(`  reason       ${d.discardReason}`);
  if (d.partnerText !== undefined) lines.push(`  partner said ${d.partnerText}`);
  lines.push(`  redrive      ${d.redrive.possible ? 'possible' : `not possible: ${d.redrive.why}`}`);
  if (d.referral) {
    lines.push('', `Referral: ${d.referral.status}${d.referral.partnerRef ? ` (partner ref ${d.referral.partnerRef})` : ''}`);
    for (const e of d.referral.timeline)
      lines.push(`  ${e.seq}. ${e.at}  ${e.from ? `${e.from} -> ` : ''}${e.status}  [${e.source}]${e.detail ? `  ${e.detail}` : ''}`);
  }
  if (d.personalData) lines.push('', 'Personal data:', JSON.stringify(d.personalData, null, 2));
  return lines.join('\n');
}
