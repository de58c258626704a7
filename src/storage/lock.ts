/**
 * In-process mutex per key (a storage user): requests of one user run one at a time inside
 * this process, so they do not pile up on database locks; the database transaction still
 * serializes writers across processes.
 */
export class KeyedMutex {
  private readonly tails = new Map<number, Promise<void>>();

  async run<T>(key: number, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
