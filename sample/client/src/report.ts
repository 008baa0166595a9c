import { isDeepStrictEqual } from 'node:util';

/** Runs round trips one after the other and prints each with ✓ or ✗ and what came back. */
export class Report {
  passed = 0;
  failed = 0;

  async check(label: string, run: () => Promise<unknown>, expected: unknown): Promise<void> {
    const started = performance.now();
    let line: string;
    let ok = false;
    try {
      const got = await run();
      ok = isDeepStrictEqual(got, expected);
      line = `→ ${show(got)}${ok ? '' : `   (expected ${show(expected)})`}`;
    } catch (err) {
      line = `threw ${show(err)}`;
    }
    const ms = Math.round(performance.now() - started);
    if (ok) this.passed++;
    else this.failed++;
    console.log(`  ${ok ? '✓' : '✗'} ${label.padEnd(46)} ${line}  ${ms} ms`);
  }
}

/** What a failing call rejected with (its code for engine errors), or a marker when it succeeded. */
export function rejectionOf(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    (value) => ({ unexpectedly: value }),
    (err: unknown) => (err instanceof Error && 'code' in err ? err.code : err),
  );
}

function show(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return JSON.stringify(value) ?? String(value);
}
