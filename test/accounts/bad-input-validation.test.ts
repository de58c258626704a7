import { beforeAll, describe, expect, it } from 'vitest';
import {
  accountState,
  expectFxaError,
  expectInvalid,
  expectMissing,
  freshEmail,
  serverErrors,
  useBadInputServer,
  verifiedUser,
} from '../helpers/bad-input.js';
import { TestUser, type FxaResponse } from '../helpers/fxa.js';
import { testEngines } from '../helpers/server.js';

// Bad request bodies and queries on every route of /auth/v1 that takes one: missing fields (108
// with `param`), unknown fields, wrong types, oversized values and malformed hex (107), broken
// JSON (106), bodies over 1 MB (413/113), legacy and unknown routes. After each batch the
// account reads back exactly as before and no e-mail address used in a refused sign-up exists.

const HEX16 = 'c0ffee00'.repeat(4);
const HEX32 = 'ab'.repeat(32);
const AUTHPW = 'de'.repeat(32);

/** A body, or a function of the test user for bodies that name the account. */
type Body = unknown | ((u: TestUser) => unknown);

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  body?: Body;
  /** Raw request text instead of a JSON body. */
  raw?: string;
  contentType?: string;
  /** Sign with the test user's session token. */
  session?: boolean;
  check: (res: FxaResponse) => void;
}

const missing = (param: string) => (res: FxaResponse) => expectMissing(res, param);
const invalid = (key?: string) => (res: FxaResponse) => expectInvalid(res, key);
const badJson = (res: FxaResponse) => expectFxaError(res, 400, 106);
const tooLarge = (res: FxaResponse) => expectFxaError(res, 413, 113);

/** E-mail addresses used in refused sign-ups: none may exist afterwards. */
const refusedSignups: string[] = [];
function signupEmail(): string {
  const e = freshEmail('refused');
  refusedSignups.push(e);
  return e;
}

const MISSING: Case[] = [
  { name: 'create without email', method: 'POST', path: '/account/create', body: { authPW: AUTHPW }, check: missing('email') },
  { name: 'create without authPW', method: 'POST', path: '/account/create', body: { email: signupEmail() }, check: missing('authPW') },
  { name: 'login without email', method: 'POST', path: '/account/login', body: { authPW: AUTHPW }, check: missing('email') },
  { name: 'login without authPW', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email }), check: missing('authPW') },
  { name: 'login with an empty body', method: 'POST', path: '/account/login', raw: '', contentType: 'application/json', check: missing('email') },
  { name: 'POST status without email', method: 'POST', path: '/account/status', body: {}, check: missing('email') },
  { name: 'GET status without uid', method: 'GET', path: '/account/status', check: missing('uid') },
  { name: 'destroy without authPW', method: 'POST', path: '/account/destroy', session: true, body: (u: TestUser) => ({ email: u.email }), check: missing('authPW') },
  { name: 'destroy without email', method: 'POST', path: '/account/destroy', session: true, body: { authPW: AUTHPW }, check: missing('email') },
  { name: 'send_unblock_code without email', method: 'POST', path: '/account/login/send_unblock_code', body: {}, check: missing('email') },
  { name: 'reject_unblock_code without code', method: 'POST', path: '/account/login/reject_unblock_code', body: { uid: HEX16 }, check: missing('unblockCode') },
  { name: 'reject_unblock_code without uid', method: 'POST', path: '/account/login/reject_unblock_code', body: { unblockCode: 'ABCD1234' }, check: missing('uid') },
  { name: 'session/verify_code without code', method: 'POST', path: '/session/verify_code', session: true, body: {}, check: missing('code') },
  { name: 'recovery_email/verify_code without code', method: 'POST', path: '/recovery_email/verify_code', body: { uid: HEX16 }, check: missing('code') },
  { name: 'recovery_email/verify_code without uid', method: 'POST', path: '/recovery_email/verify_code', body: { code: '123456' }, check: missing('uid') },
  { name: 'password/change/start without oldAuthPW', method: 'POST', path: '/password/change/start', session: true, body: (u: TestUser) => ({ email: u.email }), check: missing('oldAuthPW') },
  { name: 'password/forgot/send_code without email', method: 'POST', path: '/password/forgot/send_code', body: {}, check: missing('email') },
  { name: 'password/forgot/send_otp without email', method: 'POST', path: '/password/forgot/send_otp', body: {}, check: missing('email') },
  { name: 'password/forgot/verify_otp without code', method: 'POST', path: '/password/forgot/verify_otp', body: (u: TestUser) => ({ email: u.email }), check: missing('code') },
  { name: 'password/forgot/verify_otp without email', method: 'POST', path: '/password/forgot/verify_otp', body: { code: '12345678' }, check: missing('email') },
  { name: 'device/destroy without id', method: 'POST', path: '/account/device/destroy', session: true, body: {}, check: missing('id') },
  { name: 'invoke_command without payload', method: 'POST', path: '/account/devices/invoke_command', session: true, body: { target: HEX16, command: 'x' }, check: missing('payload') },
  { name: 'invoke_command without target', method: 'POST', path: '/account/devices/invoke_command', session: true, body: { command: 'x', payload: {} }, check: missing('target') },
  { name: 'notify without to', method: 'POST', path: '/account/devices/notify', session: true, body: { payload: { version: 1, command: 'a:b' } }, check: missing('to') },
  { name: 'notify without payload', method: 'POST', path: '/account/devices/notify', session: true, body: { to: 'all' }, check: missing('payload') },
  { name: 'notify payload without version', method: 'POST', path: '/account/devices/notify', session: true, body: { to: 'all', payload: { command: 'a:b' } }, check: missing('payload.version') },
  { name: 'attached_client/destroy with nothing to destroy', method: 'POST', path: '/account/attached_client/destroy', session: true, body: {}, check: missing('deviceId') },
];

