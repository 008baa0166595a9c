// Which Nest the suite runs against: 12 under `npm test`, 11 under `npm run test:nest11`
// (test/nest11/jest.config.mjs maps @nestjs/* to test/nest11/node_modules).
import { describe, expect, it } from '@jest/globals';
import { ClientProxy, Server } from '@nestjs/microservices';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const expected = (globalThis as { SOCKETD_EXPECTED_NEST_MAJOR?: number }).SOCKETD_EXPECTED_NEST_MAJOR ?? 12;

describe('the Nest under test', () => {
  it.each(['common', 'core'])(`@nestjs/%s is major ${expected}`, (name) => {
    const { version } = require(`@nestjs/${name}/package.json`) as { version: string };
    expect(Number(version.split('.')[0])).toBe(expected);
  });

  // @nestjs/microservices exports no package.json; its 12-only members tell the major.
  it(`@nestjs/microservices is major ${expected}`, () => {
    const members = [ClientProxy.prototype, ClientProxy.prototype, Server.prototype, Server.prototype];
    const names = ['createPacket', 'setOnDispatchHook', 'createProcessingEndHookRunner', 'runWithProcessingHooks'];
    expect(names.map((name, i) => name in members[i]!)).toEqual(names.map(() => expected >= 12));
  });
});
