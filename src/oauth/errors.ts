import { FxaError } from '../accounts/errors.js';

// OAuth errors as the auth server numbers them (fxa-auth.md 5), and the OAuth server's own
// numbering, which the /oauth/v1 facade answers with (fxa-auth.md 6).

export const oauthErrors = {
  unknownClient: (clientId: string) => new FxaError(400, 162, 'Unknown client_id', { clientId }),
  invalidScopes: (invalidScopes: string) => new FxaError(400, 163, 'Requested scopes are not allowed', { invalidScopes }),
  notPublicClient: () => new FxaError(400, 166, 'Not a public client'),
  incorrectRedirect: (redirectUri: string) => new FxaError(400, 167, 'Incorrect redirect URI', { redirectUri }),
  invalidResponseType: () => new FxaError(400, 168, 'Invalid response_type'),
  missingPkce: () => new FxaError(400, 169, 'Public clients require PKCE OAuth parameters'),
  insufficientAcr: (foundValue: string) => new FxaError(400, 170, 'Required Authentication Context Reference values could not be satisfied', { foundValue }),
  incorrectSecret: (clientId: string) => new FxaError(400, 171, 'Incorrect client_secret', { clientId }),
  unknownCode: () => new FxaError(400, 172, 'Unknown authorization code'),
  mismatchCode: (clientId: string) => new FxaError(400, 173, 'Mismatched authorization code', { clientId }),
  expiredCode: (expiredAt: number) => new FxaError(400, 174, 'Expired authorization code', { expiredAt }),
  invalidPkce: () => new FxaError(400, 175, 'Public clients require PKCE OAuth parameters'),
  cannotGrant: (clientId: string) => new FxaError(400, 107, 'Invalid parameter in request body: this client may not use the fxa-credentials grant', {
    validation: { source: 'payload', keys: ['grant_type'] },
    clientId,
  }),
  unsupportedGrant: (grantType: string) =>
    new FxaError(400, 107, `Invalid parameter in request body: grant_type ${grantType} is not supported`, { validation: { source: 'payload', keys: ['grant_type'] } }),
};

/** Auth-server errno -> OAuth-server errno (the facade speaks the OAuth server's numbers). */
const OAUTH_ERRNO: Record<number, number> = {
  162: 101,
  171: 102,
  167: 103,
  172: 105,
  173: 106,
  174: 107,
  110: 108,
  108: 109,
  107: 109,
  168: 110,
  163: 114,
  166: 116,
  175: 117,
  169: 118,
  164: 119,
  104: 104,
  138: 104,
};

const OAUTH_MESSAGE: Record<number, string> = {
  101: 'Unknown client',
  102: 'Incorrect secret',
  103: 'Incorrect redirect_uri',
  104: 'Invalid assertion',
  105: 'Unknown code',
  106: 'Incorrect code',
  107: 'Expired code',
  108: 'Invalid token',
  109: 'Invalid request parameter',
  110: 'Invalid response_type',
  114: 'Requested scopes are not allowed',
  116: 'Not a public client',
  117: 'Incorrect code_challenge',
  118: 'Missing code_challenge or code_verifier',
  119: 'Stale authentication timestamp',
};

/** The same failure in the OAuth server's numbering; errors without a counterpart keep theirs. */
export function toOauthError(err: FxaError): FxaError {
  const errno = OAUTH_ERRNO[err.errno];
  if (errno === undefined) return err;
  const status = errno === 108 || errno === 104 ? (err.status === 401 ? 400 : err.status) : err.status;
  return new FxaError(status, errno, OAUTH_MESSAGE[errno] ?? err.message, err.extra, err.headers);
}
