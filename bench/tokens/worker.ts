import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';
import { hawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import { bytesToHex, deriveTokenKeys, hexToBytes, passwordCredentials, unbundleKeys, unwrapKb, type TokenType } from '../../src/crypto/onepw.js';
import { OLDSYNC_SCOPE, b64urlEncode, decryptKeysJwe, encryptKeysJwe, oldsyncKey, pkceChallenge, type EcPrivateJwk } from '../../src/crypto/scoped-keys.js';
import { keepAliveAgent, send, sleep, type Answer, type Target } from '../common/client.js';
import { serveOneJob } from '../common/jobs.js';
import { newProblems, noteProblem, noteStatus, summarize, type LatencySummary, type Problems } from '../common/report.js';
import {
  FIREFOX_CLIENT_ID,
  FIREFOX_UA,
  SYNC_TOKEN_TTL,
  SYNC_UA,
  nowMs,
  sleepUntil,
  type BenchUser,
  type LoopJob,
  type LoopResult,
  type ProbeJob,
  type ProbeResult,
  type SetupJob,
  type SetupResult,
  type TokensJob,
  type TokensResult,
} from './common.js';

// The tokens bench's worker: one child process per job (forked by run.ts). It receives one job
// over IPC, plays Firefox (and the sign-in page) against Foxden, sends back one result and
// exits. Loops end at the job's measureTo, at maxOps, or after too many requests without an
// answer; operations in flight then are awaited, not counted.

const MAX_TRANSPORT_ERRORS = 200;
const ERROR_PAUSE_MS = 100;

function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

// ---- HTTP as Firefox speaks it ----

/** A Hawk credential derived from an onepw token: its public id and MAC key. */
interface Signer {
  id: string;
  key: Uint8Array;
}

async function signer(tokenHex: string, type: TokenType): Promise<Signer> {
  const keys = await deriveTokenKeys(hexToBytes(tokenHex), type);
  return { id: bytesToHex(keys.tokenId), key: keys.authKey };
}

/** An answer Firefox would not accept at that step: the operation is abandoned and counted as a problem. */
class Unexpected extends Error {
  constructor(
    readonly kind: string,
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

function json(kind: string, a: Answer): Record<string, any> {
  try {
    return JSON.parse(a.body.toString('utf8')) as Record<string, any>;
  } catch {
    throw new Unexpected(kind, a.status, `not JSON: ${a.body.toString('utf8').slice(0, 200)}`);
  }
}

/** The body of a 200 answer as JSON, or Unexpected. */
function ok(kind: string, a: Answer): Record<string, any> {
  if (a.status !== 200) throw new Unexpected(kind, a.status, a.body.toString('utf8'));
  return json(kind, a);
}

class Firefox {
  constructor(
    readonly agent: http.Agent,
    readonly target: Target,
  ) {}

  /** /auth/v1 + path; a JSON body; Hawk-signed with its payload hash when `as` is given, as Firefox signs. */
  fxa(method: string, path: string, body?: unknown, as?: Signer): Promise<Answer> {
    const resource = `/auth/v1${path}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { 'user-agent': FIREFOX_UA, accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (as) {
      const hash = text === undefined ? undefined : payloadHash('application/json', text);
      headers.authorization = hawkHeader({ method, resource, host: this.target.host, port: this.target.port }, { id: as.id, key: as.key, hash });
    }
    return send(this.agent, this.target, method, resource, headers, text);
  }

  /** GET /token/1.0/sync/1.5 with the access token and the kid of kSync. */
  tokenserver(accessToken: string, kid: string): Promise<Answer> {
    return send(this.agent, this.target, 'GET', '/token/1.0/sync/1.5', { authorization: `Bearer ${accessToken}`, 'x-keyid': kid, accept: 'application/json', 'user-agent': SYNC_UA });
  }

  /** /1.5/{uid} + rest, Hawk-signed with the storage token. */
  storage(token: BenchUser['storage'], method: string, rest: string, body?: unknown): Promise<Answer> {
    const path = `/1.5/${token.uid}${rest}`;
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      authorization: hawkHeader({ method, resource: path, host: this.target.host, port: this.target.port }, { id: token.id, key: token.key }),
      accept: 'application/json',
      'user-agent': SYNC_UA,
    };
    if (text !== undefined) headers['content-type'] = 'application/json';
    return send(this.agent, this.target, method, path, headers, text);
  }
}

/** An operation cut short because the measured window closed (it would not have been counted). */
class Abandoned extends Error {}

// ---- set-up ----

/** The sign-up codes in <dataDir>/outbox/*.eml, each file read once. */
class Outbox {
  private readonly read = new Set<string>();
  private readonly codes = new Map<string, string>();

  constructor(private readonly dir: string) {}

  private scan(): void {
    if (!existsSync(this.dir)) return;
    for (const file of readdirSync(this.dir)) {
      if (this.read.has(file) || !/-verifyShortCode-[0-9a-f]+\.eml$/.test(file)) continue;
      const raw = readFileSync(join(this.dir, file), 'utf8');
      const to = /^To: (.*)$/im.exec(raw)?.[1] ?? '';
      const address = /[^\s<>"]+@[^\s<>"]+/.exec(to)?.[0]?.toLowerCase();
      const text = /Content-Type: text\/plain[^]*?\r?\n\r?\n([^]*?)\r?\n--/i.exec(raw)?.[1] ?? raw;
      const plain = /Content-Transfer-Encoding: quoted-printable/i.test(raw) ? decodeQuotedPrintable(text) : text;
      const code = /(?:^|\s)(\d{6})(?:\s|$)/m.exec(plain)?.[1];
      // A file still being written has no code yet: it is read again on the next scan.
      if (!address || !code) continue;
      this.read.add(file);
      this.codes.set(address, code);
    }
  }

  async code(email: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.codes.get(email.toLowerCase());
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no verifyShortCode mail to ${email} in ${this.dir} within ${timeoutMs} ms`);
      this.scan();
      if (!this.codes.has(email.toLowerCase())) await sleep(20);
    }
  }
}

function decodeQuotedPrintable(s: string): string {
  const soft = s.replace(/=\r?\n/g, '');
  return Buffer.from(soft.replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

/** The setup steps, in order: each user goes through all of them. */
const SETUP_STEPS = ['account/create', 'session/verify_code', 'account/keys', 'scoped-key-data', 'oauth/token', 'tokenserver', 'storage PUTs'] as const;

async function setupUser(fx: Firefox, outbox: Outbox, job: SetupJob, i: number, timings: Map<string, number[]>, busy: { n: number }): Promise<BenchUser> {
  const email = `tokens-${job.tag}-${i}@example.com`;
  const credentials = await passwordCredentials(email, `foxden tokens bench ${job.tag} ${i}`);
  const time = (step: (typeof SETUP_STEPS)[number], a: Answer) => timings.get(step)!.push(a.ms);

  let created: Record<string, any> | undefined;
  for (let attempt = 0; !created; attempt++) {
    const a = await fx.fxa('POST', '/account/create?keys=true', { email, authPW: bytesToHex(credentials.authPW), verificationMethod: 'email-otp' });
    if (a.status === 503 && attempt < 30) {
      // The scrypt pool is full: wait what Foxden asks, as Firefox would.
      busy.n++;
      await sleep(1000 * (Number(a.headers['retry-after']) || 1));
      continue;
    }
    time('account/create', a);
    created = ok('account/create', a);
  }
  const session = await signer(String(created.sessionToken), 'sessionToken');
  const verified = await fx.fxa('POST', '/session/verify_code', { code: await outbox.code(email) }, session);
  time('session/verify_code', verified);
  ok('session/verify_code', verified);

  const keyFetch = String(created.keyFetchToken);
  const keysAnswer = await fx.fxa('GET', '/account/keys', undefined, await signer(keyFetch, 'keyFetchToken'));
  time('account/keys', keysAnswer);
  const bundle = String(ok('account/keys', keysAnswer).bundle);
  const kf = await deriveTokenKeys(hexToBytes(keyFetch), 'keyFetchToken');
  const kB = unwrapKb((await unbundleKeys(kf.bundleKey, bundle)).wrapKb, credentials.unwrapBKey);

  const keyData = await fx.fxa('POST', '/account/scoped-key-data', { client_id: FIREFOX_CLIENT_ID, scope: OLDSYNC_SCOPE }, session);
  time('scoped-key-data', keyData);
  const kSync = await oldsyncKey(kB, Number(ok('scoped-key-data', keyData)[OLDSYNC_SCOPE]?.keyRotationTimestamp));

  const token = await fx.fxa('POST', '/oauth/token', { client_id: FIREFOX_CLIENT_ID, grant_type: 'fxa-credentials', scope: OLDSYNC_SCOPE, ttl: SYNC_TOKEN_TTL }, session);
  time('oauth/token', token);
  const accessToken = String(ok('oauth/token', token).access_token);
  // The first tokenserver request of an account allocates its storage user: done here, not measured.
  const ts = await fx.tokenserver(accessToken, kSync.kid);
  time('tokenserver', ts);
  const issued = ok('tokenserver', ts);
  const storage = { uid: Number(issued.uid), id: String(issued.id), key: String(issued.key) };

  // What a first sync leaves behind, so info/collections answers with something.
  const t0 = performance.now();
  const meta = { id: 'global', payload: JSON.stringify({ syncID: b64urlEncode(randomBytes(9)), storageVersion: 5, engines: { bookmarks: { version: 2, syncID: b64urlEncode(randomBytes(9)) } }, declined: [] }) };
  const keysRecord = { id: 'keys', payload: JSON.stringify({ ciphertext: randomBytes(96).toString('base64'), IV: randomBytes(16).toString('base64'), hmac: randomBytes(32).toString('hex') }) };
  ok('storage PUT meta/global', await fx.storage(storage, 'PUT', '/storage/meta/global', meta));
  ok('storage PUT crypto/keys', await fx.storage(storage, 'PUT', '/storage/crypto/keys', keysRecord));
  timings.get('storage PUTs')!.push(performance.now() - t0);

  return { email, sessionToken: String(created.sessionToken), kB: bytesToHex(kB), kSync: kSync.k, kid: kSync.kid, accessToken, storage };
}

async function runSetup(job: SetupJob): Promise<SetupResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const agent = keepAliveAgent(job.concurrency);
  const fx = new Firefox(agent, job.target);
  const outbox = new Outbox(join(job.dataDir, 'outbox'));
  const timings = new Map<string, number[]>(SETUP_STEPS.map((s) => [s, []]));
  const busy = { n: 0 };
  const users: BenchUser[] = new Array(job.users);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(job.concurrency, job.users) }, async () => {
        while (next < job.users) {
          const i = next++;
          try {
            users[i] = await setupUser(fx, outbox, job, i, timings, busy);
          } catch (err) {
            // Set-up must be complete: the first failure ends the job with what went wrong.
            const status = err instanceof Unexpected ? ` (${err.kind}: ${err.status})` : '';
            throw new Error(`setting up user ${i}${status}: ${(err as Error).message.slice(0, 400)}`);
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const steps: Record<string, LatencySummary> = {};
  for (const [step, values] of timings) steps[step] = summarize(values);
  return { mode: 'setup', users, seconds: (performance.now() - t0) / 1000, busy: busy.n, steps, cpuSeconds: cpuSince(cpu0) };
}

// ---- measured loops ----

/** What a loop counts: requests and operations that finish inside the window. */
class Recorder {
  readonly steps = new Map<string, number[]>();
  readonly totals: number[] = [];
  readonly walls: number[] = [];
  readonly problems: Problems = newProblems();
  requests = 0;
  ops = 0;
  stop = false;
  /** Set when maxOps was reached: the window closes there. */
  endedAt: number | undefined;

  constructor(private readonly job: LoopJob) {}

  private inWindow(t: number): boolean {
    return t >= this.job.measureFrom && t < (this.endedAt ?? this.job.measureTo);
  }

  /** One answer of kind `kind` (counted by status; its latency if it came inside the window). */
  answer(kind: string, a: Answer): Answer {
    noteStatus(this.problems, a.status);
    if (this.inWindow(nowMs())) {
      this.requests++;
      let list = this.steps.get(kind);
      if (!list) this.steps.set(kind, (list = []));
      list.push(a.ms);
    }
    return a;
  }

  /** One whole operation done: `total` ms of requests, `wall` ms with the client's own work. */
  done(total: number, wall?: number): void {
    const t = nowMs();
    if (!this.inWindow(t)) return;
    this.ops++;
    this.totals.push(total);
    if (wall !== undefined) this.walls.push(wall);
    if (this.ops >= this.job.maxOps) {
      this.endedAt = t;
      this.stop = true;
    }
  }

  /** Called before each request of an operation: once the window has closed, the rest is not sent. */
  next(): void {
    if (this.stop || nowMs() >= (this.endedAt ?? this.job.measureTo)) throw new Abandoned();
  }

  failed(err: unknown): void {
    if (err instanceof Abandoned) return;
    if (err instanceof Unexpected) noteProblem(this.problems, err.kind, err.status, err.message);
    else noteProblem(this.problems, 'request', 0, (err as Error).message);
    if (this.problems.transport > MAX_TRANSPORT_ERRORS) this.stop = true;
  }
}

/** One operation of a loop for `user`; Hawk keys are derived once per user. */
type Operation = (fx: Firefox, user: BenchUser, session: Signer, rec: Recorder) => Promise<void>;

/** A token refresh, as Firefox does about once an hour: an fxa-credentials oldsync token, then the tokenserver. */
const refresh: Operation = async (fx, user, session, rec) => {
  rec.next();
  const token = rec.answer('POST oauth/token fxa-credentials', await fx.fxa('POST', '/oauth/token', { client_id: FIREFOX_CLIENT_ID, grant_type: 'fxa-credentials', scope: OLDSYNC_SCOPE, ttl: SYNC_TOKEN_TTL }, session));
  const accessToken = String(ok('oauth/token', token).access_token);
  rec.next();
  const ts = rec.answer('GET tokenserver', await fx.tokenserver(accessToken, user.kid));
  const issued = ok('tokenserver', ts);
  if (Number(issued.uid) !== user.storage.uid) throw new Unexpected('tokenserver', ts.status, `uid ${issued.uid}, expected ${user.storage.uid}`);
  rec.done(token.ms + ts.ms);
};

/** The cheapest storage request, and the one Firefox sends most: GET info/collections. */
const infoCollections: Operation = async (fx, user, _session, rec) => {
  rec.next();
  const a = rec.answer('GET info/collections', await fx.storage(user.storage, 'GET', '/info/collections'));
  const body = ok('info/collections', a);
  if (!('meta' in body)) throw new Unexpected('info/collections', a.status, `no meta collection: ${a.body.toString('utf8').slice(0, 200)}`);
  rec.done(a.ms);
};

/**
 * A new device connecting, after the password page: the page reads scoped-key-data, derives
 * kSync, encrypts it to the browser's ephemeral key and asks for a code; Firefox trades the code
 * (PKCE) for tokens, opens keys_jwe, revokes the refresh token, gets an oldsync token and calls
 * the tokenserver.
 */
const connect: Operation = async (fx, user, session, rec) => {
  const began = performance.now();
  // The browser: an ephemeral P-256 key and a PKCE verifier.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as EcPrivateJwk;
  const verifier = b64urlEncode(randomBytes(32));
  const challenge = await pkceChallenge(verifier);
  const scope = `profile ${OLDSYNC_SCOPE}`;

  // The page.
  rec.next();
  const keyData = rec.answer('POST scoped-key-data', await fx.fxa('POST', '/account/scoped-key-data', { client_id: FIREFOX_CLIENT_ID, scope }, session));
  const rotation = Number(ok('scoped-key-data', keyData)[OLDSYNC_SCOPE]?.keyRotationTimestamp);
  const key = await oldsyncKey(hexToBytes(user.kB), rotation);
  const keysJwe = await encryptKeysJwe({ [OLDSYNC_SCOPE]: key }, { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y });
  rec.next();
  const authorization = rec.answer(
    'POST oauth/authorization',
    await fx.fxa(
      'POST',
      '/oauth/authorization',
      { client_id: FIREFOX_CLIENT_ID, state: b64urlEncode(randomBytes(16)), scope, access_type: 'offline', response_type: 'code', code_challenge_method: 'S256', code_challenge: challenge, keys_jwe: keysJwe },
      session,
    ),
  );
  const code = String(ok('oauth/authorization', authorization).code);

  // Firefox.
  rec.next();
  const exchange = rec.answer('POST oauth/token code+PKCE', await fx.fxa('POST', '/oauth/token', { client_id: FIREFOX_CLIENT_ID, grant_type: 'authorization_code', code, code_verifier: verifier }, session));
  const tokens = ok('oauth/token code', exchange);
  const keys = await decryptKeysJwe(String(tokens.keys_jwe), jwk);
  if (keys[OLDSYNC_SCOPE]?.k !== user.kSync || keys[OLDSYNC_SCOPE]?.kid !== user.kid) throw new Unexpected('keys_jwe', exchange.status, 'kSync in keys_jwe differs from the one set-up derived');
  rec.next();
  const destroyed = rec.answer('POST oauth/destroy', await fx.fxa('POST', '/oauth/destroy', { client_id: FIREFOX_CLIENT_ID, token: String(tokens.refresh_token) }));
  ok('oauth/destroy', destroyed);
  rec.next();
  const token = rec.answer('POST oauth/token fxa-credentials', await fx.fxa('POST', '/oauth/token', { client_id: FIREFOX_CLIENT_ID, grant_type: 'fxa-credentials', scope: OLDSYNC_SCOPE, ttl: SYNC_TOKEN_TTL }, session));
  const accessToken = String(ok('oauth/token', token).access_token);
  rec.next();
  const ts = rec.answer('GET tokenserver', await fx.tokenserver(accessToken, user.kid));
  if (Number(ok('tokenserver', ts).uid) !== user.storage.uid) throw new Unexpected('tokenserver', ts.status, 'another storage uid than at set-up');
  rec.done(keyData.ms + authorization.ms + exchange.ms + destroyed.ms + token.ms + ts.ms, performance.now() - began);
};

const OPERATIONS: Record<LoopJob['mode'], Operation> = { refresh, info: infoCollections, burst: connect };

async function runLoop(job: LoopJob): Promise<LoopResult> {
  const cpu0 = process.cpuUsage();
  const agent = keepAliveAgent(job.clients);
  const fx = new Firefox(agent, job.target);
  const rec = new Recorder(job);
  const op = OPERATIONS[job.mode];
  const sessions = await Promise.all(job.users.map((u) => signer(u.sessionToken, 'sessionToken')));
  await sleepUntil(job.startAt);
  await Promise.all(
    Array.from({ length: job.clients }, async (_, client) => {
      // Each client goes through the users from its own offset, so every user takes turns.
      for (let next = client; !rec.stop && nowMs() < (rec.endedAt ?? job.measureTo); next += job.clients) {
        const i = next % job.users.length;
        try {
          await op(fx, job.users[i]!, sessions[i]!, rec);
        } catch (err) {
          if (err instanceof Abandoned) break;
          rec.failed(err);
          await sleep(ERROR_PAUSE_MS);
        }
      }
    }),
  );
  agent.destroy();
  const endedAt = rec.endedAt ?? job.measureTo;
  const seconds = (endedAt - job.measureFrom) / 1000;
  const steps: Record<string, LatencySummary> = {};
  for (const [kind, values] of rec.steps) steps[kind] = summarize(values);
  return {
    mode: job.mode,
    clients: job.clients,
    ops: rec.ops,
    seconds,
    perSecond: rec.ops / seconds,
    endedAt,
    total: summarize(rec.totals),
    ...(rec.walls.length > 0 ? { wall: summarize(rec.walls) } : {}),
    steps,
    requests: rec.requests,
    problems: rec.problems,
    cpuSeconds: cpuSince(cpu0),
  };
}

// ---- the latency probe ----

/** One client: a tokenserver request and an info/collections request in turn, each alone in the server. */
async function runProbe(job: ProbeJob): Promise<ProbeResult> {
  const cpu0 = process.cpuUsage();
  const agent = keepAliveAgent(1);
  const fx = new Firefox(agent, job.target);
  const problems = newProblems();
  const tsTimes: number[] = [];
  const infoTimes: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + job.maxSeconds * 1000;
  let measuredFrom = t0;
  try {
    for (let i = 0; i < job.warmup + job.pairs && performance.now() < deadline; i++) {
      if (i === job.warmup) measuredFrom = performance.now();
      const user = job.users[i % job.users.length]!;
      const measured = i >= job.warmup;
      const tokenserver = async () => {
        const a = await fx.tokenserver(user.accessToken, user.kid);
        noteStatus(problems, a.status);
        if (Number(ok('tokenserver', a).uid) !== user.storage.uid) throw new Unexpected('tokenserver', a.status, 'another storage uid than at set-up');
        if (measured) tsTimes.push(a.ms);
      };
      const info = async () => {
        const a = await fx.storage(user.storage, 'GET', '/info/collections');
        noteStatus(problems, a.status);
        ok('info/collections', a);
        if (measured) infoTimes.push(a.ms);
      };
      try {
        // Alternate which goes first, so neither always follows the other.
        if (i % 2 === 0) {
          await tokenserver();
          await info();
        } else {
          await info();
          await tokenserver();
        }
      } catch (err) {
        if (err instanceof Unexpected) noteProblem(problems, err.kind, err.status, err.message);
        else noteProblem(problems, 'request', 0, (err as Error).message);
        if (problems.transport > MAX_TRANSPORT_ERRORS) break;
        await sleep(ERROR_PAUSE_MS);
      }
    }
  } finally {
    agent.destroy();
  }
  return {
    mode: 'probe',
    pairs: Math.min(tsTimes.length, infoTimes.length),
    seconds: (performance.now() - measuredFrom) / 1000,
    tokenserver: summarize(tsTimes),
    info: summarize(infoTimes),
    problems,
    cpuSeconds: cpuSince(cpu0),
  };
}

// ---- IPC ----

function runJob(job: TokensJob): Promise<TokensResult> {
  switch (job.mode) {
    case 'setup':
      return runSetup(job);
    case 'probe':
      return runProbe(job);
    default:
      return runLoop(job);
  }
}

serveOneJob(runJob);
