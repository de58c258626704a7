import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { Db } from '../../src/db/index.js';
import type { TestServer } from '../helpers/server.js';

// Fixtures of the tokenserver tests, after the upstream ones (sync-storage.md 5.2): a
// stand-in FxA whose verify endpoint answers with the status and body embedded in the opaque
// bearer token, seeding of nodes and users straight into the tables, and a request helper.

export const OLDSYNC = 'https://identity.mozilla.com/apps/oldsync';
export const EMAIL_DOMAIN = 'api-accounts.stage.mozaws.net';
export const NODE_ID = 800;
export const NODE_URL = 'https://example.com';
export const MAX_GENERATION = 2n ** 63n - 1n;
/** How MAX_GENERATION reads back in JavaScript (both engines): 2^63. */
export const MAX_GENERATION_READ = Number(MAX_GENERATION);

// ---- the stand-in FxA ----

export interface FakeFxa {
  url: string;
  /** POST /v1/verify calls so far. */
  verifyCalls: number;
  /** Extra JWKs published at /v1/jwks after the unusable one. */
  extraKeys: JWK[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * POST /v1/verify: the token is JSON {"status", "body"} (or {"hang": true}, never answered);
 * GET /v1/jwks: an unusable key, then `extraKeys`; GET /bad/v1/jwks: the unusable key alone.
 */
export async function startFakeFxa(): Promise<FakeFxa> {
  const fxa: FakeFxa = { url: '', verifyCalls: 0, extraKeys: [], close: async () => {} };
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'POST' && req.url === '/v1/verify') {
        fxa.verifyCalls++;
        let embedded: { status?: number; body?: unknown; hang?: boolean };
        try {
          embedded = JSON.parse(JSON.parse(await readBody(req)).token);
        } catch {
          return sendJson(res, 400, { code: 400, errno: 108, error: 'Bad Request', message: 'Invalid token' });
        }
        if (embedded.hang) return; // left open until the server closes
        return sendJson(res, embedded.status ?? 200, embedded.body ?? {});
      }
      if (req.method === 'GET' && req.url === '/v1/jwks') return sendJson(res, 200, { keys: [{ fake: 'RSA key' }, ...fxa.extraKeys] });
      if (req.method === 'GET' && req.url === '/bad/v1/jwks') return sendJson(res, 200, { keys: [{ fake: 'RSA key' }] });
      sendJson(res, 404, {});
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fxa.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fxa.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fxa;
}

// ---- requests ----

export interface AuthOptions {
  generation?: number | bigint | null;
  keysChangedAt?: number | bigint | null;
  clientState?: string;
  user?: string;
  status?: number;
  scope?: string[];
  headers?: Record<string, string>;
}

/** The upstream tests' opaque bearer token: the verify answer, as JSON text. */
export function opaqueToken(o: { user?: string; generation?: number | bigint | null; scope?: string[]; status?: number } = {}): string {
  const generation = o.generation === undefined || o.generation === null ? 'null' : String(o.generation);
  const body = `{"user": ${JSON.stringify(o.user ?? 'test')}, "generation": ${generation}, "client_id": "fake client id", "scope": ${JSON.stringify(o.scope ?? [OLDSYNC])}}`;
  return `{"body": ${body}, "status": ${o.status ?? 200}}`;
}

export function keyId(keysChangedAt: number | bigint | null | undefined, clientState: string): string {
  return `${keysChangedAt === undefined || keysChangedAt === null ? 'None' : String(keysChangedAt)}-${Buffer.from(clientState, 'hex').toString('base64url')}`;
}

/** Authorization and X-KeyID headers as the upstream tests build them. */
export function authHeaders(o: AuthOptions = {}): Record<string, string> {
  return {
    authorization: `Bearer ${opaqueToken(o)}`,
    'x-keyid': keyId(o.keysChangedAt, o.clientState ?? 'aaaa'),
    ...o.headers,
  };
}

export interface TokenReply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function getToken(server: TestServer, headers: Record<string, string>, path = '/1.0/sync/1.5', method = 'GET'): Promise<TokenReply> {
  const res = await fetch(server.url + path, { method, headers });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A GET with header values fetch would refuse (raw latin1 bytes). */
export function rawGet(server: TestServer, path: string, headers: Record<string, string>): Promise<TokenReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(server.url + path, { method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: h, text, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The token's payload, unverified (as the upstream tests' unsafelyParseToken). */
export function tokenPayload(id: string): Record<string, any> {
  const raw = Buffer.from(id, 'base64url');
  return JSON.parse(raw.subarray(0, raw.length - 32).toString('utf8'));
}

export const error = (status: string, location: string, name: string, description: string) => ({ status, errors: [{ location, name, description }] });
export const UNAUTHORIZED = (status: string) => error(status, 'body', '', 'Unauthorized');

// ---- seeding ----

export async function serviceId(db: Db): Promise<number> {
  const row = await db.selectFrom('services').select('id').where('service', '=', 'sync-1.5').executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface NodeSeed {
  node?: string;
  capacity?: number;
  available?: number;
  current_load?: number;
  backoff?: number;
  downed?: number;
  id?: number;
}

export async function addNode(db: Db, seed: NodeSeed = {}): Promise<number> {
  const row = await db
    .insertInto('nodes')
    .values({
      ...(seed.id !== undefined ? { id: seed.id } : {}),
      service: await serviceId(db),
      node: seed.node ?? NODE_URL,
      available: seed.available ?? 100,
      current_load: seed.current_load ?? 0,
      capacity: seed.capacity ?? 100,
      downed: seed.downed ?? 0,
      backoff: seed.backoff ?? 0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface UserSeed {
  email?: string;
  nodeid?: number;
  generation?: number | bigint;
  keys_changed_at?: number | bigint | null;
  client_state?: string;
  created_at?: number;
  replaced_at?: number | null;
}

/** A users row with the upstream defaults (generation 1234, keys_changed_at 1234, client state aaaa, node 800). */
export async function addUser(db: Db, seed: UserSeed = {}): Promise<number> {
  const row = await db
    .insertInto('users')
    .values({
      service: await serviceId(db),
      email: seed.email ?? `test@${EMAIL_DOMAIN}`,
      nodeid: seed.nodeid ?? NODE_ID,
      generation: (seed.generation ?? 1234) as number,
      keys_changed_at: (seed.keys_changed_at === undefined ? 1234 : seed.keys_changed_at) as number | null,
      client_state: seed.client_state ?? 'aaaa',
      created_at: seed.created_at ?? Date.now(),
      replaced_at: seed.replaced_at ?? null,
    })
    .returning('uid')
    .executeTakeFirstOrThrow();
  return Number(row.uid);
}

export async function getUser(db: Db, uid: number) {
  return db.selectFrom('users').selectAll().where('uid', '=', uid).executeTakeFirstOrThrow();
}

export async function getNode(db: Db, id: number) {
  return db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function replacedUsers(db: Db, email = `test@${EMAIL_DOMAIN}`) {
  return db.selectFrom('users').selectAll().where('email', '=', email).where('replaced_at', 'is not', null).execute();
}

/** The upstream fixture: no users, no nodes, no purges queued, and node 800 (https://example.com, 100 slots). */
export async function resetTables(db: Db): Promise<void> {
  await db.deleteFrom('users').execute();
  await db.deleteFrom('nodes').execute();
  await db.deleteFrom('node_purges').execute();
  await addNode(db, { id: NODE_ID, node: NODE_URL, capacity: 100, available: 100 });
}

// ---- JWTs of an external accounts server ----

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const jwk = await exportJWK(publicKey);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

export interface JwtOptions {
  sub?: string;
  scope?: string;
  generation?: number;
  typ?: string | null;
  /** Seconds from now; negative = already expired. */
  expiresIn?: number;
  kid?: string;
}

export async function signJwt(key: SigningKey, o: JwtOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header: Record<string, string> = { alg: 'RS256', kid: o.kid ?? key.kid };
  if (o.typ !== null) header.typ = o.typ ?? 'at+JWT';
  return new SignJWT({
    scope: o.scope ?? OLDSYNC,
    client_id: '5882386c6d801776',
    ...(o.generation !== undefined ? { 'fxa-generation': o.generation } : {}),
  })
    .setProtectedHeader(header as { alg: string })
    .setSubject(o.sub ?? '0123456789abcdef0123456789abcdef')
    .setIssuer('https://accounts.example.com')
    .setAudience('https://token.example.com')
    .setIssuedAt(now - 10)
    .setExpirationTime(now + (o.expiresIn ?? 300))
    .sign(key.privateKey);
}
