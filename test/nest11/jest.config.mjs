// `npm run test:nest11`: the Nest suites (test/nest) against Nest 11 (CommonJS), installed in
// test/nest11/node_modules from its lockfile. Every @nestjs/* import, the library's and the
// tests', is mapped there; rxjs and reflect-metadata stay the repository's (one instance each).
import { fileURLToPath } from 'node:url';
import base from '../../jest.config.js';

export default {
  ...base,
  rootDir: fileURLToPath(new URL('../..', import.meta.url)),
  roots: ['<rootDir>/test/nest'],
  moduleNameMapper: {
    '^@nestjs/(common|core|microservices|platform-express|terminus)(/.*)?$': '<rootDir>/test/nest11/node_modules/@nestjs/$1$2',
    ...base.moduleNameMapper,
  },
  globals: { SOCKETD_EXPECTED_NEST_MAJOR: 11 },
};