const EXTRA: Case[] = [
  { name: 'create', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, bogus: 1 }), check: invalid('bogus') },
  { name: 'create ?bogus', method: 'POST', path: '/account/create?bogus=1', body: () => ({ email: signupEmail(), authPW: AUTHPW }), check: invalid('bogus') },
  { name: 'login', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, bogus: true }), check: invalid('bogus') },
  { name: 'login ?bogus', method: 'POST', path: '/account/login?bogus=1', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW }), check: invalid('bogus') },
  { name: 'POST status', method: 'POST', path: '/account/status', body: (u: TestUser) => ({ email: u.email, bogus: 'x' }), check: invalid('bogus') },
  { name: 'GET status ?bogus', method: 'GET', path: `/account/status?uid=${HEX16}&bogus=1`, check: invalid('bogus') },
  { name: 'destroy', method: 'POST', path: '/account/destroy', session: true, body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, bogus: 1 }), check: invalid('bogus') },
  { name: 'send_unblock_code', method: 'POST', path: '/account/login/send_unblock_code', body: (u: TestUser) => ({ email: u.email, bogus: 1 }), check: invalid('bogus') },
  { name: 'reject_unblock_code', method: 'POST', path: '/account/login/reject_unblock_code', body: { uid: HEX16, unblockCode: 'ABCD1234', bogus: 1 }, check: invalid('bogus') },
  { name: 'session/destroy', method: 'POST', path: '/session/destroy', session: true, body: { bogus: 1 }, check: invalid('bogus') },
  { name: 'session/verify_code', method: 'POST', path: '/session/verify_code', session: true, body: { code: '123456', bogus: 1 }, check: invalid('bogus') },
  { name: 'session/resend_code', method: 'POST', path: '/session/resend_code', session: true, body: { bogus: 1 }, check: invalid('bogus') },
  { name: 'recovery_email/resend_code', method: 'POST', path: '/recovery_email/resend_code', session: true, body: { bogus: 1 }, check: invalid('bogus') },
  { name: 'recovery_email/verify_code', method: 'POST', path: '/recovery_email/verify_code', body: { uid: HEX16, code: '123456', bogus: 1 }, check: invalid('bogus') },
  { name: 'password/change/start', method: 'POST', path: '/password/change/start', session: true, body: (u: TestUser) => ({ email: u.email, oldAuthPW: AUTHPW, bogus: 1 }), check: invalid('bogus') },
  { name: 'password/forgot/send_code', method: 'POST', path: '/password/forgot/send_code', body: (u: TestUser) => ({ email: u.email, bogus: 1 }), check: invalid('bogus') },
  { name: 'password/forgot/send_otp', method: 'POST', path: '/password/forgot/send_otp', body: (u: TestUser) => ({ email: u.email, bogus: 1 }), check: invalid('bogus') },
  { name: 'password/forgot/verify_otp', method: 'POST', path: '/password/forgot/verify_otp', body: (u: TestUser) => ({ email: u.email, code: '12345678', bogus: 1 }), check: invalid('bogus') },
  { name: 'device', method: 'POST', path: '/account/device', session: true, body: { name: 'x', bogus: 1 }, check: invalid('bogus') },
  { name: 'devices ?bogus', method: 'GET', path: '/account/devices?bogus=1', session: true, check: invalid('bogus') },
  { name: 'device/destroy', method: 'POST', path: '/account/device/destroy', session: true, body: { id: HEX16, bogus: 1 }, check: invalid('bogus') },
  { name: 'device/commands ?bogus', method: 'GET', path: '/account/device/commands?index=0&bogus=1', session: true, check: invalid('bogus') },
  { name: 'invoke_command', method: 'POST', path: '/account/devices/invoke_command', session: true, body: { target: HEX16, command: 'x', payload: {}, bogus: 1 }, check: invalid('bogus') },
  { name: 'notify', method: 'POST', path: '/account/devices/notify', session: true, body: { to: 'all', payload: { version: 1, command: 'a:b' }, bogus: 1 }, check: invalid('bogus') },
  { name: 'notify payload', method: 'POST', path: '/account/devices/notify', session: true, body: { to: 'all', payload: { version: 1, command: 'a:b', bogus: 1 } }, check: invalid('bogus') },
  { name: 'attached_client/destroy', method: 'POST', path: '/account/attached_client/destroy', session: true, body: { bogus: 1 }, check: invalid('bogus') },
  { name: 'recoveryKey/exists', method: 'POST', path: '/recoveryKey/exists', body: { bogus: 1 }, check: invalid('bogus') },
  { name: '__proto__ as a field', method: 'POST', path: '/account/status', raw: '{"__proto__":{"admin":true},"email":"a@example.com"}', check: invalid('__proto__') },
];

