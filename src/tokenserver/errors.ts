// The tokenserver's error answers (sync-storage.md 1.13): every one is JSON of the shape
// {"status": ..., "errors": [{"location": ..., "name": ..., "description": ...}]}.

export type ErrorLocation = 'header' | 'url' | 'body' | 'internal';

export class TokenserverError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    readonly location: ErrorLocation,
    /** The errors[0].name member (Error has its own `name`). */
    readonly field: string,
    readonly description: string,
    /** Why, for the log only; never sent. */
    readonly reason: string = description,
  ) {
    super(reason);
  }

  body(): { status: string; errors: { location: ErrorLocation; name: string; description: string }[] } {
    return { status: this.status, errors: [{ location: this.location, name: this.field, description: this.description }] };
  }
}

const CLIENT_STATE_HEADER = 'X-Client-State';

export const errors = {
  /** Authorization missing, not ASCII, or not "<scheme> <credential>". */
  unauthorized: (reason: string) => new TokenserverError(401, 'error', 'body', '', 'Unauthorized', reason),
  /** A scheme other than Bearer. */
  unsupportedScheme: () => new TokenserverError(401, 'error', 'body', '', 'Unsupported', 'authorization scheme is not Bearer'),
  /** The access token was refused, or X-KeyID is malformed. */
  invalidCredentials: (reason: string) => new TokenserverError(401, 'invalid-credentials', 'body', '', 'Unauthorized', reason),
  missingKeyId: () => new TokenserverError(401, 'invalid-key-id', 'header', '', 'Missing X-KeyID header'),
  invalidKeyId: () => new TokenserverError(401, 'invalid-key-id', 'header', '', 'Invalid X-KeyID header'),
  malformedClientState: () => new TokenserverError(400, 'error', 'header', CLIENT_STATE_HEADER, 'Invalid client state value'),
  clientStateMismatch: () =>
    new TokenserverError(401, 'invalid-client-state', 'body', '', 'Unauthorized', 'X-Client-State differs from the client state in X-KeyID'),
  /** Consistency rules 2-5 (sync-storage.md 1.8). */
  unacceptableClientState: (what: 'empty string' | 'stale value' | 'new value with no generation change' | 'new value with no keys_changed_at change') =>
    new TokenserverError(401, 'invalid-client-state', 'header', CLIENT_STATE_HEADER, `Unacceptable client-state value ${what}`),
  invalidGeneration: (reason: string) => new TokenserverError(401, 'invalid-generation', 'body', '', 'Unauthorized', reason),
  invalidKeysChangedAt: (reason: string) => new TokenserverError(401, 'invalid-keysChangedAt', 'body', '', 'Unauthorized', reason),
  unknownApplication: () => new TokenserverError(404, 'error', 'url', 'application', 'Unsupported application'),
  unknownVersion: (version: string) => new TokenserverError(404, 'error', 'url', version, 'Unsupported application version'),
  invalidQuery: () => new TokenserverError(400, 'error', 'url', '', 'invalid query params'),
  newUsersDisabled: () => new TokenserverError(403, 'new-users-disabled', 'body', '', 'New users are not allowed'),
  /**
   * No node can take a new user. The description is the one syncstorage-rs sends (its database
   * error's text), which its integration test test_unsuccessfully_releasing_node_capacity pins.
   */
  noNode: () => new TokenserverError(503, 'internal-error', 'internal', '', 'Unexpected error: unable to get a node', 'no node has capacity'),
  internal: (reason: string) => new TokenserverError(500, 'internal-error', 'internal', '', 'Server error', reason),
  /** The external accounts server did not answer in time. */
  verifierUnavailable: (reason: string) => new TokenserverError(503, 'error', 'body', '', 'Resource is not available', reason),
  methodNotAllowed: (method: string) => new TokenserverError(405, 'error', 'url', '', 'Method not allowed', `${method} is not allowed here`),
  notFound: () => new TokenserverError(404, 'error', 'url', '', 'Not found'),
};
