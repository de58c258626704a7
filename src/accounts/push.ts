import { createECDH } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { Db } from '../db/index.js';
import { ensureSecret } from '../db/secrets.js';

// Web Push to devices (RFC 8030): payloads encrypted per RFC 8291 (aes128gcm), requests signed
// with VAPID (RFC 8292). web-push does the cryptography; the request itself is ours, because
// web-push only speaks https and its timeout is a socket idle timeout, not a deadline.

export interface PushTarget {
  pushCallback: string | null;
  pushPublicKey: string | null;
  pushAuthKey: string | null;
}

/** `skipped`: the device has no push subscription (or none that can carry this message). */
export type PushOutcome = 'sent' | 'expired' | 'failed' | 'skipped';

export interface VapidKeys {
  /** base64url uncompressed P-256 point (65 bytes). */
  publicKey: string;
  /** base64url P-256 private scalar (32 bytes). */
  privateKey: string;
}

export interface PushSenderOptions {
  vapid: VapidKeys;
  /** mailto: or https: URL, the VAPID `sub` claim: whom the push service may contact. */
  subject: string;
  /** Deadline for one whole request, response included. Default 10 s. */
  timeoutMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

type WebPush = typeof import('web-push');

let webPushModule: WebPush | undefined;

/** web-push and its dependencies load on first use: most processes never send a push. */
function webPush(): WebPush {
  webPushModule ??= createRequire(import.meta.url)('web-push') as WebPush;
  return webPushModule;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A push endpoint we agree to POST to: https on any host (self-hosters may run their own push
 * service), or http on a loopback host; at most 255 characters, no credentials, no whitespace.
 */
export function validPushCallback(url: string): boolean {
  if (typeof url !== 'string' || url.length === 0 || url.length > 255) return false;
  // The URL parser would quietly drop these; a stored endpoint should be exactly what we send to.
  if (/[\s\x00-\x1f\x7f]/.test(url)) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (parsed.protocol === 'https:') return parsed.hostname.length > 0;
  if (parsed.protocol === 'http:') return LOOPBACK_HOSTS.has(parsed.hostname);
  return false;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function decodedLength(value: unknown): number {
  return typeof value === 'string' && BASE64URL.test(value) ? Buffer.from(value, 'base64url').length : -1;
}

/** Throw unless `keys` is a P-256 key pair whose public half belongs to its private half. */
function checkVapidKeys(keys: unknown): asserts keys is VapidKeys {
  const k = keys as Partial<VapidKeys> | null;
  if (!k || decodedLength(k.publicKey) !== 65 || decodedLength(k.privateKey) !== 32) {
    throw new Error('VAPID keys must be a base64url 65-byte public key and 32-byte private key');
  }
  let derived: string;
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(k.privateKey!, 'base64url'));
    derived = ecdh.getPublicKey('base64url', 'uncompressed');
  } catch {
    throw new Error('VAPID private key is not a valid P-256 key');
  }
  if (derived !== k.publicKey) throw new Error('VAPID public key does not match the private key');
}

/**
 * The server's VAPID key pair, kept in foxden_secrets as 'vapid_keys' and generated on first
 * use, so every process sharing the database signs with the same key.
 */
export async function ensureVapidKeys(db: Db): Promise<VapidKeys> {
  const stored = await ensureSecret(db, 'vapid_keys', () => {
    const { publicKey, privateKey } = webPush().generateVAPIDKeys();
    return JSON.stringify({ publicKey, privateKey });
  });
  let keys: unknown;
  try {
    keys = JSON.parse(stored);
  } catch {
    throw new Error("foxden_secrets 'vapid_keys' is not JSON");
  }
  checkVapidKeys(keys);
  return { publicKey: keys.publicKey, privateKey: keys.privateKey };
}

/** How long one signed VAPID header is reused; web-push signs them valid for 12 hours. */
const VAPID_REUSE_MS = 60 * 60 * 1000;
/** Push services in use are few; forget them all should this many ever pile up. */
const VAPID_CACHE_MAX = 100;

interface Response {
  status: number;
  /** The start of the body, for logs. */
  text: string;
}

export class PushSender {
  private readonly timeoutMs: number;
  /** Authorization header by push service origin (the JWT's audience). */
  private readonly vapidHeaders = new Map<string, { value: string; at: number }>();

