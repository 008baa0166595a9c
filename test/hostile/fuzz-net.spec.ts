/**
 * Issue 8, "Fuzzing over the network", small: ~5 000 mutated recorded frames against the
 * engine and Nest servers (child processes, tcp and ws); no crash, no uncaught error, no hang.
 * `npm run fuzz` runs 200 000 or more. Needs `npm run build`.
 */
import { describe, expect, it } from '@jest/globals';
import { describeTotals, runFuzz } from './fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5d2024);

describe('fuzzing over the network', () => {
  it('survives 5 000 mutated frames without a crash, an uncaught error or a hang', async () => {
    const totals = await runFuzz({ frames: 5_000, seed: SEED, concurrency: 16 });
    console.log(describeTotals(totals) + (totals.hangs.length ? `\nhangs: ${JSON.stringify(totals.hangs.slice(0, 5))}` : ''));
    expect(totals.framesSent).toBeGreaterThanOrEqual(5_000);
    expect(totals.crashes).toBe(0);
    expect(totals.uncaught).toEqual([]);
    expect(totals.hangs).toEqual([]);
  }, 120_000);
});
