import { randomBytes } from 'node:crypto';
import type { AccountsSettings } from '../config.js';
import { bundleKeysFor } from '../crypto/onepw.js';
import { issueToken, type IssuedToken } from '../crypto/fxa-tokens.js';
import type { ScryptPool } from '../crypto/verifier.js';
import { writeTransaction, type Database, type Db } from '../db/index.js';
import type { Mailer, MailMessage } from '../mail/mailer.js';
import type { Customs } from './customs.js';
import { errors } from './errors.js';
import type { PushSender } from './push.js';
import type { AccountsTable } from '../db/schema.js';

// What every accounts operation needs, and the few steps several of them share.

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AccountsContext {
  database: Database;
  db: Db;
  settings: AccountsSettings;
  pool: ScryptPool;
  mailer: Mailer;
  customs: Customs;
  push: PushSender;
  /** FOXDEN_PUBLIC_URL without a trailing slash; undefined = take the origin from each request. */
  publicBase: string | undefined;
  log: Logger;
  /** Called after an account is deleted or its keys change, so Sync data can go too. */
  onAccountDeleted?: (uid: string) => Promise<void>;
  /** The display name of an OAuth client, for attached clients. */
  clientName?: (clientId: string) => string | undefined;
}

/** Per-request facts the operations need. */
export interface RequestInfo {
  ip: string;
  /** The public URL, or the origin this request was sent to: the base of URLs handed to clients. */
  origin: string;
  userAgent: string;
  locale?: string;
}

export type Account = AccountsTable;

export const NO_CODE_TARGET = '';

/** Advisory lock key of an account: negative, so it never meets a storage uid's key. */
export function accountLockKey(uid: string): number {
  return -(parseInt(uid.slice(0, 12), 16) + 1);
}

export function withAccountLock<T>(ctx: AccountsContext, uid: string, fn: (trx: Db) => Promise<T>): Promise<T> {
  return writeTransaction(ctx.database, accountLockKey(uid), fn);
}

export function newUid(): string {
  return randomBytes(16).toString('hex');
}

export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

export async function accountByEmail(db: Db, email: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('normalized_email', '=', normalizeEmail(email)).executeTakeFirst();
}

export async function accountByUid(db: Db, uid: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('uid', '=', uid).executeTakeFirst();
}

export async function requireAccount(db: Db, uid: string): Promise<Account> {
  const account = await accountByUid(db, uid);
  // The token outlived its account (deleted meanwhile): the token is as good as gone.
  if (!account) throw errors.invalidToken('The account for this token no longer exists');
  return account;
}

export interface NewSession {
  token: IssuedToken;
  verificationId: string | null;
}

/** Insert a session; `verified` false leaves it waiting for a code under a fresh verification id. */
export async function insertSession(
  trx: Db,
  uid: string,
  req: RequestInfo,
  options: { verified: boolean; reason?: 'signup' | 'login'; method?: string },
): Promise<NewSession> {
  const token = issueToken('sessionToken');
  const now = Date.now();
  const verificationId = options.verified ? null : randomBytes(16).toString('hex');
  await trx
    .insertInto('session_tokens')
    .values({
      token_id: token.id,
      uid,
      auth_key: token.authKey,
      created_at: now,
      last_access_at: now,
      auth_at: Math.floor(now / 1000),
      user_agent: req.userAgent.slice(0, 255),
      ip: req.ip,
      verification_id: verificationId,
      verification_method: options.verified ? null : (options.method ?? 'email-otp'),
      verification_reason: options.verified ? null : (options.reason ?? 'login'),
      verified_at: options.verified ? now : null,
    })
    .execute();
  return { token, verificationId };
}

/** A single-use key-fetch token whose bundle holds kA and wrapKb, bound to a session's verification state. */
export async function insertKeyFetchToken(trx: Db, account: Account, wrapKb: Buffer, verificationId: string | null): Promise<IssuedToken> {
  const token = issueToken('keyFetchToken');
  const keyBundle = await bundleKeysFor(Buffer.from(token.bundleKey, 'hex'), { kA: Buffer.from(account.ka, 'hex'), wrapKb });
  await trx
    .insertInto('key_fetch_tokens')
    .values({ token_id: token.id, uid: account.uid, auth_key: token.authKey, key_bundle: keyBundle, verification_id: verificationId, created_at: Date.now() })
    .execute();
  return token;
}

/** Delete devices together with the commands queued for them. */
export async function deleteDevices(trx: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await trx.deleteFrom('device_commands').where('device_id', 'in', ids).execute();
  await trx.deleteFrom('devices').where('id', 'in', ids).execute();
}

/** Send a mail; a failure becomes errno 151 for the caller. */
export async function sendMail(ctx: AccountsContext, message: MailMessage): Promise<void> {
  try {
    await ctx.mailer.send(message);
  } catch (err) {
    ctx.log.warn({ template: message.template, reason: (err as Error).message }, 'mail could not be sent');
    throw errors.emailSendFailed();
  }
}

/** Send a notice whose failure must not fail the request (it is already done). */
export function sendNotice(ctx: AccountsContext, message: MailMessage): void {
  ctx.mailer.send(message).catch((err: Error) => ctx.log.warn({ template: message.template, reason: err.message }, 'notice mail could not be sent'));
}

/** "Firefox on Linux"-style description of a user agent, for mails. */
export function describeUserAgent(ua: string): string {
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : /Mobile/.test(ua) ? 'a mobile app' : 'a browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad|iOS/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}
