/** The client commands: `call` (Request), `stream` (Subscribe) and `send` (Message). */
import { once } from 'node:events';
import { SdClient } from '../session/client.js';
import type { ClientOptions, EngineLogger, ReceivedMessage, Session, StreamHandle } from '../session/types.js';
import type { CliCommand } from './args.js';
import { clientTls, dataMetas, readData } from './data.js';
import { ExitCodes, reportError } from './exit-codes.js';
import type { Printer } from './output.js';

/** What a command runs with: its printer, stdin, and the interrupt (Ctrl-C, SIGTERM, closed stdout). */
export interface CommandContext {
  readonly printer: Printer;
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream;
  /** Resolves with the exit code to use once the user interrupts (130, 143; 0 when stdout closed). */
  readonly interrupted: Promise<number>;
}

const DEFAULT_TIMEOUT = 10_000;
/** setTimeout's largest delay: a stream without --timeout waits this long (about 24.8 days). */
const NO_BOUND = 2_147_483_647;

/** The engine's warnings and errors on stderr; its other lines with --verbose. */
export function engineLogger(printer: Printer): EngineLogger {
  return {
    log: (message) => printer.debug(message),
    debug: (message) => printer.debug(message),
    warn: (message) => printer.error(`warning: ${message}`),
    error: (message) => printer.error(message),
  };
}

/** The client options of a command (timeouts, TLS, a quiet reconnect-free client). */
export async function clientOptions(command: CliCommand, printer: Printer): Promise<ClientOptions> {
  const timeout = command.timeout ?? DEFAULT_TIMEOUT;
  return {
    autoReconnect: false,
    connectTimeout: timeout,
    requestTimeout: timeout,
    streamTimeout: command.timeout ?? NO_BOUND,
    // The peer may be quiet for as long as the stream lasts; heartbeats keep the link checked.
    idleTimeout: 0,
    tls: await clientTls(command),
    logger: engineLogger(printer),
  };
}

type Outcome = { session: Session; client: SdClient } | { code: number };

/** How `work` ended, or the exit code of an interrupt that came first (its late failure then stays quiet). */
function orInterrupt<T>(work: Promise<T>, interrupted: Promise<number>): Promise<{ value: T } | { err: unknown } | { code: number }> {
  return Promise.race([
    work.then((value) => ({ value }), (err: unknown) => ({ err })),
    interrupted.then((code) => ({ code })),
  ]);
}

/** Connects, or says which exit code the failure is (2 for the network, 1 for bad input, 130 for Ctrl-C). */
async function open(command: CliCommand, context: CommandContext): Promise<Outcome> {
  const { printer } = context;
  let client: SdClient;
  try {
    client = new SdClient(command.url, await clientOptions(command, printer));
  } catch (err) {
    return { code: reportError(err, printer, true) };
  }
  printer.debug(`connecting to ${command.url}`);
  const outcome = await orInterrupt(client.connect(), context.interrupted);
  if ('value' in outcome) {
    printer.debug(`connected (${outcome.value.remoteAddress ?? 'peer'})`);
    return { session: outcome.value, client };
  }
  await client.close();
  return 'code' in outcome ? outcome : { code: reportError(outcome.err, printer, true) };
}

/** DATA, or the exit code of an interrupt that came while stdin was still being read. */
async function readInput(command: CliCommand, context: CommandContext): Promise<{ data: Buffer | undefined } | { code: number }> {
  const outcome = await orInterrupt(readData(command.data, command.dataType, context.stdin), context.interrupted);
  if ('err' in outcome) throw outcome.err;
  if ('value' in outcome) return { data: outcome.value };
  // Stop reading stdin, or its open handle would keep the process alive.
  (context.stdin as NodeJS.ReadableStream & { destroy?(): void }).destroy?.();
  return outcome;
}

/** DATA, then an open session; or the exit code that ended either. */
async function prepare(command: CliCommand, context: CommandContext): Promise<{ data: Buffer | undefined; session: Session; client: SdClient } | { code: number }> {
  const input = await readInput(command, context);
  if ('code' in input) return input;
  const opened = await open(command, context);
  if ('code' in opened) return opened;
  return { data: input.data, ...opened };
}

/** `call URL EVENT [DATA]`: one Request; the answer on stdout, its metas on stderr. */
export async function call(command: CliCommand, context: CommandContext): Promise<number> {
  const ready = await prepare(command, context);
  if ('code' in ready) return ready.code;
  const { data, session, client } = ready;
  const { printer } = context;
  try {
    const answer = session.request(command.event, data, { metas: dataMetas(command), timeout: command.timeout ?? DEFAULT_TIMEOUT });
    const outcome = await orInterrupt(answer, context.interrupted);
    if ('code' in outcome) return outcome.code;
    if ('err' in outcome) return reportError(outcome.err, printer, false);
    printer.metas(outcome.value);
    printer.value(outcome.value);
    return ExitCodes.OK;
  } finally {
    await client.close();
  }
}

/**
 * `stream URL EVENT [DATA]`: one Subscribe; each value on stdout as it arrives. Ctrl-C (and
 * `--count`) cancels it at the peer: an Alarm with `X-Cancel=1`, then the Close.
 */
export async function stream(command: CliCommand, context: CommandContext): Promise<number> {
  const ready = await prepare(command, context);
  if ('code' in ready) return ready.code;
  const { data, session, client } = ready;
  const { printer } = context;
  let handle: StreamHandle | undefined;
  let taken = 0;
  let settle!: (code: number) => void;
  const done = new Promise<number>((resolve) => { settle = resolve; });
  let finished = false;
  const finish = (code: number, cancel: boolean): void => {
    if (finished) return;
    finished = true;
    if (cancel) {
      handle?.cancel();
      printer.debug('stream cancelled at the peer');
    }
    settle(code);
  };
  const observer = {
    next(reply: ReceivedMessage): void {
      if (finished) return;
      if (printer.verbose) printer.metas(reply);
      // stdout is slower than the peer: stop reading the peer until it drains (backpressure).
      if (!printer.value(reply)) session.pauseUntil?.(once(context.stdout, 'drain'));
      if (command.count !== undefined && ++taken >= command.count) finish(ExitCodes.OK, true);
    },
    complete(end: ReceivedMessage | undefined): void {
      if (end !== undefined) {
        if (printer.verbose) printer.metas(end);
        printer.end(end);
      }
      printer.debug('stream ended by the peer');
      finish(ExitCodes.OK, false);
    },
    error(err: Error): void {
      if (!finished) finish(reportError(err, printer, false), false);
    },
  };
  try {
    handle = session.subscribe(command.event, data, observer, { metas: dataMetas(command), timeout: command.timeout ?? NO_BOUND });
  } catch (err) {
    finish(reportError(err, printer, false), false);
  }
  void context.interrupted.then((code) => finish(code, true));
  try {
    return await done;
  } finally {
    await client.close();
  }
}

/** `send URL EVENT [DATA]`: one Message, written before the connection closes. */
export async function send(command: CliCommand, context: CommandContext): Promise<number> {
  const ready = await prepare(command, context);
  if ('code' in ready) return ready.code;
  const { data, session, client } = ready;
  try {
    session.send(command.event, data, { metas: dataMetas(command) });
    await session.drain();
    context.printer.debug(`sent '${command.event}'`);
    return ExitCodes.OK;
  } catch (err) {
    return reportError(err, context.printer, false);
  } finally {
    // Close 1001 goes after the Message: the peer reads the Message first.
    await client.close();
  }
}
