import { formatTs } from '../../src/storage/timestamps.js';
import { SignedClient, keepAliveAgent, send, sleep, type Answer, type Target } from '../common/client.js';
import { serveOneJob } from '../common/jobs.js';
import { prng, recordsBody } from '../common/records.js';
import { newProblems, noteProblem, noteStatus, summarize, type Problems } from '../common/report.js';
import {
  SIZE_HEADER,
  STATUS_HEADER,
  paretoLength,
  randomInt,
  sample,
  weighted,
  type Job,
  type KindSummary,
  type MixJob,
  type MixResult,
  type PostsJob,
  type PostsResult,
  type ReadJob,
  type ReadResult,
} from './common.js';

// The load generator, run as its own child process (forked by run.ts, one job per process).
// It receives one job over IPC, runs it against Foxden or the bare server, sends back one
// result and exits. Every loop is bounded by a deadline and by a count.

// ---- the Sync load mix ----
//
// Modelled on mozilla-services/syncstorage-loadtest (loadtest.py): each iteration of a
// device is one "sync": GET info/collections; 0-1 GETs of meta/global (40/60); 10% a GET of
// clients; 20% a POST of one client record; 0-4 GETs of whole collections (71/15/7/4/3) with
// full=1&newer; 0-4 POSTs (67/18/9/4/2) of min(U(20,180),100) records whose payloads are
// Pareto(3) x 300 bytes (mean ~450), half of the time as one batch (batch=true, appends,
// commit=true on the last); then 1% a DELETE of one collection, else 1% a DELETE of the
// whole storage. Unlike the original, `newer` is the X-Last-Modified the device saw on its
// previous GET of that collection (a client's "last sync"), so a GET returns what was
// uploaded since, and a one-POST batch is committed by an empty commit POST.

const COLLECTIONS = ['bookmarks', 'forms', 'passwords', 'history', 'prefs'] as const;
const W_META_GETS = [40, 60, 0, 0, 0];
const W_CLIENT_ID = [80, 15, 4, 1];
const W_COLLECTION_GETS = [71, 15, 7, 4, 3];
const W_POSTS = [67, 18, 9, 4, 2];
const W_COLLECTION_DELETES = [99, 1, 0, 0, 0];
const P_CLIENTS_GET = 0.1;
const P_CLIENTS_POST = 0.2;
const P_DELETE_STORAGE = 0.01;
const P_TRANSACTIONAL = 0.5;
const META_BODY = JSON.stringify({
  id: 'global',
  payload: JSON.stringify({ syncID: 'foxdenbench0', storageVersion: 5, engines: Object.fromEntries(COLLECTIONS.map((c) => [c, { version: 1, syncID: `${c}0000000`.slice(0, 12) }])) }),
});
const MAX_ITERATIONS_PER_DEVICE = 1_000_000;
const MAX_TRANSPORT_ERRORS = 200;
const SIZE_SAMPLES_PER_KIND = 20_000;

interface Device {
  client: SignedClient;
  rng: () => number;
  /** Per collection: X-Last-Modified of the previous GET ("last sync"). */
  lastSeen: Map<string, number>;
}

class MixRun {
  private readonly agent;
  private readonly problems: Problems = newProblems();
  private readonly latencies = new Map<string, number[]>();
  private readonly bytes = new Map<string, number>();
  private readonly sizes = new Map<string, { seen: number; values: number[] }>();
  private readonly sizeCursor = new Map<string, number>();
  private measureStart = 0;
  private measureEnd = 0;
  private aborted = false;
  private iterations = 0;

  constructor(private readonly job: MixJob) {
    this.agent = keepAliveAgent(job.devices);
  }

  private get target(): Target {
    return this.job.target;
  }

  private live(): boolean {
    return !this.aborted && performance.now() < this.measureEnd;
  }

  /** Bare server: the next recorded Foxden size for this kind of request. */
  private askedSize(kind: string): number {
    const list = this.job.sizes?.[kind];
    if (!list || list.length === 0) return 2;
    const i = this.sizeCursor.get(kind) ?? 0;
    this.sizeCursor.set(kind, i + 1);
    return list[i % list.length]!;
  }

