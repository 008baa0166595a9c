/**
 * Defines one jest test per attack of `attackPlans(TEST_SCALE)` whose index satisfies `pick`
 * (the attacks are split over two spec files so jest's two workers share them). Servers run
 * with the default limits. Asserted for each (`brokenBounds`): the child is alive with no
 * uncaught error, its RSS grew less than the memory budget (256 MiB) plus 64 MB, the budget
 * never charged the attackers' address more than its 128 MiB share, every attacker was
 * closed, refused or answered with Alarms (or held within the budget where the plan says so)
 * unless its frame was simply served, and every good call succeeded.
 */
import { describe, expect, it } from '@jest/globals';
import { attackPlans, TEST_SCALE } from './attacks.js';
import { brokenBounds, describeResult, runAttack } from './harness.js';

export function defineAttackTests(title: string, pick: (index: number) => boolean): void {
  describe(title, () => {
    attackPlans(TEST_SCALE).forEach((plan, index) => {
      if (!pick(index)) return;
      it(`${plan.name} [${plan.spec.kind}/${plan.spec.schema}]`, async () => {
        const r = await runAttack(plan);
        console.log(describeResult(r));
        expect({ alive: r.alive, uncaught: r.uncaught }).toEqual({ alive: true, uncaught: [] });
        expect(brokenBounds(r, plan)).toEqual([]);
      }, 90_000);
    });
  });
}
