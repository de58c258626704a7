import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v3';
import * as account from './account.js';
import type { AccountsAuthenticator, AccountTokenCredentials, KeyFetchCredentials, SessionCredentials, TokenKind } from './auth.js';
import type { AccountsContext, RequestInfo } from './context.js';
import * as devices from './devices.js';
import { errors, FxaError } from './errors.js';
import { fxaHttp, requestInfo, validate } from './http.js';
import * as password from './password.js';
import * as session from './session.js';
import { validPushCallback } from './push.js';

// The auth server's API under /auth/v1 (fxa-auth.md 4). Each handler validates its input,
// authenticates, calls one operation and returns its JSON.

export interface AccountsRouteOptions {
  ctx: AccountsContext;
  auth: AccountsAuthenticator;
}

const hex = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), { message: `must be ${bytes * 2} hex characters` })
    .transform((s) => s.toLowerCase());
const email = z
  .string()
  .max(255)
  // No control characters or lone surrogates: PostgreSQL refuses NUL in text, and neither belongs in an address.
  .regex(/^[^\s@\p{Cc}\p{Cs}]{1,64}@[^\s@.\p{Cc}\p{Cs}]+(?:\.[^\s@.\p{Cc}\p{Cs}]+)*$/u, { message: 'must be an e-mail address' });
const displaySafe = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\p{Cc}\p{Cf}\p{Co}\p{Cs}]*$/u, { message: 'must not contain control characters' });
const b64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*={0,2}$/, { message: 'must be base64url' });
const service = z.string().max(64).regex(/^[a-zA-Z0-9_-]*$/).optional();
/** Fields clients send for analytics and page flow; accepted and ignored. */
const informational = {
  service,
  redirectTo: z.string().max(2048).optional(),
  resume: z.string().max(2048).optional(),
  style: z.string().max(32).optional(),
  metricsContext: z.object({}).passthrough().optional(),
};
const booleanQuery = z
  .enum(['true', 'false'])
  .optional()
  .transform((v) => v === 'true');

