import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod/v3';
import { OLDSYNC, SESSION_SCOPE, validScope } from './scopes.js';

// The registry of OAuth clients (fxa-auth.md 5.1): Mozilla's browsers are built in, with the
// ids they ship with; FOXDEN_OAUTH_CLIENTS adds clients or replaces built-in ones by id.

/** Firefox desktop's WebChannel redirect: the code goes back to the browser, not to a URL. */
export const WEBCHANNEL_REDIRECT = 'urn:ietf:wg:oauth:2.0:oob:oauth-redirect-webchannel';
/** Redirects that start with this are completed with the server's public base. */
const BASE = '{base}';

export interface OauthClient {
  id: string;
  name: string;
  /** May start with {base}: the server's public URL. */
  redirectUri: string;
  /** Scopes the client may ask for (sub-scopes of these included). */
  allowedScopes: string[];
  /** Public clients have no secret and must use PKCE. */
  publicClient: boolean;
  /** May use the fxa-credentials grant (a session token straight to tokens). */
  canGrant: boolean;
  trusted: boolean;
  /** SHA-256 (hex) of a confidential client's secret. */
  secretHash?: string;
  imageUri?: string;
}

const THUNDERBIRD_SYNC = 'https://identity.thunderbird.net/apps/sync';
const BROWSER_SCOPES = ['profile', OLDSYNC, SESSION_SCOPE, 'openid', 'email'];

const browser = (id: string, name: string, redirectUri: string, scopes = BROWSER_SCOPES): OauthClient => ({
  id,
  name,
  redirectUri,
  allowedScopes: scopes,
  publicClient: true,
  canGrant: true,
  trusted: true,
});

export const BUILT_IN_CLIENTS: OauthClient[] = [
  browser('5882386c6d801776', 'Firefox', WEBCHANNEL_REDIRECT),
  browser('a2270f727f45f648', 'Firefox for Android', `${BASE}/oauth/success/a2270f727f45f648`),
  browser('1b1a3e44c54fbb58', 'Firefox for iOS', `${BASE}/oauth/success/1b1a3e44c54fbb58`),
  browser('3c49430b43dfba77', 'Reference Browser', `${BASE}/oauth/success/3c49430b43dfba77`),
  browser('8269bacd7bbc7f80', 'Thunderbird', WEBCHANNEL_REDIRECT, ['profile', THUNDERBIRD_SYNC, SESSION_SCOPE, 'openid', 'email']),
];

const configured = z
  .object({
    id: z.string().regex(/^[0-9a-f]{16}$/, { message: 'id must be 16 lower-case hex characters' }),
    name: z.string().min(1).max(255),
    redirectUri: z.string().min(1).max(2048),
    scopes: z.array(z.string().refine(validScope, { message: 'must be a scope such as profile or an https URL' })).min(1),
    publicClient: z.boolean().default(true),
    canGrant: z.boolean().default(false),
    trusted: z.boolean().default(false),
    secret: z.string().min(16).optional(),
    imageUri: z.string().url().optional(),
    disabled: z.boolean().default(false),
  })
  .strict()
  .refine((c) => c.publicClient || c.secret !== undefined, { message: 'a client that is not public needs a secret' });

export class ClientConfigError extends Error {}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export class ClientRegistry {
  private readonly clients = new Map<string, OauthClient>();

  /** `extra`: FOXDEN_OAUTH_CLIENTS entries. Throws ClientConfigError naming the bad entry. */
  constructor(extra: unknown[] = []) {
    for (const c of BUILT_IN_CLIENTS) this.clients.set(c.id, c);
    extra.forEach((entry, i) => {
      const parsed = configured.safeParse(entry);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new ClientConfigError(`FOXDEN_OAUTH_CLIENTS[${i}]${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`);
      }
      const c = parsed.data;
      if (c.disabled) {
        this.clients.delete(c.id);
        return;
      }
      this.clients.set(c.id, {
        id: c.id,
        name: c.name,
        redirectUri: c.redirectUri,
        allowedScopes: c.scopes,
        publicClient: c.publicClient,
        canGrant: c.canGrant,
        trusted: c.trusted,
        secretHash: c.secret === undefined ? undefined : sha256Hex(c.secret),
        imageUri: c.imageUri,
      });
    });
  }

  get(id: string): OauthClient | undefined {
    return this.clients.get(id.toLowerCase());
  }

  list(): OauthClient[] {
    return [...this.clients.values()];
  }
}

/** The client's redirect URI, completed with the server's public base. */
export function redirectUriOf(client: OauthClient, base: string): string {
  return client.redirectUri.startsWith(BASE) ? base + client.redirectUri.slice(BASE.length) : client.redirectUri;
}

export function secretMatches(client: OauthClient, secret: string): boolean {
  if (!client.secretHash) return false;
  return timingSafeEqual(Buffer.from(client.secretHash, 'hex'), Buffer.from(sha256Hex(secret), 'hex'));
}
