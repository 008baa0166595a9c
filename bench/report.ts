/** Result types, machine description and the markdown rendering of a bench report. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { RunResult } from './scenarios.js';
import { fmtCount, fmtMs } from './stats.js';
import { renderConnections, renderTargets } from './targets.js';

export type CellStatus = 'ok' | 'unavailable' | 'skipped' | 'timeout' | 'error' | 'n/a';

export interface CellResult {
  scenario: string;
  transport: string;
  unit: string;
  status: CellStatus;
  note?: string;
  runs: RunResult[];
  median?: number;
  extra?: Record<string, number>;
  /** Runs that failed (stalled or errored); the median is over the others. */
  failures?: number;
  errors?: string[];
  failStatus?: 'timeout' | 'error';
  /** The failure is a documented issue of that transport (TransportEntry.knownIssues). */
  known?: boolean;
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  v8: string;
  platform: string;
  release: string;
  arch: string;
  totalMemMB: number;
  /** 1/5/15-minute load averages when the bench started and ended (other work on the machine skews results). */
  loadavg: number[];
  loadavgEnd?: number[];
  rssMethod?: string;
  commit?: string;
  /** µs per small write() on loopback, one frame per write vs 1000 frames per write (bench/calibrate.ts). */
  writeCost?: { singleUs: number; batchedUs: number };
  natsServer?: string;
}

export interface Report {
  generatedAt: string;
  durationS: number;
  quick: boolean;
  runs: number;
  rssRuns: number;
  /** CPU pinning (taskset) of client and server. */
  pinned: string;
  /** Where our library was loaded from. */
  library: string;
  machine: Machine;
  scenarios: { id: string; title: string; unit: string; n: number }[];
  transports: { name: string; description: string; buffer: string }[];
  results: CellResult[];
}

export function machineInfo(root: string): Machine {
  const cpus = os.cpus();
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    commit = undefined;
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    v8: process.versions.v8,
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    totalMemMB: Math.round(os.totalmem() / 2 ** 20),
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    commit,
  };
}

function cellText(c: CellResult | undefined, withLatency: boolean): string {
  if (!c) return '';
  switch (c.status) {
    case 'unavailable':
      return 'n/a¹';
    case 'n/a':
      return '';
    case 'skipped':
      return 'skipped²';
    case 'timeout':
      return 'timeout³';
    case 'error':
      return 'error³';
    default:
      break;
  }
  if (c.median === undefined) return '';
  const e = c.extra ?? {};
  if (c.unit === 'MB' && e.clientGrowthMB !== undefined) {
    return `+${e.clientGrowthMB.toFixed(0)} / +${e.serverGrowthMB!.toFixed(0)}`;
  }
  if (c.unit === 'ms' && e.rttMs !== undefined) {
    return `${fmtMs(c.median)} ms (${e.ratio!.toFixed(1)}x rtt ${fmtMs(e.rttMs)} ms)${c.failures ? ` ⁴ (${c.failures}/${c.failures + c.runs.length} runs failed)` : ''}`;
  }
  let s = c.unit === 'MB/s' ? c.median.toFixed(0) : fmtCount(c.median);
  if (withLatency && e.p50Ms !== undefined && e.p99Ms !== undefined) s += ` (${fmtMs(e.p50Ms)} / ${fmtMs(e.p99Ms)} ms)`;
  if (c.failures) s += ` ⁴ (${c.failures}/${c.failures + c.runs.length} runs failed)`;
  return s;
}

