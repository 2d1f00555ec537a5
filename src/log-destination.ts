import { write as fsWrite, writeSync } from 'node:fs';

/**
 * Where the process log goes (stdout by default): asynchronous writes that never block the event
 * loop and never retry a refused write. When the destination refuses lines (disk full, I/O error)
 * or falls more than `maxBufferedBytes` behind, the lines are dropped and counted
 * (`logLinesDropped()`, metric `iasu_log_lines_dropped_total`): a full log disk must not stop
 * referrals, the health endpoints or a graceful stop. pino's own destination retried ENOSPC
 * forever on the main thread when flushing at exit, so the process hung instead of stopping.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** How long to wait before writing again to a destination that said "not now" (EAGAIN). */
const BUSY_RETRY_MS = 100;

let droppedTotal = 0;

/** Log lines dropped by every LogDestination of this process since it started. */
export function logLinesDropped(): number {
  return droppedTotal;
}

export interface LogDestinationOptions {
  fd?: number;
  maxBufferedBytes?: number;
  /** Told once when lines start being dropped and once when writes succeed again (default: a line on stderr, best effort). */
  notice?: (message: string) => void;
}

export class LogDestination {
  private readonly fd: number;
  private readonly maxBufferedBytes: number;
  private readonly notice: (message: string) => void;
  private pending: string[] = [];
  private pendingBytes = 0;
  private writing = false;
  private dropping = false;
  private droppedSinceNotice = 0;
  private drained: (() => void)[] = [];

  constructor(opts: LogDestinationOptions = {}) {
    this.fd = opts.fd ?? 1;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.notice = opts.notice ?? stderrNotice;
  }

  /** pino's destination interface: one serialised line (with its newline). */
  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > this.maxBufferedBytes) {
      this.drop(1, 'the log destination is not keeping up');
      return false;
    }
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (!this.writing) this.writeNext();
    return true;
  }

  /**
   * Resolves once every line so far is written or dropped, or after `timeoutMs`: a process calls
   * this before it exits, so its last lines are not lost with a write still in flight.
   */
  drain(timeoutMs: number): Promise<void> {
    if (!this.writing && this.pending.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * What is still buffered, written synchronously (at exit): one attempt, and whatever the
   * destination refuses is dropped, so exiting never waits on a full disk.
   */
  flushSync(): void {
    if (this.writing || this.pending.length === 0) return;
    let buf = this.take();
    try {
      while (buf.length > 0) buf = buf.subarray(writeSync(this.fd, buf));
    } catch (err) {
      this.drop(countLines(buf), describe(err));
    }
  }

  private writeNext(): void {
    if (this.pending.length === 0) {
      for (const done of this.drained.splice(0)) done();
      return;
    }
    this.writing = true;
    this.send(this.take());
  }

  private send(buf: Buffer): void {
    fsWrite(this.fd, buf, 0, buf.length, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
          // The reader is slow (a non-blocking pipe): try again shortly; new lines wait, bounded.
          setTimeout(() => this.send(buf), BUSY_RETRY_MS).unref();
          return;
        }
        this.drop(countLines(buf), describe(err));
        this.writing = false;
        this.writeNext();
        return;
      }
      if (written < buf.length) {
        this.send(buf.subarray(written));
        return;
      }
      if (this.dropping) this.recovered();
      this.writing = false;
      this.writeNext();
    });
  }

  private take(): Buffer {
    const buf = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    return buf;
  }

  private drop(lines: number, why: string): void {
    droppedTotal += lines;
    this.droppedSinceNotice += lines;
    if (this.dropping) return;
    this.dropping = true;
    this.notice(`iasu-bridge: log lines are being dropped (${why}); counted in iasu_log_lines_dropped_total`);
  }

  private recovered(): void {
    this.notice(`iasu-bridge: log writes succeed again; ${this.droppedSinceNotice} log lines were dropped`);
    this.dropping = false;
    this.droppedSinceNotice = 0;
  }
}

function countLines(buf: Buffer): number {
  let lines = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines += 1;
  return Math.max(lines, 1);
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'write failed';
}

/** Best effort and asynchronous: stderr may be on the same full disk. */
function stderrNotice(message: string): void {
  fsWrite(2, `${message}\n`, () => undefined);
}
