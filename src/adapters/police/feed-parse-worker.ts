import { parentPort } from 'node:worker_threads';
import { FeedError, parseFeed, type FeedParseOptions } from './feed-parser';

/** The worker-thread side of FeedParsePool: one document in, its ParsedFeed (or why not) out. */
parentPort?.on('message', (message: { id: number; document: Uint8Array; opts: FeedParseOptions }) => {
  parseFeed(Buffer.from(message.document.buffer, message.document.byteOffset, message.document.byteLength), message.opts).then(
    (feed) => parentPort!.postMessage({ id: message.id, feed }),
    (err: unknown) =>
      parentPort!.postMessage({
        id: message.id,
        error: { feedError: err instanceof FeedError, message: String((err as Error)?.message ?? err) },
      }),
  );
});
