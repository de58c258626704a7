import { readFileSync } from 'node:fs';

// CPU use as Linux counts it in /proc, in clock ticks of 1/100 s. The benches share a machine
// with other jobs; comparing what the whole machine did with what Foxden and the bench did
// says how much a figure was disturbed.

/** CPU seconds all cores spent busy since boot (/proc/stat: user nice system idle iowait irq softirq steal). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}

/**
 * Fields after the command name in /proc/<pid>/stat (state is index 0, ppid 1, utime 11,
 * stime 12, cutime 13, cstime 14); undefined once the process is gone.
 */
export function statFields(pid: number | string): number[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  } catch {
    return undefined;
  }
}

/** Other processes took more than 10% of the machine: the figure is disturbed. */
export function noisy(c: { others: number; capacity: number }): boolean {
  return c.others > 0.1 * c.capacity;
}
