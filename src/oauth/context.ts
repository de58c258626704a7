import type { AccountsContext } from '../accounts/context.js';
import type { AccessTokens } from './access-tokens.js';
import type { ClientRegistry } from './clients.js';

/** What the OAuth operations need: the accounts' context, the token signer and the clients. */
export interface OauthContext {
  ctx: AccountsContext;
  accessTokens: AccessTokens;
  clients: ClientRegistry;
}
