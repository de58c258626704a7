import { createDecipheriv, createECDH, hkdfSync, randomBytes, type ECDH } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';

// The receiving end of Web Push for tests: subscribers as Firefox makes them, RFC 8291
// aes128gcm decryption, and a local push service that records (and decrypts) what it gets.

/** A subscriber as Firefox is: a P-256 key pair and a 16-byte auth secret. */
export interface Subscriber {
  ecdh: ECDH;
  auth: Buffer;
  /** base64url uncompressed public key: the subscription's p256dh, Firefox's pushPublicKey. */
  p256dh: string;
  /** base64url auth secret: Firefox's pushAuthKey. */
  authKey: string;
}

export function subscriber(): Subscriber {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    p256dh: ecdh.getPublicKey('base64url', 'uncompressed'),
    authKey: auth.toString('base64url'),
  };
}

function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** Decrypt a single-record aes128gcm body (RFC 8188 section 2, RFC 8291 section 3). */
export function decrypt(body: Buffer, ua: Subscriber): string {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  expect(idlen).toBe(65);
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  expect(record.length).toBeLessThanOrEqual(rs);
  const shared = ua.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.ecdh.getPublicKey(), asPublic]);
  const ikm = hkdf(shared, ua.auth, keyInfo, 32);
  const cek = hkdf(ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
  const nonce = hkdf(ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  // The last (here only) record ends its data with the delimiter 0x02.
  expect(padded[end]).toBe(2);
  return padded.subarray(0, end).toString('utf8');
}

/** One push as the push service took it in. */
export interface PushMessage {
  /** The TTL header, in seconds. */
  ttl: number;
  headers: IncomingHttpHeaders;
  /** The decrypted JSON payload; undefined for a push without data. */
  payload: any;
  /** The status the push service answered with. */
  status: number;
}

/** One push subscription of one (pretend) browser. */
export interface Subscription {
  readonly name: string;
  readonly pushCallback: string;
  readonly pushPublicKey: string;
  readonly pushAuthKey: string;
  /** What the push service answers for this subscription; set 410 to make it gone. */
  status: number;
  readonly messages: PushMessage[];
}

interface SubscriptionState extends Subscription {
  subscriber: Subscriber;
}

/** A push service on 127.0.0.1 (http on loopback is an acceptable pushCallback). */
export class LocalPushService {
  private server: Server | undefined;
  private origin = '';
  private readonly subscriptions = new Map<string, SubscriptionState>();
  private counter = 0;
  /** Requests that did not decrypt or went to an unknown path. */
  readonly problems: string[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const sub = this.subscriptions.get(req.url ?? '');
        if (!sub) {
          this.problems.push(`push to unknown path ${req.url}`);
          res.writeHead(404).end();
          return;
        }
        const body = Buffer.concat(chunks);
        let payload: unknown;
        try {
          payload = body.length === 0 ? undefined : JSON.parse(decrypt(body, sub.subscriber));
        } catch (err) {
          this.problems.push(`${sub.name}: ${(err as Error).message}`);
        }
        sub.messages.push({ ttl: Number(req.headers.ttl), headers: req.headers, payload, status: sub.status });
        res.writeHead(sub.status, { 'Content-Type': 'text/plain' });
        res.end(sub.status < 300 ? '' : 'gone');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  /** A fresh subscription: endpoint plus keys, as PushManager.subscribe() gives Firefox. */
  subscribe(name: string): Subscription {
    const path = `/wpush/v2/${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${++this.counter}`;
    const ua = subscriber();
    const sub: SubscriptionState = {
      name,
      pushCallback: `${this.origin}${path}`,
      pushPublicKey: ua.p256dh,
      pushAuthKey: ua.authKey,
      status: 201,
      messages: [],
      subscriber: ua,
    };
    this.subscriptions.set(path, sub);
    return sub;
  }
}

/** Messages of one command that reached `sub`. */
export function pushesOf(sub: Subscription, command: string): PushMessage[] {
  return sub.messages.filter((m) => m.payload?.command === command);
}

/**
 * Pushes go out after the response: poll until `sub` has a `command` push that `match` accepts,
 * and return it.
 */
export async function waitForPush(sub: Subscription, command: string, match: (m: PushMessage) => boolean = () => true, timeoutMs = 5000): Promise<PushMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = pushesOf(sub, command).find(match);
    if (found) return found;
    if (Date.now() > deadline) {
      const seen = sub.messages.map((m) => JSON.stringify(m.payload)).join(', ') || 'nothing';
      throw new Error(`${sub.name} got no ${command} push within ${timeoutMs} ms (it got: ${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
