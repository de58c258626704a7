import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AVATAR_COLOURS, defaultAvatarColour, DEFAULT_AVATAR_ID, DEFAULT_AVATAR_SIZE } from '../../src/oauth/default-avatar.js';
import { crc32, encodePng } from '../../src/oauth/png.js';
import { expectFxaError, useBadInputServer, verifiedUser } from '../helpers/bad-input.js';
import type { TestUser } from '../helpers/fxa.js';
import { LocalPushService, pushesOf, waitForPush } from '../helpers/push.js';
import { testEngines } from '../helpers/server.js';
import { accessToken, call, serverErrorsSeen, pushDevice } from './profile-helpers.js';

// Profile pictures (fxa-auth.md 8.1): uploads in the four formats browsers send, made with sharp
// here, come back as a square of at most 600 pixels under a public, immutable URL; everything
// that is not such an image is a 400 (never a 500); without an upload there is a generated PNG.

/** A test picture: a gradient, so a crop and a resize are visible in the pixels. */
async function picture(width: number, height: number, format: 'png' | 'jpeg' | 'webp' | 'gif', alpha = false): Promise<Buffer> {
  const channels = alpha ? 4 : 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128;
      if (alpha) raw[i + 3] = x < width / 2 ? 255 : 64;
    }
  }
  return sharp(raw, { raw: { width, height, channels } }).toFormat(format).toBuffer();
}

