/**
 * `npm run stress [-- --only <substring>]`: the hostile suite's attacks (attacks.ts) with larger
 * counts and longer durations, one after another, then a table: attack, server, peak RSS,
 * growth, attacker outcome, good client success rate and p99 before/during. Servers run with
 * the default limits. Exits 1 when an attack broke a bound the suite asserts (`brokenBounds`:
 * crash, uncaught error, growth over the 256 MiB budget + 64 MB, the attackers' address charged
 * over its 128 MiB share, attacker left connected, a good call failed).
 */
import { attackPlans, STRESS_SCALE } from './attacks.js';
import { brokenBounds, describeResult, MB, mb, ms1, outcomeText, runAttack, type AttackPlan, type AttackResult } from './harness.js';

const only = process.argv.indexOf('--only') >= 0 ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const results: AttackResult[] = [];
const plans = new Map<AttackResult, AttackPlan>();
for (const plan of attackPlans(STRESS_SCALE)) {
  const label = `${plan.name} [${plan.spec.kind}/${plan.spec.schema}]`;
  if (only && !label.includes(only)) continue;
  console.log(`running: ${label}`);
  const r = await runAttack(plan, 1024 * MB);
  console.log(`  ${describeResult(r)}`);
  results.push(r);
  plans.set(r, plan);
}

const passed = (r: AttackResult) => brokenBounds(r, plans.get(r)!).length === 0;
const rate = (calls: number, failed: number) => (calls === 0 ? '-' : `${(((calls - failed) / calls) * 100).toFixed(1)}%`);
const rows = [
  ['attack', 'server', 'peak RSS MB', 'growth MB', 'bound MB', 'charged MB (attackers)', 'attacker outcome', 'good ok before', 'good ok during', 'p99 before ms', 'p99 during ms', 'verdict'],
  ...results.map((r) => [
    r.name,
    r.server,
    mb(r.rss.peak) + (r.capHit ? ' (cap, killed)' : ''),
    mb(r.rss.growth),
    mb(r.budgetInUse + r.rssSlack),
    r.charged ? `${mb(r.charged.used)} (${mb(r.charged.attacker)})` : '?',
    outcomeText(r.outcome),
    rate(r.before.calls, r.before.failed),
    rate(r.during.calls, r.during.failed),
    ms1(r.before.p99),
    ms1(r.during.p99),
    passed(r) ? 'ok' : r.alive ? 'FAIL' : 'CRASH',
  ]),
];
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
console.log('');
for (const [i, row] of rows.entries()) {
  console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
}
process.exitCode = results.every(passed) ? 0 : 1;
