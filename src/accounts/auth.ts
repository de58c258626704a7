import type { FastifyRequest } from 'fastify';
import { storedTokenHash } from '../crypto/fxa-tokens.js';
import { computeMac, macMatches, parseHawkHeader, payloadHash } from '../crypto/hawk.js';
import type { Db } from '../db/index.js';
import { signedOrigin, signedResource } from '../public-url.js';
import { errors } from './errors.js';
import { REFRESH_TOKEN_IDLE_MS } from './prune.js';

// Hawk with onepw tokens (fxa-auth.md 3.1). As the spec recommends: the MAC is always checked,
// over the public host and port; the timestamp is not (clients in the wild drift by days, and
// the MAC already binds the request); the payload hash is checked whenever a body and a hash
// come together. Device routes also take an OAuth refresh token as Bearer.

export type TokenKind = 'sessionToken' | 'keyFetchToken' | 'accountResetToken' | 'passwordChangeToken' | 'passwordForgotToken';

export interface SessionCredentials {
  kind: 'sessionToken';
  id: string;
  uid: string;
  verified: boolean;
  verificationId: string | null;
  verificationMethod: string | null;
  verificationReason: string | null;
  createdAt: number;
  lastAccessAt: number;
  authAt: number;
  userAgent: string;
}

export interface KeyFetchCredentials {
  kind: 'keyFetchToken';
  id: string;
  uid: string;
  keyBundle: string;
  verificationId: string | null;
}

export interface AccountTokenCredentials {
  kind: 'accountResetToken' | 'passwordChangeToken' | 'passwordForgotToken';
  id: string;
  uid: string;
  codeHash: string | null;
  tries: number;
  expiresAt: number;
}

export interface RefreshCredentials {
  kind: 'refreshToken';
  /** SHA-256 of the token, hex: its id everywhere else. */
  id: string;
  uid: string;
  clientId: string;
  scope: string;
}

export type Credentials = SessionCredentials | KeyFetchCredentials | AccountTokenCredentials | RefreshCredentials;

const ACCOUNT_TOKEN_KINDS = {
  accountResetToken: 'accountReset',
  passwordChangeToken: 'passwordChange',
  passwordForgotToken: 'passwordForgot',
} as const;

/** How long a session's last-access time may lag before a request writes it again. */
const ACCESS_WRITE_INTERVAL_MS = 10 * 60 * 1000;

export class AccountsAuthenticator {
  constructor(
    private readonly db: Db,
    private readonly publicUrl: URL | undefined,
  ) {}

  /** Authenticate with one of `kinds`; refresh tokens only when `allowRefresh`. */
  async authenticate(req: FastifyRequest, kinds: TokenKind[], allowRefresh = false): Promise<Credentials> {
    const header = req.headers.authorization;
    if (allowRefresh && header && /^bearer\s/i.test(header)) return this.refresh(header.slice(7).trim());
    const attrs = parseHawkHeader(header);
    if (!attrs) throw errors.invalidToken(header ? 'Malformed Hawk header' : 'Missing authentication');
    if (!/^[0-9a-f]{64}$/.test(attrs.id)) throw errors.invalidToken();
    for (const kind of kinds) {
      const found = await this.lookup(kind, attrs.id);
      if (!found) continue;
      const { host, port } = signedOrigin(this.publicUrl, req);
      const resource = signedResource(this.publicUrl, req);
      const expected = computeMac(Buffer.from(found.authKey, 'hex'), { method: req.method, resource, host, port }, attrs);
      if (!macMatches(expected, attrs.mac)) throw errors.invalidSignature();
      req.hawkHash = attrs.hash;
      if (found.credentials.kind === 'sessionToken') await this.touch(found.credentials, req);
      return found.credentials;
    }
    throw errors.invalidToken();
  }

  /** A signed payload hash must match the raw body (when both are there). */
  checkPayload(req: FastifyRequest, rawBody: string | undefined): void {
    if (req.hawkHash === undefined || rawBody === undefined || rawBody.length === 0) return;
    const expected = payloadHash(req.headers['content-type'] ?? '', rawBody);
    if (!macMatches(expected, req.hawkHash)) throw errors.invalidSignature('Payload hash does not match the request body');
  }

  private async lookup(kind: TokenKind, id: string): Promise<{ authKey: string; credentials: Credentials } | undefined> {
    if (kind === 'sessionToken') {
      const row = await this.db.selectFrom('session_tokens').selectAll().where('token_id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      return {
        authKey: row.auth_key,
        credentials: {
          kind,
          id,
          uid: row.uid,
          verified: row.verification_id === null,
          verificationId: row.verification_id,
          verificationMethod: row.verification_method,
          verificationReason: row.verification_reason,
          createdAt: Number(row.created_at),
          lastAccessAt: Number(row.last_access_at),
          authAt: Number(row.auth_at),
          userAgent: row.user_agent,
        },
      };
    }
    if (kind === 'keyFetchToken') {
      const row = await this.db.selectFrom('key_fetch_tokens').selectAll().where('token_id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      return { authKey: row.auth_key, credentials: { kind, id, uid: row.uid, keyBundle: row.key_bundle, verificationId: row.verification_id } };
    }
    const row = await this.db
      .selectFrom('account_tokens')
      .selectAll()
      .where('token_id', '=', id)
      .where('kind', '=', ACCOUNT_TOKEN_KINDS[kind])
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= Date.now()) return undefined;
    return {
      authKey: row.auth_key,
      credentials: { kind, id, uid: row.uid, codeHash: row.code_hash, tries: row.tries, expiresAt: Number(row.expires_at) },
    };
  }

  private async refresh(token: string): Promise<RefreshCredentials> {
    if (!/^[0-9a-f]{64}$/.test(token)) throw errors.invalidToken();
    const hash = storedTokenHash(token);
    const row = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    const now = Date.now();
    if (!row || now - Number(row.last_used_at) > REFRESH_TOKEN_IDLE_MS) throw errors.invalidToken();
    if (now - Number(row.last_used_at) > ACCESS_WRITE_INTERVAL_MS) {
      await this.db.updateTable('refresh_tokens').set({ last_used_at: now }).where('token_hash', '=', hash).execute();
    }
    return { kind: 'refreshToken', id: hash, uid: row.uid, clientId: row.client_id, scope: row.scope };
  }

  private async touch(session: SessionCredentials, req: FastifyRequest): Promise<void> {
    const now = Date.now();
    const ua = req.headers['user-agent'] ?? '';
    if (now - session.lastAccessAt < ACCESS_WRITE_INTERVAL_MS && ua === session.userAgent) return;
    await this.db
      .updateTable('session_tokens')
      .set({ last_access_at: now, user_agent: ua.slice(0, 255) })
      .where('token_id', '=', session.id)
      .execute();
    session.lastAccessAt = now;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    hawkHash?: string;
  }
}
