import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { parseMail } from '../mail/support.js';

// A mailbox for end-to-end tests: a real SMTP listener (smtp-server) that Foxden relays to via
// FOXDEN_SMTP_URL, plus ways to wait for a mail and read the code out of it. Each mail is
// handed out once, so a test that waits for "the next sign-in code to X" never gets an older one.

export interface Mail {
  /** Envelope sender and recipients, as given in MAIL FROM / RCPT TO. */
  from: string;
  to: string[];
  /** Header values by lower-case name, decoded. */
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
  raw: string;
  receivedAt: number;
}

export interface MailQuery {
  /** Envelope recipient, compared case-insensitively. */
  to?: string;
  subject?: string | RegExp;
}

export interface Mailbox {
  port: number;
  /** The value for FOXDEN_SMTP_URL. */
  smtpUrl: string;
  /** Every mail received so far, claimed or not. */
  readonly all: readonly Mail[];
  /** The oldest unclaimed mail matching `query`, waiting for it up to `timeoutMs`; claims it. */
  next(query: MailQuery, timeoutMs?: number): Promise<Mail>;
  /** Unclaimed mails matching `query`, without claiming them. */
  pending(query?: MailQuery): Mail[];
  close(): Promise<void>;
}

function matches(mail: Mail, query: MailQuery): boolean {
  if (query.to !== undefined && !mail.to.some((t) => t.toLowerCase() === query.to!.toLowerCase())) return false;
  if (typeof query.subject === 'string' && mail.subject !== query.subject) return false;
  if (query.subject instanceof RegExp && !query.subject.test(mail.subject)) return false;
  return true;
}

function describeQuery(query: MailQuery): string {
  return [query.to ? `to ${query.to}` : '', query.subject ? `subject ${String(query.subject)}` : ''].filter(Boolean).join(', ') || 'any mail';
}

/** Start an SMTP listener on 127.0.0.1 (no AUTH, no TLS: a local relay that trusts its clients). */
export async function startMailbox(): Promise<Mailbox> {
  const all: Mail[] = [];
  const claimed = new Set<Mail>();
  const waiters = new Set<() => void>();

  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const parsed = parseMail(raw);
        all.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          headers: parsed.headers,
          subject: parsed.headers.get('subject') ?? '',
          text: parsed.text ?? '',
          html: parsed.html ?? '',
          raw,
          receivedAt: Date.now(),
        });
        for (const wake of [...waiters]) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  const pending = (query: MailQuery = {}) => all.filter((m) => !claimed.has(m) && matches(m, query));

  return {
    port,
    smtpUrl: `smtp://127.0.0.1:${port}`,
    all,
    pending,
    next(query, timeoutMs = 5000) {
      return new Promise<Mail>((resolve, reject) => {
        const check = (): boolean => {
          const found = pending(query)[0];
          if (!found) return false;
          claimed.add(found);
          resolve(found);
          return true;
        };
        if (check()) return;
        const wake = () => {
          if (check()) done();
        };
        const timer = setTimeout(() => {
          done();
          const seen = all.map((m) => `  ${m.to.join(',')}: ${m.subject}${claimed.has(m) ? ' (claimed)' : ''}`).join('\n');
          reject(new Error(`no mail (${describeQuery(query)}) within ${timeoutMs} ms; received:\n${seen || '  nothing'}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        waiters.add(wake);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The code a mail carries. Foxden's plain-text part puts it on a line of its own, indented by
 * four spaces; `shape` says what it must look like (6 digits for sign-up and sign-in codes,
 * 32 hex digits for the legacy reset code, ...).
 */
export function mailCode(mail: Mail, shape: RegExp = /^\d{6}$/): string {
  const candidates = [...mail.text.matchAll(/^ {4}(\S+)$/gm)].map((m) => m[1]!);
  const code = candidates.find((c) => shape.test(c));
  if (!code) throw new Error(`no code of shape ${shape} in mail "${mail.subject}":\n${mail.text}`);
  // The HTML part must carry the same code, or a user reading HTML mail sees another one.
  if (!mail.html.includes(code)) throw new Error(`the HTML part of "${mail.subject}" lacks the code ${code}`);
  return code;
}
