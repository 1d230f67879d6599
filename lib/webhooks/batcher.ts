/**
 * Calls made within one turn of the event loop go to Redis as one. Many runs of one URL
 * end, start and record at the same moment under load; each call to Redis costs a node more
 * CPU than the work it carries, so they share one.
 */
export class Batcher<Item, Result> {
  private items: Item[] = [];
  private waiters: { resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /** `send` gets the items in the order added and answers one result per item. */
  constructor(private readonly send: (items: Item[]) => Promise<Result[]>) {}

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const { items, waiters } = this;
    this.items = [];
    this.waiters = [];
    this.scheduled = false;
    this.send(items).then(
      (results) => waiters.forEach((w, i) => w.resolve(results[i])),
      (err) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