const schemas = {
  create: z
    .object({
      email,
      authPW: hex(32),
      verificationMethod: z.enum(['email', 'email-otp', 'email-2fa', 'email-captcha']).optional(),
      inviteCode: z.string().max(100).optional(),
      preVerified: z.boolean().optional(),
      atLeast18AtReg: z.boolean().nullable().optional(),
      ...informational,
    })
    .strict(),
  login: z
    .object({
      email,
      authPW: hex(32),
      reason: z.enum(['signin', 'password_check', 'password_change', 'password_reset', 'account_delete']).optional(),
      unblockCode: z.string().regex(/^[A-Za-z0-9]{8}$/).optional(),
      originalLoginEmail: email.optional(),
      verificationMethod: z.enum(['email', 'email-2fa', 'email-captcha', 'email-otp', 'totp-2fa']).optional(),
      skipCaseError: z.boolean().optional(),
      sendSigninVerificationEmail: z.boolean().optional(),
      ...informational,
    })
    .strict(),
  statusByEmail: z
    .object({ email, thirdPartyAuthStatus: z.boolean().optional(), checkDomain: z.boolean().optional(), clientId: z.string().max(64).optional(), service })
    .strict(),
  statusByUid: z.object({ uid: hex(16) }).strict(),
  emailOnly: z.object({ email, ...informational }).strict(),
  rejectUnblock: z.object({ uid: hex(16), unblockCode: z.string().regex(/^[A-Za-z0-9]{8}$/) }).strict(),
  destroy: z.object({ email, authPW: hex(32) }).strict(),
  sessionDestroy: z.object({ customSessionToken: hex(32).optional() }).strict(),
  verifyOtp: z
    .object({
      code: z.string().regex(/^\d{6}$/, { message: 'must be 6 digits' }),
      service,
      scopes: z.array(z.string().max(256)).optional(),
      marketingOptIn: z.boolean().optional(),
      newsletters: z.array(z.string().max(64)).optional(),
      metricsContext: z.object({}).passthrough().optional(),
      // fxa-js-client's sessionVerifyCode passes its `style` option (e-mail style, e.g. 'trailhead').
      style: z.string().max(32).optional(),
    })
    .strict(),
  resend: z.object({ email: email.optional(), type: z.string().max(32).optional(), ...informational }).strict(),
  verifyLink: z
    .object({
      uid: hex(16),
      code: z.string().regex(/^(?:\d{6}|[0-9a-fA-F]{32})$/, { message: 'must be a 6-digit or 32-hex code' }).transform((c) => c.toLowerCase()),
      service,
      reminder: z.string().max(32).optional(),
      type: z.string().max(32).optional(),
      style: z.string().max(32).optional(),
      marketingOptIn: z.boolean().optional(),
      newsletters: z.array(z.string().max(64)).optional(),
    })
    .strict(),
  changeStart: z.object({ email, oldAuthPW: hex(32) }).strict(),
  changeFinish: z.object({ authPW: hex(32), wrapKb: hex(32), sessionToken: hex(32).optional() }).strict(),
  forgotVerify: z
    .object({ code: hex(16), accountResetWithRecoveryKey: z.boolean().optional(), includeRecoveryKeyPrompt: z.boolean().optional() })
    .strict(),
  forgotVerifyOtp: z.object({ email, code: z.string().regex(/^\d{8}$/, { message: 'must be 8 digits' }) }).strict(),
  reset: z.object({ authPW: hex(32), sessionToken: z.boolean().optional(), isFirefoxMobileClient: z.boolean().optional() }).strict(),
  device: z
    .object({
      id: hex(16).optional(),
      name: displaySafe(255).optional(),
      type: z.string().max(16).regex(/^[a-zA-Z0-9_-]*$/).optional(),
      pushCallback: z
        .string()
        .max(255)
        .refine((v) => v === '' || validPushCallback(v), { message: 'must be an https URL' })
        .optional(),
      pushPublicKey: b64url(88).optional(),
      pushAuthKey: b64url(24).optional(),
      availableCommands: z.record(z.string().regex(/^[a-zA-Z0-9._/\-:]{1,100}$/), z.string().max(2048)).optional(),
      capabilities: z.array(z.string().max(32)).optional(),
    })
    .strict()
    .refine((d) => {
      const given = [d.pushCallback, d.pushPublicKey, d.pushAuthKey].filter((v) => v !== undefined);
      return given.length === 0 || given.length === 3 || (given.length === 1 && d.pushCallback === '');
    }, { message: 'pushCallback, pushPublicKey and pushAuthKey go together' }),
  deviceDestroy: z.object({ id: hex(16) }).strict(),
  invoke: z
    .object({
      target: hex(16),
      command: z.string().regex(/^[a-zA-Z0-9._/\-:]{1,100}$/),
      payload: z.object({}).passthrough(),
      ttl: z.number().int().min(0).max(30 * 24 * 3600).optional(),
    })
    .strict(),
  notify: z
    .object({
      to: z.union([z.literal('all'), z.array(hex(16)).max(200)]),
      excluded: z.array(hex(16)).max(200).optional(),
      payload: z
        .object({
          version: z.literal(1),
          command: z.string().max(100).regex(/^[a-z]+:[a-z_]+$/),
          data: z.object({}).passthrough().optional(),
        })
        .strict()
        .superRefine((p, issue) => {
          if (p.command !== 'sync:collection_changed') return;
          const cols = (p.data as { collections?: unknown } | undefined)?.collections;
          const known = ['addons', 'bookmarks', 'history', 'forms', 'prefs', 'tabs', 'passwords', 'clients', 'addresses', 'creditcards'];
          if (!Array.isArray(cols) || cols.length === 0 || !cols.every((c) => known.includes(c as string))) {
            issue.addIssue({ code: 'custom', message: 'data.collections must list Sync collections', path: ['data', 'collections'] });
          }
        }),
      TTL: z.number().int().min(0).max(28 * 24 * 3600).optional(),
      _endpointAction: z.string().max(64).optional(),
    })
    .strict()
    .refine((n) => n.excluded === undefined || n.to === 'all', { message: 'excluded only goes with to: "all"' }),
  attachedDestroy: z
    // Clients echo an attached_clients entry back as is, so absent ids arrive as null (upstream allows null).
    .object({
      clientId: z.string().regex(/^[0-9a-f]{16}$/).nullish().transform((v) => v ?? undefined),
      deviceId: hex(16).nullish().transform((v) => v ?? undefined),
      sessionTokenId: hex(32).nullish().transform((v) => v ?? undefined),
      refreshTokenId: hex(32).nullish().transform((v) => v ?? undefined),
    })
    .strict(),
};

