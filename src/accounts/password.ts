import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { issueToken, type IssuedToken } from '../crypto/fxa-tokens.js';
import { randomKey, xorBuffers } from '../crypto/verifier.js';
import type { Db } from '../db/index.js';
import { checkPassword, newVerifier, refuseIfLimited } from './account.js';
import type { AccountTokenCredentials, SessionCredentials } from './auth.js';
import { consumeCode, numericCode, storeCode } from './codes.js';
import {
  accountByEmail,
  deleteDevices,
  insertKeyFetchToken,
  insertSession,
  NO_CODE_TARGET,
  requireAccount,
  sendMail,
  sendNotice,
  withAccountLock,
  type Account,
  type AccountsContext,
  type RequestInfo,
} from './context.js';
import { errors } from './errors.js';
import { notifyDevices } from './notify.js';

// Password change (same kB under a new password) and reset (new password, new kB) (fxa-auth.md 4.4, 1.7).

const PASSWORD_CHANGE_LIFETIME_MS = 15 * 60 * 1000;
const ACCOUNT_RESET_LIFETIME_MS = 15 * 60 * 1000;
const PASSWORD_FORGOT_LIFETIME_MS = 60 * 60 * 1000;
const PASSWORD_FORGOT_TRIES = 3;

async function insertAccountToken(
  trx: Db,
  kind: 'accountReset' | 'passwordChange' | 'passwordForgot',
  uid: string,
  lifetimeMs: number,
  codeHash: string | null = null,
): Promise<IssuedToken> {
  const type = `${kind}Token` as const;
  const token = issueToken(type);
  const now = Date.now();
  await trx
    .insertInto('account_tokens')
    .values({ token_id: token.id, kind, uid, auth_key: token.authKey, created_at: now, expires_at: now + lifetimeMs, code_hash: codeHash, tries: kind === 'passwordForgot' ? PASSWORD_FORGOT_TRIES : 0 })
    .execute();
  return token;
}

function hashPassCode(code: string): string {
  return createHash('sha256').update(code.toLowerCase()).digest('hex');
}

export async function passwordChangeStart(ctx: AccountsContext, input: { email: string; oldAuthPW: string }, session: SessionCredentials | undefined, req: RequestInfo) {
  await refuseIfLimited(ctx, 'passwordChange', { ip: req.ip, email: input.email });
  const account = await accountByEmail(ctx.db, input.email);
  if (!account) throw errors.unknownAccount(input.email);
  if (session && session.uid !== account.uid) throw errors.invalidToken('The session belongs to another account');
  if (account.email !== input.email) throw errors.incorrectEmailCase(account.email);
  const stretched = await checkPassword(ctx, account, input.oldAuthPW, req);
  if (session && !session.verified) throw errors.unverifiedSession();
  if (!account.email_verified) throw errors.unverifiedAccount();
  const wrapKb = xorBuffers(Buffer.from(account.wrap_wrap_kb, 'hex'), stretched.wrapwrapKey);
  const tokens = await withAccountLock(ctx, account.uid, async (trx) => ({
    keyFetch: await insertKeyFetchToken(trx, account, wrapKb, null),
    change: await insertAccountToken(trx, 'passwordChange', account.uid, PASSWORD_CHANGE_LIFETIME_MS),
  }));
  return { keyFetchToken: tokens.keyFetch.data, passwordChangeToken: tokens.change.data, verified: true };
}

