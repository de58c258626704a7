import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { hexToBytes } from '../../src/crypto/onepw.js';
import {
  b64urlEncode,
  decryptKeysJwe,
  encryptKeysJwe,
  oldsyncKey,
  pkceChallenge,
  type EcPrivateJwk,
  type ScopedKey,
} from '../../src/crypto/scoped-keys.js';
import { FxaClient, TestUser, type FxaResponse } from './fxa.js';
import { latestCode } from './outbox.js';
import type { TestServer } from './server.js';

// The browser's and the sign-in page's sides of OAuth with scoped keys, scripted: Firefox
// makes an ephemeral P-256 key and a PKCE verifier; the page derives kSync from kB, encrypts it
// to Firefox's key (keys_jwe) and asks for a code; Firefox trades the code for tokens and
// decrypts its keys (fxa-auth.md 1.2, 5; firefox-client.md 3.1).

export const FIREFOX = '5882386c6d801776';
export const OLDSYNC = 'https://identity.mozilla.com/apps/oldsync';

let counter = 0;
export function freshEmail(tag: string): string {
  return `${tag}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}@example.com`;
}

/** A confirmed account whose session is verified (sign-up code from the outbox). */
export async function verifiedUser(server: TestServer, dataDir: string, tag: string, password = 'correct horse battery'): Promise<TestUser> {
  const user = new TestUser(new FxaClient(server.url), freshEmail(tag), password);
  const created = await user.create();
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  const verified = await user.verify(await latestCode(dataDir, 'verifyShortCode', user.email));
  expect(verified.status, JSON.stringify(verified.body)).toBe(200);
  return user;
}

/** kB per user: the key-fetch token from sign-in works once, as Firefox's page finds too. */
const kBs = new WeakMap<TestUser, string>();

/** What Firefox holds while a sign-in page is open: its ephemeral key and PKCE verifier. */
export interface BrowserRequest {
  privateJwk: EcPrivateJwk;
  /** base64url(JSON) of the public key, as in the page URL. */
  keysJwk: string;
  verifier: string;
  challenge: string;
  state: string;
}

export async function browserRequest(): Promise<BrowserRequest> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as EcPrivateJwk;
  const keysJwk = b64urlEncode(new TextEncoder().encode(JSON.stringify({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y })));
  const verifier = b64urlEncode(randomBytes(32));
  return { privateJwk: jwk, keysJwk, verifier, challenge: await pkceChallenge(verifier), state: b64urlEncode(randomBytes(16)) };
}

/** The page's part: kB from /account/keys, scoped-key-data, keys_jwe, then a code. */
export async function pageAuthorize(
  user: TestUser,
  request: BrowserRequest,
  options: { scope?: string; clientId?: string; accessType?: 'online' | 'offline'; kB?: string } = {},
): Promise<{ res: FxaResponse; kB: string; keys: Record<string, ScopedKey> }> {
  const scope = options.scope ?? `profile ${OLDSYNC}`;
  const clientId = options.clientId ?? FIREFOX;
  let kB = options.kB ?? kBs.get(user);
  if (!kB) {
    const fetched = await user.fetchKB();
    expect(fetched.status, JSON.stringify(fetched.body)).toBe(200);
    kB = fetched.kB!;
    kBs.set(user, kB);
  }
  const keyData = await user.call('POST', '/account/scoped-key-data', { client_id: clientId, scope });
  expect(keyData.status, JSON.stringify(keyData.body)).toBe(200);
  const keys: Record<string, ScopedKey> = {};
  for (const [id, data] of Object.entries(keyData.body as Record<string, { keyRotationTimestamp: number }>)) {
    keys[id] = await oldsyncKey(hexToBytes(kB), data.keyRotationTimestamp);
  }
  const recipient = JSON.parse(Buffer.from(request.keysJwk, 'base64url').toString('utf8'));
  const body: Record<string, unknown> = {
    client_id: clientId,
    state: request.state,
    scope,
    access_type: options.accessType ?? 'offline',
    response_type: 'code',
    code_challenge_method: 'S256',
    code_challenge: request.challenge,
  };
  if (Object.keys(keys).length > 0) body.keys_jwe = await encryptKeysJwe(keys, recipient);
  const res = await user.call('POST', '/oauth/authorization', body);
  return { res, kB, keys };
}

/** Firefox's part after oauth_login: the code for tokens, and its keys decrypted. */
export async function browserExchange(user: TestUser, request: BrowserRequest, code: string, clientId = FIREFOX) {
  const res = await user.call('POST', '/oauth/token', { client_id: clientId, grant_type: 'authorization_code', code, code_verifier: request.verifier });
  const keys = res.status === 200 && res.body.keys_jwe ? await decryptKeysJwe(res.body.keys_jwe, request.privateJwk) : undefined;
  return { res, keys };
}

/** The everyday grant Firefox uses for Sync and profile tokens. */
export function credentialsToken(user: TestUser, scope: string, extra: Record<string, unknown> = {}) {
  return user.call('POST', '/oauth/token', { client_id: FIREFOX, grant_type: 'fxa-credentials', scope, ...extra });
}
