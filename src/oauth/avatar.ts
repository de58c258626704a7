import { randomBytes } from 'node:crypto';
import type { SharpOptions } from 'sharp';
import { withAccountLock, type AccountsContext, type Logger } from '../accounts/context.js';
import type { Db } from '../db/index.js';
import { DEFAULT_AVATAR_ID, defaultAvatarColour } from './default-avatar.js';
import { profileErrors } from './profile-errors.js';
import { announceProfileChange, nextProfileChange } from './profile-changes.js';

// Profile pictures (fxa-auth.md 8.1): an upload is decoded, cropped to a centred square of at
// most 600 pixels and re-encoded, so what we store and serve is always an image we wrote
// ourselves; one per account, under a fresh random id each time (its URL can be cached forever).

export const MAX_UPLOAD_BYTES = 1024 * 1024;
export const UPLOAD_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export const AVATAR_MAX_SIDE = 600;
/** Decoded size we accept (a small PNG can claim a huge canvas): 24 megapixels, ~100 MB of RGBA. */
const MAX_INPUT_PIXELS = 24_000_000;
const DECODABLE = new Set(['png', 'jpeg', 'gif', 'webp']);

export interface AvatarInfo {
  id: string;
  avatar: string;
  avatarDefault: boolean;
}

export function pictureUrl(base: string, id: string): string {
  return `${base}/profile/a/${id}`;
}

export function defaultPictureUrl(base: string, uid: string): string {
  return `${base}/profile/a/default/${defaultAvatarColour(uid)}`;
}

/** GET /v1/avatar: the uploaded picture, or the generated default. */
export async function avatarInfo(db: Db, uid: string, base: string): Promise<AvatarInfo> {
  const row = await db.selectFrom('avatars').select('id').where('uid', '=', uid).executeTakeFirst();
  if (row) return { id: row.id, avatar: pictureUrl(base, row.id), avatarDefault: false };
  return { id: DEFAULT_AVATAR_ID, avatar: defaultPictureUrl(base, uid), avatarDefault: true };
}

/** The stored picture with this public id. */
export async function pictureById(db: Db, id: string): Promise<{ contentType: string; image: Buffer } | undefined> {
  if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
  const row = await db.selectFrom('avatars').select(['content_type', 'image']).where('id', '=', id).executeTakeFirst();
  return row && { contentType: row.content_type, image: Buffer.from(row.image) };
}

/** POST /v1/avatar/upload: replace the account's picture; the new picture's URL. */
export async function uploadAvatar(ctx: AccountsContext, uid: string, contentType: string, body: unknown, base: string): Promise<{ url: string }> {
  if (!(UPLOAD_TYPES as readonly string[]).includes(contentType) || !Buffer.isBuffer(body)) {
    throw profileErrors.invalidParameter(`Content-Type must be one of ${UPLOAD_TYPES.join(', ')}`, ['content-type']);
  }
  if (body.length === 0) throw profileErrors.invalidParameter('the image is empty', ['body']);
  if (body.length > MAX_UPLOAD_BYTES) throw imageTooLarge();
  // Outside the transaction: SQLite has one connection, and decoding takes a while.
  const picture = await resizeImage(body, ctx.log);
  const id = randomBytes(16).toString('hex');
  await withAccountLock(ctx, uid, async (trx) => {
    const account = await trx.selectFrom('accounts').select('profile_changed_at').where('uid', '=', uid).executeTakeFirst();
    if (!account) throw profileErrors.unauthorized('The account for this token no longer exists');
    await trx.deleteFrom('avatars').where('uid', '=', uid).execute();
    await trx.insertInto('avatars').values({ uid, id, content_type: picture.contentType, image: picture.bytes, created_at: Date.now() }).execute();
    await trx.updateTable('accounts').set({ profile_changed_at: nextProfileChange(account.profile_changed_at) }).where('uid', '=', uid).execute();
  });
  await announceProfileChange(ctx, uid);
  return { url: pictureUrl(base, id) };
}

