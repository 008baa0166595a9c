/** `--help` texts of the command line (README, "Command line", says the same). */

export type CommandName = 'call' | 'stream' | 'send' | 'listen';

const URL_NOTE = `URL      [sd:]tcp|tcps|ws|wss|udp://host[:port][/path][?query]; the query's params
         travel in the Connect (handshake params, e.g. ?token=abc)`;

const DATA_NOTE = `DATA     the text itself, @file (its bytes), or - (stdin). Sent as is, without a
         Data-Type (as upstream peers send) unless --data-type marks it`;

const CALLER_OPTIONS = `  -m, --meta k=v          add a meta (repeatable)
      --at NAME           route through a broker to player NAME (the @ meta)
      --data-type TYPE    mark DATA: json, text, binary, msgpack or a media type
  -t, --timeout MS        connect and answer bound`;

const OUTPUT_OPTIONS = `  -o, --output MODE       auto (default): by Data-Type: JSON pretty-printed, text as is,
                          bytes as a hex dump on a terminal, raw when piped;
                          json: one compact JSON value per line (bytes as {"base64":...});
                          text: UTF-8 as is; raw: the bytes only; hex: a hex dump;
                          frame: one JSON line per message: {flag,sid,event,metas,data}
  -q, --quiet             print no metas
  -v, --verbose           also print connection steps and every meta (stderr)`;

const TLS_OPTIONS = `      --tls-ca FILE       trust this CA (PEM)
      --tls-cert FILE     client certificate (PEM), with --tls-key FILE
  -k, --insecure          do not check the server's certificate`;

const EXIT_CODES = `Exit codes:
  0    done (stream: ended by the peer's ReplyEnd, or --count values taken)
  1    usage error, or bad local input (unreadable file, DATA not JSON with --data-type json)
  2    cannot connect or listen (refused, unreachable, TLS, handshake refused, connect
       timeout, port in use)
  3    Alarm from the peer (its text, code meta and Nest error value go to stderr)
  4    timeout: no (final) answer within --timeout
  5    connection lost before the answer
  130  interrupted by Ctrl-C (SIGINT; a stream is cancelled at the peer first), 143 by SIGTERM`;

/** Help per command, and the overview. */
export const HELP: Readonly<Record<CommandName | 'main', string>> = {
  main: `nestjs-socketd: talk to a Socket.D service from a terminal

Usage:
  nestjs-socketd call   URL EVENT [DATA]   Request: print the reply and its metas
  nestjs-socketd stream URL EVENT [DATA]   Subscribe: print each value as it arrives
  nestjs-socketd send   URL EVENT [DATA]   Message (fire-and-forget)
  nestjs-socketd listen URL                a test server printing what it receives
  nestjs-socketd help COMMAND              options of one command (or COMMAND --help)
  nestjs-socketd --version

Data goes to stdout, metas and errors to stderr.

${EXIT_CODES}
`,

  call: `Usage: nestjs-socketd call URL EVENT [DATA] [options]

Sends a Request and prints its answer (stdout) and the answer's metas (stderr, "< k: v").
An Alarm answer (a failed handler) prints its text, code and metas to stderr: exit 3.

${URL_NOTE}
${DATA_NOTE}

Options:
${CALLER_OPTIONS} (default 10000)
${OUTPUT_OPTIONS}
${TLS_OPTIONS}

Example:
  nestjs-socketd call sd:tcp://127.0.0.1:8602 /user/get '{"id":1}' --meta tenant=acme

${EXIT_CODES}
`,

  stream: `Usage: nestjs-socketd stream URL EVENT [DATA] [options]

Sends a Subscribe and prints each value as it arrives, one per line, until the peer's
ReplyEnd. Ctrl-C cancels the stream at the peer (an Alarm with X-Cancel=1) and exits 130.
Upstream Java/JS/Python handlers may never end a Subscribe: use --count or Ctrl-C.

${URL_NOTE}
${DATA_NOTE}

Options:
${CALLER_OPTIONS} (default: none)
  -n, --count N           take N values, cancel the stream, exit 0
${OUTPUT_OPTIONS}
${TLS_OPTIONS}

Example:
  nestjs-socketd stream sd:ws://127.0.0.1:8602 /ticks 10 --count 3

${EXIT_CODES}
`,

  send: `Usage: nestjs-socketd send URL EVENT [DATA] [options]

Sends a Message (an @EventPattern handler's input) and exits once it is written.

${URL_NOTE}
${DATA_NOTE}

Options:
${CALLER_OPTIONS} (default 10000)
  -v, --verbose           print connection steps (stderr)
${TLS_OPTIONS}

${EXIT_CODES}
`,

  listen: `Usage: nestjs-socketd listen URL [options]

A test server: prints every Message, Request and Subscribe it receives (stdout; a header
line "[Request] EVENT metas" then the value), and answers:
  a Request    with a ReplyEnd echoing its data and Data-Type (or --reply / --alarm),
  a Subscribe  with one Reply echoing its data, then an empty ReplyEnd (or --reply / --alarm).
Port 0 picks a free port; the bound URL is printed to stderr ("listening on URL").
Ctrl-C stops it (exit 0).

Options:
      --reply DATA        answer with DATA (text or @file) instead of the echo
      --data-type TYPE    mark --reply's data: json, text, binary, msgpack or a media type
      --alarm TEXT        answer with an Alarm of TEXT (add --meta code=N for its code)
  -m, --meta k=v          add a meta to every answer (repeatable)
  -n, --count N           exit 0 after N messages received (and answered)
      --player NAME       join the broker at URL as player NAME instead of listening
${OUTPUT_OPTIONS}
      --tls-cert FILE     serve TLS (sd:tcp, sd:tcps) with this certificate and --tls-key FILE
      --tls-ca FILE       require client certificates signed by this CA
                          (with --player: --tls-ca, --tls-cert/--tls-key, -k as for call)

Example:
  nestjs-socketd listen sd:tcp://127.0.0.1:0 --reply '{"ok":true}' --data-type json

${EXIT_CODES}
`,
};
