import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import { LogDestination } from './log-destination';
import { redactor } from './log-redaction';

/**
 * Personal-data keys that must never reach a log line. Code should not log payloads at all;
 * this list is the second line of defence, applied at every nesting depth (log-redaction.ts).
 */
export const PERSONAL_KEYS = [
  'forename',
  'surname',
  'name',
  'given',
  'family',
  'dateOfBirth',
  'birthDate',
  'nhsNumber',
  'address',
  'postcode',
  'postcodeDistrict',
  'safeContact',
  'telecom',
  'phone',
  'email',
  'summary',
  'clinicalIndicators',
  'mdtReason',
  'reasonCode',
  'note',
  'text',
  'client',
  'perpetrator',
  'subject',
  'referral',
  'record',
  'payload',
  'body',
  'xml',
];

const redact = redactor(PERSONAL_KEYS);

let stdout: LogDestination | undefined;

/** The process's one stdout destination: never blocks, drops and counts what it cannot write, flushed at exit. */
function stdoutDestination(): LogDestination {
  if (!stdout) {
    const dest = new LogDestination({ fd: 1 });
    process.on('exit', () => dest.flushSync());
    stdout = dest;
  }
  return stdout;
}

/** Waits (at most `timeoutMs`) for the stdout log to be written: call before process.exit. */
export function drainStdoutLog(timeoutMs = 1000): Promise<void> {
  return stdout ? stdout.drain(timeoutMs) : Promise.resolve();
}

/** A logger on `destination`, or on stdout through a LogDestination (see log-destination.ts). */
export function createLogger(level = 'info', destination: DestinationStream = stdoutDestination()): Logger {
  return redactingChildren(
    pino(
      {
        level,
        base: { service: 'iasu-bridge' },
        timestamp: pino.stdTimeFunctions.isoTime,
        // In place of pino's `redact` (see log-redaction.ts): the line's own fields and a child's bindings.
        formatters: { level: (label) => ({ level: label }), log: redact, bindings: redact },
      },
      destination,
    ),
  );
}

/**
 * pino applies `formatters.bindings` to the root logger's bindings only; every child, and every
 * child of a child (each is made from its parent's prototype, so inherits this `child`), is
 * given the same redaction for its own.
 */
function redactingChildren(logger: Logger): Logger {
  type Child = (this: unknown, bindings: Bindings, options?: ChildLoggerOptions) => unknown;
  const pinoChild = logger.child as unknown as Child;
  const child: Child = function (bindings, options = {}) {
    return pinoChild.call(this, bindings, { ...options, formatters: { ...options.formatters, bindings: redact } });
  };
  Object.defineProperty(logger, 'child', { value: child, writable: true, configurable: true });
  return logger;
}

/** node-cron's own notices (missed ticks, overlap skipped) into our structured log, not stdout. */
export function cronLogger(logger: Logger) {
  const log = logger.child({ component: 'node-cron' });
  return {
    info: (message: string) => log.debug(message),
    warn: (message: string) => log.debug(message),
    error: (message: string | Error) => log.warn({ err: String(message) }, 'scheduler error'),
    debug: (message: string | Error) => log.trace(String(message)),
  };
}

/** The log lines a job writes. */
export interface JobLog {
  debug(obj: object, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/**
 * A child logger made on the first line actually written. pino's child() runs the redaction over
 * its bindings at once, and the hot paths make one per job: at LOG_LEVEL=warn that was work for
 * lines never written.
 */
export function lazyChild(logger: Logger, bindings: Record<string, unknown>): JobLog {
  let child: Logger | undefined;
  const line =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: object | string, msg?: string): void => {
      if (!logger.isLevelEnabled(level)) return;
      child ??= logger.child(bindings);
      if (typeof obj === 'string') child[level](obj);
      else child[level](obj, msg);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

export type { Logger };
