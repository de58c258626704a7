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
