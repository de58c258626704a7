import { execFileSync } from 'node:child_process';

// Some tests run Foxden the way users do, as `node dist/cli.js`; build dist/ once up front.
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
