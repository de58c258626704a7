import { FxaError } from '../accounts/errors.js';

// The profile server's errors (fxa-auth.md 8.1): the same {code, errno, error, message} shape
// as the auth server, with the profile server's own errnos.

export const profileErrors = {
  /** Missing, invalid or expired token, or its account is gone: Firefox drops the token and retries once. */
  unauthorized: (reason: string) =>
    new FxaError(401, 100, 'Unauthorized', { reason }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }),
  /** A good token without the scope this route needs. */
  forbidden: (wanted: string) =>
    new FxaError(403, 100, 'Insufficient scope', { reason: `requires scope ${wanted}` }, {
      'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${wanted}"`,
    }),
  invalidParameter: (message: string, keys: string[] = []) =>
    new FxaError(400, 101, `Invalid request parameter: ${message}`, { validation: { keys } }),
  imageProcessing: () => new FxaError(500, 103, 'Image processing error'),
  notFound: () => new FxaError(404, 999, 'Not Found'),
  unexpected: () => new FxaError(500, 999, 'Unspecified error'),
};
