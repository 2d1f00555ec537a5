import { parseArgs } from 'node:util';
import type { BridgeContext } from '../context';
import { STATUS_ORDER, type ReferralStatus } from '../domain/lifecycle';
import type { PartnerCode } from '../domain/referral-state';
import { crimeStory, InvalidCursor, listReferrals, MAX_PAGE, type ReferralFilter } from '../operations/worklists';

/**
 * `iasu-bridge referrals list`, `crime show`, `quarantine list|show`: the console's worklists
 * from a shell, as tables that fit 120 columns (or `--json`, the API's shapes). Metadata only.
 * Exit codes: 0 done, 1 nothing found, 2 usage.
 */
export const WORKLIST_USAGE = `usage:
  iasu-bridge referrals list [--status S] [--partner NHS|CHARITY] [--crime REF] [--updated-since ISO-TIME]
                             [--limit N] [--cursor C] [--json]     newest change first (default limit 50)
  iasu-bridge crime show REF [--json]                             every referral of a crime, its story, its quarantine
  iasu-bridge quarantine list [--limit N] [--json]                quarantined records with the reason (default 100)
  iasu-bridge quarantine show ID [--json]                         one quarantine entry

  S: ${STATUS_ORDER.join('|')}`;

export const WORKLIST_COMMANDS = ['referrals', 'crime', 'quarantine'] as const;

export interface WorklistIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export class WorklistUsageError extends Error {}

type Ctx = Pick<BridgeContext, 'referrals' | 'quarantine' | 'audit'>;

const WIDTH = 120;

export async function worklistCommand(command: string, args: string[], ctx: Ctx, io: WorklistIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    io.out(`${WORKLIST_USAGE}\n`);
    return 0;
  }
  await ctx.audit.record({ actor: 'cli', action: 'admin.read', target: `cli:${command} ${sub ?? ''}`.trim() });
  if (command === 'referrals' && sub === 'list') return referralsList(rest, ctx, io);
  if (command === 'crime' && sub === 'show') return crimeShow(rest, ctx, io);
  if (command === 'quarantine' && sub === 'list') return quarantineList(rest, ctx, io);
  if (command === 'quarantine' && sub === 'show') return quarantineShow(rest, ctx, io);
  throw new WorklistUsageError(`unknown subcommand '${command} ${sub ?? ''}'`.trim());
}

