import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, MAIL_TEMPLATES, MailError, type MailTemplate, type MailParams } from '../../src/mail/index.js';
import { CONNECTION_TIMEOUT_MS } from '../../src/mail/mailer.js';
import {
  captureLog,
  closedPort,
  parseMail,
  selfSignedCertificate,
  startSilentServer,
  startSmtp,
  type TestSmtp,
} from './support.js';

// Delivery through a real SMTP listener (smtp-server), no mocks.

const FROM = 'Foxden <foxden@localhost>';
const PUBLIC_URL = 'https://sync.example.com';

const PARAMS: Record<MailTemplate, MailParams> = {
  verifyShortCode: { code: '123456', minutes: 15 },
  verifyLoginCode: { code: '654321', device: 'Firefox on Linux', minutes: 5 },
  unblockCode: { code: 'AB12CD34', device: 'Firefox on Windows' },
  passwordForgotOtp: { code: '87654321', minutes: 10 },
  recovery: { code: 'fedcba9876543210fedcba9876543210', link: { uid: 'ab'.repeat(16), token: 'cd'.repeat(32) } },
  passwordChanged: {},
  passwordReset: {},
  newDeviceLogin: { device: 'Firefox on Android' },
};

const SUBJECTS: Record<MailTemplate, string> = {
  verifyShortCode: 'Confirm your Foxden account',
  verifyLoginCode: 'Confirm your sign-in to Foxden',
  unblockCode: 'Your Foxden unblock code',
  passwordForgotOtp: 'Reset your Foxden password',
  recovery: 'Reset your Foxden password',
  passwordChanged: 'Your Foxden password was changed',
  passwordReset: 'Your Foxden password was reset',
  newDeviceLogin: 'New sign-in to your Foxden account',
};

let tls: { key: string; cert: string };
beforeAll(() => {
  tls = selfSignedCertificate();
});

function mailerFor(smtpUrl: string) {
  const log = captureLog();
  const mailer = createMailer({ smtpUrl, from: FROM, dataDir: '/nonexistent', publicUrl: PUBLIC_URL, log });
  return { mailer, log };
}

