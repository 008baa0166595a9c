/**
 * The targets table of the report (issue 22, performance round 3; then the earlier rounds'
 * that still hold) and the connections table. Every ratio is between cells of the same run.
 */
import type { CellResult, Report } from './report.js';
import { fmtCount, fmtMs } from './stats.js';

type Get = (scenario: string, transport: string) => CellResult | undefined;

/** One target: `eval` gives the text of a column ('' where the target is not about that row). */
interface Target {
  group: string;
  label: string;
  eval(row: string, get: Get): string;
}

const isEngine = (row: string) => row.startsWith('engine-');
const isNest = (row: string) => row.startsWith('socketd-');
const over = (row: string) => row.slice(row.indexOf('-') + 1); // tcp | ws
const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

function why(c: CellResult | undefined, name: string): string {
  if (!c) return `no ${name} cell`;
  return `${name} ${c.status}${c.note ? `: ${c.note.slice(0, 80)}` : ''}`;
}

/** cell / base cell >= min (throughputs). */
function ratioAtLeast(scenario: string, base: string, min: number | ((row: string) => number | undefined), rows: (row: string) => boolean): Target['eval'] {
  return (row, get) => {
    if (!rows(row)) return '';
    const m = typeof min === 'number' ? min : min(row);
    if (m === undefined) return '';
    const c = get(scenario, row);
    const b = get(scenario, base);
    if (!c || c.median === undefined) return c ? `${c.status}` : '';
    if (!b || b.median === undefined) return `n/a (${why(b, base)})`;
    const ratio = c.median / b.median;
    return `${ratio.toFixed(2)}x ${pass(ratio >= m)}`;
  };
}

/** Our Nest row's first item minus the engine's over the same transport (engine-tcp when engine-ws did not run). */
function firstItemWithin(scenario: string, maxMs: number): Target['eval'] {
  return (row, get) => {
    if (!isNest(row)) return '';
    const c = get(scenario, row);
    const same = get(scenario, `engine-${over(row)}`);
    const e = same?.median !== undefined ? same : get(scenario, 'engine-tcp');
    const eName = e === same ? `engine-${over(row)}` : 'engine-tcp';
    if (!c || c.median === undefined || !e || e.median === undefined) return c ? `n/a (${why(c.median === undefined ? c : e, c.median === undefined ? row : eName)})` : '';
    const d = c.median - e.median;
    return `${d >= 0 ? '+' : '-'}${fmtMs(Math.abs(d))} ms vs ${eName} ${pass(d <= maxMs)}`;
  };
}

/** A value of the connections scenario against the bare row of the same transport. */
function connRatio(key: string, maxRatio: number, unit: string): Target['eval'] {
  return (row, get) => {
    const c = get('conn-10k', row);
    if (!c || (!isNest(row) && !isEngine(row))) return '';
    const baseName = over(row) === 'ws' ? 'bare-ws' : 'raw-net';
    const b = get('conn-10k', baseName);
    const v = c.extra?.[key];
    const bv = b?.extra?.[key];
    if (v === undefined) return `n/a (${why(c, row)})`;
    if (bv === undefined) return `${v.toFixed(1)} ${unit} (no ${baseName})`;
    // a bare connection can cost ~0 after GC: compare against at least 1 KiB
    const ratio = v / Math.max(bv, 1);
    return `${v.toFixed(1)} ${unit} = ${ratio.toFixed(2)}x ${baseName} ${pass(ratio <= maxRatio)}`;
  };
}

function connValue(fmt: (e: Record<string, number>) => string): Target['eval'] {
  return (row, get) => {
    const c = get('conn-10k', row);
    if (!c || (!isNest(row) && !isEngine(row))) return '';
    return c.extra ? fmt(c.extra) : `n/a (${why(c, row)})`;
  };
}

const vsPeer = (scenario: string, peer: string): Target['eval'] => ratioAtLeast(scenario, peer, 1, isNest);

