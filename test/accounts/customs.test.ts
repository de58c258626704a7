import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Customs, type CustomsAction, type CustomsSubject } from '../../src/accounts/customs.js';
import { migrate, openDatabase, type Database } from '../../src/db/index.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { testEngines } from '../helpers/server.js';

// Customs' counters on a real database: each rule's limit and window, bans, the unblockable
// login limit, sharing between processes, pruning and the reset after a password reset.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2030, 0, 1);

const IP = '198.51.100.7';
const EMAIL = 'someone@example.com';
const UID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

const ipN = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const emailN = (n: number) => `user${n}@example.net`;
const uidN = (n: number) => n.toString(16).padStart(32, '0');

/** A clock tests move by hand. */
class Clock {
  t = T0;
  readonly now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
  set(t: number): void {
    this.t = t;
  }
}

interface RuleCase {
  rule: string;
  action: CustomsAction;
  limit: number;
  windowMs: number;
  banMs?: number;
  unblockable?: boolean;
  /** The subject of the i-th attempt, varied so that only the rule under test can trip. */
  subject: (i: number) => CustomsSubject;
}

const RULE_CASES: RuleCase[] = [
  { rule: 'accountLogin ip+email 5/15min, unblockable', action: 'accountLogin', limit: 5, windowMs: 15 * MINUTE, unblockable: true, subject: () => ({ ip: IP, email: EMAIL }) },
  { rule: 'accountLogin ip 100/24h, ban 24h', action: 'accountLogin', limit: 100, windowMs: DAY, banMs: DAY, subject: (i) => ({ ip: IP, email: emailN(i) }) },
  { rule: 'accountLogin email 50/24h', action: 'accountLogin', limit: 50, windowMs: DAY, subject: (i) => ({ ip: ipN(i), email: EMAIL }) },
  { rule: 'accountStatusCheck ip 100/15min', action: 'accountStatusCheck', limit: 100, windowMs: 15 * MINUTE, subject: (i) => ({ ip: IP, email: emailN(i) }) },
  { rule: 'accountCreate ip 100/24h', action: 'accountCreate', limit: 100, windowMs: DAY, subject: (i) => ({ ip: IP, email: emailN(i) }) },
  { rule: 'sendCode ip+uid 5/15min', action: 'sendCode', limit: 5, windowMs: 15 * MINUTE, subject: (i) => ({ ip: IP, uid: UID, email: emailN(i) }) },
  { rule: 'sendCode email 5/15min', action: 'sendCode', limit: 5, windowMs: 15 * MINUTE, subject: (i) => ({ ip: ipN(i), uid: UID, email: EMAIL }) },
  { rule: 'verifyCode ip+uid 10/15min', action: 'verifyCode', limit: 10, windowMs: 15 * MINUTE, subject: () => ({ ip: IP, uid: UID }) },
  { rule: 'passwordForgotSendOtp ip+email 5/10min', action: 'passwordForgotSendOtp', limit: 5, windowMs: 10 * MINUTE, subject: () => ({ ip: IP, email: EMAIL }) },
  { rule: 'passwordForgotVerifyOtp ip+email 5/10min', action: 'passwordForgotVerifyOtp', limit: 5, windowMs: 10 * MINUTE, subject: () => ({ ip: IP, email: EMAIL }) },
  { rule: 'sendUnblockCode ip+email 5/15min', action: 'sendUnblockCode', limit: 5, windowMs: 15 * MINUTE, subject: () => ({ ip: IP, email: EMAIL }) },
  { rule: 'accountDestroy ip+uid 5/15min', action: 'accountDestroy', limit: 5, windowMs: 15 * MINUTE, subject: () => ({ ip: IP, uid: UID, email: EMAIL }) },
  { rule: 'invokeDeviceCommand uid 60/1min', action: 'invokeDeviceCommand', limit: 60, windowMs: MINUTE, subject: (i) => ({ ip: ipN(i), uid: UID }) },
  { rule: 'devicesNotify uid 60/1min', action: 'devicesNotify', limit: 60, windowMs: MINUTE, subject: (i) => ({ ip: ipN(i), uid: UID }) },
  { rule: 'default ip 900/15min (other)', action: 'other', limit: 900, windowMs: 15 * MINUTE, subject: () => ({ ip: IP }) },
];

