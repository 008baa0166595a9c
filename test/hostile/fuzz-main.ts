/**
 * `npm run fuzz [-- --frames N --seed S --concurrency C --hang-ms MS --only CONN]`: mutated
 * recorded frames against the engine and Nest servers over tcp and ws (see fuzz.ts). Prints the
 * seed and the totals; exits 1 on any crash, uncaught error or hang.
 */
import { describeTotals, runFuzz } from './fuzz.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));

const seed = num('seed') ?? Math.floor(Math.random() * 2 ** 31);
const frames = num('frames') ?? 200_000;
console.log(`fuzz: seed ${seed} (replay with --seed ${seed}), ${frames} frames`);
const totals = await runFuzz({
  frames,
  seed,
  concurrency: num('concurrency') ?? 32,
  hangMs: num('hang-ms') ?? 5_000,
  only: num('only'),
  log: (line) => console.log(`  ${line}`),
});
console.log('');
console.log(`frames sent      ${totals.framesSent}`);
console.log(`connections      ${totals.connections} (${totals.closedByServer} closed by the server, ${totals.answered} answered, ${totals.refused} refused)`);
console.log(`crashes          ${totals.crashes}`);
console.log(`uncaught errors  ${totals.uncaught.length}`);
console.log(`hangs            ${totals.hangs.length}`);
console.log(`peak RSS         ${(totals.peakRss / 1024 / 1024).toFixed(1)} MB (largest child)`);
console.log(`time             ${(totals.ms / 1000).toFixed(1)} s`);
for (const line of totals.uncaught.slice(0, 10)) console.log(`uncaught: ${line.slice(0, 400)}`);
const byKind = new Map<string, number>();
for (const h of totals.hangs) byKind.set(`${h.server} ${h.mode}`, (byKind.get(`${h.server} ${h.mode}`) ?? 0) + 1);
for (const [k, n] of byKind) console.log(`hangs on ${k}: ${n}`);
for (const h of totals.hangs.slice(0, 10)) console.log(`hang: --seed ${seed} --only ${h.conn} (${h.server}, ${h.mode}): ${h.mutations.join(' | ')}`);
console.log(describeTotals(totals));
process.exitCode = totals.crashes > 0 || totals.hangs.length > 0 || totals.uncaught.length > 0 ? 1 : 0;
