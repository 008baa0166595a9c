/** `listen URL`: a test server (or, with `--player`, a broker player) printing what it receives. */
import { SdClient } from '../session/client.js';
import { SdServer } from '../session/server.js';
import type { Metas, ReceivedMessage, Session } from '../session/types.js';
import { parseUrl } from '../session/url.js';
import type { CliCommand } from './args.js';
import { clientOptions, engineLogger, type CommandContext } from './caller.js';
import { dataMetas, readData, serverTls } from './data.js';
import { ExitCodes, reportError } from './exit-codes.js';

/**
 * Answers a Request or Subscribe: `--alarm` → an Alarm; `--reply` → that data; otherwise the
 * echo of its data and `Data-Type`. A Subscribe gets one Reply, then an empty ReplyEnd.
 */
function answer(session: Session, message: ReceivedMessage, command: CliCommand, reply: Buffer | undefined): void {
  if (!message.isRequest) return;
  if (command.alarm !== undefined) {
    session.alarm(message, command.alarm, { ...command.metas });
    return;
  }
  let data = message.data;
  let metas: Metas = dataMetas(command);
  if (reply !== undefined) data = reply;
  else {
    const dataType = message.meta('Data-Type');
    metas = dataType === undefined ? { ...command.metas } : { ...command.metas, 'Data-Type': dataType };
  }
  if (message.isSubscribe) {
    session.reply(message, data, metas);
    session.replyEnd(message, undefined, { ...command.metas });
  } else {
    session.replyEnd(message, data, metas);
  }
}

/** The URL clients dial, with the port the server bound (the URL may say 0). */
function boundUrl(url: string, port: number | undefined): string {
  const parsed = parseUrl(url);
  const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
  const query = parsed.query === '' ? '' : `?${parsed.query}`;
  return `sd:${parsed.schema}://${host}:${port ?? parsed.port}${parsed.path}${query}`;
}

/** The broker URL with the player's `@` param. */
function playerUrl(url: string, name: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}@=${name}`;
}

export async function listen(command: CliCommand, context: CommandContext): Promise<number> {
  const { printer } = context;
  const reply = await readData(command.reply, command.dataType, context.stdin);
  let received = 0;
  let settle!: (code: number) => void;
  const done = new Promise<number>((resolve) => { settle = resolve; });
  const onMessage = (session: Session, message: ReceivedMessage): void => {
    printer.received(message);
    try {
      answer(session, message, command, reply);
    } catch (err) {
      printer.error(`cannot answer '${message.event}': ${(err as Error).message}`);
    }
    if (command.count !== undefined && ++received >= command.count) settle(ExitCodes.OK);
  };
  void context.interrupted.then(() => settle(ExitCodes.OK));

  if (command.player !== undefined) {
    let client: SdClient;
    try {
      client = new SdClient(playerUrl(command.url, command.player), { ...await clientOptions(command, printer), onMessage });
      await client.connect();
    } catch (err) {
      return reportError(err, printer, true);
    }
    printer.note(`joined ${command.url} as player '${command.player}'`);
    client.onStatus((status) => {
      if (status === 'disconnected') {
        printer.error('the broker closed the connection');
        settle(ExitCodes.CONNECTION_LOST);
      }
    });
    try {
      return await done;
    } finally {
      await client.close();
    }
  }

  let server: SdServer;
  try {
    server = new SdServer(command.url, { onMessage, tls: await serverTls(command), logger: engineLogger(printer), idleTimeout: 0 });
    await server.listen();
  } catch (err) {
    return reportError(err, printer, true);
  }
  printer.note(`listening on ${boundUrl(command.url, server.address()?.port)}`);
  try {
    return await done;
  } finally {
    await server.close();
  }
}
