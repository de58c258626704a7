import { randomBytes, timingSafeEqual } from 'node:crypto';
import { randomKey, ServerBusyError, xorBuffers, type Stretched } from '../crypto/verifier.js';
import type { Db } from '../db/index.js';
import type { KeyFetchCredentials, SessionCredentials } from './auth.js';
import { alphanumericCode, consumeCode, numericCode, storeCode } from './codes.js';
import {
  accountByEmail,
  describeUserAgent,
  insertKeyFetchToken,
  insertSession,
  newUid,
  normalizeEmail,
  NO_CODE_TARGET,
  requireAccount,
  sendMail,
  sendNotice,
  withAccountLock,
  type Account,
  type AccountsContext,
  type RequestInfo,
} from './context.js';
import type { CustomsAction, CustomsSubject } from './customs.js';
import { errors } from './errors.js';
import { notifyDevices } from './notify.js';
import { checkRegistration } from './registration.js';

// Sign-up, sign-in, keys, status and deletion (fxa-auth.md 4.1).

/** Refuse at once, before any database work, when the password queue is full (a storm is on). */
export function admitPasswordCheck(ctx: AccountsContext): void {
  const retryAfter = ctx.pool.busyRetryAfter();
  if (retryAfter !== undefined) throw errors.serverBusy(retryAfter);
}

export async function stretch(ctx: AccountsContext, authPW: string, authSalt: string): Promise<Stretched> {
  try {
    return await ctx.pool.stretch(Buffer.from(authPW, 'hex'), Buffer.from(authSalt, 'hex'));
  } catch (err) {
    if (err instanceof ServerBusyError) throw errors.serverBusy(err.retryAfter);
    throw err;
  }
}

/** Check authPW against the stored verifier; returns the stretched values for key unwrapping. */
export async function checkPassword(ctx: AccountsContext, account: Account, authPW: string, req: RequestInfo): Promise<Stretched> {
  const stretched = await stretch(ctx, authPW, account.auth_salt);
  const stored = Buffer.from(account.verify_hash, 'hex');
  if (stored.length !== stretched.verifyHash.length || !timingSafeEqual(stored, stretched.verifyHash)) {
    await ctx.customs.flagPasswordFailure({ ip: req.ip, email: account.normalized_email, uid: account.uid });
    throw errors.incorrectPassword(account.email);
  }
  return stretched;
}

/** Count the attempt against the rate limits; 429 errno 114 when over. */
export async function refuseIfLimited(ctx: AccountsContext, action: CustomsAction, subject: CustomsSubject): Promise<void> {
  const verdict = await ctx.customs.check(action, subject);
  if (verdict) throw errors.tooManyRequests(verdict.retryAfter);
}

/** New random verifier material for authPW: salt, verifyHash and the wrapwrap key. */
export async function newVerifier(ctx: AccountsContext, authPW: string): Promise<{ authSalt: string; stretched: Stretched }> {
  const authSalt = randomBytes(32).toString('hex');
  return { authSalt, stretched: await stretch(ctx, authPW, authSalt) };
}

export interface CreateInput {
  email: string;
  authPW: string;
  keys: boolean;
  verificationMethod?: string;
  inviteCode?: string;
  service?: string;
}

export async function createAccount(ctx: AccountsContext, input: CreateInput, req: RequestInfo) {
  admitPasswordCheck(ctx);
  await refuseIfLimited(ctx, 'accountCreate', { ip: req.ip, email: input.email });
  const normalized = normalizeEmail(input.email);
  const existing = await accountByEmail(ctx.db, input.email);
  if (existing?.email_verified) throw errors.accountExists(existing.email);
  await refuseIfLimited(ctx, 'sendCode', { ip: req.ip, email: input.email });

  const { authSalt, stretched } = await newVerifier(ctx, input.authPW);
  const uid = newUid();
  const wrapWrapKb = randomKey();
  const now = Date.now();
  const account: Account = {
    uid,
    email: input.email,
    normalized_email: normalized,
    email_verified: 0,
    auth_salt: authSalt,
    verify_hash: stretched.verifyHash.toString('hex'),
    wrap_wrap_kb: wrapWrapKb.toString('hex'),
    ka: randomKey().toString('hex'),
    verifier_version: 1,
    verifier_set_at: now,
    keys_changed_at: now,
    profile_changed_at: now,
    created_at: now,
    locale: req.locale ?? null,
    display_name: null,
  };
  // Sign-up is always confirmed by a 6-digit code (the legacy link flow is gone upstream too).
  const code = numericCode(6);
  const created = await withAccountLock(ctx, uid, async (trx) => {
    const again = await trx.selectFrom('accounts').select(['uid', 'email_verified', 'email']).where('normalized_email', '=', normalized).executeTakeFirst();
    if (again?.email_verified) throw errors.accountExists(again.email);
    await checkRegistration(trx, ctx.settings, normalized, input.inviteCode);
    // An unconfirmed sign-up with this address is abandoned: start over, as upstream does.
    if (again) await deleteAccountRows(trx, again.uid);
    await trx.insertInto('accounts').values(account).execute();
    const session = await insertSession(trx, uid, req, { verified: false, reason: 'signup' });
    await storeCode(trx, uid, 'signup', session.token.id, code);
    const keyFetch = input.keys ? await insertKeyFetchToken(trx, account, xorBuffers(wrapWrapKb, stretched.wrapwrapKey), session.verificationId) : undefined;
    return { session, keyFetch };
  });
  try {
    await sendMail(ctx, {
      to: account.email,
      template: 'verifyShortCode',
      locale: req.locale,
      params: { email: account.email, code, minutes: 30 },
    });
  } catch (err) {
    // Without the code nobody can confirm it; leave nothing half-made behind.
    await withAccountLock(ctx, uid, (trx) => deleteAccountRows(trx, uid));
    throw err;
  }
  return {
    uid,
    sessionToken: created.session.token.data,
    ...(created.keyFetch ? { keyFetchToken: created.keyFetch.data } : {}),
    authAt: Math.floor(now / 1000),
    verificationMethod: 'email-otp',
  };
}

