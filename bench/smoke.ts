/**
 * Bench smoke run (`npm run bench:smoke`, a CI step of its own): runs `run.js --quick` (tiny
 * counts, one run, every scenario and transport once) into a temporary directory, so
 * bench/results/ is left alone, and fails when a row that should produce a number does not.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Cell {
  scenario: string;
  transport: string;
  status: string;
  note?: string;
  median?: number;
  /** A documented failure of that transport (e.g. Nest TCP's deadlock with 8 x 1 MiB in flight). */
  known?: boolean;
}

const RUN_JS = fileURLToPath(new URL('./run.js', import.meta.url));
const failures: string[] = [];
let checks = 0;

function check(ok: boolean, what: string): void {
  checks++;
  if (!ok) failures.push(what);
}

function runQuick(out: string): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [RUN_JS, '--quick', '--out', out], { timeout: 300_000, maxBuffer: 32 * 1024 * 1024 }, (err, _stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr) });
    });
  });
}

function checkReport(out: string): void {
  const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { results: Cell[]; machine: { cores: number } };
  check(report.machine.cores > 0, 'report names the machine');
  check(readFileSync(join(out, 'latest.md'), 'utf8').includes('| scenario |'), 'latest.md has the table');
  // The baselines must produce a number in every scenario they take part in.
  for (const t of ['nest-tcp', 'raw-net']) {
    const rows = report.results.filter((c) => c.transport === t && c.status !== 'n/a');
    check(rows.length >= 10, `${t}: at least 10 rows (got ${rows.length})`);
    for (const c of rows) {
      if (c.known) continue;
      check(c.status === 'ok' && (c.median ?? 0) > 0, `${c.scenario}/${t}: ${c.status} ${c.note ?? ''}`);
    }
  }
  // The gRPC and NATS rows: a number wherever they take part, unless their deps are missing
  // (nats-server not installed: the whole row says so).
  for (const t of ['nest-grpc', 'nest-nats']) {
    const rows = report.results.filter((c) => c.transport === t && c.status !== 'n/a' && c.status !== 'skipped');
    if (rows.length > 0 && rows.every((c) => c.status === 'unavailable')) {
      console.log(`bench smoke: ${t} unavailable: ${rows[0]!.note ?? ''}`);
      continue;
    }
    check(rows.length >= 10, `${t}: at least 10 rows (got ${rows.length})`);
    for (const c of rows) check(c.status === 'ok' && (c.median ?? 0) > 0, `${c.scenario}/${t}: ${c.status} ${c.note ?? ''}`);
  }
  // Ours: every scenario a transport takes part in must produce a number.
  const ours = report.results.filter((x) => x.transport.startsWith('socketd-') || x.transport.startsWith('engine-'));
  const ok = ours.filter((c) => c.status === 'ok').length;
  check(ok >= 20, `our rows: at least 20 with numbers (got ${ok})`);
  for (const c of ours) check(c.status === 'ok' || c.status === 'n/a', `${c.scenario}/${c.transport}: ${c.status} ${c.note ?? ''}`);
}

const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
try {
  const res = await runQuick(out);
  check(res.code === 0, `run.js --quick exited ${res.code}: ${res.stderr.slice(-4000)}`);
  if (res.code === 0) checkReport(out);
} finally {
  rmSync(out, { recursive: true, force: true });
}
for (const failure of failures) console.error(`bench smoke: FAILED ${failure}`);
console.log(`bench smoke: ${checks - failures.length} passed, ${failures.length} failed`);
process.exitCode = failures.length === 0 ? 0 : 1;