  private recordSize(kind: string, n: number): void {
    let s = this.sizes.get(kind);
    if (!s) this.sizes.set(kind, (s = { seen: 0, values: [] }));
    s.seen++;
    if (s.values.length < SIZE_SAMPLES_PER_KIND) s.values.push(n);
    else {
      const j = Math.floor(Math.random() * s.seen);
      if (j < SIZE_SAMPLES_PER_KIND) s.values[j] = n;
    }
  }

  private async call(d: Device, kind: string, method: string, rest: string, expect: readonly number[], body?: string, extra: Record<string, string> = {}): Promise<Answer | undefined> {
    const path = d.client.path(rest);
    const headers = d.client.headers(method, path, extra);
    if (body !== undefined) headers['content-type'] = 'application/json';
    // Sent to both servers so the requests are the same bytes; only the bare server reads them.
    headers[SIZE_HEADER] = String(this.target.bare ? this.askedSize(kind) : 0);
    headers[STATUS_HEADER] = String(expect[0]);
    const t0 = performance.now();
    let answer: Answer;
    try {
      answer = await send(this.agent, this.target, method, path, headers, body);
    } catch (err) {
      noteProblem(this.problems, kind, 0, (err as Error).message);
      if (this.problems.transport >= MAX_TRANSPORT_ERRORS) this.aborted = true;
      await sleep(10);
      return undefined;
    }
    const t1 = performance.now();
    noteStatus(this.problems, answer.status);
    if (!this.target.bare) {
      if (!expect.includes(answer.status)) noteProblem(this.problems, kind, answer.status, `${method} ${rest}: ${answer.body.toString('utf8')}`);
      this.recordSize(kind, answer.body.length);
    }
    if (t0 >= this.measureStart && t1 <= this.measureEnd) {
      let list = this.latencies.get(kind);
      if (!list) this.latencies.set(kind, (list = []));
      list.push(t1 - t0);
      this.bytes.set(kind, (this.bytes.get(kind) ?? 0) + answer.body.length);
    }
    return answer;
  }

  private async getCollection(d: Device, kind: string, collection: string): Promise<void> {
    const newer = d.lastSeen.get(collection) ?? 0;
    const answer = await this.call(d, kind, 'GET', `/storage/${collection}?full=1&newer=${formatTs(newer)}`, [200]);
    const lm = answer?.status === 200 ? answer.headers['x-last-modified'] : undefined;
    if (typeof lm === 'string' && lm !== '') d.lastSeen.set(collection, Math.round(Number(lm) * 1000));
  }

  private async iteration(d: Device): Promise<void> {
    const rng = d.rng;
    if (!this.live()) return;
    await this.call(d, 'info_collections', 'GET', '/info/collections', [200]);

    const metaGets = weighted(rng, W_META_GETS);
    for (let i = 0; i < metaGets && this.live(); i++) {
      const answer = await this.call(d, 'meta_get', 'GET', '/storage/meta/global', [200, 404]);
      if (answer?.status === 404 && this.live()) await this.call(d, 'meta_put', 'PUT', '/storage/meta/global', [200], META_BODY);
    }

    if (rng() < P_CLIENTS_GET && this.live()) await this.getCollection(d, 'clients_get', 'clients');
    if (rng() < P_CLIENTS_POST && this.live()) {
      const cid = String(weighted(rng, W_CLIENT_ID));
      await this.call(d, 'clients_post', 'POST', '/storage/clients', [200], JSON.stringify([{ id: `client${cid}`, payload: cid.repeat(300) }]));
    }

    const gets = sample(rng, COLLECTIONS, weighted(rng, W_COLLECTION_GETS));
    for (const c of gets) if (this.live()) await this.getCollection(d, 'collection_get', c);

    const posts = weighted(rng, W_POSTS);
    if (posts > 0) {
      const perPost = () => Math.min(randomInt(rng, 20, 180), 100);
      if (rng() >= P_TRANSACTIONAL) {
        for (const c of sample(rng, COLLECTIONS, posts)) {
          const body = recordsBody(rng, perPost(), paretoLength);
          if (this.live()) await this.call(d, 'post', 'POST', `/storage/${c}`, [200], body);
        }
      } else {
        const c = sample(rng, COLLECTIONS, 1)[0]!;
        let batch: string | undefined;
        for (let x = 0; x < posts; x++) {
          const body = recordsBody(rng, perPost(), paretoLength);
          if (!this.live()) break;
          if (x === 0) {
            const answer = await this.call(d, 'batch_start', 'POST', `/storage/${c}?batch=true`, [202], body);
            batch = this.target.bare ? '00000000-0000-4000-8000-000000000000' : batchId(answer);
            if (batch === undefined) break;
          } else if (x === posts - 1) {
            await this.call(d, 'batch_commit', 'POST', `/storage/${c}?batch=${encodeURIComponent(batch!)}&commit=true`, [200], body);
          } else {
            await this.call(d, 'batch_append', 'POST', `/storage/${c}?batch=${encodeURIComponent(batch!)}`, [202], body);
          }
        }
        if (posts === 1 && batch !== undefined && this.live()) {
          await this.call(d, 'batch_commit', 'POST', `/storage/${c}?batch=${encodeURIComponent(batch)}&commit=true`, [200], '[]');
        }
      }
    }

    if (this.job.deletes) {
      const n = weighted(rng, W_COLLECTION_DELETES);
      if (n > 0) {
        for (const c of sample(rng, COLLECTIONS, n)) {
          if (!this.live()) break;
          await this.call(d, 'delete_collection', 'DELETE', `/storage/${c}`, [200]);
          d.lastSeen.delete(c);
        }
      } else if (rng() < P_DELETE_STORAGE && this.live()) {
        await this.call(d, 'delete_storage', 'DELETE', '/storage', [200], undefined, { 'x-confirm-delete': '1' });
        d.lastSeen.clear();
      }
    }
  }

