import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex, passwordCredentials } from '../../src/crypto/onepw.js';
import { FxaClient, tokenId } from '../helpers/fxa.js';
import { mailCode, startMailbox, type Mail, type Mailbox } from '../helpers/mail.js';
import { startServer, testEngines, type TestServer } from '../helpers/server.js';

// Mozilla's own JavaScript client, fxa-js-client 1.0.25 (the one the old content server used),
// drives Foxden's accounts server end to end: onepw stretching, Hawk signing and key unwrapping
// are all Mozilla's code, mails go through a real SMTP listener, and the codes come out of
// those mails. Where the client is too old to have a method (device commands, availableCommands)
// the request is signed with our own helpers in test/helpers/fxa.ts.

// --- The parts of the client used here (it ships no types) ---------------------------------

/** What the client rejects with: Foxden's error body as is. */
interface ClientError {
  code?: number;
  errno: number;
  error: string;
  message?: string;
  email?: string;
  [extra: string]: unknown;
}

interface SignUpResult {
  uid: string;
  sessionToken: string;
  keyFetchToken?: string;
  authAt: number;
  verificationMethod?: string;
  /** Added by the client when keys were asked for; never sent over the wire. */
  unwrapBKey?: string;
}

interface SignInResult extends SignUpResult {
  verified: boolean;
  emailVerified: boolean;
  sessionVerified: boolean;
  verificationReason?: string;
}

interface SignInOptions {
  keys?: boolean;
  verificationMethod?: string;
  /** Client-side only: do not retry on errno 120. */
  skipCaseError?: boolean;
  originalLoginEmail?: string;
  reason?: string;
}

interface NewCredentials {
  uid: string;
  sessionToken: string;
  keyFetchToken?: string;
  verified: boolean;
  authAt: number;
  unwrapBKey?: string;
}

/** The push options deviceRegister/deviceUpdate know about; there is no availableCommands. */
interface DeviceOptions {
  deviceCallback?: string;
  devicePublicKey?: string;
  deviceAuthKey?: string;
}

interface Device {
  id: string;
  name: string;
  type: string;
  pushCallback: string | null;
  pushEndpointExpired: boolean;
  availableCommands: Record<string, string>;
}

interface ListedDevice extends Device {
  isCurrentDevice: boolean;
  lastAccessTime: number;
}

interface AttachedClient {
  clientId: string | null;
  deviceId: string | null;
  sessionTokenId: string | null;
  refreshTokenId: string | null;
  isCurrentSession: boolean;
  deviceType: string | null;
  name: string | null;
}

type Empty = Record<string, never>;

/** What the client adds to a body for analytics; marshalled into `metricsContext`. */
interface MetricsContext {
  deviceId?: string;
  entrypoint?: string;
  flowId?: string;
  flowBeginTime?: number;
  utmSource?: string;
  utmCampaign?: string;
}

/** Page-flow fields several calls pass through to the body (and `lang` to Accept-Language). */
interface FlowOptions {
  service?: string;
  redirectTo?: string;
  resume?: string;
  lang?: string;
  style?: string;
  metricsContext?: MetricsContext;
}

