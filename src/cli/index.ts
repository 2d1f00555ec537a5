#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, loadDotEnv } from '../config';
import { generateDataKeySpec } from '../store/crypto';
import { assertRedisReachable, RedisUnreachableError } from '../store/redis';
import { formatMapReport, mapFeed, readDocument } from './map-command';

const USAGE = `usage: iasu-bridge <command>

  start                         run the HTTP API, workers and schedulers (config from the environment)
  map <feed.xml> [--json] [--nhs-mode fhir-rest|bars]
                                dry run: show what a feed document would become; touches no queue or partner
  reconcile [--json]            compare every referral with the partners and the police, act on each
                                difference, and print the report (ids and crime references only)
  dlq list|show|redrive|discard  dead letters: find, inspect, redrive, discard (iasu-bridge dlq --help)
  referrals list                referrals by status, partner, crime, time (iasu-bridge referrals --help)
  crime show REF                a crime's referrals, story and quarantine
  quarantine list|show          quarantined records and why
  token --sub NAME --scope "S1 S2" [--ttl SECONDS]
                                an operator token signed with API_JWT_SECRET (scopes: referrals:read,
                                dlq:redrive, metrics:read, admin); with an identity provider, use its tokens`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start();
    case 'map':
      return map(rest);
    case 'reconcile':
      return reconcileCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case 'dlq':
      return dlq(rest);
    case 'referrals':
    case 'crime':
    case 'quarantine':
      return worklist(command, rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`iasu-bridge: unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

async function map(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, 'nhs-mode': { type: 'string', default: 'fhir-rest' } },
  });
  const file = positionals[0];
  const mode = values['nhs-mode'];
  if (!file) throw new UsageError('map needs a feed document: iasu-bridge map <feed.xml>');
  if (mode !== 'fhir-rest' && mode !== 'bars') throw new UsageError('--nhs-mode must be fhir-rest or bars');
  // A dry run needs no secrets: a throwaway key satisfies the config check.
  const config = loadConfig({ ...process.env, DATA_KEYS: process.env.DATA_KEYS || generateDataKeySpec('dry-run') });
  let document: Buffer;
  try {
    document = readDocument(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const report = await mapFeed(document, config, mode);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatMapReport(report)}\n`);
  return 0;
}

/**
 * One reconciliation now, from the environment's config: the same run as the scheduled one and
 * POST /v1/reconciliation. Exit 0 whatever it found (the report says it); 1 if it could not run.
 */
async function reconcileCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const config = loadConfig();
  // Refuse in one line, rather than hang, when Redis is not there.
  await assertRedisReachable(config.redis, REDIS_DEADLINE_MS);
  const [{ createContext }, { reconcile }, { renderReport }, { createLogger }] = await Promise.all([
    import('../app'),
    import('../reconcile/reconciler'),
    import('../reconcile/report'),
    import('../logger'),
  ]);
  // Logs go to stderr so stdout is only the report (`--json` pipes cleanly).
  const ctx = createContext(config, createLogger(config.logLevel, process.stderr));
  try {
    const report = await reconcile(ctx);
    if (!report) throw new Error('another process is reconciling right now; try again in a minute');
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderReport(report)}\n`);
    return 0;
  } finally {
    await ctx.close();
  }
}

/** `referrals list`, `crime show`, `quarantine list|show` (worklist-command.ts). */
async function worklist(command: string, args: string[]): Promise<number> {
  const { worklistCommand, WorklistUsageError, WORKLIST_USAGE } = await import('./worklist-command');
  const io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) };
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    io.out(`${WORKLIST_USAGE}\n`);
    return args.length === 0 ? 2 : 0;
  }
  const config = loadConfig();
  const [{ createContext }, { createLogger }] = await Promise.all([import('../app'), import('../logger')]);
  const ctx = createContext(config, createLogger(config.logLevel, process.stderr));
  try {
    return await worklistCommand(command, args, ctx, io);
  } catch (err) {
    const usage = err instanceof WorklistUsageError || String((err as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
    if (!usage) throw err;
    io.err(`iasu-bridge ${command}: ${(err as Error).message.split('\n')[0]}\n${WORKLIST_USAGE}\n`);
    return 2;
  } finally {
    await ctx.close();
  }
}

async function dlq(args: string[]): Promise<number> {
  const { dlqCommand } = await import('./dlq-command');
  return dlqCommand(args, { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) });
}

async function tokenCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { sub: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
  });
  const { issueOperatorToken, SCOPE } = await import('../api/auth');
  const known = new Set<string>(Object.values(SCOPE));
  const scopes = (values.scope ?? '').split(/[\s,]+/).filter(Boolean);
  if (!values.sub || !/^[A-Za-z0-9._@-]{1,64}$/.test(values.sub)) throw new UsageError('token needs --sub NAME (letters, digits, . _ @ -)');
  if (scopes.length === 0 || scopes.some((s) => !known.has(s)))
    throw new UsageError(`token needs --scope with one or more of: ${[...known].join(', ')}`);
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 12 * 3600) throw new UsageError('--ttl must be whole seconds between 60 and 43200');
  process.stdout.write(`${issueOperatorToken(loadConfig(), values.sub, scopes as Parameters<typeof issueOperatorToken>[2], ttl)}\n`);
  return 0;
}

async function start(): Promise<number> {
  const config = loadConfig();
  const { startBridge } = await import('../app');
  const bridge = await startBridge(config);
  const shutdown = (signal: string) => {
    bridge.ctx.logger.info({ signal }, 'shutdown requested');
    bridge.stop().then(
      () => exitAfterLogs(0),
      (err) => {
        bridge.ctx.logger.error({ err: (err as Error).message }, 'shutdown failed');
        exitAfterLogs(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return new Promise<number>(() => undefined);
}

class UsageError extends Error {}

/** How long a command that needs Redis waits for it before giving up (exit 1). */
export const REDIS_DEADLINE_MS = 5000;

/** The last log lines are written first, but a full log disk never holds the exit up for long. */
function exitAfterLogs(code: number): void {
  void import('../logger').then(({ drainStdoutLog }) => drainStdoutLog(1000)).finally(() => process.exit(code));
}

/**
 * Resolves once everything written to stdout so far has reached the OS (a pipe's stdout is
 * asynchronous: process.exit before this cuts output off past the pipe buffer, ~64 KiB).
 * Resolves false if stdout failed (EPIPE, closed reader), so the exit is not a silent success.
 */
function flushStdout(): Promise<boolean> {
  return new Promise((resolve) => {
    if (stdoutFailed || process.stdout.destroyed) return resolve(false);
    process.stdout.once('error', () => resolve(false));
    process.stdout.write('', (err) => resolve(!err && !stdoutFailed));
  });
}

let stdoutFailed = false;

export function run(argv: string[] = process.argv.slice(2)): void {
  process.stdout.on('error', () => {
    stdoutFailed = true;
  });
  // config/example.env promises a .env in the working directory; the real environment wins.
  Promise.resolve()
    .then(() => loadDotEnv())
    .then(() => main(argv))
    .then(
      (code) => void flushStdout().then((ok) => exitAfterLogs(ok ? code : code || 1)),
      (err: unknown) => {
        // One line, no stack: operators read this; the reason never contains record content.
        const message =
          err instanceof ConfigError || err instanceof UsageError || err instanceof RedisUnreachableError
            ? err.message
            : `error: ${(err as Error).message ?? String(err)}`;
        process.stderr.write(`iasu-bridge: ${message.split('\n')[0]}\n`);
        process.exit(err instanceof UsageError ? 2 : 1);
      },
    );
}

if (require.main === module) run();

export { main };
