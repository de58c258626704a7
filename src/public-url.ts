import type { FastifyRequest } from 'fastify';

// What a client signed with Hawk: the public host, port and path (prefix included), which
// behind a TLS proxy differ from what this process sees.

export interface SignedOrigin {
  host: string;
  port: number;
}

/** Host and port of FOXDEN_PUBLIC_URL, or of the request's Host header when it is unset. */
export function signedOrigin(publicUrl: URL | undefined, req: FastifyRequest): SignedOrigin {
  if (publicUrl) {
    return { host: publicUrl.hostname, port: publicUrl.port ? Number(publicUrl.port) : publicUrl.protocol === 'https:' ? 443 : 80 };
  }
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(req.headers.host ?? '');
  return { host: m?.[1] ?? '', port: m?.[2] ? Number(m[2]) : req.protocol === 'https' ? 443 : 80 };
}

/** The request target as the client sent it: the public path prefix in front, whether or not the proxy stripped it. */
export function signedResource(publicUrl: URL | undefined, req: FastifyRequest): string {
  const prefix = publicUrl ? publicUrl.pathname.replace(/\/+$/, '') : '';
  const raw = req.originalUrl;
  if (!prefix || raw === prefix || raw.startsWith(`${prefix}/`)) return raw;
  return prefix + raw;
}

/** protocol://host the client sent this request to; undefined without a Host header. */
export function requestOrigin(req: FastifyRequest): string | undefined {
  return req.host ? `${req.protocol}://${req.host}` : undefined;
}

/** The base of URLs handed to clients: FOXDEN_PUBLIC_URL (without trailing slash), else the request's origin. */
export function clientBase(publicBase: string | undefined, req: FastifyRequest): string {
  return publicBase ?? `${req.protocol}://${req.host}`;
}
