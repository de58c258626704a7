import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { hawkHeader } from '../src/crypto/hawk.js';
import { makeToken } from '../src/crypto/tokenlib.js';
import { FxaClient, TestUser } from './helpers/fxa.js';
import { CLI, exitCode, spawnServer, type ServerProcess } from './helpers/process.js';

// Foxden run the way a user runs it: `node dist/cli.js` (what `npm start` runs), configured by
// FOXDEN_* variables.

const dirs: string[] = [];
const procs: ServerProcess[] = [];
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'foxden-cli-'));
  dirs.push(d);
  return d;
}
async function serve(env: Record<string, string>, args?: string[]): Promise<ServerProcess> {
  const p = await spawnServer(env, args);
  procs.push(p);
  return p;
}
afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storedSecret(dir: string): string {
  const db = new SQLite(join(dir, 'foxden.sqlite'), { readonly: true });
  try {
    return (db.prepare("select value from foxden_secrets where name = 'sync_master_secret'").get() as { value: string }).value;
  } finally {
    db.close();
  }
}

async function signedGet(server: ServerProcess, secret: string, uid: number, path: string): Promise<Response> {
  const token = makeToken(secret, { uid, node: server.url, expires: Date.now() / 1000 + 60 });
  const resource = `/1.5/${uid}${path}`;
  const authorization = hawkHeader({ method: 'GET', resource, host: '127.0.0.1', port: server.port }, { id: token.id, key: token.key });
  return fetch(server.url + resource, { headers: { authorization } });
}

