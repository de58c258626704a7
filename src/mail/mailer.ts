import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SendMailOptions, Transporter } from 'nodemailer';
import { renderMail, type MailParams, type MailTemplate } from './templates.js';

// Sends the accounts server's mails: through an SMTP relay when one is configured, otherwise
// into <dataDir>/outbox as .eml files, with the code in the log, so a single-user install works
// without any mail setup.
//
// nodemailer is imported on the first send, not at start: most processes send a mail rarely
// and an idle Foxden should stay small.
//
// The SMTP URL is read by nodemailer itself (parseConnectionUrl in nodemailer 10):
//   smtp://host:587     plain connection, upgraded with STARTTLS whenever the server offers it
//   smtps://host:465    TLS from the first byte
//   smtp://user:pass@host:587   AUTH with PLAIN, LOGIN or CRAM-MD5, the first the server
//                       offers (authMethod=LOGIN picks one); percent-encode special characters
//                       in the user and password. Without them no AUTH is attempted, which is
//                       what a local relay that trusts its clients wants; with them but a server
//                       that offers no AUTH, nodemailer sends without (forceAuth=true tries anyway).
//   ?key=value          sets any nodemailer SMTP option; 'true'/'false' become booleans and
//                       numbers become numbers. 'tls.' keys go to the TLS options, other dotted
//                       keys are ignored. Useful ones:
//                         tls.rejectUnauthorized=false  accept a self-signed relay certificate
//                         tls.servername=mail.example.com  name to verify when connecting by IP
//                         requireTLS=true   refuse to send unless STARTTLS succeeds (without it,
//                                           a server that does not offer STARTTLS gets plain text)
//                         ignoreTLS=true    never STARTTLS
//                         name=foxden.example.com  name given in EHLO (default: the machine's
//                                           name if it has a dot, else [127.0.0.1])
//                         connectionTimeout=, greetingTimeout=, socketTimeout= (milliseconds)
//                         pool=true         keep connections open and reuse them
//   The host, port, secure flag (from the scheme) and credentials of the URL cannot be
//   overridden by the query; query options do override the timeouts set below.

export interface MailMessage {
  to: string;
  template: MailTemplate;
  /** A language tag or an Accept-Language list; English when no table matches. */
  locale?: string;
  params: MailParams;
}

export interface Mailer {
  /**
   * Render and send one mail. Rejects with MailError when it could not be delivered (to the
   * relay, or to the outbox), and with TypeError when the message itself is malformed (a code
   * of the wrong shape, an unusable address): that is a bug in the caller, not an outage.
   */
  send(message: MailMessage): Promise<void>;
  /** Wait for mails under way, then close the SMTP transport. Later sends fail. */
  close(): Promise<void>;
  readonly mode: 'smtp' | 'outbox';
}

export interface MailLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MailerOptions {
  /** smtp:// or smtps:// URL of the relay; unset = write mails to <dataDir>/outbox. */
  smtpUrl?: string;
  /** From header, e.g. 'Foxden <foxden@localhost>'. */
  from: string;
  dataDir: string;
  /** Foxden's public URL, used in links and the footer. */
  publicUrl: string;
  log: MailLog;
}

/** A mail could not be sent. The HTTP layer answers it with errno 151. */
export class MailError extends Error {
  override name = 'MailError';
}

/** A relay that does not accept the connection or greet within this long is given up on. */
export const CONNECTION_TIMEOUT_MS = 10_000;
/** Longest silence from the relay in the middle of a session. */
export const SOCKET_TIMEOUT_MS = 20_000;
/** Longest one send may take in all, however slowly a relay trickles its replies. */
export const SEND_DEADLINE_MS = 30_000;

export function createMailer(options: MailerOptions): Mailer {
  return options.smtpUrl ? new SmtpMailer(options, options.smtpUrl) : new OutboxMailer(options);
}

type NodemailerModule = typeof import('nodemailer');

/** Shared by both modes: render the mail and turn it into nodemailer's message fields. */
abstract class BaseMailer implements Mailer {
  abstract readonly mode: 'smtp' | 'outbox';
  protected closed = false;
  private readonly pending = new Set<Promise<void>>();
  private nodemailer?: Promise<NodemailerModule>;

  constructor(protected readonly options: MailerOptions) {}

  send(message: MailMessage): Promise<void> {
    if (this.closed) return Promise.reject(new MailError('the mailer is closed'));
    const task = this.deliver(message);
    this.pending.add(task);
    const forget = () => this.pending.delete(task);
    task.then(forget, forget);
    return task;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    await this.shutdown();
  }

  protected abstract deliver(message: MailMessage): Promise<void>;
  protected async shutdown(): Promise<void> {}

  protected loadNodemailer(): Promise<NodemailerModule> {
    // Forgotten on failure, so a transient problem does not stick.
    this.nodemailer ??= import('nodemailer').catch((err: unknown) => {
      this.nodemailer = undefined;
      throw err;
    });
    return this.nodemailer;
  }

