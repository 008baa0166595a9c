/**
 * `node dist-bench/bench/profile-top.js <file.cpuprofile[.gz]> [N] [--timeline] [--window=A-B]`: where a V8 CPU
 * profile's time went: shares of busy time (everything but idle) by category (lib, bench, node
 * internals, dependencies, GC) and the top N functions by self time; `--timeline` adds, per
 * half second, the share of wall time busy and in GC (to find one phase of a long run, such
 * as conn-10k's echo with the idle sessions open), and `--window=A-B` keeps only the samples
 * from A to B seconds. For the profiles behind the report's unmet
 * targets (`node --cpu-prof --cpu-prof-dir=DIR dist-bench/bench/run.js ...`; the server child
 * with `BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR'`).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
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

const args = process.argv.slice(2);
const timeline = args.includes('--timeline');
// --window A-B: only the samples between A and B seconds from the start (a phase of the run).
const windowArg = args.find((a) => a.startsWith('--window='))?.slice('--window='.length);
const [fromS, toS] = windowArg === undefined ? [0, Infinity] : windowArg.split('-').map(Number);
const [file, topArg] = args.filter((a) => a !== '--timeline' && !a.startsWith('--window='));
if (!file) {
  process.stderr.write('usage: profile-top.js <file.cpuprofile[.gz]> [N] [--timeline] [--window=A-B]\n');
  process.exit(2);
}
const raw = readFileSync(file);
const p = JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const perNode = new Map<number, number>();
let at = 0;
p.samples.forEach((id, i) => {
  at += p.timeDeltas[i] ?? 0;
  if (at >= fromS! * 1e6 && at < toS! * 1e6) perNode.set(id, (perNode.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
});
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
if (timeline) {
  // Busy and GC shares of wall time per half second (windows less than 20 % busy left out).
  const windows = new Map<number, { all: number; idle: number; gc: number }>();
  let t = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    t += us;
    const w = Math.floor(t / 500_000) / 2;
    const cur = windows.get(w) ?? { all: 0, idle: 0, gc: 0 };
    const name = byId.get(id)!.callFrame.functionName;
    cur.all += us;
    if (name === '(idle)') cur.idle += us;
    if (name === '(garbage collector)') cur.gc += us;
    windows.set(w, cur);
  });
  out.push('timeline (s from start: busy / gc, % of wall time):');
  for (const [w, v] of [...windows].sort((a, b) => a[0] - b[0])) {
    if (v.all - v.idle < 0.2 * v.all) continue;
    out.push(`  ${w.toFixed(1).padStart(6)} s  ${((100 * (v.all - v.idle)) / v.all).toFixed(0).padStart(3)}% / ${((100 * v.gc) / v.all).toFixed(0).padStart(3)}%`);
  }
}
process.stdout.write(`${out.join('\n')}\n`);
