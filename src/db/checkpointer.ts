import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// WAL checkpoints off the request thread. With SQLite's automatic checkpoints, the commit that
// crosses the threshold copies the WAL into the database file and waits for the disk, on the
// one thread that serves every request; measured on the storage benchmark that was a third of
// the server's time. Here a worker thread with its own connection runs a PASSIVE checkpoint
// every interval, which never blocks readers or writers. The request connection keeps a far
// higher automatic threshold as a backstop in case the worker falls behind.

/** Runs inside the worker (CommonJS, given the driver's resolved path). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface CheckpointReport {
  log?: number;
  checkpointed?: number;
  error?: string;
}

export interface Checkpointer {
  /** The latest report from the worker (for tests and diagnostics). */
  last(): CheckpointReport | undefined;
  stop(): Promise<void>;
}

export function startCheckpointer(file: string, intervalMs = 200, onError?: (message: string) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs } });
  let last: CheckpointReport | undefined;
  worker.on('message', (m: CheckpointReport) => {
    last = m;
    if (m.error) onError?.(m.error);
  });
  worker.on('error', (err) => onError?.(String(err)));
  let exited = false;
  const gone = new Promise<void>((resolve) => worker.once('exit', () => ((exited = true), resolve())));
  // The worker must never keep the process alive on its own.
  worker.unref();
  let stopping: Promise<void> | undefined;
  return {
    last: () => last,
    stop: () =>
      (stopping ??= (async () => {
        if (exited) return;
        worker.postMessage('stop');
        // A stuck worker is ended after a while; the last connection to close checkpoints anyway.
        const timer = setTimeout(() => void worker.terminate(), 5000);
        await gone;
        clearTimeout(timer);
      })()),
  };
}
