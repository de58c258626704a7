import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Marionette } from './marionette.js';
import { testProfilePrefs, userJs, type PrefValue } from './user-prefs.js';

// A headless Firefox ESR in a fresh profile, driven over Marionette (firefox-client.md 5.1):
// loopback only (MOZ_DISABLE_NONLOCAL_CONNECTIONS=1), chrome context allowed, its own process
// group so that stop() can take every child process down with it.

/** FOXDEN_FIREFOX, else Debian's firefox-esr. */
export function firefoxBinary(): string {
  return process.env.FOXDEN_FIREFOX || '/usr/bin/firefox-esr';
}

/** Whether the Firefox binary exists and is executable. */
export function firefoxAvailable(): boolean {
  try {
    accessSync(firefoxBinary(), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Firefox {
  marionette: Marionette;
  profile: string;
  pid: number;
  /** The last lines Firefox wrote to stdout/stderr, for failure messages. */
  output(): string;
  /** Quit through Marionette, kill the process group if that does not end it, delete the profile. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** The Foxden origin, e.g. http://127.0.0.1:41234. */
  origin: string;
  prefs?: Record<string, PrefValue>;
  startupTimeoutMs?: number;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export async function launchFirefox(options: LaunchOptions): Promise<Firefox> {
  const profile = mkdtempSync(join(tmpdir(), 'foxden-firefox-'));
  writeFileSync(join(profile, 'user.js'), userJs(testProfilePrefs(options.origin, options.prefs)));
  const child = spawn(firefoxBinary(), ['--headless', '--marionette', '--remote-allow-system-access', '--no-remote', '--profile', profile], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1', MOZ_CRASHREPORTER_DISABLE: '1' },
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const gone = exited(child);
  const pid = child.pid!;

  let marionette: Marionette | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (marionette) {
      // The reply to Quit may never come if the socket closes first.
      await Promise.race([marionette.quit().catch(() => undefined), sleep(5000)]);
      marionette.close();
    }
    const quit = await Promise.race([gone.then(() => true), sleep(marionette ? 10_000 : 0).then(() => false)]);
    if (!quit) {
      killGroup(pid, 'SIGTERM');
      if (!(await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]))) killGroup(pid, 'SIGKILL');
      await Promise.race([gone, sleep(3000)]);
    }
    // Content processes may outlive the parent by a moment; they are in the same group.
    killGroup(pid, 'SIGKILL');
    rmSync(profile, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (options.startupTimeoutMs ?? 30_000);
    let port = 0;
    while (!port) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Firefox exited early (${child.exitCode ?? child.signalCode})`);
      if (Date.now() > deadline) throw new Error('Firefox did not write MarionetteActivePort in time');
      try {
        port = Number(readFileSync(join(profile, 'MarionetteActivePort'), 'utf8').trim());
      } catch {
        await sleep(100);
      }
    }
    marionette = await Marionette.connect(port, Math.max(1000, deadline - Date.now()));
    await marionette.newSession();
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- Firefox output ---\n${log}`);
  }

  return { marionette, profile, pid, output: () => log, stop };
}