export function renderMarkdown(r: Report): string {
  const get = (s: string, t: string) => r.results.find((c) => c.scenario === s && c.transport === t);
  const names = r.transports.map((t) => t.name);
  const m = r.machine;
  const out: string[] = [];
  out.push(`# nestjs-socketd benchmark${r.quick ? ' (quick mode: tiny counts, not comparable)' : ''}`);
  out.push('');
  out.push(
    `${m.cpu}, ${m.cores} cores, ${m.totalMemMB} MiB RAM, ${m.platform} ${m.release} ${m.arch}, Node ${m.node} (V8 ${m.v8}); ` +
      `commit ${m.commit ?? '?'}; ${r.generatedAt}; ${r.durationS.toFixed(0)} s in total. Loopback, server in a child process, client in the parent. ` +
      `Median of ${r.runs} run(s) per cell (RSS: ${r.rssRuns}), transports in rotating order per run. ` +
      `CPU pinning: ${r.pinned}. Load average at start ${m.loadavg.join(' / ')}, at end ${(m.loadavgEnd ?? []).join(' / ')}. Peak RSS from ${m.rssMethod ?? '?'}.` +
      (m.writeCost
        ? ` One 109-byte socket.write() on loopback costs ${m.writeCost.singleUs.toFixed(2)} µs here (${m.writeCost.batchedUs.toFixed(3)} µs per frame when 1000 leave in one write): ` +
          'the rows that write once per frame (raw-net, nest-tcp) move with this syscall cost from machine to machine.'
        : '') +
      (m.natsServer ? ` ${m.natsServer}.` : ''),
  );
  out.push('');
  out.push(`| scenario | unit | ${names.join(' | ')} |`);
  out.push(`| --- | --- | ${names.map(() => '---:').join(' | ')} |`);
  for (const s of r.scenarios) {
    if (s.id === 'conn-10k') continue; // its own table
    const unit = s.unit === 'MB' ? 'RSS growth MB, client / server'
      : s.unit === 'ms' ? 'ms from Subscribe to first Reply (x echo round trip)'
        : s.unit + (s.id.startsWith('echo') ? ' (p50 / p99)' : '');
    const row = names.map((t) => cellText(get(s.id, t), s.id.startsWith('echo')));
    if (row.every((x) => x === '')) continue;
    out.push(`| ${s.title} | ${unit} | ${row.join(' | ')} |`);
  }
  out.push('');

  // RSS details
  const rss = r.results.filter((c) => c.unit === 'MB' && c.extra);
  if (rss.length) {
    out.push('## Peak RSS (fresh server and client processes)');
    out.push('');
    out.push('| scenario | transport | n | time s | client baseline -> peak MB | server baseline -> peak MB | note |');
    out.push('| --- | --- | ---: | ---: | ---: | ---: | --- |');
    for (const c of rss) {
      const e = c.extra!;
      out.push(
        `| ${c.scenario} | ${c.transport} | ${e.n! >= 1000 ? fmtCount(e.n!) : String(e.n)} | ${(e.elapsedMs! / 1000).toFixed(1)} | ` +
          `${e.clientBaselineMB!.toFixed(0)} -> ${e.clientPeakMB!.toFixed(0)} | ${e.serverBaselineMB!.toFixed(0)} -> ${e.serverPeakMB!.toFixed(0)} | ${c.note ?? ''} |`,
      );
    }
    out.push('');
  }

  out.push(...renderConnections(r));
  out.push(...renderTargets(r, get));

  out.push('## Transports');
  out.push('');
  for (const t of r.transports) out.push(`- **${t.name}**: ${t.description}; 1 MiB payload sent as ${t.buffer || '?'}.`);
  out.push('');
  out.push(`Our rows load the library from ${r.library}.`);
  out.push('');

  // spread of the runs, so a noisy median shows
  const multi = r.results.filter((c) => c.runs.length > 1 && c.unit !== 'MB');
  if (multi.length) {
    out.push('## Runs (min / median / max)');
    out.push('');
    out.push(`| scenario | ${names.join(' | ')} |`);
    out.push(`| --- | ${names.map(() => '---:').join(' | ')} |`);
    for (const s of r.scenarios) {
      const row = names.map((t) => {
        const c = get(s.id, t);
        if (!c || c.runs.length < 2) return '';
        const v = c.runs.map((x) => x.value);
        const f = (x: number) => (c.unit === 'MB/s' ? x.toFixed(0) : fmtCount(x));
        return `${f(Math.min(...v))} / ${f(c.median!)} / ${f(Math.max(...v))}`;
      });
      if (row.every((x) => x === '')) continue;
      out.push(`| ${s.id} (${s.unit}) | ${row.join(' | ')} |`);
    }
    out.push('');
  }
  const notes = r.results.filter((c) => c.note && c.status !== 'n/a');
  const unavailable = notes.filter((c) => c.status === 'unavailable');
  const seen = new Set<string>();
  if (notes.length) {
    out.push('## Notes');
    out.push('');
    for (const c of unavailable) {
      if (seen.has(c.transport)) continue;
      seen.add(c.transport);
      out.push(`- ¹ ${c.transport}: unavailable: ${c.note}`);
    }
    for (const c of notes) {
      if (c.status === 'unavailable') continue;
      const mark = c.status === 'skipped' ? '² ' : c.status === 'error' || c.status === 'timeout' ? '³ ' : c.failures ? '⁴ ' : '';
      out.push(`- ${mark}${c.scenario} / ${c.transport} (${c.status}): ${c.note}`);
    }
    out.push('');
  }
  out.push(
    'Units: MB = 10^6 bytes; 1 MiB echo MB/s counts the payload once per round trip; events/s and items/s are end to end ' +
      '(until the server counted every event / the client received every item); first item: median time from calling ' +
      'stream(n) to its first item, and its ratio to the median echo round trip (1 in flight) measured just before on the ' +
      'same connection. RSS growth = peak minus the RSS measured after connecting, per process.',
  );
  out.push('');
  return out.join('\n');
}