interface FxAccountClient {
  signUp(email: string, password: string, options?: FlowOptions & { keys?: boolean; verificationMethod?: string }): Promise<SignUpResult>;
  signIn(email: string, password: string, options?: SignInOptions & FlowOptions): Promise<SignInResult>;
  sessionVerifyCode(sessionToken: string, code: string, options?: { service?: string; style?: string; marketingOptIn?: boolean; newsletters?: string[] }): Promise<Empty>;
  sessionResendVerifyCode(sessionToken: string): Promise<Empty>;
  recoveryEmailResendCode(sessionToken: string, options?: FlowOptions & { email?: string; type?: string }): Promise<Empty>;
  verifyCode(uid: string, code: string, options?: { service?: string; reminder?: string; style?: string }): Promise<Empty>;
  accountProfile(sessionToken: string): Promise<{ email: string; authenticationMethods: string[]; authenticatorAssuranceLevel: number }>;
  checkTotpTokenExists(sessionToken: string): Promise<{ exists: boolean }>;
  recoveryKeyExists(sessionToken: string | null, email?: string): Promise<{ exists: boolean }>;
  sendUnblockCode(email: string, options?: { metricsContext?: MetricsContext }): Promise<Empty>;
  rejectUnblockCode(uid: string, unblockCode: string): Promise<Empty>;
  passwordForgotResendCode(email: string, passwordForgotToken: string, options?: FlowOptions): Promise<{ ttl: number; codeLength: number; tries: number }>;
  passwordForgotStatus(passwordForgotToken: string): Promise<{ tries: number; ttl: number }>;
  sessionStatus(sessionToken: string): Promise<{ state: string; uid: string }>;
  sessionDestroy(sessionToken: string, options?: { customSessionToken?: string }): Promise<Empty>;
  recoveryEmailStatus(sessionToken: string): Promise<{ email: string; verified: boolean; sessionVerified: boolean; emailVerified: boolean }>;
  accountKeys(keyFetchToken: string, unwrapBKey: string): Promise<{ kA: string; kB: string }>;
  accountStatus(uid: string): Promise<{ exists: boolean }>;
  accountStatusByEmail(email: string): Promise<{ exists: boolean }>;
  accountDestroy(email: string, password: string, options: { skipCaseError?: boolean }, sessionToken?: string): Promise<Empty>;
  passwordChange(email: string, oldPassword: string, newPassword: string, options?: { keys?: boolean; sessionToken?: string }): Promise<NewCredentials>;
  passwordForgotSendCode(email: string, options?: FlowOptions): Promise<{ passwordForgotToken: string; ttl: number; codeLength: number; tries: number }>;
  passwordForgotVerifyCode(code: string, passwordForgotToken: string): Promise<{ accountResetToken: string }>;
  accountReset(email: string, newPassword: string, accountResetToken: string, options?: { keys?: boolean; sessionToken?: boolean }): Promise<NewCredentials>;
  deviceRegister(sessionToken: string, name: string, type: string, options?: DeviceOptions): Promise<Device>;
  deviceUpdate(sessionToken: string, id: string, name: string, options?: DeviceOptions): Promise<Device>;
  deviceList(sessionToken: string): Promise<ListedDevice[]>;
  deviceDestroy(sessionToken: string, id: string): Promise<Empty>;
  attachedClients(sessionToken: string): Promise<AttachedClient[]>;
  attachedClientDestroy(sessionToken: string, client: AttachedClient): Promise<Empty>;
}

type FxAccountClientConstructor = new (uri: string, config?: { localtimeOffsetMsec?: number }) => FxAccountClient;

const FxAccountClientClass = createRequire(import.meta.url)('fxa-js-client') as FxAccountClientConstructor;

// --- Helpers ---------------------------------------------------------------------------------

const SUBJECT = {
  signup: 'Confirm your Foxden account',
  unblock: 'Your Foxden unblock code',
  login: 'Confirm your sign-in to Foxden',
  recovery: 'Reset your Foxden password',
  changed: 'Your Foxden password was changed',
  reset: 'Your Foxden password was reset',
};

const OPEN_URI = 'https://identity.mozilla.com/cmd/open-uri';
const CLOSE_URI = 'https://identity.mozilla.com/cmd/close-uri/v1';

/** The rejection of a call that must fail. */
async function refusal(call: Promise<unknown>): Promise<ClientError> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    return err as ClientError;
  }
  throw new Error(`expected the server to refuse, but it answered ${JSON.stringify(result)}`);
}

function expectError(err: ClientError, code: number, errno: number): void {
  expect({ code: err.code, errno: err.errno }, `${err.error}: ${err.message}`).toEqual({ code, errno });
}

