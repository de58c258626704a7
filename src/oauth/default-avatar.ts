import { createHash } from 'node:crypto';
import { encodePng } from './png.js';

// The picture of an account that has not uploaded one: a coloured disc with a white head and
// shoulders, the colour picked from the uid so that accounts on one server look different.
// Drawn with signed distances (one pixel of anti-aliasing) and encoded by our own PNG encoder;
// each colour is drawn once per process and kept.

/** Colours dark enough for a white figure to stand out on (hex, no '#'). */
export const DEFAULT_AVATAR_COLOURS = ['0060df', '8000d7', 'c50042', 'b83d00', '0b7a32', '00778a', '592acb', 'a3007a', '5a6100', '4a4a55'] as const;

/** The avatar id upstream gives the default picture. */
export const DEFAULT_AVATAR_ID = '0'.repeat(32);

export const DEFAULT_AVATAR_SIZE = 240;

export function defaultAvatarColour(uid: string): string {
  const digest = createHash('sha256').update(uid).digest();
  return DEFAULT_AVATAR_COLOURS[digest.readUInt32BE(0) % DEFAULT_AVATAR_COLOURS.length]!;
}

export function isDefaultAvatarColour(value: string): boolean {
  return (DEFAULT_AVATAR_COLOURS as readonly string[]).includes(value);
}

const rendered = new Map<string, Buffer>();

/** The PNG for one of DEFAULT_AVATAR_COLOURS; undefined for any other value. */
export function defaultAvatarPng(colour: string): Buffer | undefined {
  if (!isDefaultAvatarColour(colour)) return undefined;
  let png = rendered.get(colour);
  if (!png) {
    png = renderAvatar(colour, DEFAULT_AVATAR_SIZE);
    rendered.set(colour, png);
  }
  return png;
}

/** How much of a pixel lies inside a shape whose signed distance (pixels, negative inside) is `d`. */
function coverage(d: number): number {
  return Math.min(1, Math.max(0, 0.5 - d));
}

function renderAvatar(colour: string, size: number): Buffer {
  const r = parseInt(colour.slice(0, 2), 16);
  const g = parseInt(colour.slice(2, 4), 16);
  const b = parseInt(colour.slice(4, 6), 16);
  const s = size / 240; // shapes are laid out on a 240-pixel grid
  const centre = size / 2;
  const disc = size / 2;
  const head = { x: centre, y: 96 * s, r: 42 * s };
  const body = { x: centre, y: 252 * s, r: 96 * s };
  const out = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const inDisc = coverage(Math.hypot(px - centre, py - centre) - disc);
      const inHead = coverage(Math.hypot(px - head.x, py - head.y) - head.r);
      const inBody = coverage(Math.hypot(px - body.x, py - body.y) - body.r);
      const figure = Math.max(inHead, inBody);
      const i = (y * size + x) * 4;
      out[i] = Math.round(r + (255 - r) * figure);
      out[i + 1] = Math.round(g + (255 - g) * figure);
      out[i + 2] = Math.round(b + (255 - b) * figure);
      out[i + 3] = Math.round(255 * inDisc);
    }
  }
  return encodePng(size, size, out);
}
