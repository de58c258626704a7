// Every word a mail says, in one table per language, so a translation is one more table and
// no template changes. Tables hold plain text only: the renderers escape it for HTML and add
// the markup, so a translator cannot break the layout (or inject markup) with a stray '<'.
//
// Placeholders are {name}; the values a template fills in are listed on each key. A key that a
// template fills with fewer values simply has no placeholder for the rest.

/** Forms of one sentence by CLDR plural category ('one', 'few', ...); `other` is required. */
export type Plural = { other: string } & Partial<Record<Intl.LDMLPluralRule, string>>;

/** The words of one template. */
export interface TemplateStrings {
  subject: string;
  /** First line of the body, large in HTML. */
  heading: string;
  /** Paragraph before the code (or the notice itself). {email} {device} {time} {publicUrl} */
  intro: string;
  /** What the code is, right above it. Only for templates that carry a code. */
  codeLabel?: string;
  /** Paragraph after the code and details: what to do if this was not you. {email} {resetUrl} {publicUrl} */
  outro: string;
}

export interface Strings {
  /** Product name in headings and the footer. */
  product: string;
  /** Stands in for a missing device description. */
  unknownDevice: string;
  /** Labels of the details block (device and time of a sign-in or change). */
  deviceLabel: string;
  timeLabel: string;
  /** How long a code lasts. {minutes} */
  expires: Plural;
  /** Before the reset link of the legacy recovery mail. */
  linkLabel: string;
  /** Password reset without an account recovery key: the synced data cannot be decrypted any more. */
  resetDataWarning: string;
  /** Last lines of every mail. {email} {publicUrl} */
  footer: string;
  templates: {
    verifyShortCode: TemplateStrings;
    verifyLoginCode: TemplateStrings;
    unblockCode: TemplateStrings;
    passwordForgotOtp: TemplateStrings;
    recovery: TemplateStrings;
    passwordChanged: TemplateStrings;
    passwordReset: TemplateStrings;
    newDeviceLogin: TemplateStrings;
  };
}

const en: Strings = {
  product: 'Foxden',
  unknownDevice: 'an unknown device',
  deviceLabel: 'Device',
  timeLabel: 'When',
  expires: {
    one: 'The code expires in {minutes} minute.',
    other: 'The code expires in {minutes} minutes.',
  },
  linkLabel: 'Or open this link to choose a new password:',
  resetDataWarning:
    'Important: if you reset your password without an account recovery key, the data Foxden has synced for you ' +
    'so far (bookmarks, passwords, history, open tabs and the rest) can no longer be read. Firefox uploads ' +
    'it again from each of your devices once you sign in on it again, so what is still on a device is not lost.',
  footer: 'This automated email was sent to {email} by Foxden at {publicUrl}.',
  templates: {
    verifyShortCode: {
      subject: 'Confirm your Foxden account',
      heading: 'Confirm your account',
      intro: 'Use this code to finish creating your Foxden account for {email}.',
      codeLabel: 'Your verification code is:',
      outro: "If you didn't create an account, you can ignore this email.",
    },
    verifyLoginCode: {
      subject: 'Confirm your sign-in to Foxden',
      heading: 'Is this you signing in?',
      intro: 'Someone is signing in to {email}. If it is you, confirm the sign-in with this code.',
      codeLabel: 'Your confirmation code is:',
      outro:
        "If it isn't you, someone knows your password: don't share this code with anyone, and change your password at {resetUrl}.",
    },
    unblockCode: {
      subject: 'Your Foxden unblock code',
      heading: 'Unblock your sign-in',
      intro: 'Someone (hopefully you) tried to sign in to {email}. To let that sign-in continue, use this code to unblock it.',
      codeLabel: 'Your unblock code is:',
      outro: "If it wasn't you, don't share this code with anyone, and change your password at {resetUrl}.",
    },
    passwordForgotOtp: {
      subject: 'Reset your Foxden password',
      heading: 'Reset your password',
      intro: 'Someone (hopefully you) asked to reset the password of {email}. Use this code to continue.',
      codeLabel: 'Your reset code is:',
      outro: "If you didn't ask for this, you can ignore this email: your password stays as it is.",
    },
    recovery: {
      subject: 'Reset your Foxden password',
      heading: 'Reset your password',
      intro: 'Someone (hopefully you) asked to reset the password of {email}. Use this code to continue.',
      codeLabel: 'Your reset code is:',
      outro: "If you didn't ask for this, you can ignore this email: your password stays as it is.",
    },
    passwordChanged: {
      subject: 'Your Foxden password was changed',
      heading: 'Password changed',
      intro: 'The password of {email} was changed.',
      outro: "If you didn't change it, reset your password right away at {resetUrl}.",
    },
    passwordReset: {
      subject: 'Your Foxden password was reset',
      heading: 'Password reset',
      intro:
        'The password of {email} was reset, and every device was signed out. Sign in again on each device to keep syncing.',
      outro: "If you didn't reset it, reset your password again right away at {resetUrl}.",
    },
    newDeviceLogin: {
      subject: 'New sign-in to your Foxden account',
      heading: 'New sign-in',
      intro: '{email} was used to sign in on a new device.',
      outro: "If it wasn't you, change your password right away at {resetUrl}.",
    },
  },
};

/** Tables by lowercase BCP 47 tag. Add 'de', 'fr', 'pt-br', ... here. */
export const LOCALES: Readonly<Record<string, Strings>> = { en };

export const DEFAULT_LOCALE = 'en';

/**
 * The table for `locale`: a tag ('de-AT') or an Accept-Language list ('de-AT,de;q=0.9,en;q=0.5').
 * Each tag is tried in order as written, then by its language alone ('de-AT' then 'de');
 * English when nothing matches.
 */
export function pickStrings(locale: string | undefined): { locale: string; strings: Strings } {
  const tags = (locale ?? '')
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase().replace(/_/g, '-'))
    .filter((tag) => /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/.test(tag));
  for (const tag of tags) {
    for (const candidate of [tag, tag.split('-')[0]!]) {
      const strings = LOCALES[candidate];
      if (strings) return { locale: candidate, strings };
    }
  }
  return { locale: DEFAULT_LOCALE, strings: en };
}

/** Fill {name} placeholders; an unknown name stays as written so a typo shows instead of vanishing. */
export function fill(text: string, values: Readonly<Record<string, string | number>>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}

/** The form of `plural` for `count` under the language's plural rules. */
export function plural(locale: string, forms: Plural, count: number): string {
  const category = new Intl.PluralRules(locale).select(count);
  return forms[category] ?? forms.other;
}