describe('foxden serve', () => {
  it('serves health endpoints on SQLite under FOXDEN_DATA_DIR', async () => {
    const dir = dataDir();
    const server = await serve({ FOXDEN_DATA_DIR: dir });
    expect(existsSync(join(dir, 'foxden.sqlite'))).toBe(true);
    const hb = await fetch(`${server.url}/__heartbeat__`);
    expect(hb.status).toBe(200);
    expect(await hb.json()).toMatchObject({ status: 'Ok', database: 'Ok' });
    expect((await fetch(`${server.url}/__lbheartbeat__`)).status).toBe(200);
    const version = await (await fetch(`${server.url}/__version__`)).json();
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/);
    const missing = await fetch(`${server.url}/nothing/here`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('0');
  });

  it('generates the sync master secret on first start, keeps it in the database, and reuses it after a restart', async () => {
    const dir = dataDir();
    let server = await serve({ FOXDEN_DATA_DIR: dir });
    const secret = storedSecret(dir);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect((await signedGet(server, secret, 5, '/info/collections')).status).toBe(200);
    expect((await signedGet(server, 'some-other-secret-entirely', 5, '/info/collections')).status).toBe(401);
    expect(await server.stop()).toBe(0);
    server = await serve({ FOXDEN_DATA_DIR: dir });
    expect(storedSecret(dir)).toBe(secret);
    expect((await signedGet(server, secret, 5, '/info/collections')).status).toBe(200);
  });

  it('accepts tokens signed with any configured secret', async () => {
    const server = await serve({ FOXDEN_DATA_DIR: dataDir(), FOXDEN_SYNC_MASTER_SECRET: 'old-secret-0123456789,new-secret-0123456789' });
    expect((await signedGet(server, 'old-secret-0123456789', 9, '/info/collections')).status).toBe(200);
    expect((await signedGet(server, 'new-secret-0123456789', 9, '/info/collections')).status).toBe(200);
    expect((await signedGet(server, 'unknown-secret-0123456789', 9, '/info/collections')).status).toBe(401);
  });

  it('reads a config file given with --config, the environment winning', async () => {
    const dir = dataDir();
    const path = join(dir, 'foxden.yaml');
    writeFileSync(path, `FOXDEN_DATA_DIR: ${JSON.stringify(join(dir, 'from-file'))}\nFOXDEN_LOG_LEVEL: warn\n`);
    const server = await serve({}, ['--config', path, 'serve']);
    expect(existsSync(join(dir, 'from-file', 'foxden.sqlite'))).toBe(true);
    expect((await fetch(`${server.url}/__heartbeat__`)).status).toBe(200);
  });

  it('refuses to start on a bad setting, naming the key', async () => {
    const proc = spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH, FOXDEN_DATA_DIR: dataDir(), FOXDEN_PORT: 'abc' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    expect(await exitCode(proc)).toBe(2);
    expect(err).toMatch(/FOXDEN_PORT="abc": must be a whole number/);
  });

  it('on SIGTERM stops accepting, finishes the request in flight, and exits 0', async () => {
    const dir = dataDir();
    const server = await serve({ FOXDEN_DATA_DIR: dir, FOXDEN_SYNC_MASTER_SECRET: 'sigterm-secret-0123456789' });
    const uid = 77;
    const token = makeToken('sigterm-secret-0123456789', { uid, node: server.url, expires: Date.now() / 1000 + 60 });
    const resource = `/1.5/${uid}/storage/bookmarks`;
    const body = JSON.stringify([{ id: 'slow', payload: 'x'.repeat(1000) }]);
    const authorization = hawkHeader({ method: 'POST', resource, host: '127.0.0.1', port: server.port }, { id: token.id, key: token.key });
    // Send the headers and half the body, signal, then the rest: the request must still succeed.
    const reply = new Promise<{ status: number; text: string }>((res, rej) => {
      const req = request(
        { host: '127.0.0.1', port: server.port, path: resource, method: 'POST', headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (r) => {
          let text = '';
          r.on('data', (d) => (text += d));
          r.on('end', () => res({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', rej);
      req.write(body.slice(0, 500));
      setTimeout(() => {
        server.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(500)), 300);
      }, 200);
    });
    const r = await reply;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).success).toEqual(['slow']);
    expect(await exitCode(server.proc)).toBe(0);
    await expect(fetch(`${server.url}/__heartbeat__`)).rejects.toThrow();
    expect(server.output()).toMatch(/shutting down/);
    // The write was committed before the database closed.
    const db = new SQLite(join(dir, 'foxden.sqlite'), { readonly: true });
    expect(db.prepare("select count(*) as n from bsos where bso_id = 'slow'").get()).toEqual({ n: 1 });
    db.close();
  });

  it('foxden invite prints a single-use code that sign-up accepts under FOXDEN_REGISTRATION=invite', async () => {
    const dir = dataDir();
    const env = { ...process.env, FOXDEN_DATA_DIR: dir, FOXDEN_REGISTRATION: 'invite' };
    const made = spawn(process.execPath, [CLI, 'invite', '--email', 'guest@example.com', '--days', '2'], { env });
    let out = '';
    made.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await exitCode(made)).toBe(0);
    const code = out.trim();
    expect(code).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const server = await serve({ FOXDEN_DATA_DIR: dir, FOXDEN_REGISTRATION: 'invite' });
    const user = new TestUser(new FxaClient(server.url), 'guest@example.com', 'a long enough password');
    expect((await user.create()).status).toBe(403);
    expect((await user.create({ inviteCode: code })).status).toBe(200);
    const bad = spawn(process.execPath, [CLI, 'invite', '--days', 'forever'], { env });
    expect(await exitCode(bad)).toBe(2);
  });

  it('foxden nodes lists the storage nodes and switches backoff and downed', async () => {
    const dir = dataDir();
    const env = { ...process.env, FOXDEN_DATA_DIR: dir, FOXDEN_PUBLIC_URL: 'https://sync.example.com' };
    const run = async (...args: string[]) => {
      const proc = spawn(process.execPath, [CLI, 'nodes', ...args], { env });
      let out = '';
      let err = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
      return { code: await exitCode(proc), out, err };
    };
    expect((await run()).out).toMatch(/no storage nodes yet/);
    const server = await serve({ FOXDEN_DATA_DIR: dir, FOXDEN_PUBLIC_URL: 'https://sync.example.com', FOXDEN_NODE_CAPACITY: '500' });
    await server.stop();
    expect((await run('list')).out).toBe('https://sync.example.com  users 0/500, 500 free before a top-up\n');
    expect((await run('set', 'https://sync.example.com/', '--backoff', 'on', '--downed', 'on')).code).toBe(0);
    expect((await run()).out).toBe('https://sync.example.com  users 0/500, 500 free before a top-up, downed, backoff\n');
    expect((await run('set', 'https://sync.example.com', '--downed', 'off', '--backoff', 'off')).code).toBe(0);
    expect((await run()).out).not.toMatch(/downed|backoff/);
    const unknown = await run('set', 'https://elsewhere.example.com', '--backoff', 'on');
    expect([unknown.code, unknown.err]).toEqual([2, 'foxden: no storage node https://elsewhere.example.com (see foxden nodes list)\n']);
    expect((await run('set', 'https://sync.example.com', '--backoff', 'maybe')).code).toBe(2);
  });

  it('foxden rotate-oauth-key prints a new key id that the server then publishes beside the previous one', async () => {
    const dir = dataDir();
    const first = await serve({ FOXDEN_DATA_DIR: dir });
    const before = (await fetch(`${first.url}/oauth/v1/jwks`).then((r) => r.json())).keys.map((k: { kid: string }) => k.kid);
    await first.stop();
    const proc = spawn(process.execPath, [CLI, 'rotate-oauth-key'], { env: { ...process.env, FOXDEN_DATA_DIR: dir } });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(await exitCode(proc)).toBe(0);
    const kid = out.trim();
    expect(kid).toMatch(/^\d+-[0-9a-f]{12}$/);
    const second = await serve({ FOXDEN_DATA_DIR: dir });
    const after = (await fetch(`${second.url}/oauth/v1/jwks`).then((r) => r.json())).keys.map((k: { kid: string }) => k.kid);
    expect(after).toEqual([kid, ...before]);
  });

  it('keeps passwords, account tokens and key bundles out of its logs', async () => {
    const server = await serve({ FOXDEN_DATA_DIR: dataDir(), FOXDEN_LOG_LEVEL: 'debug' });
    const user = new TestUser(new FxaClient(server.url), 'logs@example.com', 'a long enough password');
    expect((await user.create()).status).toBe(200);
    const devices = await user.call('GET', '/account/devices');
    expect(devices.status).toBe(200);
    await new Promise((res) => setTimeout(res, 200));
    const logs = server.output();
    expect(logs).toMatch(/mail written to outbox/);
    for (const secret of [user.authPW, user.sessionToken, user.keyFetchToken, 'a long enough password']) expect(logs).not.toContain(secret);
  });

  it('keeps tokens, keys and payloads out of its logs', async () => {
    const server = await serve({ FOXDEN_DATA_DIR: dataDir(), FOXDEN_SYNC_MASTER_SECRET: 'log-secret-0123456789', FOXDEN_LOG_LEVEL: 'debug' });
    const token = makeToken('log-secret-0123456789', { uid: 3, node: server.url, expires: Date.now() / 1000 + 60 });
    const resource = '/1.5/3/storage/passwords/p1';
    const authorization = hawkHeader({ method: 'PUT', resource, host: '127.0.0.1', port: server.port }, { id: token.id, key: token.key });
    const r = await fetch(server.url + resource, { method: 'PUT', headers: { authorization, 'content-type': 'application/json' }, body: '{"payload":"SECRET-PAYLOAD-TEXT"}' });
    expect(r.status).toBe(200);
    await fetch(server.url + resource, { headers: { authorization: 'Hawk id="bogus", ts="1", nonce="n", mac="m"' } });
    await new Promise((res) => setTimeout(res, 200));
    const logs = server.output();
    expect(logs).toMatch(/request completed/);
    for (const secret of ['log-secret-0123456789', token.id.slice(0, 40), token.key, 'SECRET-PAYLOAD-TEXT', 'bogus']) expect(logs).not.toContain(secret);
  });
});
