/**
 * `npm run bench [-- --quick] [--only <scenario,...>] [--transport <name,...>] [--runs N]
 *  [--rss-runs N] [--out <dir>]`
 *
 * Servers run in forked children (one per transport, reused across scenarios; fresh ones for
 * the RSS scenarios); clients run here (fresh client children for the RSS scenarios). Each
 * cell runs `runs` times, transports in rotating order per run; the median is reported.
 */
import 'reflect-metadata';
import { fork } from 'node:child_process';
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TRANSPORTS, loadTransport } from './transports/index.js';
import { libSource } from './transports/lib-loader.js';
import { ServerProc, pin, pinCpus } from './proc.js';
import { rssMethod } from './rss.js';
import { runConnsScenario } from './conns-scenario.js';
import { NATS_PORT_ENV, natsServerVersion, startNatsBroker, type NatsBroker } from './nats-broker.js';
import { measureWriteCost } from './calibrate.js';
import {
  ECHO_PAYLOAD,
  buildScenarios,
  oneMiB,
  runBuf,
  runBulk,
  runEcho,
  runEvents,
  runFirstItem,
  runStream,
  timedLoop,
  type RunResult,
  type Scenario,
} from './scenarios.js';
import { median, MB, MiB } from './stats.js';
import { machineInfo, renderMarkdown, type CellResult, type Report } from './report.js';
import type { BenchClient, RssReport, TransportEntry } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist-bench/bench
const ROOT = resolve(HERE, '../..');
const CLIENT_PROC_JS = resolve(HERE, 'client-proc.js');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Cli {
  quick: boolean;
  only: string[];
  transports: string[];
  runs: number;
  rssRuns: number;
  out: string;
  pin: 'split' | 'same' | 'none';
}

function parseCli(argv: string[]): Cli {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i >= 0) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`${name}=`));
    return eq?.slice(name.length + 1);
  };
  const list = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const quick = argv.includes('--quick');
  return {
    quick,
    only: list(get('--only')),
    transports: list(get('--transport')),
    runs: Number(get('--runs') ?? (quick ? 1 : 3)),
    rssRuns: Number(get('--rss-runs') ?? 1),
    pin: parsePin(get('--pin')),
    out: resolve(get('--out') ?? (quick ? resolve(ROOT, 'dist-bench/results-quick') : resolve(ROOT, 'bench/results'))),
  };
}

/** How long one run may take before it counts as stalled. */
function scenarioTimeout(s: Scenario, quick: boolean): number {
  if (s.kind === 'echo' || s.kind === 'buf') return (s.warmMs ?? 0) + s.ms! + (quick ? 5_000 : 15_000);
  if (s.kind === 'events' || s.kind === 'bulk') return quick ? 15_000 : 60_000;
  return quick ? 30_000 : 180_000;
}