export const TARGETS: readonly Target[] = [
  // 1. the engine against the batched ceiling
  { group: '1', label: 'engine echo@256 over tcp >= 0.8x raw net batched', eval: ratioAtLeast('echo-256', 'raw-net-batched', 0.8, (r) => r === 'engine-tcp') },
  { group: '1', label: 'engine events >= 0.8x raw net batched', eval: ratioAtLeast('events-200k', 'raw-net-batched', 0.8, (r) => r === 'engine-tcp') },
  { group: '1', label: 'engine 1 MiB echo@1 >= 0.6x raw net batched', eval: ratioAtLeast('buf-1mib-1', 'raw-net-batched', 0.6, (r) => r === 'engine-tcp') },
  // 2. through Nest
  { group: '2', label: 'echo@256 >= 2x Nest TCP (tcp), >= 1.8x (ws)', eval: ratioAtLeast('echo-256', 'nest-tcp', (r) => ({ tcp: 2, ws: 1.8 })[over(r)], isNest) },
  { group: '2', label: 'events >= 4x Nest TCP (tcp), >= 3x (ws)', eval: ratioAtLeast('events-200k', 'nest-tcp', (r) => ({ tcp: 4, ws: 3 })[over(r)], isNest) },
  {
    group: '2',
    label: '100k stream >= 1M items/s',
    eval: (row, get) => {
      if (!isNest(row)) return '';
      const c = get('stream-100k', row);
      return c?.median === undefined ? '' : `${fmtCount(c.median)} ${pass(c.median >= 1_000_000)}`;
    },
  },
  { group: '2', label: 'first item of a 10k stream within 0.3 ms of the engine', eval: firstItemWithin('first-item-10k', 0.3) },
  { group: '2', label: 'first item of a 100k stream within 0.3 ms of the engine', eval: firstItemWithin('first-item-100k', 0.3) },
  { group: '2', label: 'first item of a 1M stream within 0.3 ms of the engine', eval: firstItemWithin('first-item-1m', 0.3) },
  // 3. against the transports a Nest user would pick instead (ahead = ratio >= 1)
  { group: '3', label: 'echo@1 ahead of Nest gRPC', eval: vsPeer('echo-1', 'nest-grpc') },
  { group: '3', label: 'echo@1 ahead of Nest NATS', eval: vsPeer('echo-1', 'nest-nats') },
  { group: '3', label: 'echo@256 ahead of Nest gRPC', eval: vsPeer('echo-256', 'nest-grpc') },
  { group: '3', label: 'echo@256 ahead of Nest NATS', eval: vsPeer('echo-256', 'nest-nats') },
  { group: '3', label: 'events ahead of Nest NATS', eval: vsPeer('events-200k', 'nest-nats') },
  { group: '3', label: '100k stream ahead of Nest gRPC', eval: vsPeer('stream-100k', 'nest-grpc') },
  { group: '3', label: '100k stream ahead of Nest NATS', eval: vsPeer('stream-100k', 'nest-nats') },
  { group: '3', label: '1 MiB echo@1 ahead of Nest gRPC', eval: vsPeer('buf-1mib-1', 'nest-grpc') },
  { group: '3', label: '1 MiB echo@1 ahead of Nest NATS', eval: vsPeer('buf-1mib-1', 'nest-nats') },
  // 4. connections
  { group: '4', label: 'server RSS per idle session <= 2x a bare connection (KiB)', eval: connRatio('rssPerSessionKiB', 2, 'KiB') },
  {
    group: '4',
    label: 'echo@256 p99 with the idle sessions <= 1.5x with 1 session',
    eval: connValue((e) => `${fmtMs(e.echo1P99Ms!)} -> ${fmtMs(e.echoNP99Ms!)} ms = ${e.p99Ratio!.toFixed(2)}x ${pass(e.p99Ratio! <= 1.5)}`),
  },
  { group: '4', label: 'heartbeat CPU: server, idle sessions, one default interval (measured)', eval: connValue((e) => `${e.serverCpuPct!.toFixed(2)}% of a core over ${e.windowS!.toFixed(0)} s`) },
  { group: '4', label: 'handshakes per second (measured)', eval: connValue((e) => `${fmtCount(e.handshakesPerS!)}/s`) },
];

/** Earlier rounds' targets that still hold (issue 13 and before). */
export const EARLIER: readonly Target[] = [
  { group: 'earlier', label: 'first item of a 1M stream <= 2x the round trip', eval: (row, get) => {
    const c = get('first-item-1m', row);
    if (!isNest(row) || !c?.extra?.ratio) return '';
    return `${c.extra.ratio.toFixed(2)}x ${pass(c.extra.ratio <= 2)}`;
  } },
  ...(['rss-stream-1m-slow', 'rss-stream-1m-fast', 'rss-transfer-1gib'] as const).map((id) => ({
    group: 'earlier',
    label: `RSS growth < 64 MB, ${id}`,
    eval: (row: string, get: Get) => {
      const c = get(id, row);
      if (!isNest(row) || c?.median === undefined) return '';
      return `${c.median.toFixed(0)} MB ${pass(c.median < 64)}`;
    },
  })),
  { group: 'earlier', label: '1 MiB echo@8 >= 5x Nest TCP', eval: ratioAtLeast('buf-1mib-8', 'nest-tcp', 5, isNest) },
  { group: 'earlier', label: '100k stream >= 30x Nest TCP', eval: ratioAtLeast('stream-100k', 'nest-tcp', 30, isNest) },
  {
    group: 'earlier',
    label: 'stream flat 10k -> 1M (1M >= 0.75x 10k items/s)',
    eval: (row, get) => {
      const a = get('stream-1m', row);
      const b = get('stream-10k', row);
      if (!isNest(row) || a?.median === undefined || b?.median === undefined) return '';
      const ratio = a.median / b.median;
      return `${ratio.toFixed(2)}x ${pass(ratio >= 0.75)}`;
    },
  },
];

