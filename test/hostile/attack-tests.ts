/**
 * Defines one jest test per attack of `attackPlans(TEST_SCALE)` whose index satisfies `pick`
 * (the attacks are split over two spec files so jest's two workers share them). Asserted for
 * each: the child is alive with no uncaught error, its RSS grew less than 64 MB, every attacker
 * was closed (or refused) unless its frame was simply served, and every good call succeeded.
 */
import { describe, expect, it } from '@jest/globals';
import { attackPlans, TEST_SCALE } from './attacks.js';
import { describeResult, MB, runAttack } from './harness.js';

const RSS_BOUND = 64 * MB;

export function defineAttackTests(title: string, pick: (index: number) => boolean): void {
  describe(title, () => {
    attackPlans(TEST_SCALE).forEach((plan, index) => {
      if (!pick(index)) return;
      it(`${plan.name} [${plan.spec.kind}/${plan.spec.schema}]`, async () => {
        const r = await runAttack(plan);
        console.log(describeResult(r));
        expect({ alive: r.alive, uncaught: r.uncaught }).toEqual({ alive: true, uncaught: [] });
        expect(r.rss.growth).toBeLessThan(RSS_BOUND);
        if (!r.outcome.served) expect(r.outcome.closed + r.outcome.refused).toBe(r.outcome.attackers);
        expect(r.goodErrors).toEqual([]);
        expect(r.during.calls).toBeGreaterThan(0);
      }, 60_000);
    });
  });
}