function parsePin(v: string | undefined): Cli['pin'] {
  if (v === undefined) return 'split';
  if (v === 'split' || v === 'same' || v === 'none') return v;
  throw new Error(`--pin ${v}: expected split, same or none`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what}: no result after ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

class TimeoutError extends Error {}

let clientCpu: number | undefined;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** A live server child + client per transport, reused across scenarios. */
interface Conn {
  server: ServerProc;
  client: BenchClient;
}

class Bench {
  private readonly conns = new Map<string, Conn>();

  constructor(readonly quick: boolean) {}


  async conn(t: TransportEntry): Promise<Conn> {
    let c = this.conns.get(t.name);
    if (!c) {
      const server = await ServerProc.start(t.name);
      try {
        const mod = await loadTransport(t);
        const client = await withTimeout(mod.createClient(server.port, t.kind), 15_000, `${t.name} connect`);
        c = { server, client };
        this.conns.set(t.name, c);
      } catch (err) {
        server.kill();
        throw err;
      }
    }
    return c;
  }

  async drop(t: TransportEntry, hard: boolean): Promise<void> {
    const c = this.conns.get(t.name);
    if (!c) return;
    this.conns.delete(t.name);
    if (hard) c.server.kill();
    await withTimeout(c.client.close(), 2000, 'close').catch(() => undefined);
    if (!hard) await c.server.stop();
  }

  async closeAll(): Promise<void> {
    for (const t of TRANSPORTS) await this.drop(t, false);
  }

  async runCell(t: TransportEntry, s: Scenario, timeoutMs: number): Promise<RunResult> {
    if (s.kind.startsWith('rss')) return this.runRss(t, s, this.rssN(t, s), timeoutMs);
    const { server, client } = await this.conn(t);
    gc();
    const work = (): Promise<RunResult> => {
      switch (s.kind) {
        case 'echo':
          return runEcho(client, s);
        case 'events':
          return runEvents(client, s, server);
        case 'buf':
          return runBuf(client, s);
        case 'stream':
          return runStream(client, s, this.quick);
        case 'first-item':
          return runFirstItem(client, s, this.quick);
        case 'bulk':
          return runBulk(client, s);
        default:
          throw new Error(`unknown scenario kind ${s.kind}`);
      }
    };
    return withTimeout(work(), timeoutMs, `${t.name} ${s.id}`);
  }

  rssN(t: TransportEntry, s: Scenario): number {
    const max = t.limits?.maxStreamItems;
    return (s.kind === 'rss-stream' || s.kind === 'rss-burst') && max !== undefined && s.n > max ? max : s.n;
  }

  /** Fresh server and client processes; both sample their RSS. */
  async runRss(t: TransportEntry, s: Scenario, n: number, timeoutMs: number): Promise<RunResult> {
    // the reused server goes first: two Nest NATS servers on one broker would both answer
    await this.drop(t, false);
    const server = await ServerProc.start(t.name);
    const child = fork(CLIENT_PROC_JS, [JSON.stringify({ transport: t.name, port: server.port, kind: s.kind, n })], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (clientCpu !== undefined) pin(child.pid, clientCpu);
    try {
      type Msg = { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'done'; rss: RssReport; elapsedMs: number; count: number };
      const next = () =>
        new Promise<Msg>((res, rej) => {
          const onExit = (code: number | null) => rej(new Error(`client process exited (${code})`));
          child.once('exit', onExit);
          child.once('message', (m: Msg) => {
            child.off('exit', onExit);
            if (m.type === 'fatal') rej(new Error(m.message));
            else res(m);
          });
        });
      const ready = await withTimeout(next(), 20_000, `${t.name} client process`);
      if (ready.type !== 'ready') throw new Error('client process: expected ready');
      await server.rssStart();
      const done = next();
      child.send({ cmd: 'go' });
      const m = await withTimeout(done, timeoutMs, `${t.name} ${s.id}`);
      if (m.type !== 'done') throw new Error('client process: expected done');
      const srv = await server.rssStop();
      const peak = (r: RssReport) => r.peak;
      const cPeak = peak(m.rss);
      const sPeak = peak(srv);
      return {
        value: Math.max(cPeak - m.rss.baseline, sPeak - srv.baseline) / MB,
        extra: {
          n,
          elapsedMs: m.elapsedMs,
          clientBaselineMB: m.rss.baseline / MB,
          clientPeakMB: cPeak / MB,
          clientGrowthMB: (cPeak - m.rss.baseline) / MB,
          serverBaselineMB: srv.baseline / MB,
          serverPeakMB: sPeak / MB,
          serverGrowthMB: (sPeak - srv.baseline) / MB,
        },
      };
    } finally {
      child.kill('SIGKILL');
      server.kill();
    }
  }
}

/**
 * Before a transport's first cell: echo round trips and sizes match, then ~1 s of echo at 16
 * in flight so the first measured run is not a cold (unoptimised) one.
 */
async function check(client: BenchClient, t: TransportEntry, quick: boolean): Promise<void> {
  const r = await client.echo(ECHO_PAYLOAD);
  // key order aside (protobuf decoders put repeated fields first)
  const canon = (v: unknown) => JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);
  const want = canon(ECHO_PAYLOAD);
  const got = Buffer.isBuffer(r) ? canon(JSON.parse(r.toString())) : canon(r);
  if (got !== want) throw new Error(`${t.name}: echo returned ${got.slice(0, 120)}`);
  const n = await client.echoBuffer(oneMiB());
  if (n !== MiB) throw new Error(`${t.name}: 1 MiB echo returned ${n} bytes`);
  await timedLoop(16, quick ? 20 : 1000, () => client.echo(ECHO_PAYLOAD), false);
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  const started = Date.now();
  // Pin the client (this process) and the server children to CPUs: on a small VM a ping-pong
  // between unpinned processes flips between ~10k and ~55k round trips/s depending on whether
  // the scheduler put both on one core. 'split' = client on CPU 0, server on CPU 1.
  let pinned = 'no';
  if (cli.pin !== 'none' && os.cpus().length >= 2) {
    const srv = cli.pin === 'split' ? 1 : 0;
    if (pinCpus(0, srv)) {
      clientCpu = 0;
      pinned = cli.pin === 'split' ? 'client on CPU 0, server on CPU 1' : 'client and server on CPU 0';
    } else pinned = 'no (taskset unavailable)';
  }
  const scenarios = buildScenarios(cli.quick).filter(
    (s) => cli.only.length === 0 || cli.only.some((o) => s.id === o || s.id.startsWith(o) || s.kind === o),
  );
  const transports = TRANSPORTS.filter((t) => (cli.transports.length ? cli.transports.includes(t.name) : !t.optIn));
  if (scenarios.length === 0) throw new Error(`--only ${cli.only.join(',')} matches no scenario`);
  if (transports.length === 0) throw new Error(`--transport ${cli.transports.join(',')} matches no transport`);

  // availability (our rows are absent until lib/index.ts exports them)
  const unavailable = new Map<string, string>();
  const bufferNotes: Record<string, string> = {};
  for (const t of transports) {
    const mod = await loadTransport(t);
    const ok = await mod.available(t.kind);
    if (ok !== true) unavailable.set(t.name, ok);
    bufferNotes[t.name] = mod.bufferNote?.(t.kind) ?? '';
  }
  // the NATS row's broker: one nats-server for the whole run, found by the children in the env
  let nats: NatsBroker | undefined;
  const natsRows = transports.filter((t) => t.module === 'nest-nats' && !unavailable.has(t.name));
  if (natsRows.length) {
    try {
      nats = await startNatsBroker();
      process.env[NATS_PORT_ENV] = String(nats.port);
      log(`${nats.version} on 127.0.0.1:${nats.port} (pid ${nats.pid})`);
    } catch (err) {
      for (const t of natsRows) unavailable.set(t.name, err instanceof Error ? err.message : String(err));
    }
  }

  const machine = { ...machineInfo(ROOT), writeCost: await measureWriteCost(), natsServer: natsServerVersion() };
  const bench = new Bench(cli.quick);
  const cells = new Map<string, CellResult>();
  const key = (s: Scenario, t: TransportEntry) => `${s.id}|${t.name}`;
  const checked = new Set<string>();

  for (const s of scenarios) {
    if (s.kind === 'conns') {
      await bench.closeAll(); // nothing else running beside the 10k sessions
      await runConnsScenario(s, { runs: cli.runs, quick: cli.quick, transports: cli.transports, clientCpu, log }, cells, unavailable);
      continue;
    }
    const runs = s.kind.startsWith('rss') ? cli.rssRuns : cli.runs;
    for (const t of transports) {
      const cell: CellResult = { scenario: s.id, transport: t.name, unit: s.unit, status: 'ok', runs: [] };
      cells.set(key(s, t), cell);
      const max = t.limits?.maxStreamItems;
      if (unavailable.has(t.name)) {
        cell.status = 'unavailable';
        cell.note = unavailable.get(t.name);
      } else if (t.unsupported?.[s.id]) {
        cell.status = 'skipped';
        cell.note = t.unsupported[s.id];
      } else if (t.skip?.includes(s.id) || (s.kind === 'bulk' && t.module !== 'raw-net')) {
        cell.status = 'n/a';
      } else if ((s.kind === 'stream' || s.kind === 'first-item') && max !== undefined && s.n > max) {
        cell.status = 'skipped';
        cell.note = `not run with more than ${max} items: ${t.limits?.streamNote ?? 'limit'}`;
      } else if ((s.kind === 'rss-stream' || s.kind === 'rss-burst') && max !== undefined && s.n > max) {
        cell.note = `run with n=${max} instead of ${s.n}: ${t.limits?.streamNote ?? 'limit'}`;
      }
    }
    for (let r = 0; r < runs; r++) {
      // alternate the order: rotate the transport list by one per run
      const order = transports.map((_, i) => transports[(i + r) % transports.length]!);
      for (const t of order) {
        const cell = cells.get(key(s, t))!;
        if (cell.status !== 'ok') continue;
        // a failed run is retried in the next round for short (time-bound) scenarios only
        if ((cell.failures ?? 0) > 0 && !(s.kind === 'echo' || s.kind === 'buf')) continue;
        try {
          if (!checked.has(t.name) && !s.kind.startsWith('rss')) {
            await withTimeout(
              bench.conn(t).then((c) => check(c.client, t, cli.quick)),
              30_000,
              `${t.name} check`,
            );
            checked.add(t.name);
          }
          const res = await bench.runCell(t, s, scenarioTimeout(s, cli.quick));
          cell.runs.push(res);
          log(`${s.id.padEnd(20)} ${t.name.padEnd(16)} run ${r + 1}/${runs}: ${res.value.toFixed(1)} ${s.unit}`);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          const status = err instanceof TimeoutError ? 'timeout' : 'error';
          cell.failures = (cell.failures ?? 0) + 1;
          cell.errors = [...(cell.errors ?? []), `run ${r + 1}: ${status}: ${msg}`];
          cell.failStatus = status;
          log(`${s.id.padEnd(20)} ${t.name.padEnd(16)} run ${r + 1}/${runs}: ${status}: ${msg}`);
          await bench.drop(t, true);
        }
      }
    }
    for (const t of transports) {
      const cell = cells.get(key(s, t))!;
      if (cell.failures) {
        const known = t.knownIssues?.[s.id];
        if (known) cell.known = true;
        const what = `${cell.failures} of ${cell.failures + cell.runs.length} run(s) failed (${cell.errors!.join('; ')})`;
        cell.note = [cell.note, what, known ? `known issue: ${known}` : undefined].filter(Boolean).join('. ');
        if (cell.runs.length === 0) cell.status = cell.failStatus ?? 'error';
      }
      if (cell.runs.length === 0) continue;
      cell.median = median(cell.runs.map((x) => x.value));
      const extraKeys = Object.keys(cell.runs[0]!.extra);
      cell.extra = Object.fromEntries(extraKeys.map((k) => [k, median(cell.runs.map((x) => x.extra[k] ?? NaN))]));
    }
  }
  await bench.closeAll();
  nats?.stop();

  const report: Report = {
    generatedAt: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    quick: cli.quick,
    runs: cli.runs,
    rssRuns: cli.rssRuns,
    pinned,
    library: transports.some((t) => t.module.startsWith('socketd') && !unavailable.has(t.name)) ? libSource() : 'nowhere (see notes)',
    machine: { ...machine, loadavgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100), rssMethod: rssMethod() },
    scenarios: scenarios.map((s) => ({ id: s.id, title: s.title, unit: s.unit, n: s.n })),
    transports: transports.map((t) => ({ name: t.name, description: t.description, buffer: bufferNotes[t.name] ?? '' })),
    results: [...cells.values()],
  };
  mkdirSync(cli.out, { recursive: true });
  writeFileSync(resolve(cli.out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const md = renderMarkdown(report);
  writeFileSync(resolve(cli.out, 'latest.md'), md);
  process.stdout.write(md);
  log(`\nwrote ${resolve(cli.out, 'latest.json')} and latest.md in ${report.durationS.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