describe.each(await testEngines())('customs (%s)', (engine) => {
  const cleanups: (() => Promise<void>)[] = [];
  let dataDir: string;
  let databaseUrl: string | undefined;
  let database: Database;

  async function open(): Promise<Database> {
    const d = await openDatabase({ dataDir, databaseUrl });
    cleanups.unshift(() => d.close());
    await migrate(d);
    return d;
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'foxden-customs-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    if (engine === 'postgres') {
      const pgdb = await createTestDatabase();
      cleanups.push(pgdb.drop);
      databaseUrl = pgdb.url;
    }
    database = await open();
  });

  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  beforeEach(async () => {
    await database.db.deleteFrom('rate_limits').execute();
  });

  function customs(clock: Clock, db = database): Customs {
    return new Customs(db.db, { now: clock.now });
  }

  async function rowCount(): Promise<number> {
    const row = await database.db.selectFrom('rate_limits').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  describe.each(RULE_CASES)('$rule', (c) => {
    it('allows the limit, refuses the next attempt until the block ends', async () => {
      const clock = new Clock();
      const cu = customs(clock);
      for (let i = 0; i < c.limit; i++) expect(await cu.check(c.action, c.subject(i)), `attempt ${i + 1}`).toBeNull();
      clock.advance(1500);
      const unblockable = c.unblockable ?? false;
      const firstWait = c.banMs !== undefined ? c.banMs / SECOND : Math.ceil((c.windowMs - 1500) / SECOND);
      expect(await cu.check(c.action, c.subject(c.limit))).toEqual({ retryAfter: firstWait, unblockable });

      // Refusals neither count nor move the window: the block ends when it said it would.
      const blockEnd = c.banMs !== undefined ? T0 + 1500 + c.banMs : T0 + c.windowMs;
      clock.set(blockEnd - 10 * SECOND);
      expect(await cu.check(c.action, c.subject(c.limit + 1))).toEqual({ retryAfter: 10, unblockable });
      clock.set(blockEnd - 1);
      expect(await cu.check(c.action, c.subject(c.limit + 2))).toEqual({ retryAfter: 1, unblockable });
      clock.set(blockEnd);
      expect(await cu.check(c.action, c.subject(c.limit + 3))).toBeNull();
    });
  });

  it('starts a fresh window once the window has passed', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 5; i++) expect(await cu.check('accountLogin', who)).toBeNull();
    clock.advance(15 * MINUTE);
    for (let i = 0; i < 5; i++) expect(await cu.check('accountLogin', who)).toBeNull();
    clock.advance(SECOND);
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60 - 1, unblockable: true });
  });

  it('limits passwordForgotVerifyOtp to 10 a day besides 5 per 10 minutes', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 5; i++) expect(await cu.check('passwordForgotVerifyOtp', who)).toBeNull();
    clock.advance(10 * MINUTE);
    for (let i = 0; i < 5; i++) expect(await cu.check('passwordForgotVerifyOtp', who)).toBeNull();
    clock.advance(10 * MINUTE);
    expect(await cu.check('passwordForgotVerifyOtp', who)).toEqual({ retryAfter: (DAY - 20 * MINUTE) / SECOND, unblockable: false });
    clock.set(T0 + DAY - SECOND);
    expect(await cu.check('passwordForgotVerifyOtp', who)).toEqual({ retryAfter: 1, unblockable: false });
    clock.set(T0 + DAY);
    expect(await cu.check('passwordForgotVerifyOtp', who)).toBeNull();
  });

  it('blocks login and password change from an ip+email after 10 wrong passwords, for 15 minutes', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 10; i++) await cu.flagPasswordFailure(who);
    expect(await cu.check('accountLogin', who)).toBeNull();
    clock.advance(SECOND);
    await cu.flagPasswordFailure(who);
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60, unblockable: false });
    expect(await cu.check('passwordChange', who)).toEqual({ retryAfter: 15 * 60, unblockable: false });
    // Other e-mails from the ip, the e-mail from other ips, and actions without a password go on.
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1) })).toBeNull();
    expect(await cu.check('accountLogin', { ip: ipN(1), email: EMAIL })).toBeNull();
    expect(await cu.check('sendUnblockCode', who)).toBeNull();
    clock.set(T0 + SECOND + 15 * MINUTE - 1);
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 1, unblockable: false });
    clock.set(T0 + SECOND + 15 * MINUTE);
    expect(await cu.check('accountLogin', who)).toBeNull();
  });

  it('bans an ip from password checks for 4 hours after 50 wrong passwords in a day', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    for (let i = 0; i < 50; i++) await cu.flagPasswordFailure({ ip: IP, email: emailN(i) });
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1000) })).toBeNull();
    clock.advance(SECOND);
    await cu.flagPasswordFailure({ ip: IP, email: emailN(50) });
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1001) })).toEqual({ retryAfter: 4 * 3600, unblockable: false });
    expect(await cu.check('accountDestroy', { ip: IP, email: emailN(1002), uid: UID })).toEqual({ retryAfter: 4 * 3600, unblockable: false });
    expect(await cu.check('accountLogin', { ip: ipN(1), email: emailN(1003) })).toBeNull();
    clock.set(T0 + SECOND + 4 * HOUR - 1);
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1004) })).toEqual({ retryAfter: 1, unblockable: false });
    clock.set(T0 + SECOND + 4 * HOUR);
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1005) })).toBeNull();
    // Still over the day's limit: the next failure bans again.
    await cu.flagPasswordFailure({ ip: IP, email: emailN(51) });
    expect(await cu.check('accountLogin', { ip: IP, email: emailN(1006) })).toEqual({ retryAfter: 4 * 3600, unblockable: false });
  });

  it('is unblockable only when the login ip+email limit alone refuses, and waits for the longest block', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 5; i++) expect(await cu.check('accountLogin', who)).toBeNull();
    clock.set(T0 + MINUTE);
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 14 * 60, unblockable: true });
    clock.set(T0 + 5 * MINUTE);
    for (let i = 0; i < 11; i++) await cu.flagPasswordFailure(who);
    clock.set(T0 + 6 * MINUTE);
    // Login limit ends at T0+15min, the wrong-password block at T0+20min.
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 14 * 60, unblockable: false });
    clock.set(T0 + 16 * MINUTE);
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 4 * 60, unblockable: false });
  });

  it('counts every action against the default ip limit', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const actions: CustomsAction[] = ['other', 'passwordChange', 'sendCode', 'verifyCode', 'devicesNotify'];
    for (let i = 0; i < 894; i++) expect(await cu.check(actions[i % actions.length]!, { ip: IP, email: emailN(i), uid: uidN(i) })).toBeNull();
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 5; i++) expect(await cu.check('accountLogin', who)).toBeNull();
    // The 900th attempt from the ip is refused by the login limit alone, so it is unblockable...
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60, unblockable: true });
    // ...the 901st by the default limit, whatever the action, and no code unblocks that.
    expect(await cu.check('passwordChange', { ip: IP, email: emailN(900) })).toEqual({ retryAfter: 15 * 60, unblockable: false });
    expect(await cu.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60, unblockable: false });
    expect(await cu.check('other', { ip: ipN(1) })).toBeNull();
  });

  it('compares e-mails without case and treats ::ffff:-mapped IPv4 as IPv4', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    await cu.check('accountLogin', { ip: IP, email: 'Carol@Example.COM' });
    await cu.check('accountLogin', { ip: IP, email: 'carol@example.com' });
    await cu.check('accountLogin', { ip: `::ffff:${IP}`, email: 'CAROL@EXAMPLE.COM' });
    await cu.check('accountLogin', { ip: IP, email: 'cArOl@example.com' });
    await cu.check('accountLogin', { ip: IP, email: 'carol@EXAMPLE.com' });
    expect(await cu.check('accountLogin', { ip: IP, email: 'carol@example.COM' })).toEqual({ retryAfter: 15 * 60, unblockable: true });
  });

  it('shares counts between two processes on one database', async () => {
    const clock = new Clock();
    const other = await open();
    const a = customs(clock);
    const b = customs(clock, other);
    const who = { ip: IP, email: EMAIL };
    for (let i = 0; i < 5; i++) expect(await (i % 2 ? b : a).check('accountLogin', who)).toBeNull();
    expect(await b.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60, unblockable: true });
    expect(await a.check('accountLogin', who)).toEqual({ retryAfter: 15 * 60, unblockable: true });

    // At once from both: exactly the limit gets through.
    const burst = { ip: IP, email: emailN(7) };
    const verdicts = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? b : a).check('accountLogin', burst)));
    expect(verdicts.filter((v) => v === null)).toHaveLength(5);

    // A failure flagged by one process blocks logins in the other.
    const victim = { ip: ipN(9), email: emailN(9) };
    for (let i = 0; i < 11; i++) await (i % 2 ? b : a).flagPasswordFailure(victim);
    expect(await a.check('accountLogin', victim)).toEqual({ retryAfter: 15 * 60, unblockable: false });
  });

  it('prunes only rows whose window and block have both ended', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    await cu.check('invokeDeviceCommand', { ip: ipN(1), uid: UID }); // any:ip 15min, invokeDeviceCommand:uid 1min
    await cu.check('accountCreate', { ip: ipN(2) }); // any:ip 15min, accountCreate:ip 24h
    const who = { ip: ipN(3), email: EMAIL };
    for (let i = 0; i < 10; i++) await cu.flagPasswordFailure(who); // passwordCheckFailed: ip 24h, ip+email 15min
    clock.set(T0 + 10 * MINUTE);
    await cu.flagPasswordFailure(who); // ip+email now blocked until T0+25min, past its window
    // A row of some other user of the table is not customs' to judge.
    await database.db.insertInto('rate_limits').values({ key: 'elsewhere:thing', window_start: 0, count: 1, blocked_until: 0 }).execute();
    expect(await rowCount()).toBe(7);

    clock.set(T0 + 30 * SECOND);
    expect(await cu.prune()).toBe(0);
    clock.set(T0 + 2 * MINUTE);
    expect(await cu.prune()).toBe(1);
    clock.set(T0 + 16 * MINUTE);
    expect(await cu.prune()).toBe(2);
    // The wrong-password block outlives its window and stays until it ends.
    expect(await rowCount()).toBe(4);
    clock.set(T0 + 25 * MINUTE);
    expect(await cu.prune()).toBe(1);
    clock.set(T0 + DAY);
    expect(await cu.prune()).toBe(2);
    const left = await database.db.selectFrom('rate_limits').select('key').execute();
    expect(left).toEqual([{ key: 'elsewhere:thing' }]);
  });

  it("clears an e-mail's counters and blocks on resetEmail, and nothing else", async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const dave = { ip: IP, email: 'Dave@Example.com' };
    const erin = { ip: IP, email: 'erin@example.com' };
    for (let i = 0; i < 6; i++) await cu.check('accountLogin', dave);
    for (let i = 0; i < 6; i++) await cu.check('accountLogin', erin);
    for (let i = 0; i < 11; i++) await cu.flagPasswordFailure(dave);
    for (let i = 0; i < 5; i++) await cu.check('sendCode', { ip: ipN(i), uid: UID, email: dave.email });
    expect(await cu.check('sendCode', { ip: ipN(99), uid: UID, email: dave.email })).toEqual({ retryAfter: 15 * 60, unblockable: false });
    // An ip banned for wrong passwords stays banned.
    for (let i = 0; i < 51; i++) await cu.flagPasswordFailure({ ip: ipN(500), email: emailN(i) });

    await cu.resetEmail('DAVE@example.COM');
    expect(await cu.check('accountLogin', dave)).toBeNull();
    expect(await cu.check('sendCode', { ip: ipN(100), uid: UID, email: dave.email })).toBeNull();
    expect(await cu.check('accountLogin', erin)).toEqual({ retryAfter: 15 * 60, unblockable: true });
    expect(await cu.check('accountLogin', { ip: ipN(500), email: dave.email })).toEqual({ retryAfter: 4 * 3600, unblockable: false });
  });

  it('allows everything when disabled, and flag/reset/prune still work', async () => {
    const cu = new Customs(database.db, { enabled: false });
    const who = { ip: IP, email: EMAIL, uid: UID };
    for (let i = 0; i < 20; i++) {
      expect(await cu.check('accountLogin', who)).toBeNull();
      await cu.flagPasswordFailure(who);
    }
    await cu.resetEmail(EMAIL);
    expect(await cu.prune()).toBe(0);
    expect(await rowCount()).toBe(0);
  });

  it('stores no e-mail, ip or uid in clear', async () => {
    const clock = new Clock();
    const cu = customs(clock);
    const subjects: CustomsSubject[] = [
      { ip: '203.0.113.77', email: 'Frank.Secret@Example.org', uid: UID },
      { ip: '2001:db8::beef', email: 'grace.hidden@example.org', uid: UID },
    ];
    const actions: CustomsAction[] = [
      'accountLogin',
      'accountCreate',
      'accountStatusCheck',
      'sendCode',
      'verifyCode',
      'passwordForgotSendOtp',
      'passwordForgotVerifyOtp',
      'sendUnblockCode',
      'accountDestroy',
      'invokeDeviceCommand',
      'devicesNotify',
      'passwordChange',
      'other',
    ];
    for (const s of subjects) {
      for (const a of actions) await cu.check(a, s);
      await cu.flagPasswordFailure(s);
    }
    const rows = await database.db.selectFrom('rate_limits').selectAll().execute();
    expect(rows.length).toBeGreaterThan(20);
    const dump = JSON.stringify(rows).toLowerCase();
    for (const needle of ['frank', 'grace', 'example.org', '203.0.113', '2001:db8', UID]) expect(dump).not.toContain(needle);
    for (const row of rows) expect(row.key).toMatch(/^[A-Za-z.]+:(ip|email|uid|ip\+email|ip\+uid):[0-9a-f]{32}(\.[0-9a-f]{32})?$/);
  });
});
