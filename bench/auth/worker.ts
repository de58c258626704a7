import { randomBytes, scrypt } from 'node:crypto';
import { SCRYPT } from '../../src/crypto/verifier.js';
import { SignedClient, keepAliveAgent, send, sleep, type Answer } from '../common/client.js';
import { serveOneJob } from '../common/jobs.js';
import { prng, recordsBody } from '../common/records.js';
import { newProblems, noteProblem, noteStatus, summarize } from '../common/report.js';
import {
  FIREFOX_UA,
  nowMs,
  sleepUntil,
  type AuthJob,
  type AuthResult,
  type LoginJob,
  type LoginResult,
  type ScryptJob,
  type ScryptResult,
  type StorageJob,
  type StorageKind,
  type StorageResult,
} from './common.js';

// The auth bench's worker: one child process per job (forked by run.ts). It receives one job
// over IPC, runs it, sends back one result and exits. Every loop ends at the job's measureTo
// (and on too many transport errors); requests in flight then are awaited, not counted.

const MAX_TRANSPORT_ERRORS = 200;
const ERROR_PAUSE_MS = 100;

const inWindow = (job: AuthJob, t: number) => t >= job.measureFrom && t < job.measureTo;
const windowSeconds = (job: AuthJob) => (job.measureTo - job.measureFrom) / 1000;

function cpuSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

// ---- raw scrypt ----

function scryptCall(): Promise<void> {
  // authPW and authSalt are 32 random bytes each on the server too.
  return new Promise((resolve, reject) =>
    scrypt(randomBytes(32), randomBytes(32), SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT.maxmem }, (err) => (err ? reject(err) : resolve())),
  );
}

async function runScrypt(job: ScryptJob): Promise<ScryptResult> {
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  await sleepUntil(job.startAt);
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (nowMs() < job.measureTo) {
        const t0 = nowMs();
        await scryptCall();
        const t1 = nowMs();
        if (inWindow(job, t1)) latencies.push(t1 - t0);
      }
    }),
  );
  const seconds = windowSeconds(job);
  return { mode: 'scrypt', concurrency: job.concurrency, completed: latencies.length, seconds, perSecond: latencies.length / seconds, latency: summarize(latencies), samples: latencies, cpuSeconds: cpuSince(cpu0) };
}

// ---- logins ----

async function runLogins(job: LoginJob): Promise<LoginResult> {
  const cpu0 = process.cpuUsage();
  const agent = keepAliveAgent(job.clients);
  const problems = newProblems();
  const okLatencies: number[] = [];
  const busyLatencies: number[] = [];
  const retryAfter: Record<string, number> = {};
  let busy = 0;
  let busyTotal = 0;
  let stop = false;
  const pauseUntil = async (ms: number) => sleep(Math.max(0, Math.min(ms, job.measureTo - nowMs())));
  await sleepUntil(job.startAt);
  await Promise.all(
    Array.from({ length: job.clients }, async (_, client) => {
      await sleepUntil(job.startAt + (client * job.rampMs) / job.clients);
      // Each client walks the accounts from its own offset, so the load spreads over them.
      let next = client;
      while (!stop && nowMs() < job.measureTo) {
        const account = job.accounts[next % job.accounts.length]!;
        next += job.clients;
        const body = JSON.stringify({ email: account.email, authPW: account.authPW, reason: 'signin' });
        let answer: Answer;
        try {
          answer = await send(agent, job.target, 'POST', '/auth/v1/account/login?keys=true', { 'content-type': 'application/json', 'user-agent': FIREFOX_UA }, body);
        } catch (err) {
          noteProblem(problems, 'login', 0, (err as Error).message);
          if (problems.transport > MAX_TRANSPORT_ERRORS) stop = true;
          await pauseUntil(ERROR_PAUSE_MS);
          continue;
        }
        const done = nowMs();
        noteStatus(problems, answer.status);
        if (answer.status === 200) {
          if (inWindow(job, done)) okLatencies.push(answer.ms);
          continue;
        }
        let errno: unknown;
        try {
          errno = (JSON.parse(answer.body.toString('utf8')) as { errno?: unknown }).errno;
        } catch {
          errno = undefined;
        }
        if (answer.status === 503 && errno === 201) {
          const seconds = Number(answer.headers['retry-after'] ?? NaN);
          busyTotal++;
          if (inWindow(job, done)) {
            busy++;
            busyLatencies.push(answer.ms);
            const key = Number.isFinite(seconds) ? String(seconds) : 'none';
            retryAfter[key] = (retryAfter[key] ?? 0) + 1;
          }
          const pause = job.busyPause === 'retry-after' ? (Number.isFinite(seconds) ? seconds : 1) * 1000 * (1 + 0.25 * Math.random()) : job.busyPause;
          await pauseUntil(pause);
          continue;
        }
        noteProblem(problems, 'login', answer.status, answer.body.toString('utf8'));
        await pauseUntil(ERROR_PAUSE_MS);
      }
    }),
  );
  agent.destroy();
  const seconds = windowSeconds(job);
  return {
    mode: 'logins',
    clients: job.clients,
    seconds,
    ok: okLatencies.length,
    perSecond: okLatencies.length / seconds,
    busy,
    busyTotal,
    retryAfter,
    latency: summarize(okLatencies),
    busyLatency: summarize(busyLatencies),
    problems,
    samples: okLatencies,
    busySamples: busyLatencies,
    cpuSeconds: cpuSince(cpu0),
  };
}