const NUL_EMAIL = 'a\u0000b@example.com';
const longEmail = (length: number) => `${'a'.repeat(64)}@${'b'.repeat(length - 64 - 1 - 4)}.com`;

const WRONG: Case[] = [
  // Types
  { name: 'email as a number', method: 'POST', path: '/account/create', body: { email: 42, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email null', method: 'POST', path: '/account/create', body: { email: null, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email as an object', method: 'POST', path: '/account/login', body: { email: {}, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email as an array', method: 'POST', path: '/account/status', body: { email: ['a@example.com'] }, check: invalid('email') },
  { name: 'authPW as a number', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: 123 }), check: invalid('authPW') },
  { name: 'authPW null', method: 'POST', path: '/account/destroy', session: true, body: (u: TestUser) => ({ email: u.email, authPW: null }), check: invalid('authPW') },
  { name: 'metricsContext as an array', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, metricsContext: [] }), check: invalid('metricsContext') },
  { name: 'metricsContext as a string', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, metricsContext: 'x' }), check: invalid('metricsContext') },
  { name: 'preVerified as a string', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, preVerified: 'yes' }), check: invalid('preVerified') },
  { name: 'preVerified true (not accepted)', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, preVerified: true }), check: invalid('preVerified') },
  { name: 'verificationMethod unknown', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, verificationMethod: 'carrier-pigeon' }), check: invalid('verificationMethod') },
  { name: 'reason unknown', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, reason: 'because' }), check: invalid('reason') },
  { name: 'unblockCode as a number', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, unblockCode: 12345678 }), check: invalid('unblockCode') },
  { name: 'unblockCode too short', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, unblockCode: 'ABC' }), check: invalid('unblockCode') },
  { name: 'verify code as a number', method: 'POST', path: '/session/verify_code', session: true, body: { code: 123456 }, check: invalid('code') },
  { name: 'verify code of 5 digits', method: 'POST', path: '/session/verify_code', session: true, body: { code: '12345' }, check: invalid('code') },
  { name: 'verify code with letters', method: 'POST', path: '/session/verify_code', session: true, body: { code: '12345a' }, check: invalid('code') },
  { name: 'forgot OTP of 7 digits', method: 'POST', path: '/password/forgot/verify_otp', body: (u: TestUser) => ({ email: u.email, code: '1234567' }), check: invalid('code') },
  { name: 'link code not hex', method: 'POST', path: '/recovery_email/verify_code', body: { uid: HEX16, code: 'z'.repeat(32) }, check: invalid('code') },
  { name: 'customSessionToken as a number', method: 'POST', path: '/session/destroy', session: true, body: { customSessionToken: 42 }, check: invalid('customSessionToken') },
  { name: 'keys=maybe', method: 'POST', path: '/account/login?keys=maybe', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW }), check: invalid('keys') },
  { name: 'uid twice in the query', method: 'GET', path: `/account/status?uid=${HEX16}&uid=${HEX16}`, check: invalid('uid') },
  { name: 'filterIdleDevicesTimestamp not a number', method: 'GET', path: '/account/devices?filterIdleDevicesTimestamp=yesterday', session: true, check: invalid('filterIdleDevicesTimestamp') },
  { name: 'filterIdleDevicesTimestamp negative', method: 'GET', path: '/account/devices?filterIdleDevicesTimestamp=-1', session: true, check: invalid('filterIdleDevicesTimestamp') },
  // Sizes
  { name: 'email of 256 characters', method: 'POST', path: '/account/create', body: { email: longEmail(256), authPW: AUTHPW }, check: invalid('email') },
  { name: 'email of 256 characters (login)', method: 'POST', path: '/account/login', body: { email: longEmail(256), authPW: AUTHPW }, check: invalid('email') },
  { name: 'email of 256 characters (status)', method: 'POST', path: '/account/status', body: { email: longEmail(256) }, check: invalid('email') },
  { name: 'not an e-mail address', method: 'POST', path: '/account/create', body: { email: 'not-an-email', authPW: AUTHPW }, check: invalid('email') },
  // PostgreSQL refuses NUL in text: these must be 107, never reach a query and never 500.
  { name: 'email with NUL (create)', method: 'POST', path: '/account/create', body: { email: NUL_EMAIL, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email with NUL (login)', method: 'POST', path: '/account/login', body: { email: NUL_EMAIL, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email with NUL (status)', method: 'POST', path: '/account/status', body: { email: NUL_EMAIL }, check: invalid('email') },
  { name: 'email with NUL (send_unblock_code)', method: 'POST', path: '/account/login/send_unblock_code', body: { email: NUL_EMAIL }, check: invalid('email') },
  { name: 'email with NUL (send_otp)', method: 'POST', path: '/password/forgot/send_otp', body: { email: NUL_EMAIL }, check: invalid('email') },
  { name: 'email with NUL (verify_otp)', method: 'POST', path: '/password/forgot/verify_otp', body: { email: NUL_EMAIL, code: '12345678' }, check: invalid('email') },
  { name: 'email with NUL (send_code)', method: 'POST', path: '/password/forgot/send_code', body: { email: NUL_EMAIL }, check: invalid('email') },
  { name: 'email with NUL (destroy)', method: 'POST', path: '/account/destroy', session: true, body: { email: NUL_EMAIL, authPW: AUTHPW }, check: invalid('email') },
  { name: 'email with NUL (change/start)', method: 'POST', path: '/password/change/start', session: true, body: { email: NUL_EMAIL, oldAuthPW: AUTHPW }, check: invalid('email') },
  { name: 'email with a control character in the domain', method: 'POST', path: '/account/status', body: { email: 'a@exa\u0007mple.com' }, check: invalid('email') },
  { name: 'email with a lone surrogate', method: 'POST', path: '/account/create', body: { email: 'a\uD800b@example.com', authPW: AUTHPW }, check: invalid('email') },
  { name: 'redirectTo of 2049', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, redirectTo: 'x'.repeat(2049) }), check: invalid('redirectTo') },
  { name: 'service of 65', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW, service: 's'.repeat(65) }), check: invalid('service') },
  { name: 'service with a slash', method: 'POST', path: '/account/login?service=a/b', body: (u: TestUser) => ({ email: u.email, authPW: AUTHPW }), check: invalid('service') },
  { name: 'inviteCode of 101', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW, inviteCode: 'i'.repeat(101) }), check: invalid('inviteCode') },
  // Hex
  { name: 'authPW of 63 hex', method: 'POST', path: '/account/create', body: () => ({ email: signupEmail(), authPW: AUTHPW.slice(1) }), check: invalid('authPW') },
  { name: 'authPW of 65 hex', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: `${AUTHPW}0` }), check: invalid('authPW') },
  { name: 'authPW not hex', method: 'POST', path: '/account/login', body: (u: TestUser) => ({ email: u.email, authPW: 'zz'.repeat(32) }), check: invalid('authPW') },
  { name: 'authPW with spaces', method: 'POST', path: '/account/destroy', session: true, body: (u: TestUser) => ({ email: u.email, authPW: ` ${AUTHPW.slice(2)} ` }), check: invalid('authPW') },
  { name: 'oldAuthPW not hex', method: 'POST', path: '/password/change/start', session: true, body: (u: TestUser) => ({ email: u.email, oldAuthPW: 'g'.repeat(64) }), check: invalid('oldAuthPW') },
  { name: 'uid of 31 hex', method: 'GET', path: `/account/status?uid=${HEX16.slice(1)}`, check: invalid('uid') },
  { name: 'uid not hex', method: 'POST', path: '/account/login/reject_unblock_code', body: { uid: 'x'.repeat(32), unblockCode: 'ABCD1234' }, check: invalid('uid') },
  { name: 'customSessionToken of 63 hex', method: 'POST', path: '/session/destroy', session: true, body: { customSessionToken: HEX32.slice(1) }, check: invalid('customSessionToken') },
  { name: 'device id not hex', method: 'POST', path: '/account/device/destroy', session: true, body: { id: 'q'.repeat(32) }, check: invalid('id') },
  { name: 'sessionTokenId of 63 hex', method: 'POST', path: '/account/attached_client/destroy', session: true, body: { sessionTokenId: HEX32.slice(1) }, check: invalid('sessionTokenId') },
];

