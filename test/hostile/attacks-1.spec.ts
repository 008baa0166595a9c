/** Issue 8, "Tests that attack" (first half): see attack-tests.ts and attacks.ts. Needs `npm run build`. */
import { defineAttackTests } from './attack-tests.js';

defineAttackTests('hostile peers (1/2)', (i) => i % 2 === 0);