describe('SMTP relay without AUTH or TLS', () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startSmtp({ authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'] });
  });
  afterAll(() => smtp.close());

  it('delivers every template with the right headers and the code in both parts', async () => {
    const { mailer, log } = mailerFor(`smtp://127.0.0.1:${smtp.port}`);
    expect(mailer.mode).toBe('smtp');
    for (const template of MAIL_TEMPLATES) {
      await mailer.send({ to: 'alice@example.com', template, params: PARAMS[template] });
    }
    await mailer.close();

    expect(smtp.received).toHaveLength(MAIL_TEMPLATES.length);
    MAIL_TEMPLATES.forEach((template, i) => {
      const got = smtp.received[i]!;
      expect(got.from).toBe('foxden@localhost');
      expect(got.to).toEqual(['alice@example.com']);
      expect(got.secure).toBe(false);
      expect(got.user).toBeUndefined();
      const mail = parseMail(got.raw);
      expect(mail.headers.get('from')).toBe('Foxden <foxden@localhost>');
      expect(mail.headers.get('to')).toBe('alice@example.com');
      expect(mail.headers.get('subject')).toBe(SUBJECTS[template]);
      expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
      expect(mail.headers.get('message-id')).toMatch(/^<.+@.+>$/);
      expect(Number.isNaN(Date.parse(mail.headers.get('date') ?? ''))).toBe(false);
      expect(mail.headers.get('content-type')).toMatch(/^multipart\/alternative;/);
      expect(mail.parts).toEqual(['text/plain', 'text/html']);
      const code = PARAMS[template].code;
      if (code) {
        expect(mail.text).toContain(code);
        expect(mail.html).toContain(code);
      }
      expect(mail.text).toContain('alice@example.com');
    });
    const recovery = parseMail(smtp.received[MAIL_TEMPLATES.indexOf('recovery')]!.raw);
    expect(recovery.text).toContain(
      `${PUBLIC_URL}/complete_reset_password?uid=${'ab'.repeat(16)}&token=${'cd'.repeat(32)}` +
        `&code=${PARAMS.recovery.code}&email=alice%40example.com`,
    );

    // One 'mail sent' line per mail, and no code anywhere in the log.
    expect(log.lines.map((l) => l.msg)).toEqual(MAIL_TEMPLATES.map(() => 'mail sent'));
    const logged = JSON.stringify(log.lines);
    for (const params of Object.values(PARAMS)) if (params.code) expect(logged).not.toContain(params.code);
  });

  it('escapes a hostile device string in the HTML part as delivered', async () => {
    const { mailer } = mailerFor(`smtp://127.0.0.1:${smtp.port}`);
    const before = smtp.received.length;
    const device = '<img src=x onerror="alert(1)">Firefox & <b>friends</b>\r\nBcc: eve@example.com';
    await mailer.send({ to: 'bob@example.com', template: 'newDeviceLogin', params: { device } });
    await mailer.close();
    const got = smtp.received[before]!;
    expect(got.to).toEqual(['bob@example.com']);
    const mail = parseMail(got.raw);
    expect(mail.headers.has('bcc')).toBe(false);
    expect(mail.html).not.toContain('<img');
    expect(mail.html).not.toContain('<b>friends');
    expect(mail.html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Firefox &amp; &lt;b&gt;friends&lt;/b&gt; Bcc: eve@example.com');
    expect(mail.text).toContain('Device: <img src=x onerror="alert(1)">Firefox & <b>friends</b> Bcc: eve@example.com\n');
  });

  it('refuses a recipient that is not one plain address, and a malformed code, without sending', async () => {
    const { mailer, log } = mailerFor(`smtp://127.0.0.1:${smtp.port}`);
    const before = smtp.received.length;
    for (const to of ['a@example.com, b@example.com', 'Eve <eve@example.com>', 'a@example.com\r\nBcc: b@example.com', 'nobody']) {
      await expect(mailer.send({ to, template: 'passwordReset', params: {} })).rejects.toThrow(TypeError);
    }
    await expect(
      mailer.send({ to: 'a@example.com', template: 'verifyShortCode', params: { code: '12345' } }),
    ).rejects.toThrow(TypeError);
    await mailer.close();
    expect(smtp.received.length).toBe(before);
    expect(log.lines).toEqual([]);
  });

  it('takes nodemailer options from the URL query, here a connection pool that close() ends', async () => {
    const { mailer } = mailerFor(`smtp://127.0.0.1:${smtp.port}?pool=true&maxConnections=1`);
    const before = smtp.received.length;
    await Promise.all([
      mailer.send({ to: 'a@example.com', template: 'passwordChanged', params: {} }),
      mailer.send({ to: 'b@example.com', template: 'passwordReset', params: {} }),
    ]);
    await mailer.close();
    expect(smtp.received.slice(before).map((r) => r.to[0]).sort()).toEqual(['a@example.com', 'b@example.com']);
  });

  it('refuses to send once closed', async () => {
    const { mailer } = mailerFor(`smtp://127.0.0.1:${smtp.port}`);
    await mailer.close();
    await expect(mailer.send({ to: 'a@example.com', template: 'passwordReset', params: {} })).rejects.toBeInstanceOf(MailError);
  });
});