const BODIES: Case[] = [
  { name: 'truncated JSON', method: 'POST', path: '/account/login', raw: '{"email":', check: badJson },
  { name: 'unquoted keys', method: 'POST', path: '/account/status', raw: '{email: "a@example.com"}', check: badJson },
  { name: 'trailing comma', method: 'POST', path: '/account/create', raw: '{"email":"a@example.com",}', check: badJson },
  { name: 'JSON with trailing garbage', method: 'POST', path: '/password/forgot/send_otp', raw: '{"email":"a@example.com"} x', check: badJson },
  { name: 'form-encoded body', method: 'POST', path: '/account/login', raw: 'email=a%40example.com', contentType: 'application/x-www-form-urlencoded', check: badJson },
  { name: 'invalid JSON, signed', method: 'POST', path: '/account/device', session: true, raw: '{"name":', check: badJson },
  { name: 'invalid JSON on session/destroy', method: 'POST', path: '/session/destroy', session: true, raw: '{', check: badJson },
  { name: 'JSON array', method: 'POST', path: '/account/login', raw: '[]', check: invalid() },
  { name: 'JSON string', method: 'POST', path: '/account/create', raw: '"a@example.com"', check: invalid() },
  { name: 'JSON number', method: 'POST', path: '/account/status', raw: '42', check: invalid() },
  { name: 'JSON true', method: 'POST', path: '/password/forgot/send_otp', raw: 'true', check: invalid() },
  { name: 'JSON array, signed', method: 'POST', path: '/account/device', session: true, raw: '[{"name":"x"}]', check: invalid() },
  { name: 'JSON string, signed', method: 'POST', path: '/account/devices/notify', session: true, raw: '"all"', check: invalid() },
  { name: 'body over 1 MB', method: 'POST', path: '/account/login', body: { email: 'a@example.com', authPW: 'a'.repeat(1024 * 1024) }, check: tooLarge },
  { name: 'body over 1 MB, signed', method: 'POST', path: '/account/device', session: true, body: { name: 'n'.repeat(1024 * 1024 + 16) }, check: tooLarge },
];

