/** Issue 8, "Tests that attack" (second half): see attack-tests.ts and attacks.ts. Needs `npm run build`. */
import { defineAttackTests } from './attack-tests.js';

defineAttackTests('hostile peers (2/2)', (i) => i % 2 === 1);