  private async device(i: number): Promise<void> {
    const d: Device = {
      client: new SignedClient(this.target, this.job.uidBase + i, this.job.secret),
      rng: prng(this.job.seed * 7919 + i),
      lastSeen: new Map(),
    };
    // Warm-up, never measured: the data a device has after its first sync, then free-running
    // iterations until the measured window opens.
    await this.call(d, 'seed_meta_put', 'PUT', '/storage/meta/global', [200], META_BODY);
    await this.call(d, 'seed_clients_post', 'POST', '/storage/clients', [200], JSON.stringify([{ id: 'client0', payload: '0'.repeat(300) }]));
    for (const c of COLLECTIONS) await this.call(d, 'seed_post', 'POST', `/storage/${c}`, [200], recordsBody(d.rng, 50, paretoLength));
    for (let n = 0; n < MAX_ITERATIONS_PER_DEVICE && this.live(); n++) {
      await this.iteration(d);
      if (performance.now() >= this.measureStart) this.iterations++;
      if (this.job.thinkMs > 0) await sleep(this.job.thinkMs);
    }
  }

  async run(): Promise<MixResult> {
    const cpu0 = process.cpuUsage();
    const now = performance.now();
    this.measureStart = now + this.job.warmupSeconds * 1000;
    this.measureEnd = this.measureStart + this.job.seconds * 1000;
    await Promise.all(Array.from({ length: this.job.devices }, (_, i) => this.device(i)));
    this.agent.destroy();
    const all: number[] = [];
    const kinds: Record<string, KindSummary> = {};
    for (const [kind, list] of [...this.latencies].sort(([a], [b]) => a.localeCompare(b))) {
      for (const v of list) all.push(v);
      kinds[kind] = { ...summarize(list), meanBytes: (this.bytes.get(kind) ?? 0) / list.length };
    }
    const seconds = this.job.seconds;
    return {
      mode: 'mix',
      seconds,
      requests: all.length,
      rps: all.length / seconds,
      latency: summarize(all),
      kinds,
      sizes: Object.fromEntries([...this.sizes].map(([k, s]) => [k, s.values])),
      problems: this.problems,
      iterations: this.iterations,
      generatorCpu: cpuSince(cpu0),
    };
  }
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function batchId(answer: Answer | undefined): string | undefined {
  if (answer?.status !== 202) return undefined;
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { batch?: unknown };
    return typeof parsed.batch === 'string' ? parsed.batch : undefined;
  } catch {
    return undefined;
  }
}

// ---- 100-record POSTs ----

