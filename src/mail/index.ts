// Mail for the accounts server: templates (templates.ts, words in strings.ts) and delivery (mailer.ts).

export { createMailer, MailError, type Mailer, type MailerOptions, type MailLog, type MailMessage } from './mailer.js';
export { MAIL_TEMPLATES, renderMail, type MailParams, type MailTemplate, type RenderedMail, type RenderInput } from './templates.js';