// ---- Sync storage ----

const COLLECTION = 'history';
const SEED_RECORDS = 100;
const POST_RECORDS = 10;
const PAYLOAD_BYTES = 450;
/** info/collections, GET history?full=1&limit=50, POST 10 records. */
const KINDS = [
  { kind: 'info/collections', weight: 40 },
  { kind: 'get full=1&limit=50', weight: 40 },
  { kind: 'post 10 records', weight: 20 },
] as const;
type Kind = (typeof KINDS)[number]['kind'];
const LATE_MS = 10;

function pickKind(rng: () => number): Kind {
  let r = rng() * KINDS.reduce((s, k) => s + k.weight, 0);
  for (const k of KINDS) {
    r -= k.weight;
    if (r < 0) return k.kind;
  }
  return KINDS[0].kind;
}

async function storageRequest(client: SignedClient, agent: ReturnType<typeof keepAliveAgent>, kind: Kind, rng: () => number): Promise<Answer> {
  const target = client.target;
  if (kind === 'info/collections') {
    const path = client.path('/info/collections');
    return send(agent, target, 'GET', path, client.headers('GET', path));
  }
  if (kind === 'get full=1&limit=50') {
    const path = client.path(`/storage/${COLLECTION}?full=1&limit=50`);
    return send(agent, target, 'GET', path, client.headers('GET', path));
  }
  const path = client.path(`/storage/${COLLECTION}`);
  return send(agent, target, 'POST', path, client.headers('POST', path, { 'content-type': 'application/json' }), recordsBody(rng, POST_RECORDS, () => PAYLOAD_BYTES));
}

async function runStorage(job: StorageJob): Promise<StorageResult> {
  const cpu0 = process.cpuUsage();
  const agent = keepAliveAgent(job.devices);
  const problems = newProblems();
  const all: number[] = [];
  const byKind = new Map<Kind, number[]>(KINDS.map((k) => [k.kind, []]));
  let late = 0;
  const devices = Array.from({ length: job.devices }, (_, d) => ({ client: new SignedClient(job.target, job.uidBase + d, job.secret), rng: prng(job.seed + d) }));

  // What a first sync leaves behind: SEED_RECORDS records in the collection the devices read.
  for (const { client, rng } of devices) {
    const path = client.path(`/storage/${COLLECTION}`);
    const answer = await send(agent, job.target, 'POST', path, client.headers('POST', path, { 'content-type': 'application/json' }), recordsBody(rng, SEED_RECORDS, () => PAYLOAD_BYTES));
    if (answer.status !== 200) throw new Error(`seeding uid ${client.uid} failed: ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
  }

  const interval = 1000 / job.rate;
  await sleepUntil(job.startAt);
  let stop = false;
  await Promise.all(
    devices.map(async ({ client, rng }, d) => {
      // Devices are spread over the interval, so requests arrive evenly.
      let slot = job.startAt + (d * interval) / job.devices;
      while (!stop && slot < job.measureTo) {
        await sleepUntil(slot);
        const sentAt = nowMs();
        if (sentAt - slot > LATE_MS) late++;
        const kind = pickKind(rng);
        try {
          const answer = await storageRequest(client, agent, kind, rng);
          noteStatus(problems, answer.status);
          if (answer.status !== 200) noteProblem(problems, kind, answer.status, answer.body.toString('utf8'));
          else if (inWindow(job, sentAt)) {
            all.push(answer.ms);
            byKind.get(kind)!.push(answer.ms);
          }
        } catch (err) {
          noteProblem(problems, kind, 0, (err as Error).message);
          if (problems.transport > MAX_TRANSPORT_ERRORS) stop = true;
        }
        // The next slot on the schedule; a device that fell behind sends at once, without catching up.
        slot = Math.max(slot + interval, nowMs());
      }
    }),
  );
  agent.destroy();
  const seconds = windowSeconds(job);
  const kinds: Record<string, StorageKind> = {};
  for (const [kind, values] of byKind) {
    const s = summarize(values);
    kinds[kind] = { count: s.count, p50: s.p50, p99: s.p99 };
  }
  return {
    mode: 'storage',
    devices: job.devices,
    seconds,
    requests: all.length,
    rps: all.length / seconds,
    latency: summarize(all),
    kinds,
    late,
    problems,
    samples: Object.fromEntries(byKind),
    cpuSeconds: cpuSince(cpu0),
  };
}

// ---- IPC ----

function runJob(job: AuthJob): Promise<AuthResult> {
  switch (job.mode) {
    case 'scrypt':
      return runScrypt(job);
    case 'logins':
      return runLogins(job);
    case 'storage':
      return runStorage(job);
  }
}

serveOneJob(runJob);
