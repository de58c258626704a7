import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { sleep, type Target } from './client.js';
import { exited } from './processes.js';

// Foxden as a child process of a bench: where the checkout is and which commit it measures,
// a free port, the child's output line by line, and the wait for its first heartbeat.

/** The benches only ever talk to this machine. */
export const HOST = '127.0.0.1';

/** The foxden package directory above `from` (the compiled bench sits in bench/dist/bench/…). */
export function foxdenRoot(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'foxden') return dir;
  }
  throw new Error('cannot find the foxden package root above ' + from);
}

/** The commit measured, and whether src/ had uncommitted changes. */
export function foxdenVersion(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return '(not a git checkout)';
  }
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Calls `fn` with every whole line the child writes, stdout and stderr alike. */
export function onLines(child: ChildProcess, fn: (line: string) => void): void {
  // A chunk may end inside a line: keep that part until the rest comes.
  let partial = '';
  const take = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) fn(line);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
}

/** The status of GET /__heartbeat__, 0 when nothing answers within a second. */
function heartbeat(port: number): Promise<number> {
  return new Promise((r) => {
    const req = http.get({ host: HOST, port, path: '/__heartbeat__', timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => r(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => r(0));
  });
}

export interface StartingServer {
  port: number;
  alive(): boolean;
  describeExit(): string;
  logLines: readonly string[];
}

/**
 * Polls /__heartbeat__ every 100 ms: true once it answers 200, false after `timeoutMs`.
 * A server that exits first throws, with what it logged: that is why it did not start.
 */
export async function heartbeatWithin(server: StartingServer, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!server.alive()) throw new Error(`${server.describeExit()} before answering /__heartbeat__:\n${server.logLines.join('\n')}`);
    if ((await heartbeat(server.port)) === 200) return true;
    await sleep(100);
  }
  return false;
}

/** A pino line of Foxden's, as much of it as the benches read. */
export interface LogEntry {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

/**
 * A running Foxden child: counts the warnings and errors it logs and keeps the first few, and
 * lets a subclass take lines it wants (`take` returns true for a line it consumed).
 */
export class FoxdenChild {
  readonly logLines: string[] = [];
  warnings = 0;
  errors = 0;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    onLines(child, (line) => this.line(line));
  }

  protected take(_entry: LogEntry): boolean {
    return false;
  }

  private line(line: string): void {
    if (line.trim() === '') return;
    let entry: LogEntry = {};
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      // not a pino line (a crash trace): counts as an error
    }
    if (this.take(entry)) return;
    const level = Number(entry.level ?? 50);
    if (level >= 50) this.errors++;
    else if (level >= 40) this.warnings++;
    else return;
    if (this.logLines.length < 20) this.logLines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get target(): Target {
    return { host: HOST, port: this.port, bare: false };
  }

  alive(): boolean {
    return !exited(this.child);
  }

  describeExit(): string {
    return `Foxden exited (code ${this.child.exitCode}, signal ${this.child.signalCode})`;
  }
}
