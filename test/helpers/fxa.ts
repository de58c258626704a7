import { hawkHeader, payloadHash } from '../../src/crypto/hawk.js';
import {
  bytesToHex,
  deriveTokenKeys,
  hexToBytes,
  passwordCredentials,
  unbundleKeys,
  unwrapKb,
  wrapKb,
  type TokenType,
} from '../../src/crypto/onepw.js';

// Our own scripted FxA client for tests: onepw in the same module the pages use, Hawk signed
// the way Firefox signs (JSON bodies with a payload hash, GETs without).

export interface FxaResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  /** Hex token data and its type: the request is Hawk-signed with it. */
  token?: { data: string; type: TokenType };
  /** Raw Authorization header instead. */
  authorization?: string;
  /** Raw body text instead of JSON.stringify(body). */
  rawBody?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export class FxaClient {
  readonly origin: URL;

  constructor(readonly baseUrl: string) {
    this.origin = new URL(baseUrl);
  }

  async call<T = any>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<FxaResponse<T>> {
    const resource = `/auth/v1${path}`;
    const text = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    const contentType = options.contentType ?? (text === undefined ? 'text/plain' : 'application/json; charset=utf-8');
    const headers: Record<string, string> = { 'content-type': contentType, ...options.headers };
    if (options.authorization) headers.authorization = options.authorization;
    if (options.token) {
      const keys = await deriveTokenKeys(hexToBytes(options.token.data), options.token.type);
      headers.authorization = hawkHeader(
        { method, resource, host: this.origin.hostname, port: Number(this.origin.port || (this.origin.protocol === 'https:' ? 443 : 80)) },
        { id: bytesToHex(keys.tokenId), key: Buffer.from(keys.authKey), hash: text === undefined ? undefined : payloadHash(contentType, text) },
      );
    }
    const res = await fetch(new URL(resource, this.baseUrl), { method, headers, body: text });
    const raw = await res.text();
    let parsed: unknown = raw;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  session(data: string) {
    return { token: { data, type: 'sessionToken' as const } };
  }
}

/** A user's side of onepw: e-mail, password, derived authPW/unwrapBKey. */
export class TestUser {
  authPW = '';
  unwrapBKey: Uint8Array = new Uint8Array();
  uid = '';
  sessionToken = '';
  keyFetchToken = '';

  constructor(
    readonly client: FxaClient,
    public email: string,
    public password: string,
  ) {}

  async stretch(): Promise<this> {
    const c = await passwordCredentials(this.email, this.password);
    this.authPW = bytesToHex(c.authPW);
    this.unwrapBKey = c.unwrapBKey;
    return this;
  }

  async create(extra: Record<string, unknown> = {}): Promise<FxaResponse> {
    await this.stretch();
    const res = await this.client.call('POST', '/account/create?keys=true', { email: this.email, authPW: this.authPW, verificationMethod: 'email-otp', ...extra });
    if (res.status === 200) this.adopt(res.body);
    return res;
  }

  async login(extra: Record<string, unknown> = {}): Promise<FxaResponse> {
    await this.stretch();
    const res = await this.client.call('POST', '/account/login?keys=true', { email: this.email, authPW: this.authPW, ...extra });
    if (res.status === 200) this.adopt(res.body);
    return res;
  }

  adopt(body: { uid: string; sessionToken: string; keyFetchToken?: string }): void {
    this.uid = body.uid;
    this.sessionToken = body.sessionToken;
    this.keyFetchToken = body.keyFetchToken ?? '';
  }

  /** A call signed with this user's session token. */
  call(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<FxaResponse> {
    return this.client.call(method, path, body, { token: { data: this.sessionToken, type: 'sessionToken' }, ...options });
  }

  verify(code: string): Promise<FxaResponse> {
    return this.call('POST', '/session/verify_code', { code });
  }

  /** /account/keys with the current key-fetch token, unwrapped to kB (hex). */
  async fetchKB(): Promise<{ status: number; kB?: string; body: any }> {
    const res = await this.client.call('GET', '/account/keys', undefined, { token: { data: this.keyFetchToken, type: 'keyFetchToken' } });
    if (res.status !== 200) return { status: res.status, body: res.body };
    const kf = await deriveTokenKeys(hexToBytes(this.keyFetchToken), 'keyFetchToken');
    const keys = await unbundleKeys(kf.bundleKey, res.body.bundle);
    return { status: 200, kB: bytesToHex(unwrapKb(keys.wrapKb, this.unwrapBKey)), body: res.body };
  }

  /** The full password change: start, keys under the old password, finish with kB re-wrapped. */
  async changePassword(newPassword: string): Promise<FxaResponse> {
    await this.stretch();
    const start = await this.client.call('POST', '/password/change/start', { email: this.email, oldAuthPW: this.authPW }, this.client.session(this.sessionToken));
    if (start.status !== 200) return start;
    this.keyFetchToken = start.body.keyFetchToken;
    const { kB } = await this.fetchKB();
    if (!kB) throw new Error('could not fetch keys during password change');
    this.password = newPassword;
    await this.stretch();
    const finish = await this.client.call(
      'POST',
      '/password/change/finish?keys=true',
      { authPW: this.authPW, wrapKb: bytesToHex(wrapKb(hexToBytes(kB), this.unwrapBKey)), sessionToken: await tokenId(this.sessionToken, 'sessionToken') },
      { token: { data: start.body.passwordChangeToken, type: 'passwordChangeToken' } },
    );
    if (finish.status === 200) this.adopt(finish.body);
    return finish;
  }
}

/** The public id (hex) of a token. */
export async function tokenId(data: string, type: TokenType): Promise<string> {
  return bytesToHex((await deriveTokenKeys(hexToBytes(data), type)).tokenId);
}
