/**
 * Keeps the benchmark harness working: builds it (bench/tsconfig.json -> dist-bench/) and runs
 * `run.js --quick` (tiny counts, one run, every scenario and transport once), writing to a
 * temporary directory so bench/results/ is left alone.
 */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface Cell {
  scenario: string;
  transport: string;
  status: string;
  note?: string;
  median?: number;
  /** A documented failure of that transport (e.g. Nest TCP's deadlock with 8 x 1 MiB in flight). */
  known?: boolean;
}

describe('bench --quick', () => {
  it('builds, runs every scenario once and reports rows', async () => {
    // Type errors elsewhere in lib/ are the typecheck's business: tsc still emits, and the
    // run below shows whether the bench works.
    const build = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'bench/tsconfig.json'], 60_000);
    const runJs = join(ROOT, 'dist-bench/bench/run.js');
    expect({ built: existsSync(runJs), tsc: build.stdout.slice(0, 2000) }).toEqual(expect.objectContaining({ built: true }));

    const out = mkdtempSync(join(tmpdir(), 'bench-quick-'));
    try {
      const res = await run(process.execPath, [runJs, '--quick', '--out', out], 90_000);
      expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr.slice(-4000) }).toEqual({ code: 0, stderr: '' });

      const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { results: Cell[]; machine: { cores: number } };
      expect(report.machine.cores).toBeGreaterThan(0);
      expect(readFileSync(join(out, 'latest.md'), 'utf8')).toContain('| scenario |');

      // the baselines must produce a number in every scenario they take part in
      for (const t of ['nest-tcp', 'raw-net']) {
        const rows = report.results.filter((c) => c.transport === t && c.status !== 'n/a');
        expect(rows.length).toBeGreaterThanOrEqual(10);
        for (const c of rows) {
          if (c.known) continue;
          expect({ cell: `${c.scenario}/${t}`, status: c.status, note: c.note }).toEqual({ cell: `${c.scenario}/${t}`, status: 'ok', note: c.note });
          expect(c.median).toBeGreaterThan(0);
        }
      }
      // our rows: every scenario a transport takes part in must produce a number
      const ours = report.results.filter((x) => x.transport.startsWith('socketd-') || x.transport.startsWith('engine-'));
      expect(ours.filter((c) => c.status === 'ok').length).toBeGreaterThanOrEqual(20);
      for (const c of ours) {
        expect({ cell: `${c.scenario}/${c.transport}`, status: c.status === 'n/a' ? 'ok' : c.status, note: c.note })
          .toEqual({ cell: `${c.scenario}/${c.transport}`, status: 'ok', note: c.note });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);
});
