import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Reading the mails a server without SMTP writes to <dataDir>/outbox.

export interface OutboxMail {
  file: string;
  template: string;
  to: string;
  /** The text part, quoted-printable decoded. */
  text: string;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = Buffer.from(s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  return bytes.toString('utf8');
}

export function outbox(dataDir: string): OutboxMail[] {
  const dir = join(dataDir, 'outbox');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((file) => {
      const raw = readFileSync(join(dir, file), 'utf8');
      const template = /-([A-Za-z]+)-[0-9a-f]+\.eml$/.exec(file)?.[1] ?? '';
      const to = /^To: (.*)$/im.exec(raw)?.[1]?.trim() ?? '';
      const textPart = /Content-Type: text\/plain[^]*?\r?\n\r?\n([^]*?)\r?\n--/i.exec(raw)?.[1] ?? raw;
      const qp = /Content-Transfer-Encoding: quoted-printable/i.test(raw);
      return { file, template, to, text: qp ? decodeQuotedPrintable(textPart) : textPart };
    });
}

/** The code in the newest mail of `template` to `to` (6 or 8 digits, 8 alphanumerics or 32 hex). */
export async function latestCode(dataDir: string, template: string, to?: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mail = outbox(dataDir)
      .filter((m) => m.template === template && (to === undefined || m.to.toLowerCase().includes(to.toLowerCase())))
      .at(-1);
    const code = mail && /(?:^|\s)([0-9a-f]{32}|[A-Z0-9]{8}|\d{8}|\d{6})(?:\s|$)/m.exec(mail.text)?.[1];
    if (code) return code;
    if (Date.now() > deadline) throw new Error(`no ${template} mail with a code in ${dataDir}/outbox`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
