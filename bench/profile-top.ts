/**
 * `node dist-bench/bench/profile-top.js <file.cpuprofile> [N]`: where a V8 CPU profile's time
 * went: shares of busy time (everything but idle) by category (lib, bench, node internals,
 * dependencies, GC) and the top N functions by self time. For the profiles behind the
 * report's unmet targets (`node --cpu-prof --cpu-prof-dir=DIR dist-bench/bench/run.js ...`).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function category(name: string, url: string): string {
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'gc';
  if (name === '(program)') return 'program';
  if (url.includes('/dist-bench/lib/')) return 'lib';
  if (url.includes('/dist-bench/bench/')) return 'bench';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('node_modules')) return 'dependencies';
  return url === '' ? 'native' : 'other';
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-top.js <file.cpuprofile> [N]\n');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const perNode = new Map<number, number>();
p.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const self = new Map<string, number>();
const cats = new Map<string, number>();
let total = 0;
for (const [id, us] of perNode) {
  const cf = byId.get(id)!.callFrame;
  const short = cf.url.replace(/^.*\/(dist-bench|node_modules)\//, '').split('/').slice(-2).join('/');
  const key = `${cf.functionName || '(anonymous)'} ${short}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + us);
  const c = category(cf.functionName, cf.url);
  cats.set(c, (cats.get(c) ?? 0) + us);
  total += us;
}
const busy = total - (cats.get('idle') ?? 0);
const pct = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
const out: string[] = [];
out.push(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%)`);
out.push(`busy time by category: ${[...cats].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${pct(v)}`).join(', ')}`);
for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) {
  out.push(`${pct(v).padStart(6)}  ${k}`);
}
process.stdout.write(`${out.join('\n')}\n`);
