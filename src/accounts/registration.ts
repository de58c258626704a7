import { createHash, randomBytes } from 'node:crypto';
import type { AccountsSettings } from '../config.js';
import type { Db, Engine } from '../db/index.js';
import { sql } from '../db/kysely.js';
import { errors } from './errors.js';

// Who may create an account (FOXDEN_REGISTRATION): 'first' lets the first account in and then
// closes; 'open', 'closed'; 'invite' needs a code made with `foxden invite`; 'allowlist' takes
// listed addresses and @domains.

export const INVITE_LIFETIME_MS = 7 * 24 * 3600 * 1000;

function hashInvite(code: string): string {
  return createHash('sha256').update(code.trim()).digest('hex');
}

export async function createInvite(db: Db, options: { email?: string; lifetimeMs?: number } = {}): Promise<{ code: string; expiresAt: number }> {
  const code = randomBytes(16).toString('base64url');
  const now = Date.now();
  const expiresAt = now + (options.lifetimeMs ?? INVITE_LIFETIME_MS);
  await db
    .insertInto('invites')
    .values({ code_hash: hashInvite(code), email: options.email?.toLowerCase() ?? null, created_at: now, expires_at: expiresAt, used_at: null })
    .execute();
  return { code, expiresAt };
}

function allowlisted(list: string[], normalizedEmail: string): boolean {
  const domain = normalizedEmail.slice(normalizedEmail.lastIndexOf('@'));
  return list.some((entry) => (entry.startsWith('@') ? entry === domain : entry === normalizedEmail));
}

/**
 * Throws registrationClosed unless `normalizedEmail` may sign up. Runs inside the creating
 * transaction, so 'first' and a single-use invite cannot be raced; an invite is marked used there.
 */
export async function checkRegistration(trx: Db, settings: AccountsSettings, normalizedEmail: string, inviteCode: string | undefined): Promise<void> {
  switch (settings.registration) {
    case 'open':
      return;
    case 'closed':
      throw errors.registrationClosed();
    case 'allowlist':
      if (allowlisted(settings.registrationAllowlist, normalizedEmail)) return;
      throw errors.registrationClosed();
    case 'first': {
      // Only verified accounts count: an abandoned, never-confirmed sign-up must not lock the owner out.
      const any = await trx.selectFrom('accounts').select('uid').where('email_verified', '=', 1).limit(1).executeTakeFirst();
      if (!any) return;
      throw errors.registrationClosed();
    }
    case 'invite': {
      if (!inviteCode) throw errors.registrationClosed();
      const now = Date.now();
      const invite = await trx.selectFrom('invites').selectAll().where('code_hash', '=', hashInvite(inviteCode)).executeTakeFirst();
      if (!invite || invite.used_at !== null || Number(invite.expires_at) <= now || (invite.email !== null && invite.email !== normalizedEmail)) {
        throw errors.registrationClosed();
      }
      await trx.updateTable('invites').set({ used_at: now }).where('code_hash', '=', invite.code_hash).execute();
    }
  }
}

/**
 * Under 'first', confirming an address is what makes an account the owner: once one account is
 * confirmed, no other may be. Runs inside the confirming transaction; on PostgreSQL it also
 * takes a server-wide lock so two confirmations cannot both win (SQLite's write lock already is one).
 */
export async function checkFirstConfirmation(trx: Db, engine: Engine, settings: AccountsSettings, uid: string): Promise<void> {
  if (settings.registration !== 'first') return;
  if (engine === 'postgres') await sql`select pg_advisory_xact_lock(${0x666f78}, 2)`.execute(trx);
  const owner = await trx.selectFrom('accounts').select('uid').where('email_verified', '=', 1).where('uid', '!=', uid).limit(1).executeTakeFirst();
  if (owner) throw errors.registrationClosed();
}
