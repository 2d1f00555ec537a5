/**
 * Writes asked for in one turn of the event loop, sent together: `send` gets them all at once
 * (a backlog makes several a turn of the same small command, each a command of its own before).
 * Each caller still resolves only once its write is done, or rejects with the batch's error.
 */
export class TurnBatch<T> {
  private items: T[] = [];
  private sent?: Promise<void>;

  constructor(private readonly send: (items: T[]) => Promise<unknown>) {}

  add(item: T): Promise<void> {
    this.items.push(item);
    this.sent ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const items = this.items;
      this.items = [];
      this.sent = undefined;
      return this.send(items).then(() => undefined);
    });
    return this.sent;
  }
}
