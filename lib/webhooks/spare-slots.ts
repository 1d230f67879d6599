/**
 * Which webhook URLs a delivery holds a slot of to spare, in shared memory: under `npm start`
 * the jobs thread's inline runs keep the slots (inline-runs.ts) and the API thread's enqueues
 * note the runs (delivery.ts), so the one publishes and the other reads, without a message
 * per change. One flag per URL of WEBHOOK_URLS, in their order.
 */
export class SpareSlotFlags {
  private readonly flags: Int32Array;
  private readonly indexOf: Map<string, number>;

  /** `buffer`: another thread's flags (passed in workerData), or none for new ones. */
  constructor(readonly urls: readonly string[], buffer?: SharedArrayBuffer) {
    this.flags = new Int32Array(buffer ?? new SharedArrayBuffer(4 * Math.max(1, urls.length)));
    this.indexOf = new Map(urls.map((url, i) => [url, i]));
  }

  /** The memory to hand to another thread. */
  get buffer(): SharedArrayBuffer {
    return this.flags.buffer as SharedArrayBuffer;
  }

  set(url: string, spare: boolean): void {
    const i = this.indexOf.get(url);
    if (i !== undefined) Atomics.store(this.flags, i, spare ? 1 : 0);
  }

  has(url: string): boolean {
    const i = this.indexOf.get(url);
    return i !== undefined && Atomics.load(this.flags, i) === 1;
  }

  /** Every URL: none to spare (the delivery stopped). */
  clear(): void {
    for (const url of this.urls) this.set(url, false);
  }
}
