import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

// Foxden as a separate process, started the way a user starts it (node dist/cli.js serve).

export const CLI = resolve(import.meta.dirname, '../../dist/cli.js');

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  port: number;
  /** Everything the process wrote, for assertions on logs. */
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export function exitCode(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((res) => proc.once('exit', (code) => res(code)));
}

/** Run the CLI with these FOXDEN_* variables (and args) and wait until /__heartbeat__ answers 200. */
export async function spawnServer(env: Record<string, string>, args: string[] = ['serve'], timeoutMs = 20_000): Promise<ServerProcess> {
  const port = env.FOXDEN_PORT ? Number(env.FOXDEN_PORT) : await freePort();
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, FOXDEN_HOST: '127.0.0.1', FOXDEN_LOG_LEVEL: 'info', ...env, FOXDEN_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`foxden exited with ${proc.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/__heartbeat__`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`foxden did not become ready in ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    url,
    port,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exitCode(proc);
    },
  };
}
