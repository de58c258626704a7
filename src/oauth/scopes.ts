// OAuth scope values as FxA defines them (fxa-auth.md 5.1): short names made of ':'-separated
// parts, where a scope covers its sub-scopes ("profile" covers "profile:email") and ":write"
// covers reading too ("profile:write" covers "profile:display_name" and
// "profile:display_name:write"); URL scopes cover only themselves.

export const OLDSYNC = 'https://identity.mozilla.com/apps/oldsync';
export const SESSION_SCOPE = 'https://identity.mozilla.com/tokens/session';

/** Scopes that come with a key (fxa-auth.md 5.3). */
export const KEY_BEARING_SCOPES = new Set([OLDSYNC, 'https://identity.thunderbird.net/apps/sync']);

export function parseScopes(value: string | readonly string[] | undefined): string[] {
  const list = typeof value === 'string' ? value.split(/\s+/) : (value ?? []);
  return [...new Set(list.filter((s) => s.length > 0))];
}

/** Is `scope` a well-formed FxA scope value (a short name or an https URL)? */
export function validScope(scope: string): boolean {
  if (/^https:\/\/[^\s#?]+$/.test(scope)) return true;
  return /^[a-z][a-z0-9_]*(:[a-z][a-z0-9_]*)*(:write)?$/i.test(scope);
}

function split(scope: string): { parts: string[]; write: boolean } {
  const parts = scope.split(':');
  const write = parts.length > 1 && parts[parts.length - 1] === 'write';
  return { parts: write ? parts.slice(0, -1) : parts, write };
}

/** Does holding `held` grant `wanted`? */
export function implies(held: string, wanted: string): boolean {
  if (held === wanted) return true;
  if (held.includes('://') || wanted.includes('://')) return false;
  const h = split(held);
  const w = split(wanted);
  if (w.write && !h.write) return false;
  if (h.parts.length > w.parts.length) return false;
  return h.parts.every((part, i) => part === w.parts[i]);
}

/** Does any scope in `held` grant `wanted`? */
export function covers(held: readonly string[], wanted: string): boolean {
  return held.some((h) => implies(h, wanted));
}