export function renderTargets(r: Report, get: Get): string[] {
  const rows = new Set<string>();
  for (const c of r.results) {
    if ((isNest(c.transport) || isEngine(c.transport)) && c.status !== 'unavailable') rows.add(c.transport);
  }
  const ours = [...rows];
  if (ours.length === 0) return [];
  const out: string[] = [];
  out.push(`## Targets${r.quick ? ' (quick mode: tiny counts, the verdicts mean nothing)' : ''}`);
  out.push('');
  out.push('Ratios between cells of this run (medians). Group 1: the engine against raw `net` with batched writes (the ceiling); ' +
    '2: through Nest against Nest TCP and against the engine; 3: against Nest gRPC and NATS (ratio >= 1 = ahead); 4: the connections table below.');
  out.push('');
  out.push(`| # | target | ${ours.join(' | ')} |`);
  out.push(`| --- | --- | ${ours.map(() => '---').join(' | ')} |`);
  for (const t of [...TARGETS, ...EARLIER]) {
    const cols = ours.map((o) => t.eval(o, get));
    if (cols.every((x) => x === '')) continue;
    out.push(`| ${t.group} | ${t.label} | ${cols.join(' | ')} |`);
  }
  out.push('');
  return out;
}

const pctText = (v: number | undefined) => (v === undefined ? '?' : `${v.toFixed(0)}%`);

export function renderConnections(r: Report): string[] {
  const cells = r.results.filter((c) => c.scenario === 'conn-10k');
  if (cells.length === 0) return [];
  const s = r.scenarios.find((x) => x.id === 'conn-10k');
  const out: string[] = [];
  out.push(`## Connections: ${s?.title ?? 'conn-10k'}`);
  out.push('');
  out.push(
    'Per row a fresh server child and a fresh client child. Idle connections: our rows use the engine client at its defaults ' +
      '(a Ping every 20 s); bare rows are plain sockets. Handshakes/s: the idle connections opened 256 at a time, with the CPU ' +
      'of the server and of the connecting client meanwhile (a client near 100 % set the rate). RSS per session = (server RSS after a full GC with the sessions open - ' +
      'before) / sessions. Server CPU: over one default heartbeat interval with only the idle sessions open. echo@256 on one ' +
      'active session before the idle ones were opened and with them open.',
  );
  out.push('');
  out.push('| row | sessions (source addresses) | handshakes/s (CPU server / client) | server RSS MB before -> after | RSS per idle session | server CPU idle | client CPU idle | echo@256, 1 session: req/s (p50 / p99) | with the idle sessions | p99 ratio |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of cells) {
    const e = c.extra;
    if (!e) {
      out.push(`| ${c.transport} | ${c.status}: ${c.note ?? ''} | | | | | | | | |`);
      continue;
    }
    out.push(
      `| ${c.transport} | ${fmtCount(e.opened!)} (${e.sources}) | ${fmtCount(e.handshakesPerS!)} (${pctText(e.openServerCpuPct)} / ${pctText(e.openClientCpuPct)}) | ${e.serverRssBeforeMB!.toFixed(0)} -> ${e.serverRssAfterMB!.toFixed(0)} | ` +
        `${e.rssPerSessionKiB!.toFixed(1)} KiB | ${e.serverCpuPct!.toFixed(2)}% (${e.windowS!.toFixed(0)} s) | ${e.clientCpuPct!.toFixed(2)}% | ` +
        `${fmtCount(e.echo1Rate!)} (${fmtMs(e.echo1P50Ms!)} / ${fmtMs(e.echo1P99Ms!)} ms) | ${fmtCount(e.echoNRate!)} (${fmtMs(e.echoNP50Ms!)} / ${fmtMs(e.echoNP99Ms!)} ms) | ` +
        `${e.p99Ratio!.toFixed(2)}x |`,
    );
  }
  out.push('');
  return out;
}
