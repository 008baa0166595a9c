/**
 * The sample's broker: the engine's SdBroker (no Nest needed). Server instances connect to it
 * as players named `sample` (`@=sample`); the client app connects to it and addresses them
 * with the meta `@` (SocketDClient option `target`).
 */
import { listenBroker, type Handshake } from 'nestjs-socketd';
import { PLAYER_NAME, URL_ENV } from '../shared/contract.js';
import { tokenOwner } from '../server/src/auth.js';

const url = process.env[URL_ENV] ?? 'sd:tcp://127.0.0.1:8602';

/**
 * Players name themselves (`@`); every other session is a caller and needs a known token (the
 * players' TokenGuard trusts the broker for that). The broker's Connack announces streams
 * itself: SocketDClients in `auto` call mode stream through it.
 */
function admit(handshake: Handshake): boolean {
  if (handshake.params['@'] === PLAYER_NAME) return true;
  return tokenOwner(handshake.params['token']) !== undefined;
}

async function main(): Promise<void> {
  const broker = await listenBroker(url, { onHandshake: admit, logger: false });
  const stop = (): void => {
    broker.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  console.log(`[broker] listening on ${url}`);
  process.send?.({ ready: url });
}

main().catch((err: unknown) => {
  console.error('[broker] failed to start:', err);
  process.exit(1);
});
