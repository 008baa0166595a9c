/**
 * The conn-10k scenario inside a bench run (run.ts): its own rows (the bare baselines and ours,
 * CONN_ROWS), `runs` rounds in rotating order, cells with medians like the other scenarios.
 */
import { CONN_ROWS, connsParams, raiseOpenFiles, runConns } from './conns.js';
import type { CellResult } from './report.js';
import type { Scenario } from './scenarios.js';
import { median } from './stats.js';

export interface ConnsCli {
  runs: number;
  quick: boolean;
  /** --transport: picks our rows (the bare baselines always run). */
  transports: string[];
  clientCpu: number | undefined;
  log(line: string): void;
}

export async function runConnsScenario(s: Scenario, cli: ConnsCli, cells: Map<string, CellResult>, unavailable: Map<string, string>): Promise<void> {
  const { clientCpu, log } = cli;
  const rows = CONN_ROWS.filter((r) => cli.transports.length === 0 || r.baseline === undefined || cli.transports.includes(r.name));
  const params = connsParams(cli.quick);
  // each of the server and the idle client child holds n sockets
  const nofile = raiseOpenFiles(params.n + 4096);
  for (const row of rows) {
    const cell: CellResult = { scenario: s.id, transport: row.name, unit: s.unit, status: 'ok', runs: [] };
    if (unavailable.has(row.name)) {
      cell.status = 'unavailable';
      cell.note = unavailable.get(row.name);
    } else if (nofile < params.n + 1024) {
      cell.status = 'unavailable';
      cell.note = `open-files limit ${nofile} is below ${params.n + 1024} (raise ulimit -n)`;
    }
    cells.set(`${s.id}|${row.name}`, cell);
  }
  for (let r = 0; r < cli.runs; r++) {
    const order = rows.map((_, i) => rows[(i + r) % rows.length]!);
    for (const row of order) {
      const cell = cells.get(`${s.id}|${row.name}`)!;
      if (cell.status !== 'ok') continue;
      try {
        const res = await runConns(row.name, params, clientCpu);
        cell.runs.push({ value: res.handshakesPerS, extra: { ...res } });
        log(
          `${s.id.padEnd(20)} ${row.name.padEnd(16)} run ${r + 1}/${cli.runs}: ${res.handshakesPerS.toFixed(0)} handshakes/s, ` +
            `${res.rssPerSessionKiB.toFixed(1)} KiB/session, server CPU ${res.serverCpuPct.toFixed(2)}% idle, ` +
            `echo@256 p99 ${res.echo1P99Ms.toFixed(2)} -> ${res.echoNP99Ms.toFixed(2)} ms`,
        );
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        cell.failures = (cell.failures ?? 0) + 1;
        cell.errors = [...(cell.errors ?? []), `run ${r + 1}: ${msg}`];
        log(`${s.id.padEnd(20)} ${row.name.padEnd(16)} run ${r + 1}/${cli.runs}: error: ${msg}`);
      }
    }
  }
  for (const row of rows) {
    const cell = cells.get(`${s.id}|${row.name}`)!;
    if (cell.failures) {
      cell.note = `${cell.failures} of ${cell.failures + cell.runs.length} run(s) failed (${cell.errors!.join('; ')})`;
      if (cell.runs.length === 0) cell.status = 'error';
    }
    if (cell.runs.length === 0) continue;
    cell.median = median(cell.runs.map((x) => x.value));
    const keys = Object.keys(cell.runs[0]!.extra);
    cell.extra = Object.fromEntries(keys.map((k) => [k, median(cell.runs.map((x) => x.extra[k] ?? NaN))]));
  }
}

