import { execFileSync } from 'node:child_process';

// Some tests run Foxden the way users do, as `node dist/cli.js`; build dist/ once up front.
// `npm test` type-checks everything before vitest starts, so a type error here only means a
// focused run during development: tsc still emits, and the run goes on.
export default function setup(): void {
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  } catch {
    process.stderr.write('global setup: tsc reported errors; dist/ was built anyway\n');
  }
}
