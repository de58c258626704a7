import type { FastifyPluginAsync } from 'fastify';

// PLACEHOLDER: /.well-known/fxa-client-configuration and openid-configuration (fxa-auth.md 8.2, 8.3).

export interface DiscoveryOptions {
  /** FOXDEN_PUBLIC_URL without trailing slash; undefined = the origin of each request. */
  publicBase: string | undefined;
  jwks: () => { keys: Record<string, unknown>[] };
}

export const discoveryRoutes: FastifyPluginAsync<DiscoveryOptions> = async () => {};