  /** Throws on a malformed configuration, so that it shows at startup rather than as failed pushes. */
  constructor(private readonly options: PushSenderOptions) {
    checkVapidKeys(options.vapid);
    let subject: URL | undefined;
    try {
      subject = new URL(options.subject);
    } catch {
      subject = undefined;
    }
    if (!subject || (subject.protocol !== 'mailto:' && subject.protocol !== 'https:')) {
      throw new Error('VAPID subject must be a mailto: or https: URL');
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('push timeoutMs must be a positive number');
    this.timeoutMs = timeoutMs;
  }

  /**
   * Push `payload` (JSON-encoded and encrypted; none when undefined) to one device, for the push
   * service to hold up to `ttlSeconds`. Never throws: failures are logged, without key material
   * or the endpoint's path (which is the subscription's secret), and reported as the outcome.
   */
  async send(target: PushTarget, payload: object | undefined, ttlSeconds: number): Promise<PushOutcome> {
    const endpoint = target.pushCallback;
    if (!endpoint) return 'skipped';
    if (!validPushCallback(endpoint)) {
      this.warn('expired', undefined, { reason: 'invalid push callback URL' });
      return 'expired';
    }
    const url = new URL(endpoint);
    try {
      let body: Buffer | undefined;
      if (payload !== undefined) {
        if (!target.pushPublicKey || !target.pushAuthKey) {
          // Such a device can only be woken without data; it has not lost its subscription.
          this.warn('skipped', url, { reason: 'payload for a subscription without keys' });
          return 'skipped';
        }
        const plaintext: unknown = JSON.stringify(payload);
        if (typeof plaintext !== 'string') throw new Error('payload does not serialize to JSON');
        try {
          body = webPush().encrypt(target.pushPublicKey, target.pushAuthKey, plaintext, 'aes128gcm').cipherText;
        } catch (err) {
          // A key that cannot encrypt now never will: the device has to subscribe again.
          this.warn('expired', url, { reason: `invalid subscription keys: ${errorMessage(err)}` });
          return 'expired';
        }
      }
      const headers: OutgoingHttpHeaders = {
        TTL: String(normalizeTtl(ttlSeconds)),
        Authorization: this.vapidHeader(url.origin),
        'Content-Length': body ? body.length : 0,
      };
      if (body) {
        headers['Content-Encoding'] = 'aes128gcm';
        headers['Content-Type'] = 'application/octet-stream';
      }
      const response = await this.post(url, headers, body);
      if (response.status === 200 || response.status === 201 || response.status === 202) return 'sent';
      const outcome = response.status === 404 || response.status === 410 ? 'expired' : 'failed';
      this.warn(outcome, url, { status: response.status, response: response.text });
      return outcome;
    } catch (err) {
      this.warn('failed', url, { reason: errorMessage(err) });
      return 'failed';
    }
  }

  /** `vapid t=<JWT>, k=<public key>` for one push service, reused for a while. */
  private vapidHeader(audience: string): string {
    const now = Date.now();
    const cached = this.vapidHeaders.get(audience);
    if (cached && now - cached.at < VAPID_REUSE_MS) return cached.value;
    const { publicKey, privateKey } = this.options.vapid;
    const value = webPush().getVapidHeaders(audience, this.options.subject, publicKey, privateKey, 'aes128gcm').Authorization;
    if (this.vapidHeaders.size >= VAPID_CACHE_MAX) this.vapidHeaders.clear();
    this.vapidHeaders.set(audience, { value, at: now });
    return value;
  }

  /** POST within the deadline; rejects on network errors, or on the deadline before a status. */
  private async post(url: URL, headers: OutgoingHttpHeaders, body: Buffer | undefined): Promise<Response> {
    const transport = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    return new Promise<Response>((resolve, reject) => {
      let status: number | undefined;
      let text = '';
      const finish = (err?: Error) => {
        clearTimeout(timer);
        // Once the status is in, a body cut short does not change the outcome.
        if (status !== undefined) resolve({ status, text });
        else reject(err ?? new Error('no response'));
      };
      const req = transport.request(url, { method: 'POST', headers }, (res: IncomingMessage) => {
        status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 200) text = (text + chunk).slice(0, 200);
        });
        res.on('end', () => finish());
        res.on('error', (err) => finish(err));
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      // 'close' covers a response aborted without an error event.
      req.on('error', (err) => finish(err));
      req.on('close', () => finish());
      req.end(body);
    });
  }

  private warn(outcome: PushOutcome, url: URL | undefined, details: Record<string, unknown>): void {
    const msg = outcome === 'expired' ? 'push subscription expired' : outcome === 'skipped' ? 'push skipped' : 'push failed';
    this.options.log?.warn({ outcome, pushService: url?.origin, ...details }, msg);
  }
}

/** The TTL header wants a non-negative integer number of seconds. */
function normalizeTtl(ttlSeconds: number): number {
  if (Number.isNaN(ttlSeconds) || ttlSeconds <= 0) return 0;
  return Math.min(Math.floor(ttlSeconds), 0x7fffffff);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
