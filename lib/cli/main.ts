#!/usr/bin/env node
/**
 * The `nestjs-socketd` command line (package.json `bin`): `call`, `stream`, `send` and
 * `listen` against any Socket.D peer. See README, "Command line", or `nestjs-socketd --help`.
 */
import { readFileSync } from 'node:fs';
import '../engine.js';
import { parseCommandLine, type CliCommand } from './args.js';
import { call, send, stream, type CommandContext } from './caller.js';
import { ExitCodes, reportError } from './exit-codes.js';
import { listen } from './listen.js';
import { Printer } from './output.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const RUN: Record<CliCommand['name'], (command: CliCommand, context: CommandContext) => Promise<number>> = { call, stream, send, listen };

/** Resolves with the exit code on the first SIGINT/SIGTERM, or 0 when stdout's reader went away. */
function interruption(): Promise<number> {
  return new Promise<number>((resolve) => {
    let interrupted = false;
    const on = (code: number) => (): void => {
      // A second Ctrl-C (or SIGTERM) does not wait for the clean exit.
      if (interrupted) process.exit(code);
      interrupted = true;
      resolve(code);
    };
    process.on('SIGINT', on(ExitCodes.SIGINT));
    process.on('SIGTERM', on(ExitCodes.SIGTERM));
    // `stream ... | head -3`: head exits, writes fail with EPIPE: stop (cancel) and exit 0.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') resolve(ExitCodes.OK);
    });
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let printer = new Printer('auto', process, false, false);
  try {
    const parsed = parseCommandLine(argv, packageVersion());
    if (parsed.kind === 'print') {
      process.stdout.write(parsed.text);
      return ExitCodes.OK;
    }
    const { command } = parsed;
    printer = new Printer(command.output, process, command.quiet, command.verbose);
    return await RUN[command.name](command, { printer, stdin: process.stdin, stdout: process.stdout, interrupted: interruption() });
  } catch (err) {
    return reportError(err, printer, false);
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Everything is closed by now and the process ends once stdout is flushed; should a handle
  // linger (a peer that never closes its side), do not hang.
  setTimeout(() => process.exit(code), 2_000).unref();
});
