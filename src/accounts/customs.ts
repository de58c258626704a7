import { createHash } from 'node:crypto';
import type { RawBuilder } from 'kysely';
import type { Db } from '../db/index.js';
import { sql } from '../db/kysely.js';

// Rate limits before sensitive actions, in the spirit of Mozilla's customs service. Counters
// are fixed windows kept in the rate_limits table, so every process sharing the database sees
// the same counts. A key is `<action>:<kind>:<hash>`, the hash being the first 32 hex digits of
// SHA-256 over each subject part (two hashes joined by '.' for ip+email and ip+uid), so the
// table holds no address or e-mail in clear.

export type CustomsAction =
  | 'accountLogin'
  | 'accountCreate'
  | 'accountStatusCheck'
  | 'sendCode'
  | 'verifyCode'
  | 'passwordForgotSendOtp'
  | 'passwordForgotVerifyOtp'
  | 'sendUnblockCode'
  | 'accountDestroy'
  | 'invokeDeviceCommand'
  | 'devicesNotify'
  | 'passwordChange'
  | 'other';

export interface CustomsSubject {
  ip: string;
  email?: string;
  uid?: string;
}

export interface Verdict {
  /** Whole seconds until the attempt may succeed, at least 1. */
  retryAfter: number;
  /** An emailed unblock code may bypass the refusal (only the per-ip+email login limit). */
  unblockable: boolean;
}

export type CustomsKeyKind = 'ip' | 'email' | 'uid' | 'ip+email' | 'ip+uid';

export interface CustomsRule {
  /** First part of the key; the action name, or a variant of it when one action has two rules on one kind. */
  name: string;
  kind: CustomsKeyKind;
  /** Attempts allowed per window; the next one is refused. */
  limit: number;
  windowMs: number;
  /** When set, exceeding blocks this long from the refused attempt instead of until the window ends. */
  banMs?: number;
  unblockable?: boolean;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function rule(name: string, kind: CustomsKeyKind, limit: number, windowMs: number, extra: Pick<CustomsRule, 'banMs' | 'unblockable'> = {}): CustomsRule {
  return { name, kind, limit, windowMs, ...extra };
}

/** Counted on every check, whatever the action. */
export const DEFAULT_RULE: CustomsRule = rule('any', 'ip', 900, 15 * MINUTE);

/** Counted by flagPasswordFailure; their blocks refuse the actions in PASSWORD_ACTIONS. */
export const PASSWORD_FAILURE_RULES: readonly CustomsRule[] = [
  rule('passwordCheckFailed', 'ip', 50, DAY, { banMs: 4 * HOUR }),
  rule('passwordCheckFailed', 'ip+email', 10, 15 * MINUTE, { banMs: 15 * MINUTE }),
];

/** Actions that check a password, and so are refused while too many wrong passwords were reported. */
export const PASSWORD_ACTIONS: ReadonlySet<CustomsAction> = new Set<CustomsAction>(['accountLogin', 'passwordChange', 'accountDestroy']);

/** Rules counted by check(action), besides DEFAULT_RULE. */
export const CUSTOMS_RULES: Readonly<Record<CustomsAction, readonly CustomsRule[]>> = {
  accountLogin: [
    rule('accountLogin', 'ip+email', 5, 15 * MINUTE, { unblockable: true }),
    rule('accountLogin', 'ip', 100, DAY, { banMs: DAY }),
    rule('accountLogin', 'email', 50, DAY),
  ],
  accountCreate: [rule('accountCreate', 'ip', 100, DAY)],
  accountStatusCheck: [rule('accountStatusCheck', 'ip', 100, 15 * MINUTE)],
  sendCode: [rule('sendCode', 'ip+uid', 5, 15 * MINUTE), rule('sendCode', 'email', 5, 15 * MINUTE)],
  verifyCode: [rule('verifyCode', 'ip+uid', 10, 15 * MINUTE)],
  passwordForgotSendOtp: [rule('passwordForgotSendOtp', 'ip+email', 5, 10 * MINUTE)],
  passwordForgotVerifyOtp: [
    rule('passwordForgotVerifyOtp', 'ip+email', 5, 10 * MINUTE),
    rule('passwordForgotVerifyOtp.day', 'ip+email', 10, DAY),
  ],
  sendUnblockCode: [rule('sendUnblockCode', 'ip+email', 5, 15 * MINUTE)],
  accountDestroy: [rule('accountDestroy', 'ip+uid', 5, 15 * MINUTE)],
  invokeDeviceCommand: [rule('invokeDeviceCommand', 'uid', 60, MINUTE)],
  devicesNotify: [rule('devicesNotify', 'uid', 60, MINUTE)],
  passwordChange: [],
  other: [],
};

const ALL_RULES: readonly CustomsRule[] = [DEFAULT_RULE, ...PASSWORD_FAILURE_RULES, ...Object.values(CUSTOMS_RULES).flat()];

function hashPart(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 32);
}