async function runPosts(job: PostsJob): Promise<PostsResult> {
  const agent = keepAliveAgent(job.clients);
  const problems = newProblems();
  const latencies: number[] = [];
  let started = 0;
  let okPosts = 0;
  const fixed = () => job.payloadBytes;

  const post = async (client: SignedClient, rng: () => number, collection: string, measure: boolean) => {
    const path = client.path(`/storage/${collection}`);
    const headers = client.headers('POST', path, { 'content-type': 'application/json' });
    const body = recordsBody(rng, job.recordsPerPost, fixed);
    const t0 = performance.now();
    let answer: Answer;
    try {
      answer = await send(agent, job.target, 'POST', path, headers, body);
    } catch (err) {
      noteProblem(problems, 'post100', 0, (err as Error).message);
      await sleep(10);
      return;
    }
    const ms = performance.now() - t0;
    noteStatus(problems, answer.status);
    let ok = answer.status === 200;
    if (ok && !job.target.bare) {
      try {
        const r = JSON.parse(answer.body.toString('utf8')) as { success?: unknown[]; failed?: object };
        ok = r.success?.length === job.recordsPerPost && Object.keys(r.failed ?? {}).length === 0;
      } catch {
        ok = false;
      }
    }
    if (!ok) noteProblem(problems, 'post100', answer.status, answer.body.toString('utf8'));
    if (measure && ok) {
      okPosts++;
      latencies.push(ms);
    }
  };

  const clients = Array.from({ length: job.clients }, (_, i) => ({
    client: new SignedClient(job.target, job.uidBase + i, job.secret),
    rng: prng(4242 + job.uidBase + i),
  }));
  // Warm-up: three posts per client into another collection, not measured.
  await Promise.all(clients.map(async ({ client, rng }) => {
    for (let i = 0; i < 3; i++) await post(client, rng, 'forms', false);
  }));
  const t0 = performance.now();
  const deadline = t0 + job.maxSeconds * 1000;
  await Promise.all(
    clients.map(async ({ client, rng }) => {
      while (started < job.maxPosts && performance.now() < deadline && problems.transport < MAX_TRANSPORT_ERRORS) {
        started++;
        await post(client, rng, job.collection, true);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const records = okPosts * job.recordsPerPost;
  return { mode: 'posts', clients: job.clients, posts: okPosts, records, seconds, recordsPerSecond: records / seconds, latency: summarize(latencies), problems };
}

// ---- GET ?newer&limit on a big collection ----

async function runRead(job: ReadJob): Promise<ReadResult> {
  const agent = keepAliveAgent(1);
  const problems = newProblems();
  const client = new SignedClient(job.target, job.uid, job.secret);
  const rng = prng(777 + (job.sort?.length ?? 0));
  const latencies: number[] = [];
  let records = 0;
  let bytes = 0;
  const ticks = Math.floor((job.newerTo - job.newerFrom) / 10);
  const t0 = performance.now();
  const deadline = t0 + job.maxSeconds * 1000;
  const total = job.warmupRequests + job.requests;
  for (let i = 0; i < total && performance.now() < deadline && problems.transport < 20; i++) {
    const newer = job.newerFrom + Math.floor(rng() * (ticks + 1)) * 10;
    const sort = job.sort ? `&sort=${job.sort}` : '';
    const path = client.path(`/storage/${job.collection}?full=1&newer=${formatTs(newer)}&limit=${job.limit}${sort}`);
    let answer: Answer;
    try {
      answer = await send(agent, job.target, 'GET', path, client.headers('GET', path));
    } catch (err) {
      noteProblem(problems, 'read', 0, (err as Error).message);
      continue;
    }
    noteStatus(problems, answer.status);
    const count = Number(answer.headers['x-weave-records'] ?? NaN);
    if (answer.status !== 200 || !(count > 0)) {
      noteProblem(problems, 'read', answer.status, `${path}: X-Weave-Records=${String(answer.headers['x-weave-records'])} ${answer.body.toString('utf8').slice(0, 200)}`);
      continue;
    }
    if (i < job.warmupRequests) continue;
    latencies.push(answer.ms);
    records += count;
    bytes += answer.body.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const n = latencies.length;
  return { mode: 'read', requests: n, seconds, latency: summarize(latencies), meanRecords: n ? records / n : 0, meanBytes: n ? bytes / n : 0, problems };
}

async function runJob(job: Job) {
  switch (job.mode) {
    case 'mix':
      return new MixRun(job).run();
    case 'posts':
      return runPosts(job);
    case 'read':
      return runRead(job);
  }
}

serveOneJob(runJob);
