import type { ChildProcess } from 'node:child_process';

// The child processes a bench starts and what it has to undo at the end (temporary
// directories, databases). Every way out goes through cleanupAll: the normal end, a crash,
// Ctrl-C and the hard time limit, so no Foxden, worker or bench data is left behind.

const children = new Set<ChildProcess>();
const cleanups: { name: string | undefined; fn: () => Promise<void> | void }[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;

/** Registers a child so that cleanupAll stops it; it is forgotten once it exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The tracked children that have not exited yet (for CPU accounting). */
export function trackedChildren(): ChildProcess[] {
  return [...children];
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL if the child is still there after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!exited(child)) child.kill('SIGKILL');
  }, graceMs);
  await gone;
  clearTimeout(timer);
}

/**
 * `fn` runs in cleanupAll, after every child has stopped (they may hold the files), newest
 * first. `name` goes into the message if it fails; without it the message says only that
 * a cleanup failed.
 */
export function atCleanup(fn: () => Promise<void> | void, name?: string): void {
  cleanups.push({ name, fn });
}

/** Stops the children, then runs the cleanups; once only, however many exits ask for it. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c, 5000).catch(() => {})));
    for (const { name, fn } of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup${name === undefined ? '' : ` of ${name}`} failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

/** True after SIGINT or SIGTERM: the run is winding down. */
export function isInterrupted(): boolean {
  return interrupted;
}

/** After Ctrl-C no new phase or round starts: call this before each. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

/**
 * Runs a bench's main and exits with its code. SIGINT / SIGTERM and a hard time limit
 * (`hardLimitMs`, whatever happens inside) stop the children and remove the bench data
 * first, and so does a crash.
 */
export function runBench(main: () => Promise<number>, hardLimitMs: number): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: stopping children and removing bench data`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
  const hardLimit = setTimeout(() => {
    console.error(`\nbench exceeded its ${Math.round(hardLimitMs / 1000)} s bound: stopping`);
    void cleanupAll().finally(() => process.exit(3));
  }, hardLimitMs);
  hardLimit.unref();
  main().then(
    (code) => {
      clearTimeout(hardLimit);
      process.exit(code);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      void cleanupAll().finally(() => process.exit(1));
    },
  );
}
