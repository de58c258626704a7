import { scrypt } from 'node:crypto';

// Runs in a child process at a lower CPU priority: the scrypt computations of password checks.
// The parent (scrypt-process.ts) sends { id, password, salt, N, r, p, keyLength, maxmem } and
// gets back { id, key } or { id, error }.

interface Job {
  id: number;
  password: Uint8Array;
  salt: Uint8Array;
  N: number;
  r: number;
  p: number;
  keyLength: number;
  maxmem: number;
}

process.on('message', (job: Job) => {
  scrypt(job.password, job.salt, job.keyLength, { N: job.N, r: job.r, p: job.p, maxmem: job.maxmem }, (err, key) => {
    process.send?.(err ? { id: job.id, error: err.message } : { id: job.id, key: new Uint8Array(key) });
  });
});

// The parent going away ends the child too.
process.on('disconnect', () => process.exit(0));
