/**
 * Calls made within one turn of the event loop (or a window of a few ms) go to Redis as one.
 * Many runs of one URL end, start and record at the same moment under load; each call to
 * Redis costs a node more CPU than the work it carries, so they share one.
 */
export class Batcher<Item, Result> {
  private items: Item[] = [];
  private waiters: { resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** The timer is the window's (else the next turn's). */
  private inWindow = false;
  private readonly sending = new Set<Promise<void>>();

  /**
   * `send` gets the items in the order added and answers one result per item. With
   * `windowMs`, what is added within that many ms goes as one call (for what no caller waits on).
   */
  constructor(private readonly send: (items: Item[]) => Promise<Result[]>, private readonly windowMs = 0) {}

  /** `soon`: this item does not wait for the window (nor do those added before it). */
  add(item: Item, soon = false): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (soon && this.timer && this.inWindow) {
        clearTimeout(this.timer as NodeJS.Timeout);
        this.timer = null;
      }
      if (!this.timer) {
        this.inWindow = this.windowMs > 0 && !soon;
        this.timer = this.inWindow ? setTimeout(() => this.flush(), this.windowMs) : setImmediate(() => this.flush());
      }
    });
  }

  /** Sends what waits for its window now, and resolves once every call under way has ended. */
  async drain(): Promise<void> {
    if (this.timer) this.flush();
    await Promise.allSettled([...this.sending]);
  }

  private flush(): void {
    if (this.timer) {
      if (this.inWindow) clearTimeout(this.timer as NodeJS.Timeout);
      else clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.timer = null;
    const { items, waiters } = this;
    this.items = [];
    this.waiters = [];
    const sent: Promise<void> = this.send(items).then(
      (results) => waiters.forEach((w, i) => w.resolve(results[i])),
      (err) => waiters.forEach((w) => w.reject(err)),
    ).finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }
}