  protected compose(message: MailMessage, date: Date): SendMailOptions {
    checkAddress(message.to);
    const { subject, text, html } = renderMail(message.template, {
      ...message.params,
      to: message.to,
      locale: message.locale,
      publicUrl: this.options.publicUrl,
    });
    return {
      from: this.options.from,
      // An address object, so nodemailer takes it as one address and does not parse a list out of it.
      to: { name: '', address: message.to },
      subject,
      text,
      html,
      date,
      // RFC 3834: keeps vacation auto-replies from answering these mails.
      headers: { 'Auto-Submitted': 'auto-generated' },
      disableFileAccess: true,
      disableUrlAccess: true,
    };
  }
}

class SmtpMailer extends BaseMailer {
  readonly mode = 'smtp';
  private transport?: Promise<Transporter>;

  constructor(options: MailerOptions, private readonly url: string) {
    super(options);
    // Checked up front, so a typo stops the start instead of failing the first sign-up.
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new MailError('the SMTP URL is not a valid URL (expected smtp://host:port or smtps://host:port)');
    }
    if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
      throw new MailError(`the SMTP URL must start with smtp:// or smtps://, not ${parsed.protocol}//`);
    }
    if (!parsed.hostname) throw new MailError('the SMTP URL has no host');
  }

  protected async deliver(message: MailMessage): Promise<void> {
    const mail = this.compose(message, new Date());
    try {
      const transport = await this.getTransport();
      await transport.sendMail({ ...mail, signal: AbortSignal.timeout(SEND_DEADLINE_MS) });
    } catch (err) {
      const e = err as Error & { code?: unknown; responseCode?: unknown; command?: unknown };
      // The code stays out of the log: in SMTP mode the mailbox is the only place it may be read.
      this.options.log.warn(
        {
          to: message.to,
          template: message.template,
          error: e.message,
          errorCode: e.code,
          responseCode: e.responseCode,
          command: e.command,
        },
        'mail not sent',
      );
      throw new MailError(`mail not sent: ${e.message}`, { cause: err });
    }
    this.options.log.info({ to: message.to, template: message.template }, 'mail sent');
  }

  private getTransport(): Promise<Transporter> {
    this.transport ??= this.loadNodemailer().then((nodemailer) =>
      nodemailer.createTransport({
        url: this.url,
        connectionTimeout: CONNECTION_TIMEOUT_MS,
        greetingTimeout: CONNECTION_TIMEOUT_MS,
        dnsTimeout: CONNECTION_TIMEOUT_MS,
        socketTimeout: SOCKET_TIMEOUT_MS,
      }),
    );
    return this.transport;
  }

  protected override async shutdown(): Promise<void> {
    if (!this.transport) return;
    const transport = await this.transport.catch(() => undefined);
    transport?.close();
  }
}

class OutboxMailer extends BaseMailer {
  readonly mode = 'outbox';
  private readonly dir: string;
  private composer?: Promise<Transporter>;
  private dirReady?: Promise<void>;

  constructor(options: MailerOptions) {
    super(options);
    this.dir = join(options.dataDir, 'outbox');
  }

  protected async deliver(message: MailMessage): Promise<void> {
    const date = new Date();
    const mail = this.compose(message, date);
    const name = `${basicIsoTime(date)}-${message.template}-${randomBytes(4).toString('hex')}.eml`;
    const file = join(this.dir, name);
    try {
      const composer = await this.getComposer();
      const built = await composer.sendMail(mail);
      const raw = (built as { message: unknown }).message;
      if (!Buffer.isBuffer(raw)) throw new Error('nodemailer did not return the message as a buffer');
      await this.ensureDir();
      await writeFile(file, raw, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const e = err as Error;
      this.options.log.warn({ to: message.to, template: message.template, file, error: e.message }, 'mail not written to outbox');
      throw new MailError(`mail not written to outbox: ${e.message}`, { cause: err });
    }
    // Without a relay the log is where the one user of a small install reads the code.
    this.options.log.info({ to: message.to, template: message.template, code: message.params.code, file }, 'mail written to outbox');
  }

  /** nodemailer's stream transport only builds the RFC 822 message; nothing is sent anywhere. */
  private getComposer(): Promise<Transporter> {
    this.composer ??= this.loadNodemailer().then((nodemailer) =>
      nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }),
    );
    return this.composer;
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // mkdir leaves an existing directory as it was; the mails hold codes, so only the owner reads them.
      await chmod(this.dir, 0o700);
    })().catch((err: unknown) => {
      this.dirReady = undefined;
      throw err;
    });
    return this.dirReady;
  }
}

/**
 * One plain address: the envelope takes it as is, so nothing that could make it several
 * recipients, or a header of its own, gets through.
 */
function checkAddress(to: string): void {
  if (to.length > 320 || !/^[^\s@,;:<>()[\]"\\]+@[^\s@,;:<>()[\]"\\]+$/.test(to)) {
    throw new TypeError('the recipient must be one plain email address');
  }
}

/** 2025-03-04T05:06:07.089Z as 20250304T050607.089Z: ISO 8601 basic format, sorts by time, no ':' (which Windows forbids in file names). */
function basicIsoTime(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}
