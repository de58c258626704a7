import { createECDH, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureVapidKeys, PushSender, validPushCallback, type PushTarget } from '../../src/accounts/push.js';
import { migrate, openDatabase } from '../../src/db/index.js';
import { decrypt, subscriber } from '../helpers/push.js';

// Pushes go to a real local push service, which decrypts and checks them the way
// autopush would (RFC 8291 aes128gcm, RFC 8292 VAPID).

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function vapidKeyPair() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const d = ecdh.getPrivateKey();
  const privateKey = Buffer.concat([Buffer.alloc(32 - d.length), d]).toString('base64url');
  return { publicKey: ecdh.getPublicKey('base64url', 'uncompressed'), privateKey };
}

/** Check the VAPID Authorization header; returns the JWT claims. */
function verifyVapid(header: string | undefined, expectedKey: string): { aud: string; exp: number; sub: string } {
  const m = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), ?k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  expect(m, `Authorization: ${header}`).not.toBeNull();
  const [jwt, k] = [m![1]!, m![2]!];
  expect(k).toBe(expectedKey);
  const [h, p, s] = jwt.split('.') as [string, string, string];
  expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toMatchObject({ alg: 'ES256' });
  const point = Buffer.from(k, 'base64url');
  expect(point.length).toBe(65);
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  const sig = Buffer.from(s, 'base64url');
  expect(sig.length).toBe(64);
  expect(verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
  // A signature over anything else must not verify.
  expect(verify('sha256', Buffer.from(`${h}.${p}x`), { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(false);
  return JSON.parse(Buffer.from(p, 'base64url').toString());
}

describe('PushSender', () => {
  const vapid = vapidKeyPair();
  const subject = 'mailto:admin@foxden.example';
  const received: Received[] = [];
  const logs: { obj: object; msg: string }[] = [];
  const log = { warn: (obj: object, msg: string) => void logs.push({ obj, msg }) };
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '';
        received.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
        if (path.startsWith('/hang')) return; // never answers
        const status = Number(/^\/status\/(\d+)/.exec(path)?.[1] ?? 201);
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(status === 201 ? '' : JSON.stringify({ code: status, errno: 102, error: 'nope' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    received.length = 0;
    logs.length = 0;
  });

  const sender = (timeoutMs?: number) => new PushSender({ vapid, subject, log, timeoutMs });
  const target = (path: string, ua = subscriber()): PushTarget => ({
    pushCallback: `${origin}${path}`,
    pushPublicKey: ua.p256dh,
    pushAuthKey: ua.authKey,
  });

  it('delivers an encrypted payload with TTL and a valid VAPID signature', async () => {
    const ua = subscriber();
    const payload = { version: 1, command: 'fxaccounts:device_connected', data: { deviceName: 'Firefox on Ünïcode 🦊' } };
    const before = Math.floor(Date.now() / 1000);
    expect(await sender().send(target('/wpush/v2/abc', ua), payload, 3600)).toBe('sent');
    expect(received).toHaveLength(1);
    const req = received[0]!;
    expect(req.path).toBe('/wpush/v2/abc');
    expect(req.headers.ttl).toBe('3600');
    expect(req.headers['content-encoding']).toBe('aes128gcm');
    expect(Number(req.headers['content-length'])).toBe(req.body.length);
    expect(JSON.parse(decrypt(req.body, ua))).toEqual(payload);
    const claims = verifyVapid(req.headers.authorization, vapid.publicKey);
    expect(claims.aud).toBe(origin);
    expect(claims.sub).toBe(subject);
    expect(claims.exp).toBeGreaterThan(before);
    expect(claims.exp).toBeLessThanOrEqual(before + 24 * 3600 + 5);
    expect(logs).toEqual([]);
  });

  it('encrypts every message afresh and signs for each push service', async () => {
    const ua = subscriber();
    const s = sender();
    expect(await s.send(target('/a', ua), { n: 1 }, 60)).toBe('sent');
    expect(await s.send(target('/b', ua), { n: 2 }, 0)).toBe('sent');
    const local = `http://localhost:${new URL(origin).port}`;
    expect(await s.send({ ...target('/c', ua), pushCallback: `${local}/c` }, { n: 3 }, 60)).toBe('sent');
    expect(received.map((r) => JSON.parse(decrypt(r.body, ua)))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(received[1]!.headers.ttl).toBe('0');
    expect(received[0]!.body.subarray(0, 16).equals(received[1]!.body.subarray(0, 16))).toBe(false);
    expect(verifyVapid(received[2]!.headers.authorization, vapid.publicKey).aud).toBe(local);
  });

  it('sends a push without a payload as an empty body', async () => {
    expect(await sender().send(target('/tickle'), undefined, 120)).toBe('sent');
    const req = received[0]!;
    expect(req.body.length).toBe(0);
    expect(req.headers['content-length']).toBe('0');
    expect(req.headers['content-encoding']).toBeUndefined();
    expect(req.headers.ttl).toBe('120');
    expect(verifyVapid(req.headers.authorization, vapid.publicKey).aud).toBe(origin);
    // A subscription without keys can still be woken up.
    expect(await sender().send({ pushCallback: `${origin}/nokeys`, pushPublicKey: null, pushAuthKey: null }, undefined, 60)).toBe('sent');
  });

  it.each([
    [200, 'sent'],
    [202, 'sent'],
    [404, 'expired'],
    [410, 'expired'],
    [400, 'failed'],
    [413, 'failed'],
    [500, 'failed'],
    [503, 'failed'],
  ] as const)('maps status %i to %s', async (status, outcome) => {
    const ua = subscriber();
    expect(await sender().send(target(`/status/${status}/secret-token`, ua), { hi: true }, 60)).toBe(outcome);
    expect(received).toHaveLength(1);
    if (outcome === 'sent') {
      expect(logs).toEqual([]);
    } else {
      expect(logs).toHaveLength(1);
      expect(logs[0]!.obj).toMatchObject({ outcome, status, pushService: origin });
      // Logs hold no key material and not the endpoint's secret path.
      const text = JSON.stringify(logs);
      for (const secret of [ua.p256dh, ua.authKey, vapid.privateKey, 'secret-token']) expect(text).not.toContain(secret);
    }
  });

  it('gives up on a push service that never answers', async () => {
    const started = Date.now();
    expect(await sender(300).send(target('/hang'), { hi: true }, 60)).toBe('failed');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    expect(received).toHaveLength(1);
    expect(logs[0]!.obj).toMatchObject({ outcome: 'failed', reason: 'no answer within 300 ms' });
  });

  it('reports a refused connection as failed', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const outcome = await sender().send({ ...target('/x'), pushCallback: `http://127.0.0.1:${port}/x` }, { hi: true }, 60);
    expect(outcome).toBe('failed');
    expect(logs[0]!.obj).toMatchObject({ outcome: 'failed', reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('treats keys that cannot be used for encryption as an expired subscription', async () => {
    const ua = subscriber();
    const notOnCurve = Buffer.alloc(65, 7);
    notOnCurve[0] = 4;
    const bad: Partial<PushTarget>[] = [
      { pushPublicKey: ua.p256dh.slice(0, 40) },
      { pushPublicKey: notOnCurve.toString('base64url') },
      { pushPublicKey: ua.p256dh.slice(0, -8) + 'A'.repeat(8) },
      { pushAuthKey: randomBytes(8).toString('base64url') },
    ];
    for (const change of bad) {
      logs.length = 0;
      expect(await sender().send({ ...target('/bad', ua), ...change }, { hi: true }, 60)).toBe('expired');
      expect(logs[0]!.obj).toMatchObject({ outcome: 'expired', reason: expect.stringContaining('invalid subscription keys') });
    }
    expect(received).toHaveLength(0);
  });

  it('skips devices without a push subscription', async () => {
    const none = { pushCallback: null, pushPublicKey: null, pushAuthKey: null };
    expect(await sender().send(none, { hi: true }, 60)).toBe('skipped');
    expect(await sender().send({ ...none, pushCallback: '' }, undefined, 60)).toBe('skipped');
    // Data cannot go to a subscription without keys; that does not make it expired.
    expect(await sender().send({ ...target('/x'), pushAuthKey: null }, { hi: true }, 60)).toBe('skipped');
    expect(received).toHaveLength(0);
  });

  it('treats an unusable callback URL as an expired subscription', async () => {
    for (const pushCallback of ['not a url', 'http://push.example.com/x', 'ftp://127.0.0.1/x']) {
      expect(await sender().send({ ...target('/x'), pushCallback }, { hi: true }, 60)).toBe('expired');
    }
    expect(received).toHaveLength(0);
  });

  it('never throws, even for a payload that does not serialize', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(await sender().send(target('/x'), circular, 60)).toBe('failed');
    expect(await sender().send(target('/x'), { n: 1n } as object, 60)).toBe('failed');
    expect(received).toHaveLength(0);
  });

  it('rejects a bad configuration up front', () => {
    expect(() => new PushSender({ vapid, subject: 'admin@foxden.example' })).toThrow(/subject/);
    expect(() => new PushSender({ vapid, subject: 'http://foxden.example/' })).toThrow(/subject/);
    expect(() => new PushSender({ vapid: { ...vapid, privateKey: 'short' }, subject })).toThrow(/VAPID/);
    expect(() => new PushSender({ vapid: { ...vapid, publicKey: vapidKeyPair().publicKey }, subject })).toThrow(/match/);
    expect(() => new PushSender({ vapid, subject, timeoutMs: 0 })).toThrow(/timeout/);
    expect(() => new PushSender({ vapid, subject: 'https://foxden.example/contact' })).not.toThrow();
  });
});

describe('ensureVapidKeys', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'foxden-push-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('generates a key pair once and returns it ever after', async () => {
    const database = await openDatabase({ dataDir });
    try {
      await migrate(database);
      const first = await ensureVapidKeys(database.db);
      expect(Buffer.from(first.publicKey, 'base64url')).toHaveLength(65);
      expect(Buffer.from(first.privateKey, 'base64url')).toHaveLength(32);
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(Buffer.from(first.privateKey, 'base64url'));
      expect(ecdh.getPublicKey('base64url', 'uncompressed')).toBe(first.publicKey);
      expect(await ensureVapidKeys(database.db)).toEqual(first);
      const row = await database.db.selectFrom('foxden_secrets').select('value').where('name', '=', 'vapid_keys').executeTakeFirstOrThrow();
      expect(JSON.parse(row.value)).toEqual(first);
      // The stored keys sign pushes.
      expect(() => new PushSender({ vapid: first, subject: 'mailto:a@b.example' })).not.toThrow();
    } finally {
      await database.close();
    }
    // Another process opening the same database gets the same keys.
    const again = await openDatabase({ dataDir });
    try {
      const keys = await ensureVapidKeys(again.db);
      expect(keys.publicKey).toHaveLength(87);
      await again.db.updateTable('foxden_secrets').set({ value: '{"publicKey":"x"}' }).where('name', '=', 'vapid_keys').execute();
      await expect(ensureVapidKeys(again.db)).rejects.toThrow(/VAPID keys/);
    } finally {
      await again.close();
    }
  });
});

describe('validPushCallback', () => {
  it.each([
    ['https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk', true],
    ['https://push.example.org:8443/p/abc?x=1', true],
    ['https://10.0.0.5/push', true],
    ['http://127.0.0.1:8080/push', true],
    ['http://[::1]:8080/push', true],
    ['http://localhost/push', true],
    ['HTTP://LOCALHOST:1/x', true],
    [`https://push.example.org/${'a'.repeat(255 - 'https://push.example.org/'.length)}`, true],
    [`https://push.example.org/${'a'.repeat(256 - 'https://push.example.org/'.length)}`, false],
    ['http://push.example.org/push', false],
    ['http://127.0.0.2/push', false],
    ['http://localhost.example.com/push', false],
    ['http://[::2]/push', false],
    ['ws://127.0.0.1/push', false],
    ['file:///etc/passwd', false],
    ['https://user:pass@push.example.org/x', false],
    [' https://push.example.org/x', false],
    ['https://push.example.org/x\n', false],
    ['https://push.example.org/a b', false],
    ['not a url', false],
    ['', false],
  ])('%j → %s', (url, ok) => {
    expect(validPushCallback(url)).toBe(ok);
  });
});
