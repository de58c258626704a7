import type { FastifyInstance } from 'fastify';
import { ping, type Database } from './db/index.js';
import { VERSION } from './version.js';

// Dockerflow endpoints: /__heartbeat__ (checks the database), /__lbheartbeat__, /__version__.

export async function healthRoutes(app: FastifyInstance, opts: { database: Database }): Promise<void> {
  app.get('/__heartbeat__', async (req, reply) => {
    try {
      await ping(opts.database);
      return reply.code(200).send({ status: 'Ok', database: 'Ok', version: VERSION });
    } catch (err) {
      req.log.error({ err }, 'heartbeat: database check failed');
      return reply.code(503).send({ status: 'Err', database: 'Err', version: VERSION });
    }
  });
  app.get('/__lbheartbeat__', async (_req, reply) => reply.code(200).send({}));
  app.get('/__version__', async (_req, reply) =>
    reply.code(200).send({ source: 'foxden', version: VERSION, commit: process.env.FOXDEN_COMMIT ?? 'unknown', build: 'npm' }),
  );
}