export interface LoginInput {
  email: string;
  authPW: string;
  keys: boolean;
  reason?: string;
  unblockCode?: string;
  originalLoginEmail?: string;
  skipCaseError?: boolean;
  verificationMethod?: string;
  service?: string;
}

/** A device we know: a confirmed session of this account from the same address and browser. */
async function knownDevice(ctx: AccountsContext, account: Account, req: RequestInfo): Promise<boolean> {
  const row = await ctx.db
    .selectFrom('session_tokens')
    .select('token_id')
    .where('uid', '=', account.uid)
    .where('verification_id', 'is', null)
    .where('ip', '=', req.ip)
    .where('user_agent', '=', req.userAgent.slice(0, 255))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

function needsConfirmation(ctx: AccountsContext, account: Account, input: LoginInput, known: boolean): boolean {
  if (!account.email_verified) return true;
  if (input.reason === 'password_check' || input.reason === 'password_change' || input.reason === 'account_delete') return false;
  const policy = ctx.settings.signinConfirmation;
  if (policy === 'never') return false;
  if (policy === 'always') return true;
  return !known;
}

export async function login(ctx: AccountsContext, input: LoginInput, req: RequestInfo) {
  admitPasswordCheck(ctx);
  const verdict = await ctx.customs.check('accountLogin', { ip: req.ip, email: input.email });
  if (verdict) {
    if (!verdict.unblockable) throw errors.tooManyRequests(verdict.retryAfter);
    if (!input.unblockCode) throw errors.requestBlocked(true);
  }
  const account = await accountByEmail(ctx.db, input.email);
  if (!account) throw errors.unknownAccount(input.email);
  if (verdict && !(await consumeCode(ctx.db, account.uid, 'unblock', NO_CODE_TARGET, input.unblockCode!))) throw errors.invalidUnblockCode();
  if (account.email !== input.email && !input.originalLoginEmail && !input.skipCaseError) throw errors.incorrectEmailCase(account.email);
  const stretched = await checkPassword(ctx, account, input.authPW, req);

  const known = await knownDevice(ctx, account, req);
  const confirm = needsConfirmation(ctx, account, input, known);
  const reason = account.email_verified ? 'login' : 'signup';
  const code = numericCode(6);
  if (confirm) await refuseIfLimited(ctx, 'sendCode', { ip: req.ip, email: account.normalized_email, uid: account.uid });
  const wrapKb = xorBuffers(Buffer.from(account.wrap_wrap_kb, 'hex'), stretched.wrapwrapKey);
  const { session, keyFetch } = await withAccountLock(ctx, account.uid, async (trx) => {
    await requireAccount(trx, account.uid);
    const session = await insertSession(trx, account.uid, req, { verified: !confirm, reason });
    if (confirm) await storeCode(trx, account.uid, reason, session.token.id, code);
    const keyFetch = input.keys ? await insertKeyFetchToken(trx, account, wrapKb, session.verificationId) : undefined;
    return { session, keyFetch };
  });
  const device = describeUserAgent(req.userAgent);
  if (confirm) {
    try {
      await sendMail(ctx, {
        to: account.email,
        template: reason === 'signup' ? 'verifyShortCode' : 'verifyLoginCode',
        locale: req.locale,
        params: { email: account.email, code, minutes: 30, device },
      });
    } catch (err) {
      await ctx.db.deleteFrom('session_tokens').where('token_id', '=', session.token.id).execute();
      throw err;
    }
  } else if (!known && input.reason !== 'password_check') {
    // A sign-in that needed no code from a device we have not seen: tell the owner.
    sendNotice(ctx, { to: account.email, template: 'newDeviceLogin', locale: req.locale, params: { email: account.email, device } });
  }
  return {
    uid: account.uid,
    sessionToken: session.token.data,
    ...(keyFetch ? { keyFetchToken: keyFetch.data } : {}),
    authAt: Math.floor(Date.now() / 1000),
    metricsEnabled: false,
    verified: !confirm && account.email_verified === 1,
    emailVerified: account.email_verified === 1,
    sessionVerified: !confirm,
    ...(confirm ? { verificationMethod: 'email-otp', verificationReason: reason } : {}),
  };
}

export async function accountExists(ctx: AccountsContext, query: { uid?: string; email?: string }, ip: string) {
  if (query.email !== undefined) {
    await refuseIfLimited(ctx, 'accountStatusCheck', { ip, email: query.email });
    const account = await accountByEmail(ctx.db, query.email);
    return account ? { exists: true, hasPassword: true, hasLinkedAccount: false } : { exists: false };
  }
  await refuseIfLimited(ctx, 'accountStatusCheck', { ip });
  const row = await ctx.db.selectFrom('accounts').select('uid').where('uid', '=', query.uid!).executeTakeFirst();
  return { exists: row !== undefined };
}

/** /account/keys: the bundle, once the key-fetch token's session is verified; the token is single use. */
export async function fetchKeys(ctx: AccountsContext, token: KeyFetchCredentials) {
  const account = await requireAccount(ctx.db, token.uid);
  if (!account.email_verified || token.verificationId !== null) throw errors.unverifiedAccount();
  const deleted = await ctx.db.deleteFrom('key_fetch_tokens').where('token_id', '=', token.id).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) throw errors.invalidToken();
  return { bundle: token.keyBundle };
}