describe.each(await testEngines())('fxa-js-client 1.0.25 against Foxden on %s', (engine) => {
  let server: TestServer;
  let mailbox: Mailbox;
  let client: FxAccountClient;
  let raw: FxaClient;

  beforeAll(async () => {
    mailbox = await startMailbox();
    server = await startServer(engine, {
      FOXDEN_SMTP_URL: mailbox.smtpUrl,
      FOXDEN_REGISTRATION: 'open',
      FOXDEN_SIGNIN_CONFIRMATION: 'always',
    });
    // The client appends /v1 unless the URI already ends in it.
    client = new FxAccountClientClass(`${server.url}/auth/v1`);
    raw = new FxaClient(server.url);
  });

  afterAll(async () => {
    await server?.close();
    await mailbox?.close();
  });

  const address = (who: string) => `${who}.${engine}@example.com`;

  /** The next mail to `to` with `subject`, checked for the right envelope and headers. */
  async function expectMail(to: string, subject: string): Promise<Mail> {
    const mail = await mailbox.next({ to, subject });
    expect(mail.to.map((t) => t.toLowerCase())).toEqual([to.toLowerCase()]);
    // nodemailer lower-cases the domain in the header (it is case-insensitive); the local part stays as typed.
    expect(mail.headers.get('to')?.toLowerCase()).toContain(to.toLowerCase());
    expect(mail.headers.get('to')).toContain(to.split('@')[0]!);
    expect(mail.subject).toBe(subject);
    expect(mail.headers.get('from')).toContain('foxden@');
    return mail;
  }

  /** A signed request the old client has no method for. */
  function signed(method: string, path: string, sessionToken: string, body?: unknown) {
    return raw.call(method, path, body, raw.session(sessionToken));
  }

  /** Sign up, confirm with the mailed code, fetch kB. */
  async function signUpConfirmed(email: string, password: string): Promise<{ uid: string; sessionToken: string; kB: string }> {
    const created = await client.signUp(email, password, { keys: true, verificationMethod: 'email-otp' });
    const code = mailCode(await expectMail(email, SUBJECT.signup));
    await client.sessionVerifyCode(created.sessionToken, code);
    const { kB } = await client.accountKeys(created.keyFetchToken!, created.unwrapBKey!);
    return { uid: created.uid, sessionToken: created.sessionToken, kB };
  }

  /** Sign in, confirm with the code from the verifyLoginCode mail, fetch kB. */
  async function signInConfirmed(email: string, password: string): Promise<{ uid: string; sessionToken: string; kB: string }> {
    const session = await client.signIn(email, password, { keys: true, verificationMethod: 'email-otp' });
    expect(session.verificationMethod).toBe('email-otp');
    const code = mailCode(await expectMail(email, SUBJECT.login));
    await client.sessionVerifyCode(session.sessionToken, code);
    const { kB } = await client.accountKeys(session.keyFetchToken!, session.unwrapBKey!);
    return { uid: session.uid, sessionToken: session.sessionToken, kB };
  }

  /** A session that must be gone: 401 errno 110. */
  async function expectDeadSession(sessionToken: string): Promise<void> {
    expectError(await refusal(client.sessionStatus(sessionToken)), 401, 110);
  }

  it('1. signs up, confirms by the mailed code, fetches kB; account status by uid and e-mail', async () => {
    const email = address('signup');
    const password = 'correct horse battery staple';
    expect(await client.accountStatusByEmail(email)).toMatchObject({ exists: false });

    const created = await client.signUp(email, password, { keys: true, verificationMethod: 'email-otp' });
    expect(created.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(created.sessionToken).toMatch(/^[0-9a-f]{64}$/);
    expect(created.keyFetchToken).toMatch(/^[0-9a-f]{64}$/);
    expect(created.verificationMethod).toBe('email-otp');
    // The client's onepw agrees with ours: same unwrapBKey for this e-mail and password.
    expect(created.unwrapBKey).toBe(bytesToHex((await passwordCredentials(email, password)).unwrapBKey));

    const mail = await expectMail(email, SUBJECT.signup);
    const code = mailCode(mail);
    expect(mail.text).toContain(email);

    // Not confirmed yet: no keys (and the key-fetch token survives the refusal), unverified status.
    expectError(await refusal(client.accountKeys(created.keyFetchToken!, created.unwrapBKey!)), 400, 104);
    expect(await client.recoveryEmailStatus(created.sessionToken)).toEqual({ email, verified: false, sessionVerified: false, emailVerified: false });
    const wrong = code === '000000' ? '111111' : '000000';
    expectError(await refusal(client.sessionVerifyCode(created.sessionToken, wrong)), 400, 183);

    expect(await client.sessionVerifyCode(created.sessionToken, code)).toEqual({});
    expect(await client.recoveryEmailStatus(created.sessionToken)).toEqual({ email, verified: true, sessionVerified: true, emailVerified: true });
    expect(await client.sessionStatus(created.sessionToken)).toMatchObject({ state: 'verified', uid: created.uid });

    const keys = await client.accountKeys(created.keyFetchToken!, created.unwrapBKey!);
    expect(keys.kB).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.kA).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.kB).not.toBe(keys.kA);
    // The key-fetch token is single use.
    expectError(await refusal(client.accountKeys(created.keyFetchToken!, created.unwrapBKey!)), 401, 110);

    expect(await client.accountStatus(created.uid)).toEqual({ exists: true });
    expect(await client.accountStatusByEmail(email)).toMatchObject({ exists: true });
    expect(await client.accountStatusByEmail(email.toUpperCase())).toMatchObject({ exists: true });
    expect(await client.accountStatus('0'.repeat(32))).toEqual({ exists: false });

    // A second sign-up with the confirmed address is refused.
    expectError(await refusal(client.signUp(email, 'another password', { keys: true, verificationMethod: 'email-otp' })), 400, 101);
    expect(mailbox.pending({ to: email })).toEqual([]);
  });

  it('2. signs in with e-mail confirmation to the same kB; wrong password 103, unknown 102, e-mail case 120', async () => {
    // Registered in mixed case: the case is part of the PBKDF2 salt.
    const email = `Sign.In.${engine}@Example.com`;
    const password = 'pässwörd with ünïcode';
    const account = await signUpConfirmed(email, password);

    const session = await client.signIn(email, password, { keys: true, verificationMethod: 'email-otp' });
    expect(session).toMatchObject({ uid: account.uid, verified: false, sessionVerified: false, emailVerified: true, verificationMethod: 'email-otp', verificationReason: 'login' });
    expect(session.sessionToken).not.toBe(account.sessionToken);
    // The unconfirmed sign-in gets no keys.
    expectError(await refusal(client.accountKeys(session.keyFetchToken!, session.unwrapBKey!)), 400, 104);
    const mail = await expectMail(email, SUBJECT.login);
    await client.sessionVerifyCode(session.sessionToken, mailCode(mail));
    expect(await client.recoveryEmailStatus(session.sessionToken)).toMatchObject({ verified: true, sessionVerified: true });
    const { kB } = await client.accountKeys(session.keyFetchToken!, session.unwrapBKey!);
    expect(kB).toBe(account.kB);

    expectError(await refusal(client.signIn(email, 'not the password', { keys: true })), 400, 103);
    const unknown = await refusal(client.signIn(address('nobody'), password, { keys: true }));
    expectError(unknown, 400, 102);

    // Another case: without its retry the client reports 120 and the address as registered...
    const lower = email.toLowerCase();
    const caseError = await refusal(client.signIn(lower, password, { keys: true, skipCaseError: true }));
    expectError(caseError, 400, 120);
    expect(caseError.email).toBe(email);
    // ...with it, the client signs in again with that address (as salt too) and gets the same kB.
    const retried = await client.signIn(lower, password, { keys: true, verificationMethod: 'email-otp' });
    expect(retried.uid).toBe(account.uid);
    expect(retried.unwrapBKey).toBe(bytesToHex((await passwordCredentials(email, password)).unwrapBKey));
    await client.sessionVerifyCode(retried.sessionToken, mailCode(await expectMail(email, SUBJECT.login)));
    expect((await client.accountKeys(retried.keyFetchToken!, retried.unwrapBKey!)).kB).toBe(account.kB);

    // The client's other retry, on errno 111 (clock skew), is never needed: Foxden does not
    // refuse a skewed Hawk timestamp (the MAC binds the request), so a clock days off still works.
    const skewed = new FxAccountClientClass(`${server.url}/auth/v1`, { localtimeOffsetMsec: -3 * 24 * 3600 * 1000 });
    expect(await skewed.sessionStatus(session.sessionToken)).toMatchObject({ state: 'verified', uid: account.uid });

    // Only the mails asked for: nothing sent for the refused attempts.
    expect(mailbox.pending({ to: email, subject: SUBJECT.login })).toEqual([]);
  });

  it('3. changes the password: same kB, old password refused, other sessions ended, notice mailed', async () => {
    const email = address('change');
    const oldPassword = 'old password 1';
    const newPassword = 'new password 2';
    const account = await signUpConfirmed(email, oldPassword);
    // Another device's session, made before the change (left unconfirmed: it must die all the same).
    const other = await client.signIn(email, oldPassword, { verificationMethod: 'email-otp' });
    await expectMail(email, SUBJECT.login);
    expect(await client.sessionStatus(other.sessionToken)).toMatchObject({ state: 'unverified' });

    const changed = await client.passwordChange(email, oldPassword, newPassword, { keys: true, sessionToken: account.sessionToken });
    expect(changed.uid).toBe(account.uid);
    expect(changed.verified).toBe(true);
    expect(changed.sessionToken).toMatch(/^[0-9a-f]{64}$/);
    expect(changed.unwrapBKey).toBe(bytesToHex((await passwordCredentials(email, newPassword)).unwrapBKey));
    // The keys under the new password: kB is the same.
    expect((await client.accountKeys(changed.keyFetchToken!, changed.unwrapBKey!)).kB).toBe(account.kB);
    expect(await client.recoveryEmailStatus(changed.sessionToken)).toMatchObject({ verified: true });

    await expectDeadSession(other.sessionToken);
    // The caller's own old token was swapped for the new one.
    await expectDeadSession(account.sessionToken);

    const notice = await expectMail(email, SUBJECT.changed);
    expect(notice.text).toContain(email);

    expectError(await refusal(client.signIn(email, oldPassword, { keys: true })), 400, 103);
    // A fresh sign-in with the new password, confirmed by mail, unwraps the same kB.
    expect((await signInConfirmed(email, newPassword)).kB).toBe(account.kB);
  });

  it('4. resets a forgotten password: new kB, old sessions dead, old password refused', async () => {
    const email = address('reset');
    const oldPassword = 'forgotten password';
    const newPassword = 'remembered password';
    const account = await signUpConfirmed(email, oldPassword);

    const forgot = await client.passwordForgotSendCode(email);
    expect(forgot.passwordForgotToken).toMatch(/^[0-9a-f]{64}$/);
    expect(forgot).toMatchObject({ codeLength: 32, tries: 3 });
    const mail = await expectMail(email, SUBJECT.recovery);
    const code = mailCode(mail, /^[0-9a-f]{32}$/);
    expect(mail.text).toContain(`uid=${account.uid}`);
    expect(mail.text).toContain(`token=${forgot.passwordForgotToken}`);

    // A wrong code uses up a try; the right one still works.
    expectError(await refusal(client.passwordForgotVerifyCode('0'.repeat(32), forgot.passwordForgotToken)), 400, 105);
    const { accountResetToken } = await client.passwordForgotVerifyCode(code, forgot.passwordForgotToken);
    expect(accountResetToken).toMatch(/^[0-9a-f]{64}$/);
    // The forgot token is spent.
    expectError(await refusal(client.passwordForgotVerifyCode(code, forgot.passwordForgotToken)), 401, 110);

    const reset = await client.accountReset(email, newPassword, accountResetToken, { keys: true, sessionToken: true });
    expect(reset).toMatchObject({ uid: account.uid, verified: true });
    const resetKB = (await client.accountKeys(reset.keyFetchToken!, reset.unwrapBKey!)).kB;
    expect(resetKB).toMatch(/^[0-9a-f]{64}$/);
    // Without a recovery key the old kB is gone: data encrypted under it cannot be read any more.
    expect(resetKB).not.toBe(account.kB);
    // The account-reset token is single use.
    expectError(await refusal(client.accountReset(email, 'third password', accountResetToken, { sessionToken: true })), 401, 110);

    await expectDeadSession(account.sessionToken);
    await expectMail(email, SUBJECT.reset);
    expectError(await refusal(client.signIn(email, oldPassword, { keys: true })), 400, 103);
    const again = await signInConfirmed(email, newPassword);
    expect(again.kB).toBe(resetKB);
    expect(again.kB).not.toBe(account.kB);
  });

  it('5. devices: register, list, update, commands between two devices, attached clients, disconnect, sign out', async () => {
    const email = address('devices');
    const password = 'device password';
    const first = await signUpConfirmed(email, password);

    // The client's deviceRegister has no availableCommands: it registers, and then (as Firefox
    // does once it has keys) the device announces its commands in an update we sign ourselves.
    const registered = await client.deviceRegister(first.sessionToken, 'Foxden test desktop', 'desktop');
    expect(registered).toMatchObject({ name: 'Foxden test desktop', type: 'desktop', pushCallback: null, availableCommands: {} });
    expect(registered.id).toMatch(/^[0-9a-f]{32}$/);
    // The same session cannot register a second device.
    expectError(await refusal(client.deviceRegister(first.sessionToken, 'again', 'desktop')), 400, 124);
    const commands = { [OPEN_URI]: JSON.stringify({ kid: 'abc', PublicSendTabKeys: 'opaque' }), [CLOSE_URI]: '{"kid":"abc"}' };
    const announced = await signed('POST', '/account/device', first.sessionToken, { id: registered.id, name: 'Foxden test desktop', availableCommands: commands });
    expect(announced.status, JSON.stringify(announced.body)).toBe(200);
    expect(announced.body.availableCommands).toEqual(commands);

    const renamed = await client.deviceUpdate(first.sessionToken, registered.id, 'Renamed desktop');
    expect(renamed).toMatchObject({ id: registered.id, name: 'Renamed desktop', availableCommands: commands });
    expectError(await refusal(client.deviceUpdate(first.sessionToken, 'ab'.repeat(16), 'not mine')), 400, 123);

    let list = await client.deviceList(first.sessionToken);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: registered.id, name: 'Renamed desktop', type: 'desktop', isCurrentDevice: true, availableCommands: commands });

    // A second device signs in (confirmed by mail) and registers itself.
    const second = await signInConfirmed(email, password);
    expect(second.kB).toBe(first.kB);
    const phone = await client.deviceRegister(second.sessionToken, 'Foxden test phone', 'mobile');
    list = await client.deviceList(first.sessionToken);
    expect(list.map((d) => [d.id, d.isCurrentDevice]).sort()).toEqual([[registered.id, true], [phone.id, false]].sort());
    list = await client.deviceList(second.sessionToken);
    expect(list.find((d) => d.isCurrentDevice)?.id).toBe(phone.id);

    // The phone sends a tab to the desktop: the client has no method for it, so it is signed here.
    const payload = { encrypted: 'b64url-ciphertext-the-server-never-reads' };
    const invoked = await signed('POST', '/account/devices/invoke_command', second.sessionToken, { target: registered.id, command: OPEN_URI, payload, ttl: 3600 });
    expect(invoked.status, JSON.stringify(invoked.body)).toBe(200);
    // No push subscription: queued but nobody woken.
    expect(invoked.body).toEqual({ enqueued: true, notified: false });
    // The phone offers no commands, so nothing can be sent to it.
    const unavailable = await signed('POST', '/account/devices/invoke_command', first.sessionToken, { target: phone.id, command: OPEN_URI, payload });
    expect([unavailable.status, unavailable.body.errno]).toEqual([400, 157]);

    const fetched = await signed('GET', '/account/device/commands?index=0&limit=10', first.sessionToken);
    expect(fetched.status, JSON.stringify(fetched.body)).toBe(200);
    expect(fetched.body.last).toBe(true);
    expect(fetched.body.messages).toHaveLength(1);
    expect(fetched.body.messages[0].data).toEqual({ command: OPEN_URI, payload, sender: phone.id });
    expect(fetched.body.index).toBe(fetched.body.messages[0].index);
    const later = await signed('GET', `/account/device/commands?index=${fetched.body.index + 1}&limit=10`, first.sessionToken);
    expect(later.body).toMatchObject({ last: true, messages: [] });
    // The phone's own queue is empty.
    expect((await signed('GET', '/account/device/commands?index=0&limit=10', second.sessionToken)).body.messages).toEqual([]);

    // Attached clients: one entry per session, merged with its device.
    const attached = await client.attachedClients(first.sessionToken);
    const firstId = await tokenId(first.sessionToken, 'sessionToken');
    const secondId = await tokenId(second.sessionToken, 'sessionToken');
    expect(attached).toHaveLength(2);
    expect(attached.find((c) => c.sessionTokenId === firstId)).toMatchObject({ deviceId: registered.id, isCurrentSession: true, deviceType: 'desktop', name: 'Renamed desktop', clientId: null });
    expect(attached.find((c) => c.sessionTokenId === secondId)).toMatchObject({ deviceId: phone.id, isCurrentSession: false, deviceType: 'mobile', name: 'Foxden test phone' });

    // Disconnecting the phone ends its session too.
    expect(await client.deviceDestroy(first.sessionToken, phone.id)).toEqual({});
    await expectDeadSession(second.sessionToken);
    list = await client.deviceList(first.sessionToken);
    expect(list.map((d) => d.id)).toEqual([registered.id]);

    // A session without a device, ended from the first one through attachedClientDestroy, which
    // sends the entry's fields as they came (clientId, deviceId and refreshTokenId null).
    const third = await client.signIn(email, password, { verificationMethod: 'email-otp' });
    await expectMail(email, SUBJECT.login);
    const thirdId = await tokenId(third.sessionToken, 'sessionToken');
    const entry = (await client.attachedClients(first.sessionToken)).find((c) => c.sessionTokenId === thirdId);
    expect(entry).toMatchObject({ clientId: null, deviceId: null, refreshTokenId: null, isCurrentSession: false });
    expect(await client.attachedClientDestroy(first.sessionToken, entry!)).toEqual({});
    await expectDeadSession(third.sessionToken);

    // Signing out ends the session and takes its device with it.
    expect(await client.sessionDestroy(first.sessionToken)).toEqual({});
    await expectDeadSession(first.sessionToken);
    const fourth = await client.signIn(email, password, { verificationMethod: 'email-otp' });
    await expectMail(email, SUBJECT.login);
    expect(await client.deviceList(fourth.sessionToken)).toEqual([]);
    expect((await client.attachedClients(fourth.sessionToken)).map((c) => c.sessionTokenId)).toEqual([await tokenId(fourth.sessionToken, 'sessionToken')]);
  });

  it('6. deletes the account: status says gone, sign-in says unknown', async () => {
    const email = address('delete');
    const password = 'delete me';
    const account = await signUpConfirmed(email, password);

    expectError(await refusal(client.accountDestroy(email, 'wrong password', {}, account.sessionToken)), 400, 103);
    expect(await client.accountStatus(account.uid)).toEqual({ exists: true });

    expect(await client.accountDestroy(email, password, {}, account.sessionToken)).toEqual({});
    expect(await client.accountStatus(account.uid)).toEqual({ exists: false });
    expect(await client.accountStatusByEmail(email)).toMatchObject({ exists: false });
    await expectDeadSession(account.sessionToken);
    expectError(await refusal(client.signIn(email, password, { keys: true })), 400, 102);
    // The address is free again.
    const fresh = await signUpConfirmed(email, 'a new beginning');
    expect(fresh.uid).not.toBe(account.uid);
    expect(fresh.kB).not.toBe(account.kB);
  });
  it('7. accepts the optional fields and side calls the client sends (flow, metrics, resends, unblock)', async () => {
    const email = address('extras');
    const password = 'extra password';
    const flow: FlowOptions = {
      service: 'sync',
      redirectTo: 'https://example.com/after',
      resume: 'eyJyZXN1bWUiOnRydWV9',
      lang: 'en-GB,en;q=0.8',
      style: 'trailhead',
      metricsContext: { deviceId: 'a'.repeat(32), entrypoint: 'preferences', flowId: 'b'.repeat(64), flowBeginTime: Date.now(), utmSource: 'test' },
    };
    const created = await client.signUp(email, password, { ...flow, keys: true, verificationMethod: 'email-otp' });
    const first = mailCode(await expectMail(email, SUBJECT.signup));
    // Each resend mails a new code; only the newest one works.
    expect(await client.sessionResendVerifyCode(created.sessionToken)).toEqual({});
    const second = mailCode(await expectMail(email, SUBJECT.signup));
    expect(await client.recoveryEmailResendCode(created.sessionToken, { service: 'sync', redirectTo: flow.redirectTo, resume: flow.resume, lang: flow.lang, style: 'trailhead' })).toEqual({});
    const third = mailCode(await expectMail(email, SUBJECT.signup));
    for (const stale of new Set([first, second].filter((c) => c !== third))) {
      expectError(await refusal(client.sessionVerifyCode(created.sessionToken, stale)), 400, 183);
    }
    // The code typed on another device, by uid (the legacy /recovery_email/verify_code).
    expect(await client.verifyCode(created.uid, third, { service: 'sync', reminder: 'first', style: 'trailhead' })).toEqual({});
    expect(await client.recoveryEmailStatus(created.sessionToken)).toMatchObject({ verified: true });
    const { kB } = await client.accountKeys(created.keyFetchToken!, created.unwrapBKey!);

    expect(await client.accountProfile(created.sessionToken)).toMatchObject({ email, authenticatorAssuranceLevel: 1 });
    expect(await client.checkTotpTokenExists(created.sessionToken)).toMatchObject({ exists: false });
    expect(await client.recoveryKeyExists(created.sessionToken)).toMatchObject({ exists: false });
    expect(await client.recoveryKeyExists(null, email)).toMatchObject({ exists: false });

    // Sign-in with the page-flow fields, confirmed with the newest of two codes.
    const session = await client.signIn(email, password, { ...flow, keys: true, reason: 'signin', verificationMethod: 'email-otp' });
    await expectMail(email, SUBJECT.login);
    await client.sessionResendVerifyCode(session.sessionToken);
    const loginCode = mailCode(await expectMail(email, SUBJECT.login));
    await client.sessionVerifyCode(session.sessionToken, loginCode, { service: 'sync', marketingOptIn: true, newsletters: ['firefox-accounts-journey'], style: 'trailhead' });
    expect((await client.accountKeys(session.keyFetchToken!, session.unwrapBKey!)).kB).toBe(kB);

    // Unblock codes: mailed, and rejected ("this wasn't me") by uid.
    expect(await client.sendUnblockCode(email, { metricsContext: flow.metricsContext })).toEqual({});
    const unblock = mailCode(await expectMail(email, SUBJECT.unblock), /^[A-Z0-9]{8}$/);
    expect(await client.rejectUnblockCode(created.uid, unblock)).toEqual({});

    // The legacy reset flow's side calls: status and resend (a new code replaces the old).
    const forgot = await client.passwordForgotSendCode(email, flow);
    const oldReset = mailCode(await expectMail(email, SUBJECT.recovery), /^[0-9a-f]{32}$/);
    expect(await client.passwordForgotStatus(forgot.passwordForgotToken)).toMatchObject({ tries: 3 });
    expect(await client.passwordForgotResendCode(email, forgot.passwordForgotToken, flow)).toMatchObject({ codeLength: 32, tries: 3 });
    const newReset = mailCode(await expectMail(email, SUBJECT.recovery), /^[0-9a-f]{32}$/);
    expect(newReset).not.toBe(oldReset);
    expectError(await refusal(client.passwordForgotVerifyCode(oldReset, forgot.passwordForgotToken)), 400, 105);
    expect(await client.passwordForgotStatus(forgot.passwordForgotToken)).toMatchObject({ tries: 2 });
    expect((await client.passwordForgotVerifyCode(newReset, forgot.passwordForgotToken)).accountResetToken).toMatch(/^[0-9a-f]{64}$/);
  });
});