describe('the PNG encoder', () => {
  it('computes the CRC-32 PNG uses', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('writes PNGs that decode to the same pixels', async () => {
    const rgba = new Uint8Array(randomBytes(7 * 5 * 4));
    const png = encodePng(7, 5, rgba);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(info).toMatchObject({ width: 7, height: 5, channels: 4 });
    expect(Buffer.from(data).equals(Buffer.from(rgba))).toBe(true);
    expect(() => encodePng(2, 2, new Uint8Array(15))).toThrow();
  });

  it('draws each default avatar colour as a valid PNG', async () => {
    for (const uid of ['00000000000000000000000000000000', 'ffffffffffffffffffffffffffffffff', randomBytes(16).toString('hex')]) {
      expect(DEFAULT_AVATAR_COLOURS).toContain(defaultAvatarColour(uid));
    }
    // Colours are spread over the uids.
    const seen = new Set(Array.from({ length: 200 }, () => defaultAvatarColour(randomBytes(16).toString('hex'))));
    expect(seen.size).toBeGreaterThan(5);
  });
});

describe.each(await testEngines())('avatars (%s)', (engine) => {
  const env = useBadInputServer(engine);
  const push = new LocalPushService();
  let user: TestUser;
  let read: string;
  let write: string;
  const images = {} as Record<'png' | 'jpeg' | 'webp' | 'gif', Buffer>;

  beforeAll(async () => {
    await push.start();
    user = await verifiedUser(env, 'avatar');
    read = await accessToken(env.server, user.uid, ['profile']);
    write = await accessToken(env.server, user.uid, ['profile:avatar:write']);
    images.png = await picture(800, 500, 'png', true);
    images.jpeg = await picture(1200, 900, 'jpeg');
    images.webp = await picture(300, 200, 'webp');
    images.gif = await picture(640, 640, 'gif');
  });
  afterAll(async () => {
    await push.close();
    expect(serverErrorsSeen()).toEqual([]);
  });

  const upload = (body: Buffer | string, contentType: string, token = write) =>
    call(env.server, 'POST', '/profile/v1/avatar/upload', { token, body, contentType });
  const avatar = async () => {
    const res = await call(env.server, 'GET', '/profile/v1/avatar', { token: read });
    expect(res.status).toBe(200);
    return res.body as { id: string; avatar: string; avatarDefault: boolean };
  };

  it('hands out a generated default picture until one is uploaded', async () => {
    const info = await avatar();
    const colour = defaultAvatarColour(user.uid);
    expect(info).toEqual({ id: DEFAULT_AVATAR_ID, avatar: `${env.server.url}/profile/a/default/${colour}`, avatarDefault: true });
    const res = await call(env.server, 'GET', new URL(info.avatar).pathname);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(res.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const { data, info: meta } = await sharp(res.bytes).raw().toBuffer({ resolveWithObject: true });
    expect(meta).toMatchObject({ format: 'raw', width: DEFAULT_AVATAR_SIZE, height: DEFAULT_AVATAR_SIZE, channels: 4 });
    const px = (x: number, y: number) => [...data.subarray((y * meta.width + x) * 4, (y * meta.width + x) * 4 + 4)];
    // Transparent corners, the colour on the disc, a white figure in the middle.
    expect(px(0, 0)[3]).toBe(0);
    expect(px(20, 120)).toEqual([parseInt(colour.slice(0, 2), 16), parseInt(colour.slice(2, 4), 16), parseInt(colour.slice(4, 6), 16), 255]);
    expect(px(120, 96)).toEqual([255, 255, 255, 255]);
    expect(px(120, 220)).toEqual([255, 255, 255, 255]);
    // Only the palette's colours exist.
    expect((await call(env.server, 'GET', '/profile/a/default/123456')).status).toBe(404);
    expect((await call(env.server, 'GET', '/profile/a/default/..%2F..%2Fetc')).status).toBe(404);
  });

  it('takes PNG, JPEG, WebP and GIF uploads and serves a square of at most 600 pixels', async () => {
    const cases = [
      { format: 'png', type: 'image/png', side: 500, out: 'png' },
      { format: 'jpeg', type: 'image/jpeg', side: 600, out: 'jpeg' },
      { format: 'webp', type: 'image/webp', side: 200, out: 'jpeg' },
      { format: 'gif', type: 'image/gif', side: 600, out: 'jpeg' },
    ] as const;
    let previous: string | undefined;
    for (const c of cases) {
      const res = await upload(images[c.format], c.type);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({ url: expect.stringMatching(new RegExp(`^${env.server.url}/profile/a/[0-9a-f]{32}$`)) });
      const url: string = res.body.url;
      const info = await avatar();
      expect(info).toEqual({ id: url.slice(-32), avatar: url, avatarDefault: false });
      const profile = await call(env.server, 'GET', '/profile/v1/profile', { token: read });
      expect(profile.body).toMatchObject({ avatar: url, avatarDefault: false });

      const served = await call(env.server, 'GET', url);
      expect(served.status).toBe(200);
      expect(served.headers.get('content-type')).toBe(`image/${c.out}`);
      expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(served.headers.get('x-content-type-options')).toBe('nosniff');
      const meta = await sharp(served.bytes).metadata();
      expect(meta).toMatchObject({ format: c.out, width: c.side, height: c.side });
      // The old picture is gone with the upload that replaced it.
      if (previous) expect((await call(env.server, 'GET', previous)).status).toBe(404);
      previous = url;
    }
  });

  it('keeps transparency and crops the centre', async () => {
    const res = await upload(images.png, 'image/png');
    const served = await call(env.server, 'GET', res.body.url);
    const { data, info } = await sharp(served.bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(500);
    // 800×500 cropped to the middle 500×500: x 150..650 of the source, opaque left of 400.
    const alphaAt = (x: number) => data[(250 * info.width + x) * 4 + 3];
    expect(alphaAt(10)).toBe(255);
    expect(alphaAt(490)).toBe(64);
    const redAt = (x: number) => data[(250 * info.width + x) * 4]!;
    expect(redAt(0)).toBeGreaterThan(40);
    expect(redAt(0)).toBeLessThan(56);
  });

  it('refuses what is not a PNG, JPEG, GIF or WebP image with 400 errno 101', async () => {
    const before = await avatar();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
    const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).tiff().toBuffer();
    const notImage = /must be PNG, JPEG, GIF or WebP/;
    const undecodable = /could not be decoded/;
    const wrongType = /Content-Type/;
    const cases: [Buffer | string, string, RegExp][] = [
      [Buffer.from('this is not an image'), 'image/png', notImage],
      [randomBytes(5000), 'image/jpeg', notImage],
      [images.png.subarray(0, Math.floor(images.png.length / 2)), 'image/png', undecodable],
      [images.jpeg.subarray(0, Math.floor(images.jpeg.length / 3)), 'image/jpeg', undecodable],
      [svg, 'image/png', notImage],
      [svg, 'image/svg+xml', wrongType],
      [tiff, 'image/png', notImage],
      [tiff, 'image/tiff', wrongType],
      [images.png, 'text/plain', wrongType],
      [images.png, 'application/octet-stream', wrongType],
      ['{"image":"x"}', 'application/json', wrongType],
      [Buffer.alloc(0), 'image/png', /empty/],
    ];
    for (const [body, type, message] of cases) {
      const res = await upload(body, type);
      expectFxaError(res, 400, 101);
      expect(res.body.message, `${type}: ${res.body.message}`).toMatch(message);
    }
    // Larger than 1 MB, with and without a Content-Length.
    const big = Buffer.concat([images.png, randomBytes(1024 * 1024)]);
    const tooBig = await upload(big, 'image/png');
    expectFxaError(tooBig, 400, 101);
    expect(tooBig.body.message).toMatch(/1 MB/);
    const chunked = await fetch(`${env.server.url}/profile/v1/avatar/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${write}`, 'content-type': 'image/png' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(randomBytes(64 * 1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(400);
    expect(await chunked.json()).toMatchObject({ errno: 101 });
    // A small file that claims a huge canvas (a decompression bomb).
    const bomb = await sharp(Buffer.alloc(7000 * 5000), { raw: { width: 7000, height: 5000, channels: 1 } }).png({ compressionLevel: 9 }).toBuffer();
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const res = await upload(bomb, 'image/png');
    expectFxaError(res, 400, 101);
    expect(res.body.message).toMatch(/megapixels/);
    // Nothing changed.
    expect(await avatar()).toEqual(before);
  });

  it('needs a write scope and a live token for uploads and deletes', async () => {
    expectFxaError(await upload(images.webp, 'image/webp', read), 403, 100);
    expectFxaError(await upload(images.webp, 'image/webp', 'garbage'), 401, 100);
    expectFxaError(await call(env.server, 'POST', '/profile/v1/avatar/upload', { body: images.webp, contentType: 'image/webp' }), 401, 100);
    const profileWrite = await accessToken(env.server, user.uid, ['profile:write']);
    expect((await upload(images.webp, 'image/webp', profileWrite)).status).toBe(200);
    const { id } = await avatar();
    expectFxaError(await call(env.server, 'DELETE', `/profile/v1/avatar/${id}`, { token: read }), 403, 100);
    // The avatar scope alone reads the avatar, and nothing else.
    const avatarOnly = await accessToken(env.server, user.uid, ['profile:avatar']);
    expect((await call(env.server, 'GET', '/profile/v1/avatar', { token: avatarOnly })).body.id).toBe(id);
    expectFxaError(await call(env.server, 'GET', '/profile/v1/email', { token: avatarOnly }), 403, 100);
  });

  it('deletes the picture: back to the default, the old URL gone, devices told', async () => {
    const sub = await pushDevice(user, push, 'avatar-device');

    const uploaded = await upload(images.jpeg, 'image/jpeg');
    expect(uploaded.status).toBe(200);
    await waitForPush(sub, 'fxaccounts:profile_updated');
    const { id } = await avatar();

    // Malformed, someone else's or unknown ids.
    expectFxaError(await call(env.server, 'DELETE', '/profile/v1/avatar/xyz', { token: write }), 400, 101);
    expectFxaError(await call(env.server, 'DELETE', `/profile/v1/avatar/${randomBytes(16).toString('hex')}`, { token: write }), 404, 999);
    const other = await verifiedUser(env, 'other-avatar');
    const otherWrite = await accessToken(env.server, other.uid, ['profile:avatar:write']);
    expectFxaError(await call(env.server, 'DELETE', `/profile/v1/avatar/${id}`, { token: otherWrite }), 404, 999);
    // The default picture has nothing to delete.
    expect((await call(env.server, 'DELETE', `/profile/v1/avatar/${DEFAULT_AVATAR_ID}`, { token: otherWrite })).body).toEqual({});

    const deleted = await call(env.server, 'DELETE', `/profile/v1/avatar/${id.toUpperCase()}`, { token: write });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({});
    await waitForPush(sub, 'fxaccounts:profile_updated', (m) => m !== pushesOf(sub, 'fxaccounts:profile_updated')[0]);
    expect(await avatar()).toMatchObject({ id: DEFAULT_AVATAR_ID, avatarDefault: true });
    expect((await call(env.server, 'GET', uploaded.body.url)).status).toBe(404);
    expect((await call(env.server, 'GET', '/profile/a/not-an-id')).status).toBe(404);
    expect(push.problems).toEqual([]);
  });
});

describe.each(await testEngines())('avatar URLs behind a path prefix (%s)', (engine) => {
  const env = useBadInputServer(engine, { FOXDEN_PUBLIC_URL: 'https://sync.example.com/foxden' });

  it('names the public URL, prefix included, and serves under either path', async () => {
    // Hawk signs the public host, so make the account directly instead of signing up.
    const uid = randomBytes(16).toString('hex');
    const now = Date.now();
    await env.server.app.accounts.db
      .insertInto('accounts')
      .values({
        uid,
        email: 'prefix@example.com',
        normalized_email: 'prefix@example.com',
        email_verified: 1,
        auth_salt: '00'.repeat(32),
        verify_hash: '00'.repeat(32),
        wrap_wrap_kb: '00'.repeat(32),
        ka: '00'.repeat(32),
        verifier_version: 1,
        verifier_set_at: now,
        keys_changed_at: now,
        profile_changed_at: now,
        created_at: now,
        locale: null,
        display_name: null,
      })
      .execute();
    const token = await accessToken(env.server, uid, ['profile']);
    const info = (await call(env.server, 'GET', '/foxden/profile/v1/avatar', { token })).body;
    const path = `/foxden/profile/a/default/${defaultAvatarColour(uid)}`;
    expect(info.avatar).toBe(`https://sync.example.com${path}`);
    expect((await call(env.server, 'GET', '/profile/v1/profile', { token })).body.avatar).toBe(info.avatar);
    expect((await call(env.server, 'GET', path)).headers.get('content-type')).toBe('image/png');
    expect((await call(env.server, 'GET', path.replace('/foxden', ''))).status).toBe(200);

    const write = await accessToken(env.server, uid, ['profile:avatar:write']);
    const png = await picture(40, 30, 'png');
    const uploaded = await call(env.server, 'POST', '/foxden/profile/v1/avatar/upload', { token: write, body: png, contentType: 'image/png' });
    expect(uploaded.body.url).toMatch(/^https:\/\/sync\.example\.com\/foxden\/profile\/a\/[0-9a-f]{32}$/);
    const served = await call(env.server, 'GET', new URL(uploaded.body.url).pathname);
    expect(await sharp(served.bytes).metadata()).toMatchObject({ width: 30, height: 30 });
  });
});