async function referralsList(args: string[], ctx: Ctx, io: WorklistIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      status: { type: 'string' },
      partner: { type: 'string' },
      crime: { type: 'string' },
      'updated-since': { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const filter: ReferralFilter = {};
  if (values.status !== undefined) {
    if (!(STATUS_ORDER as readonly string[]).includes(values.status))
      throw new WorklistUsageError(`--status must be one of ${STATUS_ORDER.join('|')}`);
    filter.status = values.status as ReferralStatus;
  }
  if (values.partner !== undefined) {
    if (values.partner !== 'NHS' && values.partner !== 'CHARITY') throw new WorklistUsageError('--partner must be NHS or CHARITY');
    filter.partner = values.partner as PartnerCode;
  }
  if (values.crime !== undefined) filter.crimeReference = values.crime;
  if (values['updated-since'] !== undefined) {
    if (Number.isNaN(Date.parse(values['updated-since']))) throw new WorklistUsageError('--updated-since must be an ISO 8601 time');
    filter.updatedSince = values['updated-since'];
  }
  const limit = positiveInt(values.limit, 50, '--limit');
  let page;
  try {
    page = await listReferrals(ctx, filter, { limit, ...(values.cursor ? { cursor: values.cursor } : {}) });
  } catch (err) {
    if (err instanceof InvalidCursor) throw new WorklistUsageError(`--cursor: ${err.message}`);
    throw err;
  }
  if (values.json) {
    io.out(`${JSON.stringify(page)}\n`);
    return 0;
  }
  io.out(
    table(
      ['Crime', 'Type', 'Partner', 'Status', 'Held / last error', 'Updated', 'Referral'],
      page.items.map((r) => [
        r.crimeReference,
        r.type,
        r.partner,
        r.status,
        r.heldReason ?? r.lastError ?? '',
        r.updatedAt.slice(0, 16),
        r.referralId,
      ]),
    ),
  );
  if (page.nextCursor) io.out(`more: --cursor ${page.nextCursor}\n`);
  return 0;
}

async function crimeShow(args: string[], ctx: Ctx, io: WorklistIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const ref = positionals[0];
  if (!ref) throw new WorklistUsageError('crime show needs a crime reference');
  const story = await crimeStory(ctx, ref);
  if (!story) {
    io.err(`nothing held for crime ${ref}\n`);
    return 1;
  }
  if (values.json) {
    io.out(`${JSON.stringify(story)}\n`);
    return 0;
  }
  io.out(`Crime ${story.crimeReference}: versions seen ${story.versionsSeen.join(', ') || 'none'}\n\n`);
  io.out(
    table(
      ['Referral', 'Type', 'Partner', 'Status', 'Held / last error', 'Write-backs pending'],
      story.referrals.map((r) => [
        r.referralId,
        r.type,
        r.partner,
        r.status,
        r.heldReason ?? r.lastError ?? '',
        String(r.writeBacksPending),
      ]),
    ),
  );
  io.out('\nStory\n');
  io.out(
    table(
      ['When', 'Status', 'Partner', 'Source', 'Detail'],
      story.story.map((e) => [e.at.slice(0, 19), e.status, e.partner, e.source, e.detail ?? '']),
    ),
  );
  if (story.quarantine.length) {
    io.out('\nQuarantine\n');
    io.out(
      table(
        ['Version', 'Reason', 'When'],
        story.quarantine.map((q) => [String(q.recordVersion ?? ''), q.reason, q.at.slice(0, 16)]),
      ),
    );
  }
  return 0;
}

async function quarantineList(args: string[], ctx: Ctx, io: WorklistIo): Promise<number> {
  const { values } = parseArgs({ args, options: { limit: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const items = await ctx.quarantine.list(positiveInt(values.limit, 100, '--limit'));
  if (values.json) {
    io.out(`${JSON.stringify({ items, total: await ctx.quarantine.count() })}\n`);
    return 0;
  }
  io.out(
    table(
      ['Id', 'Crime', 'Version', 'Reason', 'When'],
      items.map((q) => [q.id, q.crimeReference ?? '', String(q.recordVersion ?? ''), q.reason, q.at.slice(0, 16)]),
    ),
  );
  return 0;
}

async function quarantineShow(args: string[], ctx: Ctx, io: WorklistIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const id = positionals[0];
  if (!id) throw new WorklistUsageError('quarantine show needs an entry id (from quarantine list)');
  const entry = await ctx.quarantine.get(id);
  if (!entry) {
    io.err(`no quarantine entry ${id}\n`);
    return 1;
  }
  io.out(
    values.json
      ? `${JSON.stringify(entry)}\n`
      : `${Object.entries(entry)
          .map(([k, v]) => `${k.padEnd(16)}${String(v)}`)
          .join('\n')}\n`,
  );
  return 0;
}

function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw new WorklistUsageError(`${name} must be a whole number from 1 to ${MAX_PAGE}`);
  return n;
}

/** Columns sized to their content; the widest are cut (with …) until the table fits WIDTH. */
export function table(headers: string[], rows: string[][], width = WIDTH): string {
  if (rows.length === 0) return '(none)\n';
  const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  const cells = [headers, ...rows].map((r) => r.map(clean));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const gap = 2 * (headers.length - 1);
  while (widths.reduce((a, b) => a + b, 0) + gap > width) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest]! <= 8) break;
    widths[widest]!--;
  }
  const fit = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => fit(c, widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
