import type { Db } from '../db/index.js';
import type { SessionCredentials } from './auth.js';
import { consumeCode, findCodeTarget, numericCode, storeCode } from './codes.js';
import { deleteDevices, describeUserAgent, requireAccount, sendMail, sendNotice, withAccountLock, type AccountsContext, type RequestInfo } from './context.js';
import { refuseIfLimited } from './account.js';
import { errors } from './errors.js';
import { checkFirstConfirmation } from './registration.js';
import { notifyDevices } from './notify.js';

// Session state, sign-out and confirmation codes (fxa-auth.md 4.2, 4.3).

export async function sessionStatus(ctx: AccountsContext, session: SessionCredentials) {
  const account = await requireAccount(ctx.db, session.uid);
  const emailVerified = account.email_verified === 1;
  return {
    state: session.verified ? 'verified' : 'unverified',
    uid: session.uid,
    details: {
      accountEmailVerified: emailVerified,
      sessionVerificationMethod: session.verificationMethod,
      sessionVerified: session.verified,
      sessionVerificationMeetsMinimumAAL: true,
      verified: emailVerified && session.verified,
      mustVerify: !session.verified,
    },
  };
}

/** Delete a session with its device, telling the account's devices which one left. */
export async function destroySessionRows(ctx: AccountsContext, uid: string, sessionId: string): Promise<void> {
  const device = await ctx.db.selectFrom('devices').select('id').where('session_token_id', '=', sessionId).executeTakeFirst();
  const push = device ? await notifyDevices(ctx, uid, { version: 1, command: 'fxaccounts:device_disconnected', data: { id: device.id } }) : undefined;
  await withAccountLock(ctx, uid, async (trx) => {
    if (device) await deleteDevices(trx, [device.id]);
    await trx.deleteFrom('codes').where('uid', '=', uid).where('target', '=', sessionId).execute();
    await trx.deleteFrom('session_tokens').where('token_id', '=', sessionId).execute();
  });
  if (push) void push();
}

export async function destroySession(ctx: AccountsContext, session: SessionCredentials, customSessionToken?: string) {
  let target = session.id;
  if (customSessionToken !== undefined) {
    const other = await ctx.db.selectFrom('session_tokens').select(['token_id', 'uid']).where('token_id', '=', customSessionToken).executeTakeFirst();
    if (!other || other.uid !== session.uid) throw errors.invalidToken('Unknown session');
    target = other.token_id;
  }
  await destroySessionRows(ctx, session.uid, target);
  return {};
}

/** Mark a session (and its key-fetch tokens) verified; a sign-up code also verifies the e-mail. */
async function markVerified(trx: Db, uid: string, sessionId: string, verificationId: string | null, verifiesEmail: boolean): Promise<void> {
  await trx
    .updateTable('session_tokens')
    .set({ verification_id: null, verification_method: null, verification_reason: null, verified_at: Date.now() })
    .where('token_id', '=', sessionId)
    .execute();
  if (verificationId) await trx.updateTable('key_fetch_tokens').set({ verification_id: null }).where('verification_id', '=', verificationId).execute();
  if (verifiesEmail) await trx.updateTable('accounts').set({ email_verified: 1 }).where('uid', '=', uid).execute();
}

export async function verifySessionCode(ctx: AccountsContext, session: SessionCredentials, code: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'verifyCode', { ip: req.ip, uid: session.uid });
  const account = await requireAccount(ctx.db, session.uid);
  if (session.verified && account.email_verified) return {};
  const kind = session.verificationReason === 'signup' || !account.email_verified ? 'signup' : 'login';
  const ok = await withAccountLock(ctx, session.uid, async (trx) => {
    if (!(await consumeCode(trx, session.uid, kind, session.id, code))) return false;
    if (!account.email_verified) await checkFirstConfirmation(trx, ctx.database.engine, ctx.settings, session.uid);
    await markVerified(trx, session.uid, session.id, session.verificationId, true);
    return true;
  });
  if (!ok) throw errors.invalidOtp();
  if (kind === 'login') {
    sendNotice(ctx, { to: account.email, template: 'newDeviceLogin', locale: req.locale, params: { email: account.email, device: describeUserAgent(session.userAgent) } });
  }
  return {};
}

/** Send the pending session's code again (a new one; the old one stops working). */
export async function resendSessionCode(ctx: AccountsContext, session: SessionCredentials, req: RequestInfo) {
  const account = await requireAccount(ctx.db, session.uid);
  if (session.verified && account.email_verified) return {};
  await refuseIfLimited(ctx, 'sendCode', { ip: req.ip, email: account.normalized_email, uid: session.uid });
  const signup = session.verificationReason === 'signup' || !account.email_verified;
  const code = numericCode(6);
  await storeCode(ctx.db, session.uid, signup ? 'signup' : 'login', session.id, code);
  await sendMail(ctx, {
    to: account.email,
    template: signup ? 'verifyShortCode' : 'verifyLoginCode',
    locale: req.locale,
    params: { email: account.email, code, minutes: 30, device: describeUserAgent(session.userAgent) },
  });
  return {};
}

export async function recoveryEmailStatus(ctx: AccountsContext, session: SessionCredentials) {
  const account = await requireAccount(ctx.db, session.uid);
  const emailVerified = account.email_verified === 1;
  return { email: account.email, verified: emailVerified && session.verified, sessionVerified: session.verified, emailVerified };
}

/**
 * Confirm by uid and code without a session (a code opened on another device, or the legacy
 * 32-hex link code): find which pending code of the account it is.
 */
export async function verifyRecoveryEmailCode(ctx: AccountsContext, uid: string, code: string, req: RequestInfo) {
  await refuseIfLimited(ctx, 'verifyCode', { ip: req.ip, uid });
  const account = await ctx.db.selectFrom('accounts').select(['uid', 'email_verified']).where('uid', '=', uid).executeTakeFirst();
  if (!account) throw errors.unknownAccount();
  const found = await findCodeTarget(ctx.db, uid, ['signup', 'login'], code);
  if (!found) {
    // Count the miss against every pending code of the account, so guessing still runs out.
    const pending = await ctx.db.selectFrom('codes').select(['kind', 'target']).where('uid', '=', uid).where('kind', 'in', ['signup', 'login']).execute();
    for (const p of pending) await consumeCode(ctx.db, uid, p.kind as 'signup' | 'login', p.target, code);
    if (account.email_verified && pending.length === 0) return {};
    throw errors.invalidVerificationCode();
  }
  await withAccountLock(ctx, uid, async (trx) => {
    if (!(await consumeCode(trx, uid, found.kind, found.target, code))) throw errors.invalidVerificationCode();
    if (!account.email_verified) await checkFirstConfirmation(trx, ctx.database.engine, ctx.settings, uid);
    const session = await trx.selectFrom('session_tokens').select('verification_id').where('token_id', '=', found.target).executeTakeFirst();
    await markVerified(trx, uid, found.target, session?.verification_id ?? null, true);
  });
  return {};
}