describe.each(await testEngines())('bad input: bodies and queries (%s)', (engine) => {
  const env = useBadInputServer(engine);
  let user: TestUser;
  let before: Record<string, unknown>;

  beforeAll(async () => {
    user = await verifiedUser(env, 'validation');
    before = await accountState(user);
  });

  async function send(c: Case): Promise<FxaResponse> {
    const body = typeof c.body === 'function' ? (c.body as (u: TestUser) => unknown)(user) : c.body;
    const options = { ...(c.raw !== undefined ? { rawBody: c.raw } : {}), ...(c.contentType ? { contentType: c.contentType } : {}) };
    return c.session ? user.call(c.method, c.path, body, options) : env.client.call(c.method, c.path, body, options);
  }

  const groups: [string, Case[]][] = [
    ['missing fields → 400/108 with param', MISSING],
    ['unknown fields → 400/107', EXTRA],
    ['wrong types, sizes and hex → 400/107', WRONG],
    ['malformed bodies → 106/107/413', BODIES],
  ];
  describe.each(groups)('%s', (_label, cases) => {
    it.each(cases)('$name ($method $path)', async (c) => {
      c.check(await send(c));
    });

    it('left the account as it was', async () => {
      expect(await accountState(user)).toEqual(before);
    });
  });

  it('an address of 255 characters, or with non-ASCII letters, passes (POST /account/status)', async () => {
    const ok = await env.client.call('POST', '/account/status', { email: longEmail(255) });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ exists: false });
    const unicode = await env.client.call('POST', '/account/status', { email: 'ü😀@exämple.com' });
    expect(unicode.status).toBe(200);
  });

  it('created no account for any refused sign-up', async () => {
    expect(refusedSignups.length).toBeGreaterThan(5);
    for (const email of new Set(refusedSignups)) {
      const res = await env.client.call('POST', '/account/status', { email });
      expect(res.body, email).toEqual({ exists: false });
    }
  });

  it('answers 410/116 on legacy routes', async () => {
    for (const path of ['/certificate/sign', '/get_random_bytes', '/account/lock', '/account/unlock/resend_code', '/account/unlock/verify_code']) {
      const body = path === '/certificate/sign' ? { publicKey: { algorithm: 'RS', n: '1', e: '65537' }, duration: 86400000 } : {};
      expectFxaError(await user.call('POST', path, body), 410, 116);
    }
  });

  it('answers 404 in FxA shape on unknown routes and methods', async () => {
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/account/nope'],
      ['GET', '/certificate/sign'],
      ['GET', '/account/create'],
      ['POST', '/session/status'],
      ['GET', '/'],
    ] as const) {
      const res = await env.client.call(method, path, method === 'POST' ? {} : undefined);
      expectFxaError(res, 404, 999);
    }
  });

  it('answers a body without Content-Type with an FxA 4xx', async () => {
    const res = await env.client.call('POST', '/account/status', undefined, { rawBody: JSON.stringify({ email: user.email }), contentType: '' });
    // Fastify refuses a body with no media type (415); upstream's hapi would read it as JSON.
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).toMatchObject({ code: res.status, error: expect.any(String), errno: expect.any(Number) });
  });

  it('takes an empty body with Content-Type application/json on /session/resend_code and /session/destroy', async () => {
    const resend = await user.call('POST', '/session/resend_code', undefined, { rawBody: '', contentType: 'application/json' });
    expect(resend.status, JSON.stringify(resend.body)).toBe(200);
    expect(await accountState(user)).toEqual(before);

    // A second session (this login also proves the password still works), signed out as Firefox does it.
    const other = new TestUser(env.client, user.email, user.password);
    const login = await other.login();
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect((await other.call('GET', '/session/status')).status).toBe(200);
    const out = await other.call('POST', '/session/destroy?service=sync', undefined, { rawBody: '', contentType: 'application/json' });
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect(out.body).toEqual({});
    expectFxaError(await other.call('GET', '/session/status'), 401, 110);
    expect(await accountState(user)).toEqual(before);
  });
});

it('answered no request of this file with a 5xx', () => {
  expect(serverErrors()).toEqual([]);
});
