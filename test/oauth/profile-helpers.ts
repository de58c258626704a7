import { expect } from 'vitest';
import type { FxaResponse, TestUser } from '../helpers/fxa.js';
import type { LocalPushService, Subscription } from '../helpers/push.js';
import type { TestServer } from '../helpers/server.js';

// Shared by test/oauth/profile*.test.ts and avatar*.test.ts: access tokens minted straight from
// the server's signer (the OAuth routes are not needed), and calls to the profile server.

export const FIREFOX_CLIENT_ID = '5882386c6d801776';

export interface TokenOptions {
  ttlSeconds?: number;
  /** Defaults to the account's verifierSetAt, as the OAuth routes issue it. */
  generation?: number;
}

/** An access token for `uid` with `scope`, as /oauth/token would issue it. */
export async function accessToken(server: TestServer, uid: string, scope: string[], options: TokenOptions = {}): Promise<string> {
  const account = await server.app.accounts.db
    .selectFrom('accounts')
    .select(['verifier_set_at', 'profile_changed_at'])
    .where('uid', '=', uid)
    .executeTakeFirstOrThrow();
  const issued = await server.app.accessTokens!.issue({
    uid,
    clientId: FIREFOX_CLIENT_ID,
    scope,
    ttlSeconds: options.ttlSeconds ?? 3600,
    generation: options.generation ?? Number(account.verifier_set_at),
    profileChangedAt: Number(account.profile_changed_at),
  });
  return issued.token;
}

const seen: { method: string; path: string; status: number }[] = [];

/** Calls of this test file that got a 5xx (expected: none). */
export function serverErrorsSeen() {
  return seen.filter((s) => s.status >= 500);
}

export interface ProfileCallOptions {
  token?: string;
  /** Raw Authorization header instead of the token. */
  authorization?: string;
  json?: unknown;
  body?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface ProfileResponse extends FxaResponse {
  bytes: Buffer;
}

/** A request to `path` on the server (e.g. '/profile/v1/profile'); JSON bodies parsed, bytes kept. */
export async function call(server: TestServer, method: string, path: string, options: ProfileCallOptions = {}): Promise<ProfileResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  let body: Buffer | string | undefined = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  }
  if (options.contentType) headers['content-type'] = options.contentType;
  const url = /^https?:/.test(path) ? path : `${server.url}${path}`;
  const res = await fetch(url, { method, headers, body: Buffer.isBuffer(body) ? new Uint8Array(body) : body });
  seen.push({ method, path, status: res.status });
  const bytes = Buffer.from(await res.arrayBuffer());
  let parsed: unknown = undefined;
  if (/json/.test(res.headers.get('content-type') ?? '')) parsed = JSON.parse(bytes.toString('utf8'));
  return { status: res.status, body: parsed, headers: res.headers, bytes };
}

/** A desktop device of `user` subscribed to the local push service, to see profile_updated arrive. */
export async function pushDevice(user: TestUser, push: LocalPushService, name: string): Promise<Subscription> {
  const sub = push.subscribe(name);
  const device = await user.call('POST', '/account/device', {
    name: 'Firefox',
    type: 'desktop',
    pushCallback: sub.pushCallback,
    pushPublicKey: sub.pushPublicKey,
    pushAuthKey: sub.pushAuthKey,
  });
  expect(device.status, JSON.stringify(device.body)).toBe(200);
  return sub;
}
