import { describe, expect, it } from 'vitest';
import { MAIL_TEMPLATES, renderMail, type MailTemplate, type RenderInput } from '../../src/mail/index.js';
import { LOCALES, pickStrings, type Strings } from '../../src/mail/strings.js';
import { CODE_FORMATS, cleanText, escapeHtml } from '../../src/mail/templates.js';

// Rendering alone, no delivery: what each mail says, in text and HTML.

const CODES: Record<MailTemplate, string | undefined> = {
  verifyShortCode: '123456',
  verifyLoginCode: '654321',
  unblockCode: 'AB12CD34',
  passwordForgotOtp: '12345678',
  recovery: '0123456789abcdef0123456789abcdef',
  passwordChanged: undefined,
  passwordReset: undefined,
  newDeviceLogin: undefined,
};

const base = { to: 'alice@example.com', publicUrl: 'https://sync.example.com' };
const when = new Date('2025-03-04T05:06:07Z');

function render(template: MailTemplate, extra: Partial<RenderInput> = {}) {
  return renderMail(template, { ...base, code: CODES[template], time: when, ...extra });
}

describe('mail templates', () => {
  it.each(MAIL_TEMPLATES)('%s renders a subject, a text and a self-contained HTML page', (template) => {
    const mail = render(template, { device: 'Firefox on Linux' });
    expect(mail.subject).toMatch(/Foxden/);
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.text).toContain('alice@example.com');
    expect(mail.html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(mail.html).toContain(`<title>${escapeHtml(mail.subject)}</title>`);
    // Nothing a mail client would fetch or run.
    expect(mail.html).not.toMatch(/<(img|script|link|style|iframe)\b|\bsrc=|url\(/i);
    const code = CODES[template];
    if (code) {
      expect(mail.text).toContain(`\n    ${code}\n`);
      expect(mail.html).toMatch(new RegExp(`<p style="[^"]*font-weight:bold[^"]*">${code}</p>`));
    }
  });

  it('names the device and the time of a sign-in', () => {
    const mail = render('verifyLoginCode', { device: 'Firefox on Linux' });
    expect(mail.text).toContain('Device: Firefox on Linux');
    expect(mail.text).toMatch(/When: Tuesday, March 4, 2025 at 5:06:07\sAM UTC/);
    expect(mail.html).toContain('Firefox on Linux');
    expect(render('newDeviceLogin').text).toContain('Device: an unknown device');
    // Notices name a device only when they are given one.
    expect(render('passwordChanged').text).not.toContain('Device:');
    expect(render('passwordChanged', { device: 'Firefox on macOS' }).text).toContain('Device: Firefox on macOS');
    expect(render('verifyShortCode', { device: 'Firefox on Linux' }).text).not.toContain('Device:');
  });

  it('escapes a hostile device string in HTML and keeps it on one line in text', () => {
    const device = `<script>alert("x")</script> & 'Fox'\r\nSubject: spoofed\u202Exnil`;
    const mail = render('newDeviceLogin', { device });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Fox&#39; Subject: spoofed xnil');
    expect(mail.text).toContain(`Device: <script>alert("x")</script> & 'Fox' Subject: spoofed xnil\n`);
    expect(mail.text).not.toMatch(/^Subject:/m);
    expect(mail.text).not.toContain('\u202E');
  });

  it('escapes the address and keeps long device strings short', () => {
    const mail = render('passwordChanged', { email: 'a"<b>@example.com', device: 'x'.repeat(1000) });
    expect(mail.html).toContain('a&quot;&lt;b&gt;@example.com');
    expect(mail.text).toContain(`Device: ${'x'.repeat(200)}\n`);
  });

  it('says how long a code lasts, in the right plural, only when told', () => {
    expect(render('verifyShortCode', { minutes: 1 }).text).toContain('The code expires in 1 minute.');
    expect(render('verifyShortCode', { minutes: 15 }).text).toContain('The code expires in 15 minutes.');
    expect(render('verifyShortCode', { minutes: 15 }).html).toContain('The code expires in 15 minutes.');
    expect(render('verifyShortCode').text).not.toContain('expires');
    expect(() => render('verifyShortCode', { minutes: 0 })).toThrow(TypeError);
    expect(() => render('verifyShortCode', { minutes: 1.5 })).toThrow(TypeError);
  });

  it('warns that a reset without a recovery key makes synced data unreadable', () => {
    for (const template of ['passwordForgotOtp', 'recovery'] as const) {
      const mail = render(template);
      for (const body of [mail.text, mail.html]) {
        expect(body).toMatch(/without an account recovery key/);
        expect(body).toMatch(/can no longer be read/);
        expect(body).toMatch(/uploads it again from each of your devices/);
      }
    }
    expect(render('passwordChanged').text).not.toMatch(/recovery key/);
  });

  it('adds the reset link to the recovery mail when given the link parameters', () => {
    const mail = render('recovery', {
      publicUrl: 'https://example.com/foxden/',
      email: 'bob+fx@example.com',
      link: { uid: 'a'.repeat(32), token: 'b'.repeat(64) },
    });
    const url =
      `https://example.com/foxden/complete_reset_password?uid=${'a'.repeat(32)}&token=${'b'.repeat(64)}` +
      `&code=${CODES.recovery}&email=bob%2Bfx%40example.com`;
    expect(mail.text).toContain(`\n${url}\n`);
    expect(mail.html).toContain(`<a href="${url.replace(/&/g, '&amp;')}"`);
    expect(render('recovery').text).not.toContain('complete_reset_password');
    expect(render('passwordForgotOtp', { link: { uid: 'a', token: 'b' } }).text).not.toContain('complete_reset_password');
  });

  it('points "it was not you" at the reset page under the public URL', () => {
    expect(render('passwordChanged', { publicUrl: 'https://example.com/foxden///' }).text).toContain(
      'https://example.com/foxden/reset_password',
    );
  });

  it('refuses codes of the wrong shape', () => {
    const bad: Array<[MailTemplate, string | undefined]> = [
      ['verifyShortCode', undefined],
      ['verifyShortCode', '12345'],
      ['verifyShortCode', '1234567'],
      ['verifyLoginCode', 'abcdef'],
      ['unblockCode', 'ab12cd34'],
      ['unblockCode', 'AB12CD3'],
      ['passwordForgotOtp', '1234567A'],
      ['recovery', '0123456789abcdef'],
      ['recovery', `${'g'.repeat(32)}`],
    ];
    for (const [template, code] of bad) {
      expect(() => render(template, { code }), `${template} ${code}`).toThrow(TypeError);
    }
    expect(Object.keys(CODE_FORMATS).sort()).toEqual(
      MAIL_TEMPLATES.filter((t) => CODES[t] !== undefined).sort(),
    );
    expect(() => renderMail('nope' as MailTemplate, base)).toThrow(TypeError);
  });

  it('picks the string table by locale and falls back to English', () => {
    expect(pickStrings(undefined).locale).toBe('en');
    expect(pickStrings('en-GB').locale).toBe('en');
    expect(pickStrings('de-DE,de;q=0.9,en;q=0.8').locale).toBe('en');
    expect(pickStrings('xx').locale).toBe('en');
    expect(pickStrings('<script>').locale).toBe('en');
    const mail = render('verifyShortCode', { locale: 'fr-CA,fr;q=0.9' });
    expect(mail.html).toContain('<html lang="en">');
    expect(mail.subject).toBe('Confirm your Foxden account');
  });

  it('uses only the placeholders each string is given', () => {
    const allowed = new Set(['email', 'device', 'time', 'resetUrl', 'publicUrl', 'minutes']);
    const visit = (value: unknown, path: string): void => {
      if (typeof value === 'string') {
        for (const [, name] of value.matchAll(/\{(\w+)\}/g)) expect(allowed, `${path} uses {${name}}`).toContain(name);
      } else if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) visit(inner, `${path}.${key}`);
      }
    };
    for (const [locale, strings] of Object.entries(LOCALES)) {
      visit(strings, locale);
      const templates: Strings['templates'] = strings.templates;
      expect(Object.keys(templates).sort()).toEqual([...MAIL_TEMPLATES].sort());
      for (const template of MAIL_TEMPLATES) {
        // Every template with a code says what the code is.
        if (CODE_FORMATS[template]) expect(templates[template].codeLabel, `${locale}.${template}`).toBeTruthy();
      }
    }
  });

  it('rendered text has no placeholder left over', () => {
    for (const template of MAIL_TEMPLATES) {
      const mail = render(template, { minutes: 5, device: 'Firefox', link: { uid: 'a', token: 'b' } });
      expect(`${mail.subject}${mail.text}${mail.html}`).not.toMatch(/\{\w+\}/);
    }
  });

  it('escapeHtml and cleanText', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(cleanText('  a\tb\n\nc\u2028d\u0000e  ', 100)).toBe('a b c d e');
    expect(cleanText('🦊🦊🦊', 2)).toBe('🦊🦊');
  });
});
