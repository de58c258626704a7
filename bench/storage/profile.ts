import { readFileSync } from 'node:fs';

// Summarize a V8 .cpuprofile (node --cpu-prof): self time by package / source file and by
// function, so a bench run can say where Foxden spends its CPU.

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: a package under node_modules, a Foxden file, node itself, or V8. */
function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName.startsWith('(')) return functionName; // (idle) (program) (garbage collector) (root)
    return 'native (C++ bindings, addons)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1]!;
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `foxden ${dist[1]!.replace(/\/[^/]+$/, '/*')}`;
  return url;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = /node_modules\/(.+)$/.exec(url);
  if (nm) return nm[1]!;
  const dist = /\/(dist\/.+)$/.exec(url);
  if (dist) return dist[1]!;
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 12): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  let busy = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    total += us;
    const cat = category(frame);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    if (cat === '(idle)') continue;
    busy += us;
    const where = frame.url ? ` ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const pct = (us: number, of: number) => `${((100 * us) / Math.max(1, of)).toFixed(1).padStart(5)}%`;
  const lines: string[] = [];
  lines.push(`profile ${file}`);
  lines.push(`  sampled ${(total / 1e6).toFixed(1)} s, of which busy (not idle) ${(busy / 1e6).toFixed(1)} s`);
  lines.push('  self time by package / file (share of busy time):');
  for (const [cat, us] of [...byCategory].filter(([c]) => c !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`    ${pct(us, busy)}  ${cat}`);
  }
  lines.push('  hottest functions by self time (share of busy time):');
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`    ${pct(us, busy)}  ${fn}`);
  }
  return lines;
}
