/** Exit codes of the command line (README, "Command line") and the errors that map to them. */
import { ErrorCodes, SocketDError, type ErrorKind } from '../protocol/errors.js';
import type { ReceivedMessage } from '../session/types.js';
import { UsageError } from './args.js';
import type { Printer } from './output.js';

export const ExitCodes = {
  OK: 0,
  USAGE: 1,
  CONNECT: 2,
  ALARM: 3,
  TIMEOUT: 4,
  CONNECTION_LOST: 5,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

/** Engine errors of a failed connect that are the user's input, not the network. */
const INPUT_ERRORS: readonly ErrorKind[] = ['BAD_URL', 'INVALID_ARGUMENT', 'SIZE_LIMIT', 'DATAGRAM_TOO_LARGE'];

// The Nest transport's Alarm meta carrying the exact error value of a failed handler
// (lib/nest/socketd.constants.ts; the command line does not load the Nest layer).
const NEST_ERROR_META = 'X-Nest-Err';

/**
 * Prints `err` on stderr and returns its exit code. `connecting`: the error came from the
 * connect (network and handshake failures are exit 2 there; after it, a lost connection is 5).
 */
export function reportError(err: unknown, printer: Printer, connecting: boolean): number {
  if (err instanceof UsageError) {
    printer.error(`${err.message} (see --help)`);
    return ExitCodes.USAGE;
  }
  if (!(err instanceof SocketDError)) {
    printer.error(err instanceof Error ? err.message : String(err));
    return ExitCodes.USAGE;
  }
  if (INPUT_ERRORS.some((kind) => err.code === ErrorCodes[kind].code)) {
    printer.error(`${err.message} (see --help)`);
    return ExitCodes.USAGE;
  }
  if (err.code === ErrorCodes.ALARM.code) {
    reportAlarm(err, printer);
    return ExitCodes.ALARM;
  }
  printer.error(`${err.message} (${err.code})`);
  if (connecting) return ExitCodes.CONNECT;
  if (err.code === ErrorCodes.TIMEOUT.code) return ExitCodes.TIMEOUT;
  return ExitCodes.CONNECTION_LOST;
}

/**
 * An Alarm: its text, its `code` meta, the Nest error value a Nest server put in `X-Nest-Err`,
 * then its other metas.
 */
function reportAlarm(err: SocketDError, printer: Printer): void {
  const alarm = err.details?.['alarm'] as ReceivedMessage | undefined;
  const code = alarm?.meta('code');
  printer.error(`Alarm from the peer: ${err.message}${code === undefined ? '' : ` (code ${code})`}`);
  if (alarm === undefined) return;
  const nestError = nestErrorOf(alarm);
  if (nestError !== undefined) printer.error(`Nest error: ${nestError}`);
  if (printer.quiet) return;
  for (const [key, value] of Object.entries(alarm.metas)) {
    if (key !== NEST_ERROR_META) printer.note(`< ${key}: ${value}`);
  }
}

/** The JSON of the Nest error value of an Alarm from a Nest server, or undefined. */
function nestErrorOf(alarm: ReceivedMessage): string | undefined {
  const flag = alarm.meta(NEST_ERROR_META);
  if (flag === undefined) return undefined;
  try {
    if (flag === 'text') return JSON.stringify(alarm.dataAsString());
    const json = flag === 'data' ? alarm.dataAsString() : decodeURIComponent(flag);
    return JSON.stringify(JSON.parse(json));
  } catch {
    return undefined;
  }
}
