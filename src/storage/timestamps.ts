// Sync timestamps: integer milliseconds inside, seconds with exactly two decimals on the wire.

/** Current time truncated to the 10 ms grain Sync timestamps have. */
export function nowTicks(): number {
  const now = Date.now();
  return now - (now % 10);
}

/** 1388635807400 -> "1388635807.40"; used in headers and written into JSON bodies as a number. */
export function formatTs(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const hundredths = Math.floor((ms % 1000) / 10);
  return `${whole}.${hundredths < 10 ? '0' : ''}${hundredths}`;
}

const DECIMAL = /^(\d+)(?:\.(\d*))?$/;

/**
 * Parse a client timestamp (decimal seconds, >= 0) into milliseconds truncated to 10 ms.
 * Plain decimals are read digit by digit so no float rounding creeps in; other numeric
 * spellings (exponents) go through Number. Undefined for anything negative or non-numeric.
 */
export function parseTs(text: string): number | undefined {
  const trimmed = text.trim();
  const m = DECIMAL.exec(trimmed);
  if (m) {
    const seconds = Number(m[1]);
    const frac = (m[2] ?? '').padEnd(2, '0').slice(0, 2);
    const ms = seconds * 1000 + Number(frac) * 10;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  if (!/^[0-9.eE+]+$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value < 0) return undefined;
  const ms = Math.floor(value * 1000);
  if (!Number.isSafeInteger(ms)) return undefined;
  return ms - (ms % 10);
}
