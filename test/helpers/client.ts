import { randomInt } from 'node:crypto';
import { hawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import { makeToken, type Token, type TokenPayload } from '../../src/crypto/tokenlib.js';
import { TEST_SECRET, type TestServer } from './server.js';

// A Sync storage client for tests: mints tokens the way the tokenserver will (tokenlib) and
// signs every request with Hawk, like Firefox.

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body (throws when the body is not JSON). */
  json: () => any;
  header: (name: string) => string | null;
}

export interface RequestOptions {
  /** Object/array bodies are sent as JSON; strings as they are. */
  body?: unknown;
  /** Content-Type; default application/json when there is a body. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Sign with this token instead of the client's own. */
  token?: Token;
  /** Skip the Authorization header. */
  unsigned?: boolean;
  /** Hawk ts override (seconds). */
  ts?: number;
  nonce?: string;
  /** Add a Hawk payload hash (true = correct hash, string = that hash). */
  hash?: boolean | string;
  /** Retry once after 10 ms on 503, as the upstream test client does. */
  retry?: boolean;
}

export function mintToken(uid: number, extra: Partial<TokenPayload> = {}, secret = TEST_SECRET): Token {
  return makeToken(secret, {
    node: 'http://127.0.0.1',
    fxa_kid: '0000000001234-qqo',
    fxa_uid: 'decafbaddecafbaddecafbaddecafbad',
    hashed_device_id: 'dddddddddddddddddddddddddddddddd',
    hashed_fxa_uid: 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee',
    expires: Date.now() / 1000 + 300,
    uid,
    tokenserver_origin: 'rust',
    ...extra,
  });
}

export class StorageClient {
  readonly token: Token;

  constructor(
    readonly server: TestServer,
    readonly uid: number = randomInt(1, 100_000_000),
    token?: Token,
  ) {
    this.token = token ?? mintToken(uid);
  }

  /** `/1.5/<uid>` + path; paths starting with '/' (e.g. '/storage/bookmarks') are relative to it. */
  endpoint(path = ''): string {
    return `/1.5/${this.uid}${path}`;
  }

  /** Send a request to an absolute path on the server (e.g. '/1.5/1/info/collections'). */
  async raw(method: string, target: string, opts: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      if (opts.contentType !== null) headers['content-type'] = opts.contentType ?? 'application/json';
    }
    if (!opts.unsigned) {
      const token = opts.token ?? this.token;
      let hash: string | undefined;
      if (opts.hash === true) hash = payloadHash(headers['content-type'] ?? '', body ?? '');
      else if (typeof opts.hash === 'string') hash = opts.hash;
      headers.authorization = hawkHeader(
        { method, resource: target, host: this.server.host, port: this.server.port },
        { id: token.id, key: token.key, ts: opts.ts, nonce: opts.nonce, hash },
      );
    }
    const res = await fetch(this.server.url + target, { method, headers, body });
    const text = await res.text();
    const reply: Reply = {
      status: res.status,
      headers: res.headers,
      text,
      json: () => JSON.parse(text),
      header: (name) => res.headers.get(name),
    };
    if (opts.retry && reply.status === 503) {
      await new Promise((r) => setTimeout(r, 10));
      return this.raw(method, target, { ...opts, retry: false });
    }
    return reply;
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
    return this.raw(method, this.endpoint(path), opts);
  }

  get(path: string, opts?: RequestOptions) {
    return this.request('GET', path, opts);
  }
  put(path: string, body: unknown, opts?: RequestOptions) {
    return this.request('PUT', path, { ...opts, body });
  }
  post(path: string, body: unknown, opts?: RequestOptions) {
    return this.request('POST', path, { ...opts, body });
  }
  delete(path: string, opts?: RequestOptions) {
    return this.request('DELETE', path, opts);
  }
}

/** Seconds-with-two-decimals header value as a number. */
export function ts(value: string | null): number {
  if (value === null) throw new Error('missing timestamp header');
  return Number(value);
}
