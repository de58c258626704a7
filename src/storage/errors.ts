// Sync's numeric error bodies (sync-storage.md 2.14).

export const ERR = {
  UNKNOWN: 0,
  ILLEGAL_METHOD: 1,
  JSON_PARSE: 6,
  INVALID_BSO: 8,
  INVALID_COLLECTION: 13,
  OVER_QUOTA: 14,
  SIZE_LIMIT: 17,
} as const;

export class StorageError extends Error {
  constructor(
    readonly status: number,
    /** Numeric body; null sends an empty body. */
    readonly code: number | null,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code: number = ERR.UNKNOWN) => new StorageError(400, code, message);
export const notFound = (message = 'not found') => new StorageError(404, ERR.UNKNOWN, message);
export const unauthorized = (message: string) => new StorageError(401, ERR.UNKNOWN, message);
export const invalidBso = (message: string) => new StorageError(400, ERR.INVALID_BSO, message);
export const tooLarge = (message: string) => new StorageError(400, ERR.SIZE_LIMIT, message);

/** The target changed after the client's X-If-Unmodified-Since: 412 with X-Last-Modified. */
export class PreconditionFailed extends Error {
  constructor(readonly lastModified: number) {
    super('precondition failed');
  }
}

/** The target did not change since X-If-Modified-Since: 304 with X-Last-Modified. */
export class NotModified extends Error {
  constructor(readonly lastModified: number) {
    super('not modified');
  }
}

export class OverQuota extends StorageError {
  constructor() {
    super(403, ERR.OVER_QUOTA, 'over quota');
  }
}
