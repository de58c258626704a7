import { randomBytes, scrypt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hkdfSha256 } from './hkdf.js';

// The server side of onepw (fxa-auth.md 2.3): scrypt(authPW, authSalt) stretched into the
// stored verifyHash and the key that wraps wrapKb. One scrypt costs 64 MiB and a quarter
// second of a core, so it runs on libuv's thread pool behind a small queue of our own.

const NS = 'identity.mozilla.com/picl/v1/';
const EMPTY = Buffer.alloc(0);
export const SCRYPT = { N: 65536, r: 8, p: 1, keyLength: 32, maxmem: 128 * 1024 * 1024 } as const;

export interface Stretched {
  verifyHash: Buffer;
  wrapwrapKey: Buffer;
}

export class ServerBusyError extends Error {
  constructor(readonly retryAfter: number) {
    super('server busy');
  }
}

export function scryptOnce(authPW: Buffer, authSalt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(authPW, authSalt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export function deriveFromBigStretched(bigStretchedPW: Buffer): Stretched {
  return {
    verifyHash: hkdfSha256(bigStretchedPW, EMPTY, `${NS}verifyHash`, 32),
    wrapwrapKey: hkdfSha256(bigStretchedPW, EMPTY, `${NS}wrapwrapKey`, 32),
  };
}

/** Default pool size: leave one core for the event loop (storage, pages), at least one worker. */
export function defaultScryptConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * Runs at most `concurrency` scrypt computations at once. Callers beyond that wait in a queue;
 * one that would wait longer than `maxWaitMs` (estimated from the queue length) is refused with
 * ServerBusyError at once, so a storm of logins is shed instead of piling up.
 */
export class ScryptPool {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  /** Moving average of one computation, in ms; starts at a typical 2-core figure. */
  private averageMs = 250;

  constructor(
    readonly concurrency: number = defaultScryptConcurrency(),
    private readonly maxWaitMs = 5000,
    /** Where scrypt runs: this process's thread pool unless given (the server uses a niced child process). */
    private readonly compute: (authPW: Buffer, authSalt: Buffer) => Promise<Buffer> = scryptOnce,
  ) {}

  get pending(): number {
    return this.queue.length + this.running;
  }

  /** Seconds to come back after, when a computation asked for now would be refused; else undefined. */
  busyRetryAfter(): number | undefined {
    const expectedWait = (this.queue.length / this.concurrency) * this.averageMs;
    if (this.running >= this.concurrency && expectedWait + this.averageMs > this.maxWaitMs) {
      return Math.max(1, Math.ceil((expectedWait + this.averageMs) / 1000));
    }
    return undefined;
  }

  /** Throw ServerBusyError when a computation asked for now would be refused: lets callers shed load before doing other work. */
  admit(): void {
    const retryAfter = this.busyRetryAfter();
    if (retryAfter !== undefined) throw new ServerBusyError(retryAfter);
  }

  async stretch(authPW: Buffer, authSalt: Buffer): Promise<Stretched> {
    this.admit();
    if (this.running >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    const started = performance.now();
    try {
      return deriveFromBigStretched(await this.compute(authPW, authSalt));
    } finally {
      this.averageMs = this.averageMs * 0.8 + (performance.now() - started) * 0.2;
      this.running--;
      this.queue.shift()?.();
    }
  }
}

export function randomKey(): Buffer {
  return randomBytes(32);
}

export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new Error('xor of different lengths');
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