describe('SMTP relay with STARTTLS and AUTH', () => {
  let smtp: TestSmtp;
  const logins: Array<{ username?: string; password?: string | null; secure: boolean }> = [];
  beforeAll(async () => {
    smtp = await startSmtp({
      ...tls,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, session, callback) {
        logins.push({ username: auth.username, password: auth.password, secure: session.secure });
        if (auth.username === 'foxden' && auth.password === 'p@ss:w/rd') return callback(null, { user: auth.username });
        return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
    });
  });
  afterAll(() => smtp.close());

  it('upgrades with STARTTLS (self-signed, allowed by the URL) and logs in with the URL credentials', async () => {
    const { mailer } = mailerFor(`smtp://foxden:p%40ss%3Aw%2Frd@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`);
    await mailer.send({ to: 'alice@example.com', template: 'verifyShortCode', params: PARAMS.verifyShortCode });
    await mailer.close();
    const got = smtp.received.at(-1)!;
    expect(got.secure).toBe(true);
    expect(got.user).toBe('foxden');
    expect(logins.at(-1)).toEqual({ username: 'foxden', password: 'p@ss:w/rd', secure: true });
    expect(parseMail(got.raw).text).toContain('123456');
  });

  it('rejects a self-signed certificate unless the URL allows it', async () => {
    const { mailer, log } = mailerFor(`smtp://foxden:p%40ss%3Aw%2Frd@127.0.0.1:${smtp.port}`);
    const before = smtp.received.length;
    const error = await mailer.send({ to: 'alice@example.com', template: 'verifyShortCode', params: PARAMS.verifyShortCode }).catch((e: unknown) => e);
    await mailer.close();
    expect(error).toBeInstanceOf(MailError);
    expect((error as MailError).message).toMatch(/certificate/i);
    expect(smtp.received.length).toBe(before);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 'warn', msg: 'mail not sent', obj: { template: 'verifyShortCode' } });
  });

  it('fails with MailError on a wrong password and keeps the code out of the warning', async () => {
    const { mailer, log } = mailerFor(`smtp://foxden:wrong@127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`);
    const error = await mailer.send({ to: 'alice@example.com', template: 'verifyLoginCode', params: PARAMS.verifyLoginCode }).catch((e: unknown) => e);
    await mailer.close();
    expect(error).toBeInstanceOf(MailError);
    expect((error as MailError).cause).toMatchObject({ code: 'EAUTH' });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      msg: 'mail not sent',
      obj: { to: 'alice@example.com', template: 'verifyLoginCode', errorCode: 'EAUTH', responseCode: 535 },
    });
    expect(JSON.stringify(log.lines)).not.toContain('654321');
    expect(JSON.stringify(log.lines)).not.toContain('wrong');
  });

  it('fails with MailError when the server requires AUTH and the URL has no credentials', async () => {
    const { mailer } = mailerFor(`smtp://127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`);
    await expect(mailer.send({ to: 'alice@example.com', template: 'passwordReset', params: {} })).rejects.toBeInstanceOf(MailError);
    await mailer.close();
  });
});

describe('SMTP over implicit TLS (smtps://)', () => {
  let smtp: TestSmtp;
  beforeAll(async () => {
    smtp = await startSmtp({ ...tls, secure: true, authOptional: true });
  });
  afterAll(() => smtp.close());

  it('delivers over TLS from the first byte', async () => {
    const { mailer } = mailerFor(`smtps://127.0.0.1:${smtp.port}?tls.rejectUnauthorized=false`);
    await mailer.send({ to: 'alice@example.com', template: 'unblockCode', params: PARAMS.unblockCode });
    await mailer.close();
    const got = smtp.received.at(-1)!;
    expect(got.secure).toBe(true);
    const mail = parseMail(got.raw);
    expect(mail.text).toContain('AB12CD34');
    expect(mail.html).toContain('AB12CD34');
  });
});

describe('SMTP relay that is down', () => {
  it('rejects with MailError at once when the connection is refused', async () => {
    const { mailer, log } = mailerFor(`smtp://127.0.0.1:${await closedPort()}`);
    const started = Date.now();
    const error = await mailer.send({ to: 'alice@example.com', template: 'verifyShortCode', params: PARAMS.verifyShortCode }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(CONNECTION_TIMEOUT_MS);
    await mailer.close();
    expect(error).toBeInstanceOf(MailError);
    expect((error as MailError).message).toMatch(/ECONNREFUSED/);
    expect(log.lines).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'mail not sent', obj: expect.objectContaining({ template: 'verifyShortCode' }) }),
    ]);
    expect(JSON.stringify(log.lines)).not.toContain('123456');
  });

  it('gives up on a relay that never greets, within the timeout (set from the URL here)', async () => {
    const silent = await startSilentServer();
    try {
      const { mailer } = mailerFor(`smtp://127.0.0.1:${silent.port}?connectionTimeout=400&greetingTimeout=400`);
      const started = Date.now();
      const error = await mailer.send({ to: 'alice@example.com', template: 'passwordChanged', params: {} }).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      await mailer.close();
      expect(error).toBeInstanceOf(MailError);
      expect((error as MailError).cause).toMatchObject({ code: 'ETIMEDOUT' });
      expect(elapsed).toBeGreaterThanOrEqual(300);
      expect(elapsed).toBeLessThan(3000);
    } finally {
      await silent.close();
    }
  });
});

describe('SMTP URL', () => {
  it('must be smtp:// or smtps:// with a host', () => {
    for (const smtpUrl of ['http://127.0.0.1:25', 'not a url', 'smtp://', 'localhost:25']) {
      expect(() => mailerFor(smtpUrl), smtpUrl).toThrow(MailError);
    }
  });
});
