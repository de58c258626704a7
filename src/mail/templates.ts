import { fill, pickStrings, plural, type Strings, type TemplateStrings } from './strings.js';

// The mails the accounts server sends, each rendered as plain text and as HTML from the same
// list of blocks, so the two never say different things. Words come from strings.ts.

export const MAIL_TEMPLATES = [
  'verifyShortCode',
  'verifyLoginCode',
  'unblockCode',
  'passwordForgotOtp',
  'recovery',
  'passwordChanged',
  'passwordReset',
  'newDeviceLogin',
] as const;

export type MailTemplate = (typeof MAIL_TEMPLATES)[number];

export interface MailParams {
  /** The account's address, as the mail names it; the recipient when unset. */
  email?: string;
  /** The code the mail carries; its format depends on the template (see CODE_FORMATS). */
  code?: string;
  /** The browser and system of a sign-in, e.g. 'Firefox on Linux'. Comes from the client, so it is cleaned and escaped. */
  device?: string;
  /** When the sign-in or change happened; the time of rendering when unset. Shown in UTC. */
  time?: Date;
  /** How many minutes the code stays valid; the mail says so when given. */
  minutes?: number;
  /** recovery only: the uid and token for the reset link (its code and email are the fields above). */
  link?: { uid: string; token: string };
}