/** Replace the verifier (and, on reset, kB), end sessions; the new session inherits `verified`. */
async function replaceCredentials(
  ctx: AccountsContext,
  account: Account,
  input: { authPW: string; wrapKb?: string },
  options: { keepSessionId?: string; newSession: boolean; keys: boolean; changeKeys: boolean },
  req: RequestInfo,
) {
  const { authSalt, stretched } = await newVerifier(ctx, input.authPW);
  const now = Date.now();
  // A change re-wraps the client's unchanged kB; a reset picks a new random one.
  const wrapKb = input.wrapKb ? Buffer.from(input.wrapKb, 'hex') : randomKey();
  const wrapWrapKb = xorBuffers(wrapKb, stretched.wrapwrapKey);
  const keepDevice = options.keepSessionId
    ? await ctx.db.selectFrom('devices').select('id').where('session_token_id', '=', options.keepSessionId).executeTakeFirst()
    : undefined;
  const push = await notifyDevices(
    ctx,
    account.uid,
    { version: 1, command: options.changeKeys ? 'fxaccounts:password_reset' : 'fxaccounts:password_changed' },
    { except: keepDevice ? [keepDevice.id] : [] },
  );
  const updated: Account = {
    ...account,
    auth_salt: authSalt,
    verify_hash: stretched.verifyHash.toString('hex'),
    wrap_wrap_kb: wrapWrapKb.toString('hex'),
    verifier_set_at: now,
    profile_changed_at: now,
    ...(options.changeKeys ? { keys_changed_at: now, email_verified: 1 } : {}),
  };
  const result = await withAccountLock(ctx, account.uid, async (trx) => {
    await trx
      .updateTable('accounts')
      .set({
        auth_salt: updated.auth_salt,
        verify_hash: updated.verify_hash,
        wrap_wrap_kb: updated.wrap_wrap_kb,
        verifier_set_at: now,
        profile_changed_at: now,
        keys_changed_at: updated.keys_changed_at,
        email_verified: updated.email_verified,
      })
      .where('uid', '=', account.uid)
      .execute();
    // Every other session and device ends; the caller's device moves to its new session.
    const devices = await trx.selectFrom('devices').select('id').where('uid', '=', account.uid).execute();
    await deleteDevices(trx, devices.map((d) => d.id).filter((id) => id !== keepDevice?.id));
    for (const table of ['session_tokens', 'key_fetch_tokens', 'account_tokens', 'codes', 'refresh_tokens', 'oauth_codes'] as const) {
      await trx.deleteFrom(table).where('uid', '=', account.uid).execute();
    }
    if (!options.newSession) return {};
    const session = await insertSession(trx, account.uid, req, { verified: true });
    if (keepDevice) await trx.updateTable('devices').set({ session_token_id: session.token.id }).where('id', '=', keepDevice.id).execute();
    const keyFetch = options.keys ? await insertKeyFetchToken(trx, updated, wrapKb, null) : undefined;
    return { session, keyFetch };
  });
  void push();
  if (!result.session) return {};
  return {
    uid: account.uid,
    sessionToken: result.session.token.data,
    ...(result.keyFetch ? { keyFetchToken: result.keyFetch.data } : {}),
    verified: true,
    authAt: Math.floor(now / 1000),
  };
}

export async function passwordChangeFinish(
  ctx: AccountsContext,
  token: AccountTokenCredentials,
  input: { authPW: string; wrapKb: string; sessionToken?: string },
  keys: boolean,
  req: RequestInfo,
) {
  const account = await requireAccount(ctx.db, token.uid);
  const used = await ctx.db.deleteFrom('account_tokens').where('token_id', '=', token.id).executeTakeFirst();
  if (Number(used.numDeletedRows) === 0) throw errors.invalidToken();
  let keepSessionId: string | undefined;
  if (input.sessionToken !== undefined) {
    const s = await ctx.db.selectFrom('session_tokens').select(['token_id', 'uid']).where('token_id', '=', input.sessionToken).executeTakeFirst();
    if (s?.uid === account.uid) keepSessionId = s.token_id;
  }
  const result = await replaceCredentials(ctx, account, input, { keepSessionId, newSession: true, keys, changeKeys: false }, req);
  sendNotice(ctx, { to: account.email, template: 'passwordChanged', locale: req.locale, params: { email: account.email } });
  return result;
}

export async function accountReset(
  ctx: AccountsContext,
  token: AccountTokenCredentials,
  input: { authPW: string; sessionToken?: boolean },
  keys: boolean,
  req: RequestInfo,
) {
  const account = await requireAccount(ctx.db, token.uid);
  const used = await ctx.db.deleteFrom('account_tokens').where('token_id', '=', token.id).executeTakeFirst();
  if (Number(used.numDeletedRows) === 0) throw errors.invalidToken();
  const result = await replaceCredentials(ctx, account, { authPW: input.authPW }, { newSession: input.sessionToken === true, keys, changeKeys: true }, req);
  await ctx.customs.resetEmail(account.normalized_email);
  ctx.log.info({ uid: account.uid }, 'password reset: account keys replaced');
  sendNotice(ctx, { to: account.email, template: 'passwordReset', locale: req.locale, params: { email: account.email } });
  return result;
}

// Forgot password, link flow: a passwordForgotToken plus a 32-hex code mailed to the user.

