import { parseArgs, type ParseArgsConfig } from 'node:util';

// The command line of a bench: a wrong option stops the run before anything starts, with
// what is wrong and the usage, exit code 2.

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Parses strictly (an unknown option or a stray argument is an error); --help / -h prints the usage and exits 0. */
export function parseOptions<const O extends OptionsConfig>(usage: string, options: O) {
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } }, strict: true, allowPositionals: false });
  // With O generic the compiler cannot see help's type here; callers see every option's.
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

export function usageError(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** `raw` as a whole number from min to max, or a usage error naming --`name`. */
export function wholeNumber(usage: string, name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) usageError(usage, `--${name} must be a whole number from ${min} to ${max} (got ${raw})`);
  return n;
}

export type Engine = 'sqlite' | 'postgres';

/** --engine: sqlite, postgres or both (in that order). */
export function engines(usage: string, raw: string): Engine[] {
  if (raw === 'both') return ['sqlite', 'postgres'];
  if (raw === 'sqlite' || raw === 'postgres') return [raw];
  usageError(usage, '--engine must be sqlite, postgres or both');
}