export async function accountsRoutes(app: FastifyInstance, opts: AccountsRouteOptions): Promise<void> {
  const { ctx, auth } = opts;

  fxaHttp(app);

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send(new FxaError(404, 999, 'Unsupported endpoint').body()));

  /** Authenticate and check the body's Hawk hash. */
  async function authed(req: FastifyRequest, kinds: TokenKind[], allowRefresh = false) {
    const credentials = await auth.authenticate(req, kinds, allowRefresh);
    auth.checkPayload(req, req.rawBody);
    return credentials;
  }
  const sessionOf = (req: FastifyRequest) => authed(req, ['sessionToken']) as Promise<SessionCredentials>;
  const deviceOwner = (req: FastifyRequest) => authed(req, ['sessionToken'], true) as Promise<devices.DeviceOwner>;
  const optionalSession = async (req: FastifyRequest) => (req.headers.authorization ? sessionOf(req) : undefined);
  const keysQuery = (req: FastifyRequest) => validate(z.object({ keys: booleanQuery }).passthrough(), req.query, 'query').keys;

  // Accounts
  app.post('/account/create', async (req) => {
    const body = validate(schemas.create, req.body);
    if (body.preVerified) throw errors.invalidParameter('preVerified is not accepted', ['preVerified']);
    const query = validate(z.object({ keys: booleanQuery, service }).strict(), req.query, 'query');
    return account.createAccount(ctx, { ...body, keys: query.keys }, requestInfo(ctx, req));
  });
  app.post('/account/login', async (req) => {
    const body = validate(schemas.login, req.body);
    const query = validate(z.object({ keys: booleanQuery, service, verificationMethod: z.string().max(32).optional() }).strict(), req.query, 'query');
    return account.login(ctx, { ...body, keys: query.keys }, requestInfo(ctx, req));
  });
  app.get('/account/status', async (req) => {
    const q = validate(schemas.statusByUid, req.query, 'query');
    return account.accountExists(ctx, { uid: q.uid }, req.ip);
  });
  app.post('/account/status', async (req) => {
    const body = validate(schemas.statusByEmail, req.body);
    return account.accountExists(ctx, { email: body.email }, req.ip);
  });
  app.get('/account/keys', async (req) => account.fetchKeys(ctx, (await authed(req, ['keyFetchToken'])) as KeyFetchCredentials));
  app.post('/account/reset', async (req) => {
    const token = (await authed(req, ['accountResetToken'])) as AccountTokenCredentials;
    return password.accountReset(ctx, token, validate(schemas.reset, req.body), keysQuery(req), requestInfo(ctx, req));
  });
  app.post('/account/destroy', async (req) => {
    const s = await optionalSession(req);
    return account.destroyAccount(ctx, validate(schemas.destroy, req.body), s, requestInfo(ctx, req));
  });
  app.get('/account/profile', async (req) => account.accountProfile(ctx, (await sessionOf(req)).uid));
  app.post('/account/login/send_unblock_code', async (req) => account.sendUnblockCode(ctx, validate(schemas.emailOnly, req.body).email, requestInfo(ctx, req)));
  app.post('/account/login/reject_unblock_code', async (req) => {
    const body = validate(schemas.rejectUnblock, req.body);
    return account.rejectUnblockCode(ctx, body.uid, body.unblockCode);
  });

  // Sessions and confirmation
  app.get('/session/status', async (req) => session.sessionStatus(ctx, await sessionOf(req)));
  app.post('/session/destroy', async (req) => {
    const s = await sessionOf(req);
    return session.destroySession(ctx, s, validate(schemas.sessionDestroy, req.body).customSessionToken);
  });
  app.post('/session/verify_code', async (req) => {
    const s = await sessionOf(req);
    return session.verifySessionCode(ctx, s, validate(schemas.verifyOtp, req.body).code, requestInfo(ctx, req));
  });
  app.post('/session/resend_code', async (req) => {
    const s = await sessionOf(req);
    validate(schemas.resend, req.body);
    return session.resendSessionCode(ctx, s, requestInfo(ctx, req));
  });
  app.get('/recovery_email/status', async (req) => session.recoveryEmailStatus(ctx, await sessionOf(req)));
  app.post('/recovery_email/resend_code', async (req) => {
    const s = await sessionOf(req);
    validate(schemas.resend, req.body);
    return session.resendSessionCode(ctx, s, requestInfo(ctx, req));
  });
  app.post('/recovery_email/verify_code', async (req) => {
    const body = validate(schemas.verifyLink, req.body);
    return session.verifyRecoveryEmailCode(ctx, body.uid, body.code, requestInfo(ctx, req));
  });

  // Passwords
  app.post('/password/change/start', async (req) => {
    const s = await optionalSession(req);
    return password.passwordChangeStart(ctx, validate(schemas.changeStart, req.body), s, requestInfo(ctx, req));
  });
  app.post('/password/change/finish', async (req) => {
    const token = (await authed(req, ['passwordChangeToken'])) as AccountTokenCredentials;
    return password.passwordChangeFinish(ctx, token, validate(schemas.changeFinish, req.body), keysQuery(req), requestInfo(ctx, req));
  });
  app.post('/password/forgot/send_code', async (req) => password.passwordForgotSendCode(ctx, validate(schemas.emailOnly, req.body).email, requestInfo(ctx, req)));
  app.post('/password/forgot/resend_code', async (req) => {
    const token = (await authed(req, ['passwordForgotToken'])) as AccountTokenCredentials;
    validate(schemas.emailOnly, req.body);
    return password.passwordForgotResendCode(ctx, token, requestInfo(ctx, req));
  });
  app.post('/password/forgot/verify_code', async (req) => {
    const token = (await authed(req, ['passwordForgotToken'])) as AccountTokenCredentials;
    return password.passwordForgotVerifyCode(ctx, token, validate(schemas.forgotVerify, req.body).code, requestInfo(ctx, req));
  });
  app.get('/password/forgot/status', async (req) => password.passwordForgotStatus((await authed(req, ['passwordForgotToken'])) as AccountTokenCredentials));
  app.post('/password/forgot/send_otp', async (req) => password.passwordForgotSendOtp(ctx, validate(schemas.emailOnly, req.body).email, requestInfo(ctx, req)));
  app.post('/password/forgot/verify_otp', async (req) => password.passwordForgotVerifyOtp(ctx, validate(schemas.forgotVerifyOtp, req.body), requestInfo(ctx, req)));

  // Devices and commands
  app.post('/account/device', async (req) => devices.upsertDevice(ctx, await deviceOwner(req), validate(schemas.device, req.body)));
  app.get('/account/devices', async (req) => {
    const owner = await deviceOwner(req);
    const q = validate(z.object({ filterIdleDevicesTimestamp: z.coerce.number().int().min(0).optional() }).strict(), req.query, 'query');
    return devices.listDevices(ctx, owner, q.filterIdleDevicesTimestamp);
  });
  app.post('/account/device/destroy', async (req) => {
    const owner = await deviceOwner(req);
    return devices.destroyDevice(ctx, owner.uid, validate(schemas.deviceDestroy, req.body).id);
  });
  app.get('/account/device/commands', async (req) => {
    const owner = await deviceOwner(req);
    const q = validate(
      z.object({ index: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0), limit: z.coerce.number().int().min(1).max(100).default(100) }).strict(),
      req.query,
      'query',
    );
    return devices.deviceCommands(ctx, owner, q.index, q.limit);
  });
  app.post('/account/devices/invoke_command', async (req) => {
    const owner = await deviceOwner(req);
    return devices.invokeCommand(ctx, owner, validate(schemas.invoke, req.body), requestInfo(ctx, req));
  });
  app.post('/account/devices/notify', async (req) => {
    const owner = await deviceOwner(req);
    return devices.notifyOtherDevices(ctx, owner, validate(schemas.notify, req.body) as never, requestInfo(ctx, req));
  });
  app.get('/account/attached_clients', async (req) => devices.attachedClients(ctx, await deviceOwner(req)));
  app.post('/account/attached_client/destroy', async (req) => {
    const owner = await deviceOwner(req);
    return devices.destroyAttachedClient(ctx, owner, validate(schemas.attachedDestroy, req.body));
  });

  // Features Foxden does not have, answered the way upstream answers "not set up".
  app.get('/totp/exists', async (req) => {
    await sessionOf(req);
    return { exists: false, verified: false };
  });
  app.post('/recoveryKey/exists', async (req) => {
    validate(z.object({ email: email.optional() }).strict(), req.body);
    return { exists: false };
  });
  const gone = async (_req: FastifyRequest, reply: FastifyReply) => {
    const e = errors.gone();
    return reply.code(e.status).send(e.body());
  };
  for (const path of ['/certificate/sign', '/get_random_bytes', '/account/lock', '/account/unlock/resend_code', '/account/unlock/verify_code']) {
    app.post(path, gone);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}
