// Used by examples.spec.ts: boots the README's quick-start client module (its transpiled file is
// argv[2]) in a Nest application context, calls every UsersClient method against the README's
// server, and prints one JSON line with what each returned.
import { NestFactory } from '@nestjs/core';
import { pathToFileURL } from 'node:url';

const { ClientModule, UsersClient } = await import(pathToFileURL(process.argv[2]).href);
if (ClientModule === undefined || UsersClient === undefined) {
  throw new Error('the client block must export ClientModule and UsersClient');
}

const app = await NestFactory.createApplicationContext(ClientModule, { logger: ['error', 'warn'] });
const users = app.get(UsersClient);
const results = {};
try {
  results.getUser = await users.getUser(1);
  results.notFound = await users.getUser(-1).then((value) => ({ resolved: value }), (err) => ({ rejected: err }));
  results.ticks = await users.ticks(5);
  const audited = await users.audit('login');
  results.audit = { completed: true, value: audited === undefined ? null : audited };
  results.withMetas = await users.withMetas(7);
} finally {
  await app.close();
}
console.log(JSON.stringify(results));