/** Every row that belongs to an account, account included. */
export async function deleteAccountRows(trx: Db, uid: string): Promise<void> {
  for (const table of ['device_commands', 'session_tokens', 'key_fetch_tokens', 'account_tokens', 'codes', 'devices', 'refresh_tokens', 'oauth_codes', 'avatars'] as const) {
    await trx.deleteFrom(table).where('uid', '=', uid).execute();
  }
  await trx.deleteFrom('accounts').where('uid', '=', uid).execute();
}

export async function destroyAccount(ctx: AccountsContext, input: { email: string; authPW: string }, session: SessionCredentials | undefined, req: RequestInfo) {
  const account = await accountByEmail(ctx.db, input.email);
  if (!account) throw errors.unknownAccount(input.email);
  if (session && session.uid !== account.uid) throw errors.invalidToken('The session belongs to another account');
  await refuseIfLimited(ctx, 'accountDestroy', { ip: req.ip, email: account.normalized_email, uid: account.uid });
  await checkPassword(ctx, account, input.authPW, req);
  if (session && !session.verified) throw errors.unverifiedSession();
  const push = await notifyDevices(ctx, account.uid, { version: 1, command: 'fxaccounts:account_destroyed', data: { uid: account.uid } });
  await withAccountLock(ctx, account.uid, (trx) => deleteAccountRows(trx, account.uid));
  void push();
  if (ctx.onAccountDeleted) await ctx.onAccountDeleted(account.uid);
  ctx.log.info({ uid: account.uid }, 'account deleted');
  return {};
}

export async function accountProfile(ctx: AccountsContext, uid: string) {
  const account = await requireAccount(ctx.db, uid);
  return {
    email: account.email,
    locale: account.locale ?? undefined,
    authenticationMethods: ['pwd', 'email'],
    authenticatorAssuranceLevel: 1,
    profileChangedAt: Number(account.profile_changed_at),
    keysChangedAt: Number(account.keys_changed_at),
    metricsEnabled: false,
  };
}

export async function sendUnblockCode(ctx: AccountsContext, email: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'sendUnblockCode', { ip: req.ip, email });
  const account = await accountByEmail(ctx.db, email);
  // Answer the same whether or not the account exists.
  if (!account) return {};
  const code = alphanumericCode(8);
  await storeCode(ctx.db, account.uid, 'unblock', NO_CODE_TARGET, code);
  await sendMail(ctx, {
    to: account.email,
    template: 'unblockCode',
    locale: req.locale,
    params: { email: account.email, code, device: describeUserAgent(req.userAgent), minutes: 60 },
  });
  return {};
}

export async function rejectUnblockCode(ctx: AccountsContext, uid: string, code: string) {
  await consumeCode(ctx.db, uid, 'unblock', NO_CODE_TARGET, code);
  return {};
}
