import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMailer, MailError } from '../../src/mail/index.js';
import { captureLog, parseMail } from './support.js';

// Without an SMTP URL every mail becomes an .eml file in <dataDir>/outbox, and the code goes to the log.

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'foxden-outbox-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

function outboxMailer() {
  const log = captureLog();
  const mailer = createMailer({ from: 'Foxden <foxden@localhost>', dataDir, publicUrl: 'https://sync.example.com', log });
  return { mailer, log };
}

const NAME = /^\d{8}T\d{6}\.\d{3}Z-(\w+)-[0-9a-f]{8}\.eml$/;

describe('outbox mailer', () => {
  it('writes an RFC 822 file a mail client opens, and logs the code', async () => {
    const { mailer, log } = outboxMailer();
    expect(mailer.mode).toBe('outbox');
    await mailer.send({ to: 'alice@example.com', template: 'verifyShortCode', params: { code: '123456', minutes: 15 } });
    await mailer.close();

    const outbox = join(dataDir, 'outbox');
    expect(statSync(outbox).mode & 0o777).toBe(0o700);
    const files = readdirSync(outbox);
    expect(files).toHaveLength(1);
    const name = files[0]!;
    expect(name).toMatch(NAME);
    expect(statSync(join(outbox, name)).mode & 0o777).toBe(0o600);

    const raw = readFileSync(join(outbox, name), 'utf8');
    // CRLF throughout, as RFC 5322 wants.
    expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const mail = parseMail(raw);
    expect(mail.headers.get('from')).toBe('Foxden <foxden@localhost>');
    expect(mail.headers.get('to')).toBe('alice@example.com');
    expect(mail.headers.get('subject')).toBe('Confirm your Foxden account');
    expect(mail.headers.get('mime-version')).toBe('1.0');
    expect(mail.headers.get('message-id')).toMatch(/^<.+@.+>$/);
    expect(mail.headers.get('content-type')).toMatch(/^multipart\/alternative;/);
    expect(mail.parts).toEqual(['text/plain', 'text/html']);
    expect(mail.text).toContain('\n    123456\n');
    expect(mail.text).toContain('The code expires in 15 minutes.');
    expect(mail.html).toContain('>123456</p>');
    // The file name's time is the Date header's.
    const stamp = name.slice(0, 20).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)/, '$1-$2-$3T$4:$5:$6');
    expect(Math.abs(Date.parse(mail.headers.get('date')!) - Date.parse(stamp))).toBeLessThan(1000);

    expect(log.lines).toEqual([
      {
        level: 'info',
        msg: 'mail written to outbox',
        obj: { to: 'alice@example.com', template: 'verifyShortCode', code: '123456', file: join(outbox, name) },
      },
    ]);
  });

  it('names files so they sort in the order they were written', async () => {
    const { mailer, log } = outboxMailer();
    const templates = ['passwordForgotOtp', 'passwordReset', 'newDeviceLogin'] as const;
    for (const template of templates) {
      await mailer.send({ to: 'alice@example.com', template, params: template === 'passwordForgotOtp' ? { code: '12345678' } : {} });
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await mailer.close();
    const files = readdirSync(join(dataDir, 'outbox')).sort();
    expect(files.map((f) => NAME.exec(f)?.[1])).toEqual([...templates]);
    // Notices have no code, and the log says so by leaving it out.
    expect(log.lines.map((l) => l.obj.code)).toEqual(['12345678', undefined, undefined]);
    const reset = parseMail(readFileSync(join(dataDir, 'outbox', files[0]!), 'utf8'));
    expect(reset.text).toContain('without an account recovery key');
  });

  it('tightens an existing outbox directory to the owner alone', async () => {
    mkdirSync(join(dataDir, 'outbox'), { mode: 0o755 });
    chmodSync(join(dataDir, 'outbox'), 0o755);
    const { mailer } = outboxMailer();
    await mailer.send({ to: 'alice@example.com', template: 'passwordChanged', params: {} });
    await mailer.close();
    expect(statSync(join(dataDir, 'outbox')).mode & 0o777).toBe(0o700);
  });

  it('fails with MailError when the outbox cannot be written', async () => {
    // A file where the data directory should be.
    const blocked = join(dataDir, 'file');
    writeFileSync(blocked, '');
    const log = captureLog();
    const mailer = createMailer({ from: 'Foxden <foxden@localhost>', dataDir: blocked, publicUrl: 'https://x.example', log });
    const error = await mailer.send({ to: 'alice@example.com', template: 'unblockCode', params: { code: 'ZZZZ9999' } }).catch((e: unknown) => e);
    await mailer.close();
    expect(error).toBeInstanceOf(MailError);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 'warn', msg: 'mail not written to outbox', obj: { template: 'unblockCode' } });
    expect(JSON.stringify(log.lines)).not.toContain('ZZZZ9999');
  });

  it('refuses to send once closed', async () => {
    const { mailer } = outboxMailer();
    await mailer.close();
    await expect(mailer.send({ to: 'alice@example.com', template: 'passwordReset', params: {} })).rejects.toBeInstanceOf(MailError);
  });
});