export interface RenderInput extends MailParams {
  /** Recipient address, named in the footer. */
  to: string;
  /** Foxden's public URL, e.g. https://sync.example.com (a path prefix is fine). */
  publicUrl: string;
  /** A language tag or an Accept-Language list; English when no table matches. */
  locale?: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** What each code looks like. A code that does not match is a bug in the caller, not a user error. */
export const CODE_FORMATS: Readonly<Partial<Record<MailTemplate, { pattern: RegExp; describe: string }>>> = {
  verifyShortCode: { pattern: /^[0-9]{6}$/, describe: '6 digits' },
  verifyLoginCode: { pattern: /^[0-9]{6}$/, describe: '6 digits' },
  unblockCode: { pattern: /^[A-Z0-9]{8}$/, describe: '8 characters of A-Z and 0-9' },
  passwordForgotOtp: { pattern: /^[0-9]{8}$/, describe: '8 digits' },
  recovery: { pattern: /^[0-9a-fA-F]{32}$/, describe: '32 hex digits' },
};

/** Templates that show where and when: the sign-in ones always name a device, the others only when given one. */
const DETAILS: Readonly<Partial<Record<MailTemplate, { alwaysDevice: boolean }>>> = {
  verifyLoginCode: { alwaysDevice: true },
  newDeviceLogin: { alwaysDevice: true },
  unblockCode: { alwaysDevice: false },
  passwordChanged: { alwaysDevice: false },
  passwordReset: { alwaysDevice: false },
};

type Block =
  | { kind: 'paragraph'; text: string }
  | { kind: 'code'; label: string; code: string }
  | { kind: 'details'; rows: Array<[label: string, value: string]> }
  | { kind: 'link'; label: string; url: string }
  | { kind: 'warning'; text: string };

export function renderMail(template: MailTemplate, input: RenderInput): RenderedMail {
  if (!MAIL_TEMPLATES.includes(template)) throw new TypeError(`unknown mail template ${JSON.stringify(template)}`);
  const { locale, strings } = pickStrings(input.locale);
  const words: TemplateStrings = strings.templates[template];
  const publicUrl = input.publicUrl.replace(/\/+$/, '');
  const to = cleanText(input.to, 320);
  const email = input.email === undefined ? to : cleanText(input.email, 320);
  const device = input.device === undefined ? undefined : cleanText(input.device, 200) || undefined;
  const time = formatTime(locale, input.time ?? new Date());
  const values = {
    email,
    device: device ?? strings.unknownDevice,
    time,
    resetUrl: `${publicUrl}/reset_password`,
    publicUrl,
  };

  const blocks: Block[] = [{ kind: 'paragraph', text: fill(words.intro, values) }];
  const format = CODE_FORMATS[template];
  if (format) {
    const code = input.code ?? '';
    if (!format.pattern.test(code)) throw new TypeError(`mail template ${template} needs a code of ${format.describe}`);
    blocks.push({ kind: 'code', label: words.codeLabel ?? '', code });
    if (input.minutes !== undefined) {
      if (!Number.isInteger(input.minutes) || input.minutes < 1) throw new TypeError('minutes must be a whole number of at least 1');
      blocks.push({ kind: 'paragraph', text: fill(plural(locale, strings.expires, input.minutes), { minutes: input.minutes }) });
    }
  }
  const details = DETAILS[template];
  if (details) {
    const rows: Array<[string, string]> = [];
    if (details.alwaysDevice || device !== undefined) rows.push([strings.deviceLabel, values.device]);
    rows.push([strings.timeLabel, time]);
    blocks.push({ kind: 'details', rows });
  }
  if (template === 'recovery' && input.link) {
    const query = new URLSearchParams({ uid: input.link.uid, token: input.link.token, code: input.code ?? '', email });
    blocks.push({ kind: 'link', label: strings.linkLabel, url: `${publicUrl}/complete_reset_password?${query}` });
  }
  if (template === 'passwordForgotOtp' || template === 'recovery') {
    blocks.push({ kind: 'warning', text: strings.resetDataWarning });
  }
  blocks.push({ kind: 'paragraph', text: fill(words.outro, values) });

  const subject = fill(words.subject, values);
  const heading = fill(words.heading, values);
  const footer = fill(strings.footer, { email: to, publicUrl });
  return {
    subject,
    text: renderText(heading, blocks, footer),
    html: renderHtml(locale, subject, heading, blocks, footer, strings),
  };
}

function renderText(heading: string, blocks: Block[], footer: string): string {
  const parts = [heading];
  for (const block of blocks) {
    switch (block.kind) {
      case 'paragraph':
      case 'warning':
        parts.push(block.text);
        break;
      case 'code':
        // Indented on a line of its own, so a double click selects the code and nothing else.
        parts.push(`${block.label}\n\n    ${block.code}`);
        break;
      case 'details':
        parts.push(block.rows.map(([label, value]) => `${label}: ${value}`).join('\n'));
        break;
      case 'link':
        parts.push(`${block.label}\n${block.url}`);
        break;
    }
  }
  // '-- ' is the signature separator mail clients recognise.
  parts.push(`-- \n${footer}`);
  return `${parts.join('\n\n')}\n`;
}

// Inline styles only: mail clients drop <style> blocks and must not fetch anything.
const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const STYLE = {
  body: 'margin:0;padding:0;background-color:#f5f5f7;',
  box: `max-width:560px;margin:0 auto;padding:32px 24px;${FONT};font-size:16px;line-height:1.5;color:#15141a;background-color:#ffffff;`,
  product: 'margin:0 0 24px;font-size:14px;font-weight:bold;letter-spacing:1px;text-transform:uppercase;color:#e25920;',
  heading: 'margin:0 0 16px;font-size:24px;line-height:1.3;font-weight:bold;',
  paragraph: 'margin:0 0 16px;',
  codeLabel: 'margin:24px 0 8px;',
  code: 'margin:0 0 24px;padding:16px;border:1px solid #d7d7db;border-radius:8px;background-color:#f9f9fb;' +
    "font-family:'SFMono-Regular',Menlo,Consolas,'Liberation Mono',monospace;font-weight:bold;text-align:center;word-break:break-all;",
  details: 'margin:0 0 16px;padding:12px 16px;border-left:4px solid #d7d7db;background-color:#f9f9fb;',
  detailLabel: 'color:#5b5b66;',
  link: 'color:#0060df;word-break:break-all;',
  warning: 'margin:0 0 16px;padding:12px 16px;border-left:4px solid #e25920;background-color:#fff4ec;',
  footer: 'margin:32px 0 0;padding-top:16px;border-top:1px solid #e0e0e6;font-size:13px;color:#5b5b66;',
};

function renderHtml(locale: string, subject: string, heading: string, blocks: Block[], footer: string, strings: Strings): string {
  const body: string[] = [
    `<p style="${STYLE.product}">${escapeHtml(strings.product)}</p>`,
    `<h1 style="${STYLE.heading}">${escapeHtml(heading)}</h1>`,
  ];
  for (const block of blocks) {
    switch (block.kind) {
      case 'paragraph':
        body.push(`<p style="${STYLE.paragraph}">${escapeHtml(block.text)}</p>`);
        break;
      case 'warning':
        body.push(`<p style="${STYLE.warning}">${escapeHtml(block.text)}</p>`);
        break;
      case 'code': {
        // Short codes big and spaced out; the 32-character recovery code smaller so it fits a phone.
        const size = block.code.length > 8 ? 'font-size:20px;letter-spacing:1px;' : 'font-size:32px;letter-spacing:6px;';
        body.push(`<p style="${STYLE.codeLabel}">${escapeHtml(block.label)}</p>`);
        body.push(`<p style="${STYLE.code}${size}">${escapeHtml(block.code)}</p>`);
        break;
      }
      case 'details': {
        const rows = block.rows.map(
          ([label, value]) => `<span style="${STYLE.detailLabel}">${escapeHtml(label)}:</span> ${escapeHtml(value)}`,
        );
        body.push(`<p style="${STYLE.details}">${rows.join('<br>')}</p>`);
        break;
      }
      case 'link':
        body.push(
          `<p style="${STYLE.paragraph}">${escapeHtml(block.label)}<br>` +
            `<a href="${escapeHtml(block.url)}" style="${STYLE.link}">${escapeHtml(block.url)}</a></p>`,
        );
        break;
    }
  }
  body.push(`<p style="${STYLE.footer}">${escapeHtml(footer)}</p>`);
  return [
    '<!DOCTYPE html>',
    `<html lang="${escapeHtml(locale)}">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(subject)}</title>`,
    '</head>',
    `<body style="${STYLE.body}">`,
    `<div style="${STYLE.box}">`,
    ...body,
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escape text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * Free text from outside (a device name a client sent, an address) on one line: control
 * characters, line separators and bidirectional overrides become spaces, so it cannot add lines
 * to the text mail or make itself read backwards, and it is cut to `max` characters.
 */
export function cleanText(value: string, max: number): string {
  const flat = value
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return [...flat].slice(0, max).join('');
}

/** The time in UTC: the server does not know the reader's time zone, and saying UTC is honest. */
function formatTime(locale: string, time: Date): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'long', timeZone: 'UTC' }).format(time);
}
