import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FeedError, parseFeed, type FeedParseOptions, type ParsedFeed } from './feed-parser';

/**
 * Feed documents parsed and validated off the main thread. A 1,000-record page took 250–300 ms
 * of XML parsing and joi, during which no job, webhook or API call moved; on a worker thread that
 * work uses another core. The worker's heap has its own ceiling, so a hostile document that
 * exhausts it ends the worker (restarted on the next call), not the bridge. Small documents (a
 * push of a few records) go to the worker too: under a steady push the main thread is the
 * bridge's bottleneck, and a one-record document cost it about 0.4 ms to parse in place against
 * 0.05 ms to hand over (where a core is free; on a busy two-core machine the gain is smaller).
 * While the worker has a large document (a page) they are parsed in place, so a push never
 * waits behind 1,000 records.
 */
export interface FeedParsePoolOptions {
  /** Documents smaller than this are parsed on the calling thread while the worker has a larger one. */
  minBytes: number;
  /** Heap ceiling of the worker (MB). */
  maxHeapMb: number;
}

type Reply = { id: number; feed: ParsedFeed } | { id: number; error: { feedError: boolean; message: string } };

export class FeedParsePool {
  private worker?: Worker;
  private readonly pending = new Map<number, { resolve(feed: ParsedFeed): void; reject(err: Error): void }>();
  private nextId = 0;
  private largeInWorker = 0;
  /** Where documents were parsed (for tests and tuning). */
  readonly parsed = { onWorker: 0, inPlace: 0 };

  constructor(private readonly opts: FeedParsePoolOptions) {}

  parse(document: Buffer, opts: FeedParseOptions): Promise<ParsedFeed> {
    // Over the size limit: refused in place at once, without copying it to the worker.
    const large = document.length >= this.opts.minBytes;
    if (document.length > opts.maxBytes || (!large && this.largeInWorker > 0)) {
      this.parsed.inPlace++;
      return parseFeed(document, opts);
    }
    this.parsed.onWorker++;
    if (large) this.largeInWorker++;
    const worker = this.started();
    const id = this.nextId++;
    // Held open while it has work, so a caller awaiting a parse is not left behind by an exit.
    worker.ref();
    const parsed = new Promise<ParsedFeed>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, document: new Uint8Array(document), opts });
    });
    return large ? parsed.finally(() => this.largeInWorker--) : parsed;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const file = join(__dirname, `feed-parse-worker${extname(__filename)}`);
    // Compiled, the worker is JavaScript. Under tsx or jest it is TypeScript, loaded through
    // tsx's CommonJS hook (a devDependency, present wherever the .ts sources run).
    const worker = file.endsWith('.ts')
      ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, {
          eval: true,
          resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb },
        })
      : new Worker(file, { resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb } });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if ('feed' in reply) waiting.resolve(reply.feed);
      else
        waiting.reject(reply.error.feedError ? new FeedError(reply.error.message) : new Error(`feed parse failed: ${reply.error.message}`));
    });
    const lost = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, waiting] of this.pending) {
        this.pending.delete(id);
        waiting.reject(err);
      }
    };
    worker.on('error', (err: Error & { code?: string }) =>
      lost(
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? // The document itself is the problem: unreadable, so it is quarantined and the cursor held.
            new FeedError(`document needs more than the parser's ${this.opts.maxHeapMb} MB to read`)
          : new Error(`feed parser failed (${err.message}); the page is read again on the next poll`),
      ),
    );
    worker.on('exit', (code) => lost(new Error(`feed parser stopped (exit ${code}); the page is read again on the next poll`)));
    this.worker = worker;
    return worker;
  }
}