async function startForgot(ctx: AccountsContext, account: Account): Promise<{ token: IssuedToken; passCode: string }> {
  const passCode = randomBytes(16).toString('hex');
  const token = await withAccountLock(ctx, account.uid, (trx) =>
    insertAccountToken(trx, 'passwordForgot', account.uid, PASSWORD_FORGOT_LIFETIME_MS, hashPassCode(passCode)),
  );
  return { token, passCode };
}

export async function passwordForgotSendCode(ctx: AccountsContext, email: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'passwordForgotSendOtp', { ip: req.ip, email });
  const account = await accountByEmail(ctx.db, email);
  if (!account) throw errors.unknownAccount(email);
  const { token, passCode } = await startForgot(ctx, account);
  await sendMail(ctx, {
    to: account.email,
    template: 'recovery',
    locale: req.locale,
    params: { email: account.email, code: passCode, minutes: 60, link: { uid: account.uid, token: token.data } },
  });
  return { passwordForgotToken: token.data, ttl: PASSWORD_FORGOT_LIFETIME_MS / 1000, codeLength: 32, tries: PASSWORD_FORGOT_TRIES };
}

export async function passwordForgotResendCode(ctx: AccountsContext, token: AccountTokenCredentials, req: RequestInfo) {
  const account = await requireAccount(ctx.db, token.uid);
  await refuseIfLimited(ctx, 'passwordForgotSendOtp', { ip: req.ip, email: account.normalized_email });
  const passCode = randomBytes(16).toString('hex');
  await ctx.db.updateTable('account_tokens').set({ code_hash: hashPassCode(passCode) }).where('token_id', '=', token.id).execute();
  await sendMail(ctx, {
    to: account.email,
    template: 'recovery',
    locale: req.locale,
    // The mail carries the code alone: the link would need the token, which only the client holds.
    params: { email: account.email, code: passCode, minutes: 60 },
  });
  return { ttl: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)), codeLength: 32, tries: token.tries };
}

export async function passwordForgotStatus(token: AccountTokenCredentials) {
  return { tries: token.tries, ttl: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)) };
}

/** The passCode proves the mail was read: trade the forgot token for an account-reset token. */
export async function passwordForgotVerifyCode(ctx: AccountsContext, token: AccountTokenCredentials, code: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'passwordForgotVerifyOtp', { ip: req.ip, uid: token.uid });
  const expected = Buffer.from(token.codeHash ?? '', 'hex');
  const given = Buffer.from(hashPassCode(code), 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    if (token.tries <= 1) await ctx.db.deleteFrom('account_tokens').where('token_id', '=', token.id).execute();
    else await ctx.db.updateTable('account_tokens').set({ tries: token.tries - 1 }).where('token_id', '=', token.id).execute();
    throw errors.invalidVerificationCode();
  }
  const reset = await withAccountLock(ctx, token.uid, async (trx) => {
    const gone = await trx.deleteFrom('account_tokens').where('token_id', '=', token.id).executeTakeFirst();
    if (Number(gone.numDeletedRows) === 0) throw errors.invalidToken();
    return insertAccountToken(trx, 'accountReset', token.uid, ACCOUNT_RESET_LIFETIME_MS);
  });
  return { accountResetToken: reset.data };
}

// Forgot password, current OTP flow: an 8-digit code, then the same two steps as above.

export async function passwordForgotSendOtp(ctx: AccountsContext, email: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'passwordForgotSendOtp', { ip: req.ip, email });
  const account = await accountByEmail(ctx.db, email);
  // The same answer whether or not the account exists.
  if (!account) return {};
  const code = numericCode(8);
  await storeCode(ctx.db, account.uid, 'reset', NO_CODE_TARGET, code);
  await sendMail(ctx, { to: account.email, template: 'passwordForgotOtp', locale: req.locale, params: { email: account.email, code, minutes: 10 } });
  return {};
}

export async function passwordForgotVerifyOtp(ctx: AccountsContext, input: { email: string; code: string }, req: RequestInfo) {
  await refuseIfLimited(ctx, 'passwordForgotVerifyOtp', { ip: req.ip, email: input.email });
  const account = await accountByEmail(ctx.db, input.email);
  if (!account || !(await consumeCode(ctx.db, account.uid, 'reset', NO_CODE_TARGET, input.code))) throw errors.invalidOtp();
  const { token, passCode } = await startForgot(ctx, account);
  return { code: passCode, emailToHashWith: account.email, token: token.data, uid: account.uid };
}