function rulePrefix(r: CustomsRule): string {
  return `${r.name}:${r.kind}:`;
}

interface NormalSubject {
  ip: string;
  email: string | undefined;
  uid: string | undefined;
}

function normalizeIp(ip: string): string {
  const lower = ip.trim().toLowerCase();
  // An IPv4 client seen through a dual-stack socket is the same client.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped ? mapped[1]! : lower;
}

function normalize(subject: CustomsSubject): NormalSubject {
  return {
    ip: normalizeIp(subject.ip),
    email: subject.email === undefined ? undefined : subject.email.toLowerCase(),
    uid: subject.uid === undefined ? undefined : subject.uid.toLowerCase(),
  };
}

/** The counter key of a rule for a subject, or undefined when the subject lacks a part the rule needs. */
function keyFor(r: CustomsRule, s: NormalSubject): string | undefined {
  let hash: string;
  switch (r.kind) {
    case 'ip':
      hash = hashPart(s.ip);
      break;
    case 'email':
      if (s.email === undefined) return undefined;
      hash = hashPart(s.email);
      break;
    case 'uid':
      if (s.uid === undefined) return undefined;
      hash = hashPart(s.uid);
      break;
    case 'ip+email':
      if (s.email === undefined) return undefined;
      hash = `${hashPart(s.ip)}.${hashPart(s.email)}`;
      break;
    case 'ip+uid':
      if (s.uid === undefined) return undefined;
      hash = `${hashPart(s.ip)}.${hashPart(s.uid)}`;
      break;
  }
  return rulePrefix(r) + hash;
}

interface Counted {
  rule: CustomsRule;
  key: string;
}

function keysFor(rules: readonly CustomsRule[], s: NormalSubject): Counted[] {
  const out: Counted[] = [];
  for (const r of rules) {
    const key = keyFor(r, s);
    if (key !== undefined) out.push({ rule: r, key });
  }
  return out;
}

