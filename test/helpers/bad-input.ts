import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { hawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import { bytesToHex, deriveTokenKeys, hexToBytes, type TokenType } from '../../src/crypto/onepw.js';
import type { RawConfig } from '../../src/config.js';
import { FxaClient, TestUser, type CallOptions, type FxaResponse } from './fxa.js';
import { startServer, type Engine, type TestServer } from './server.js';

// Shared by test/accounts/bad-input-*.test.ts: a client that records every status it sees (each
// file asserts at the end that none was a 5xx), FxA error-shape assertions, mail codes read from
// the server's outbox, and hand-made Hawk headers for the signature cases.

export interface Seen {
  method: string;
  path: string;
  status: number;
}

/** Every response of this test file (each file runs in its own module graph). */
export const seen: Seen[] = [];

export class RecordingClient extends FxaClient {
  override async call<T = any>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<FxaResponse<T>> {
    const res = await super.call<T>(method, path, body, options);
    seen.push({ method, path, status: res.status });
    return res;
  }
}

/** The file's responses with status >= 500 (expected: none). */
export function serverErrors(): Seen[] {
  return seen.filter((s) => s.status >= 500);
}

/**
 * An FxA error (fxa-auth.md 3.3): the status, `{code, errno, error: <reason phrase>, message}`
 * plus the given extra fields, as JSON.
 */
export function expectFxaError(res: FxaResponse, status: number, errno: number, extra: Record<string, unknown> = {}): void {
  const where = `${status}/${errno} expected, got ${res.status} ${JSON.stringify(res.body)}`;
  expect(res.status, where).toBe(status);
  expect(res.headers.get('content-type'), where).toMatch(/^application\/json/);
  expect(res.body, where).toMatchObject({ code: status, errno, error: STATUS_CODES[status], ...extra });
  expect(typeof res.body.message, where).toBe('string');
  expect(res.body.message.length, where).toBeGreaterThan(0);
}

/** 400 errno 107, naming `key` among the invalid ones when given. */
export function expectInvalid(res: FxaResponse, key?: string): void {
  expectFxaError(res, 400, 107);
  if (key !== undefined) expect(res.body.validation?.keys, JSON.stringify(res.body)).toContain(key);
}

/** 400 errno 108 with `param`. */
export function expectMissing(res: FxaResponse, param: string): void {
  expectFxaError(res, 400, 108, { param });
}

/** The server's outbox: each mail a .eml file, read for its code. */
export class Outbox {
  private readonly read = new Set<string>();

  constructor(readonly dir: string) {}

  private files(template: string): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => n.endsWith('.eml') && n.includes(`-${template}-`)).sort();
  }

  /** The text/plain part of a mail, quoted-printable decoded. */
  static text(raw: string): string {
    const start = raw.search(/Content-Type: text\/plain/i);
    if (start < 0) throw new Error('mail without a text/plain part');
    const part = raw.slice(start).split(/\r?\n----_/)[0]!;
    const body = part.slice(part.search(/\r?\n\r?\n/));
    return body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }

  /** The code of the newest mail of `template` to `to` not read before (and mark it read). */
  code(template: string, to: string): string {
    const names = this.files(template).filter((n) => !this.read.has(n));
    for (const name of names.reverse()) {
      const raw = readFileSync(join(this.dir, name), 'utf8');
      if (!new RegExp(`^To: ${to.replace(/[.+]/g, '\\$&')}\\r?$`, 'mi').test(raw)) continue;
      this.read.add(name);
      const m = /code is:\s+([A-Za-z0-9]+)/.exec(Outbox.text(raw));
      if (!m) throw new Error(`no code in ${name}`);
      return m[1]!;
    }
    throw new Error(`no unread ${template} mail to ${to} in ${this.dir}`);
  }

  /** How many mails of `template` there are. */
  count(template: string): number {
    return this.files(template).length;
  }
}

export interface BadInputServer {
  server: TestServer;
  client: RecordingClient;
  outbox: Outbox;
}

/**
 * A server for the enclosing describe block, with its own data dir (so the outbox is known).
 * Registration open and rate limits off unless `overrides` say otherwise.
 */
export function useBadInputServer(engine: Engine, overrides: RawConfig = {}): BadInputServer {
  const env = {} as BadInputServer;
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foxden-bad-input-'));
    env.server = await startServer(engine, { FOXDEN_REGISTRATION: 'open', FOXDEN_RATE_LIMITS: 'off', ...overrides, FOXDEN_DATA_DIR: dir });
    env.client = new RecordingClient(env.server.url);
    env.outbox = new Outbox(join(dir, 'outbox'));
  });
  afterAll(async () => {
    await env.server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return env;
}

let counter = 0;
/** A fresh address for this file. */
export function freshEmail(tag: string): string {
  counter++;
  return `${tag}-${counter}-${Date.now().toString(36)}@example.com`;
}

/** Sign up and confirm with the mailed code: a verified account with a verified session. */
export async function verifiedUser(env: BadInputServer, tag: string, password = 'correct horse battery'): Promise<TestUser> {
  const user = new TestUser(env.client, freshEmail(tag), password);
  const created = await user.create();
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  const verified = await user.verify(env.outbox.code('verifyShortCode', user.email));
  expect(verified.status, JSON.stringify(verified.body)).toBe(200);
  return user;
}

export interface SignOptions {
  method: string;
  /** Path under /auth/v1, query included. */
  path: string;
  /** Token data (hex) and type, as the client holds it. */
  token: { data: string; type: TokenType };
  /** Override the MAC key (raw bytes, hex). */
  keyHex?: string;
  host?: string;
  port?: number;
  ts?: number;
  /** Sign this body (JSON text) with a payload hash. */
  body?: string;
  contentType?: string;
}

/** A Hawk header made by hand, for the cases FxaClient signs correctly. */
export async function signHawk(env: BadInputServer, o: SignOptions): Promise<string> {
  const keys = await deriveTokenKeys(hexToBytes(o.token.data), o.token.type);
  const origin = new URL(env.server.url);
  return hawkHeader(
    { method: o.method, resource: `/auth/v1${o.path}`, host: o.host ?? origin.hostname, port: o.port ?? Number(origin.port) },
    {
      id: bytesToHex(keys.tokenId),
      key: o.keyHex ? Buffer.from(o.keyHex, 'hex') : Buffer.from(keys.authKey),
      ts: o.ts,
      hash: o.body === undefined ? undefined : payloadHash(o.contentType ?? 'application/json', o.body),
    },
  );
}

/** Response fields that move with time alone. */
const VOLATILE = /^(lastAccessTime|approximateLastAccessTime|lastAccessTimeFormatted|approximateLastAccessTimeFormatted|createdTimeFormatted)$/;

export function stripVolatile<T>(value: T): T {
  if (Array.isArray(value)) return value.map(stripVolatile) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !VOLATILE.test(k)).map(([k, v]) => [k, stripVolatile(v)])) as T;
  }
  return value;
}

/** What the API says about a user's account through its session: compared before and after bad input. */
export async function accountState(user: TestUser): Promise<Record<string, unknown>> {
  const paths = ['/session/status', '/recovery_email/status', '/account/profile', '/account/devices', '/account/attached_clients'];
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    const res = await user.call('GET', path);
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
    out[path] = stripVolatile(res.body);
  }
  return out;
}
