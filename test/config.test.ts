import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, publicPathPrefix } from '../src/config.js';

function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'foxden-config-')), name);
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  it('has working defaults: SQLite under ./data on 127.0.0.1:8000', () => {
    const c = loadConfig({ env: {} });
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8000);
    expect(c.dataDir).toBe(resolve('data'));
    expect(c.databaseUrl).toBeUndefined();
    expect(c.publicUrl).toBeUndefined();
    expect(c.syncMasterSecrets).toEqual([]);
    expect(c.storage).toMatchObject({ maxPostRecords: 100, maxPostBytes: 2_621_440, maxRequestBytes: 2_625_536, quotaBytes: 0 });
  });

  it('reads the environment', () => {
    const c = loadConfig({
      env: {
        FOXDEN_PUBLIC_URL: 'https://sync.example.com/foxden/',
        FOXDEN_PORT: '9000',
        FOXDEN_DATABASE_URL: 'postgres://u:p@db/foxden',
        FOXDEN_SYNC_MASTER_SECRET: 'first-secret-value-123, second-secret-value-456',
        FOXDEN_STORAGE_QUOTA_BYTES: '1048576',
      },
    });
    expect(c.publicUrl?.toString()).toBe('https://sync.example.com/foxden');
    expect(publicPathPrefix(c)).toBe('/foxden');
    expect(c.port).toBe(9000);
    expect(c.databaseUrl).toBe('postgres://u:p@db/foxden');
    expect(c.syncMasterSecrets).toEqual(['first-secret-value-123', 'second-secret-value-456']);
    expect(c.storage.quotaBytes).toBe(1048576);
  });

  it('has account defaults: first sign-up only, codes for new devices, outbox mail, rate limits on', () => {
    const c = loadConfig({ env: {} });
    expect(c.accounts).toEqual({
      smtpUrl: undefined,
      mailFrom: 'Foxden <foxden@localhost>',
      registration: 'first',
      registrationAllowlist: [],
      signinConfirmation: 'new-device',
      rateLimits: true,
      scryptConcurrency: 0,
    });
    expect(c.trustedProxies).toBeUndefined();
    expect(loadConfig({ env: { FOXDEN_PUBLIC_URL: 'https://sync.example.com' } }).accounts.mailFrom).toBe('Foxden <foxden@sync.example.com>');
  });

  it('reads the account settings', () => {
    const c = loadConfig({
      env: {
        FOXDEN_SMTP_URL: 'smtps://user:pw@mail.example.com:465',
        FOXDEN_MAIL_FROM: 'Sync <sync@example.com>',
        FOXDEN_REGISTRATION: 'allowlist',
        FOXDEN_REGISTRATION_ALLOWLIST: 'Me@Example.com, @family.example',
        FOXDEN_SIGNIN_CONFIRMATION: 'never',
        FOXDEN_RATE_LIMITS: 'off',
        FOXDEN_SCRYPT_CONCURRENCY: '2',
        FOXDEN_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8',
      },
    });
    expect(c.accounts).toEqual({
      smtpUrl: 'smtps://user:pw@mail.example.com:465',
      mailFrom: 'Sync <sync@example.com>',
      registration: 'allowlist',
      registrationAllowlist: ['me@example.com', '@family.example'],
      signinConfirmation: 'never',
      rateLimits: false,
      scryptConcurrency: 2,
    });
    expect(c.trustedProxies).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(loadConfig({ env: { FOXDEN_TRUSTED_PROXIES: '2' } }).trustedProxies).toBe(2);
  });

  it('reads a YAML file with the same keys, and the environment wins', () => {
    const path = file('foxden.yaml', 'FOXDEN_PORT: 7000\nFOXDEN_HOST: 0.0.0.0\nFOXDEN_STORAGE_MAX_POST_RECORDS: 50\n');
    const c = loadConfig({ env: { FOXDEN_PORT: '7001' }, file: path });
    expect(c.port).toBe(7001);
    expect(c.host).toBe('0.0.0.0');
    expect(c.storage.maxPostRecords).toBe(50);
  });

  it('finds the file through FOXDEN_CONFIG, and reads JSON too', () => {
    const path = file('foxden.json', '{"FOXDEN_PORT": 7100}');
    expect(loadConfig({ env: { FOXDEN_CONFIG: path } }).port).toBe(7100);
  });

  it('stops on a bad value, naming the key and what is allowed', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ FOXDEN_PORT: 'eighty' }, /FOXDEN_PORT="eighty": must be a whole number/],
      [{ FOXDEN_PORT: '70000' }, /FOXDEN_PORT="70000": must be at most 65535/],
      [{ FOXDEN_PUBLIC_URL: 'sync.example.com' }, /FOXDEN_PUBLIC_URL=.*absolute http\(s\) URL/],
      [{ FOXDEN_PUBLIC_URL: 'ftp://sync.example.com' }, /FOXDEN_PUBLIC_URL=.*http:\/\/ or https:\/\//],
      [{ FOXDEN_DATABASE_URL: 'mysql://x' }, /FOXDEN_DATABASE_URL=.*postgres:\/\//],
      [{ FOXDEN_SYNC_MASTER_SECRET: 'short' }, /FOXDEN_SYNC_MASTER_SECRET=.*at least 16/],
      [{ FOXDEN_LOG_LEVEL: 'loud' }, /FOXDEN_LOG_LEVEL="loud"/],
      [{ FOXDEN_STORAGE_MAX_POST_RECORDS: '0' }, /FOXDEN_STORAGE_MAX_POST_RECORDS="0": must be at least 1/],
      [{ FOXDEN_SMTP_URL: 'mail.example.com:25' }, /FOXDEN_SMTP_URL="mail.example.com:25": must be an smtp:\/\/host:port/],
      [{ FOXDEN_REGISTRATION: 'sometimes' }, /FOXDEN_REGISTRATION="sometimes": must be first, open, closed, invite or allowlist/],
      [{ FOXDEN_REGISTRATION_ALLOWLIST: 'example.com' }, /FOXDEN_REGISTRATION_ALLOWLIST=.*e-mail addresses and @domains/],
      [{ FOXDEN_SIGNIN_CONFIRMATION: 'maybe' }, /FOXDEN_SIGNIN_CONFIRMATION="maybe": must be always, new-device or never/],
      [{ FOXDEN_RATE_LIMITS: 'yes' }, /FOXDEN_RATE_LIMITS="yes": must be on or off/],
      [{ FOXDEN_SCRYPT_CONCURRENCY: '-1' }, /FOXDEN_SCRYPT_CONCURRENCY="-1": must be at least 0/],
      [{ FOXDEN_STORAGE_MAX_REQUEST_BYTES: '2000', FOXDEN_STORAGE_MAX_POST_BYTES: '4000' }, /FOXDEN_STORAGE_MAX_REQUEST_BYTES=2000: must be at least FOXDEN_STORAGE_MAX_POST_BYTES/],
    ];
    for (const [env, message] of bad) {
      expect(() => loadConfig({ env }), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => loadConfig({ env }), JSON.stringify(env)).toThrow(message);
    }
  });

  it('rejects unknown keys and broken files', () => {
    expect(() => loadConfig({ env: {}, file: file('a.yaml', 'FOXDEN_PROT: 1\n') })).toThrow(/unknown key FOXDEN_PROT/);
    expect(() => loadConfig({ env: {}, file: file('b.yaml', 'FOXDEN_PORT: [\n') })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ env: {}, file: file('c.yaml', '- 1\n- 2\n') })).toThrow(/mapping of FOXDEN_\* keys/);
    expect(() => loadConfig({ env: {}, file: '/nonexistent/foxden.yaml' })).toThrow(/cannot read config file/);
  });
});
