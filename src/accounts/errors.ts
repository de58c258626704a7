import { STATUS_CODES } from 'node:http';

// FxA's error shape (fxa-auth.md 3.3): {code, errno, error, message, ...extra}. Clients key off
// errno, so each error below names the upstream errno it stands for.

export class FxaError extends Error {
  constructor(
    readonly status: number,
    readonly errno: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return { code: this.status, errno: this.errno, error: STATUS_CODES[this.status] ?? 'Error', message: this.message, ...this.extra };
  }
}

export const errors = {
  accountExists: (email: string) => new FxaError(400, 101, 'Account already exists', { email }),
  unknownAccount: (email?: string) => new FxaError(400, 102, 'Unknown account', email ? { email } : {}),
  incorrectPassword: (email: string) => new FxaError(400, 103, 'Incorrect password', { email }),
  unverifiedAccount: () => new FxaError(400, 104, 'Unverified account'),
  invalidVerificationCode: () => new FxaError(400, 105, 'Invalid verification code'),
  invalidJson: () => new FxaError(400, 106, 'Invalid JSON in request body'),
  invalidParameter: (message: string, keys: string[] = []) =>
    new FxaError(400, 107, `Invalid parameter in request body: ${message}`, { validation: { source: 'payload', keys } }),
  missingParameter: (param: string) => new FxaError(400, 108, `Missing parameter in request body: ${param}`, { param }),
  invalidSignature: (reason = 'Invalid request signature') => new FxaError(401, 109, reason),
  invalidToken: (reason = 'Invalid authentication token in request signature') => new FxaError(401, 110, reason),
  bodyTooLarge: () => new FxaError(413, 113, 'Request body too large'),
  tooManyRequests: (retryAfter: number, extra: Record<string, unknown> = {}) =>
    new FxaError(429, 114, 'Client has sent too many requests', { retryAfter, retryAfterLocalized: localizedDelay(retryAfter), ...extra }, {
      'Retry-After': String(retryAfter),
    }),
  gone: () => new FxaError(410, 116, 'This endpoint is no longer supported'),
  incorrectEmailCase: (email: string) => new FxaError(400, 120, 'Incorrect email case', { email }),
  unknownDevice: () => new FxaError(400, 123, 'Unknown device'),
  deviceConflict: (deviceId: string) => new FxaError(400, 124, 'Session already registered by another device', { deviceId }),
  requestBlocked: (unblockable: boolean) =>
    new FxaError(400, 125, 'The request was blocked for security reasons', unblockable ? { verificationMethod: 'email-captcha', verificationReason: 'login' } : {}),
  invalidUnblockCode: () => new FxaError(400, 127, 'Invalid unblock code'),
  unverifiedSession: () => new FxaError(400, 138, 'Unverified session'),
  emailSendFailed: () => new FxaError(422, 151, 'Failed to send email'),
  unavailableDeviceCommand: () => new FxaError(400, 157, 'Unavailable device command'),
  invalidOtp: () => new FxaError(400, 183, 'Invalid or expired confirmation code'),
  serverBusy: (retryAfter: number) =>
    new FxaError(503, 201, 'Service unavailable', { retryAfter, retryAfterLocalized: localizedDelay(retryAfter) }, { 'Retry-After': String(retryAfter) }),
  registrationClosed: () => new FxaError(403, 202, 'New accounts cannot be created on this server'),
  unexpected: () => new FxaError(500, 999, 'Unspecified error'),
};

export function localizedDelay(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.ceil(minutes / 60);
  return `${hours} hour${hours === 1 ? '' : 's'}`;
}