/** DELETE /v1/avatar/:id: back to the default picture. Deleting the default is a no-op. */
export async function deleteAvatar(ctx: AccountsContext, uid: string, id: string): Promise<Record<string, never>> {
  if (!/^[0-9a-fA-F]{32}$/.test(id)) throw profileErrors.invalidParameter('id must be 32 hex characters', ['id']);
  const wanted = id.toLowerCase();
  if (wanted === DEFAULT_AVATAR_ID) return {};
  await withAccountLock(ctx, uid, async (trx) => {
    const account = await trx.selectFrom('accounts').select('profile_changed_at').where('uid', '=', uid).executeTakeFirst();
    if (!account) throw profileErrors.unauthorized('The account for this token no longer exists');
    // Someone else's picture looks the same as none at all.
    const deleted = await trx.deleteFrom('avatars').where('uid', '=', uid).where('id', '=', wanted).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw profileErrors.notFound();
    await trx.updateTable('accounts').set({ profile_changed_at: nextProfileChange(account.profile_changed_at) }).where('uid', '=', uid).execute();
  });
  await announceProfileChange(ctx, uid);
  return {};
}

export function imageTooLarge() {
  return profileErrors.invalidParameter(`the image is larger than ${MAX_UPLOAD_BYTES / 1024 / 1024} MB`, ['body']);
}

// sharp (libvips) is loaded on the first upload only: an idle server never pays for it.

type SharpFactory = typeof import('sharp');
let sharpModule: Promise<SharpFactory> | undefined;

function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then(
    (m) => {
      const sharp = m.default;
      // No operation cache: uploads are rare and never repeat, the cache would only hold memory.
      sharp.cache(false);
      return sharp;
    },
    (err: unknown) => {
      sharpModule = undefined;
      throw err;
    },
  );
  return sharpModule;
}

// One image at a time: decoding a large picture takes tens of megabytes, and a small server
// should not hold several of them at once.
let queue: Promise<unknown> = Promise.resolve();
function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

export interface ResizedImage {
  bytes: Buffer;
  contentType: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
}

/**
 * Decode a PNG, JPEG, GIF (first frame) or WebP, turn it upright, crop the centred square and
 * scale it to at most AVATAR_MAX_SIDE; PNG when it has transparency, JPEG otherwise, without
 * metadata. Anything else, or anything that does not decode, is a 400 (errno 101).
 */
export async function resizeImage(input: Buffer, log?: Logger): Promise<ResizedImage> {
  let sharp: SharpFactory;
  try {
    sharp = await loadSharp();
  } catch (err) {
    log?.error({ reason: (err as Error).message }, 'the image library could not be loaded');
    throw profileErrors.imageProcessing();
  }
  const options: SharpOptions = { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', autoOrient: true };
  return oneAtATime(async () => {
    let format: string | undefined;
    let side: number;
    let hasAlpha: boolean;
    try {
      const meta = await sharp(input, options).metadata();
      format = meta.format;
      if (!format || !DECODABLE.has(format)) throw new UnsupportedFormat();
      const width = meta.width ?? 0;
      const height = meta.height ?? 0;
      if (width < 1 || height < 1) throw new Error('no dimensions');
      if (width * height > MAX_INPUT_PIXELS) throw new Error('Input image exceeds pixel limit');
      side = Math.min(AVATAR_MAX_SIDE, width, height);
      hasAlpha = meta.hasAlpha === true;
    } catch (err) {
      throw undecodable(err);
    }
    try {
      const pipeline = sharp(input, options).resize(side, side, { fit: 'cover', position: 'centre' });
      const { data, info } = await (hasAlpha ? pipeline.png({ compressionLevel: 9 }) : pipeline.jpeg({ quality: 85, mozjpeg: true })).toBuffer({
        resolveWithObject: true,
      });
      return { bytes: data, contentType: hasAlpha ? 'image/png' : 'image/jpeg', width: info.width, height: info.height };
    } catch (err) {
      // The header was fine but the pixels were not (truncated or corrupt data).
      log?.info({ format, reason: (err as Error).message }, 'uploaded image did not decode');
      throw undecodable(err);
    }
  });
}

class UnsupportedFormat extends Error {}

function undecodable(err: unknown) {
  if (err instanceof UnsupportedFormat || /unsupported image format/i.test((err as Error).message)) {
    return profileErrors.invalidParameter('the image must be PNG, JPEG, GIF or WebP', ['body']);
  }
  if (/pixel limit/i.test((err as Error).message)) {
    return profileErrors.invalidParameter(`the image has more than ${MAX_INPUT_PIXELS / 1_000_000} megapixels`, ['body']);
  }
  return profileErrors.invalidParameter('the image could not be decoded', ['body']);
}