export class Customs {
  private readonly enabled: boolean;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    options: { enabled?: boolean; now?: () => number } = {},
  ) {
    this.enabled = options.enabled ?? true;
    this.now = options.now ?? Date.now;
  }

  /** Counts the attempt; returns a Verdict when it must be refused, null when allowed. */
  async check(action: CustomsAction, subject: CustomsSubject): Promise<Verdict | null> {
    if (!this.enabled) return null;
    const now = this.now();
    const s = normalize(subject);
    const counted = keysFor([DEFAULT_RULE, ...CUSTOMS_RULES[action]], s);
    const peeked = PASSWORD_ACTIONS.has(action) ? keysFor(PASSWORD_FAILURE_RULES, s) : [];
    const [bumped, blocks] = await Promise.all([
      Promise.all(counted.map(async (c) => ({ rule: c.rule, blockedUntil: await this.bump(c.rule, c.key, now) }))),
      this.blockedAmong(peeked, now),
    ]);
    return verdict([...bumped, ...blocks], now);
  }

  /** Report a failure (wrong password); counts toward passwordCheckFailed rules and may set a block. */
  async flagPasswordFailure(subject: CustomsSubject): Promise<void> {
    if (!this.enabled) return;
    const now = this.now();
    await Promise.all(keysFor(PASSWORD_FAILURE_RULES, normalize(subject)).map((c) => this.bump(c.rule, c.key, now)));
  }

  /** A successful password reset clears the e-mail's counters and blocks. */
  async resetEmail(email: string): Promise<void> {
    const hash = hashPart(email.toLowerCase());
    await this.db
      .deleteFrom('rate_limits')
      .where((eb) => eb.or([eb('key', 'like', `%:email:${hash}`), eb('key', 'like', `%:ip+email:%.${hash}`)]))
      .execute();
  }

  /**
   * Delete rows whose window and block have both ended; call periodically. Returns rows
   * removed. Only keys of the rules above are touched, each judged by its own window.
   */
  async prune(): Promise<number> {
    const now = this.now();
    const prefixesByWindow = new Map<number, Set<string>>();
    for (const r of ALL_RULES) {
      const set = prefixesByWindow.get(r.windowMs) ?? new Set<string>();
      set.add(rulePrefix(r));
      prefixesByWindow.set(r.windowMs, set);
    }
    const result = await this.db
      .deleteFrom('rate_limits')
      .where('blocked_until', '<=', now)
      .where((eb) =>
        eb.or(
          [...prefixesByWindow].map(([windowMs, prefixes]) =>
            eb.and([eb('window_start', '<=', now - windowMs), eb.or([...prefixes].map((p) => eb('key', 'like', `${p}%`)))]),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Count one attempt on a key in a single upsert and return the key's blocked_until. A key
   * still blocked is left as it is; a window that has passed starts afresh with this attempt;
   * otherwise the count goes up, and going over the limit sets the block.
   */
  private async bump(r: CustomsRule, key: string, now: number): Promise<number> {
    const windowStart = sql.ref('rate_limits.window_start');
    const count = sql.ref('rate_limits.count');
    const blockedUntil = sql.ref('rate_limits.blocked_until');
    const blocked = sql`${blockedUntil} > ${now}`;
    const expired = sql`${windowStart} <= ${now - r.windowMs}`;
    const nextStart = sql`case when ${expired} then ${now} else ${windowStart} end`;
    const nextCount = sql`case when ${expired} then 1 else ${count} + 1 end`;
    const blockEnd: RawBuilder<number> | number = r.banMs !== undefined ? now + r.banMs : sql<number>`${nextStart} + ${r.windowMs}`;
    const firstBlock = r.limit < 1 ? now + (r.banMs ?? r.windowMs) : 0;
    const row = await this.db
      .insertInto('rate_limits')
      .values({ key, window_start: now, count: 1, blocked_until: firstBlock })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          window_start: sql<number>`case when ${blocked} then ${windowStart} else ${nextStart} end`,
          count: sql<number>`case when ${blocked} then ${count} else ${nextCount} end`,
          blocked_until: sql<number>`case when ${blocked} then ${blockedUntil} when ${nextCount} > ${r.limit} then ${blockEnd} else ${blockedUntil} end`,
        }),
      )
      .returning('blocked_until')
      .executeTakeFirstOrThrow();
    return Number(row.blocked_until);
  }

  /** Blocks currently set on the given keys, read without counting. */
  private async blockedAmong(keys: Counted[], now: number): Promise<{ rule: CustomsRule; blockedUntil: number }[]> {
    if (keys.length === 0) return [];
    const rows = await this.db
      .selectFrom('rate_limits')
      .select(['key', 'blocked_until'])
      .where('key', 'in', keys.map((k) => k.key))
      .where('blocked_until', '>', now)
      .execute();
    const byKey = new Map(rows.map((row) => [row.key, Number(row.blocked_until)]));
    return keys.flatMap((k) => {
      const until = byKey.get(k.key);
      return until === undefined ? [] : [{ rule: k.rule, blockedUntil: until }];
    });
  }
}

/** Refuse with the longest wait among blocked rules; unblockable only if every one of them is. */
function verdict(results: { rule: CustomsRule; blockedUntil: number }[], now: number): Verdict | null {
  let retryAfter = 0;
  let unblockable = true;
  for (const { rule: r, blockedUntil } of results) {
    if (blockedUntil <= now) continue;
    retryAfter = Math.max(retryAfter, Math.max(1, Math.ceil((blockedUntil - now) / 1000)));
    if (!r.unblockable) unblockable = false;
  }
  return retryAfter > 0 ? { retryAfter, unblockable } : null;
}
