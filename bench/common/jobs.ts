import { fork } from 'node:child_process';
import { stopChild, track } from './processes.js';

// One job in its own, fresh child process (the storage bench's load generator, the auth
// bench's worker): the parent forks the script and sends it the job over IPC; the child runs
// it, sends back one message and exits. The load then comes from outside the measuring
// process, and a job that hangs is killed without taking the bench down with it.

export type JobMessage<R> = { type: 'result'; result: R } | { type: 'error'; message: string };

export interface JobChild {
  script: string;
  cwd: string;
  /** Names the child in errors: "<name> failed: …". */
  name: string;
  timeoutMs: number;
  /** How an overrun is described: "<name> overran <bound>". */
  bound: string;
}

/** The parent side: the child's result, or a rejection; the child is stopped either way. */
export async function runInChild<R>(c: JobChild, job: object): Promise<R> {
  const child = track(fork(c.script, [], { cwd: c.cwd, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] }));
  try {
    return await new Promise<R>((resolveJob, reject) => {
      const timer = setTimeout(() => reject(new Error(`${c.name} overran ${c.bound}`)), c.timeoutMs);
      child.once('message', (m: JobMessage<R>) => {
        clearTimeout(timer);
        if (m.type === 'result') resolveJob(m.result);
        else reject(new Error(`${c.name} failed: ${m.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${c.name} exited (code ${code}, signal ${signal}) without a result`));
      });
      child.send(job);
    });
  } finally {
    await stopChild(child, 2000);
  }
}

/** The child side: take one job, run it, reply, exit (0 with a result, 1 with an error). */
export function serveOneJob<J, R>(run: (job: J) => Promise<R>): void {
  const reply = (message: JobMessage<R>, code: number) => {
    // Exit only once the message is out, or the parent would see an exit without a result.
    if (process.send) process.send(message, () => process.exit(code));
    else process.exit(code);
  };
  // The parent is gone: nobody is left to read a result.
  process.on('disconnect', () => process.exit(2));
  process.once('message', (job: J) => {
    run(job).then(
      (result) => reply({ type: 'result', result }, 0),
      (err: unknown) => reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 1),
    );
  });
}
