import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// scrypt in a child process whose CPU priority is lowered, so that on a small machine a storm
// of password checks yields the CPU to request handling instead of competing with it. The
// child starts on the first check and exits after a minute without work, so an idle server
// carries no extra process.

const HERE = fileURLToPath(new URL('.', import.meta.url));
// Built, the child sits next to this file; the test suite runs the sources and the child from dist/.
const CHILD = existsSync(join(HERE, 'scrypt-child.js')) ? join(HERE, 'scrypt-child.js') : resolve(HERE, '../../dist/crypto/scrypt-child.js');
/** Nice value of the child: below the server, above nothing else in particular. */
const CHILD_NICENESS = 10;
const IDLE_EXIT_MS = 60_000;

interface Pending {
  resolve(key: Buffer): void;
  reject(err: Error): void;
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLength: number;
  maxmem: number;
}

export class ScryptProcess {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly params: ScryptParams) {}

  run(password: Buffer, salt: Buffer): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('scrypt process closed'));
    const child = this.ensureChild();
    const id = this.nextId++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.channel(child)?.ref();
      child.send({ id, password: new Uint8Array(password), salt: new Uint8Array(salt), ...this.params });
    });
  }

  /** Stop the child; pending computations fail. */
  close(): void {
    this.closed = true;
    this.stopChild(new Error('scrypt process closed'));
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    const child = fork(CHILD, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    this.child = child;
    try {
      if (child.pid !== undefined) setPriority(child.pid, CHILD_NICENESS);
    } catch {
      // Not permitted here: it still works, at normal priority.
    }
    child.on('message', (msg: { id: number; key?: Uint8Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.key) p.resolve(Buffer.from(msg.key.buffer, msg.key.byteOffset, msg.key.byteLength));
      else p.reject(new Error(msg.error ?? 'scrypt failed'));
      if (this.pending.size === 0) {
        this.channel(child)?.unref();
        this.scheduleIdleExit();
      }
    });
    child.on('exit', () => {
      if (this.child === child) {
        this.child = undefined;
        this.failPending(new Error('scrypt process exited'));
      }
    });
    child.on('error', (err) => {
      if (this.child === child) this.stopChild(err);
    });
    // Only work in progress keeps the parent alive; an idle child never does.
    child.unref();
    return child;
  }

  private channel(child: ChildProcess): { ref(): void; unref(): void } | undefined {
    return (child as unknown as { channel?: { ref(): void; unref(): void } }).channel;
  }

  private scheduleIdleExit(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.pending.size === 0) this.stopChild(new Error('idle'));
    }, IDLE_EXIT_MS);
    this.idleTimer.unref();
  }

  private stopChild(reason: Error): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const child = this.child;
    this.child = undefined;
    this.failPending(reason);
    if (child && child.exitCode === null) child.kill();
  }

  private failPending(reason: Error): void {
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
  }
}
