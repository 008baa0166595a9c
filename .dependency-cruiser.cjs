/**
 * The layering of lib/, checked in CI (`npm run lint:deps`):
 *
 *   protocol (pure)  <-  session (owns the Connection contract)  <-  transports  <-  nest
 *                                   <-  broker (protocol + session only; loaded by the entries and nest)
 *                                   <-  browser (protocol + session only, no Node built-ins: bundled by esbuild)
 *
 * protocol imports only Node built-ins; session imports protocol and no network module (it names
 * no transport: transports declare their options and capabilities); transports import protocol
 * and the session's Connection contract (lib/session/connection.ts) only; only nest imports
 * @nestjs/* and rxjs; the entry points (lib/engine.ts, lib/index.ts) wire the layers together.
 * lib/cli (the `nestjs-socketd` command line, package.json `bin`) runs on the engine entry and
 * never loads Nest; nothing imports it.
 */
const LAYER = {
  protocol: '^lib/protocol/',
  session: '^lib/session/',
  transports: '^lib/transports/',
  nest: '^lib/nest/',
  broker: '^lib/broker/',
  browser: '^lib/browser/',
  cli: '^lib/cli/',
};
const CONTRACT = '^lib/session/connection\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles anywhere in lib/.',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'protocol-is-pure',
      severity: 'error',
      comment: 'lib/protocol imports nothing but itself and Node built-ins.',
      from: { path: LAYER.protocol },
      to: { pathNot: [LAYER.protocol], dependencyTypesNot: ['core'] },
    },
    {
      name: 'session-sees-protocol-only',
      severity: 'error',
      comment: 'lib/session imports lib/protocol, itself and Node built-ins: never a transport, never Nest.',
      from: { path: LAYER.session },
      to: { pathNot: [LAYER.protocol, LAYER.session], dependencyTypesNot: ['core'] },
    },
    {
      name: 'session-is-transport-neutral',
      severity: 'error',
      comment: 'lib/session (the Connection contract and the sessions) loads no network module: node:net/tls/http/https/dgram belong to the transports, which own and type their options.',
      from: { path: LAYER.session },
      to: { dependencyTypes: ['core'], path: '^(node:)?(http|https|http2|tls|dgram|net)$' },
    },
    {
      name: 'transports-see-the-contract-only',
      severity: 'error',
      comment: 'lib/transports import lib/protocol, the Connection contract, themselves, Node built-ins and ws.',
      from: { path: LAYER.transports },
      to: {
        pathNot: [LAYER.protocol, CONTRACT, LAYER.transports, '^node_modules/ws/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'broker-sees-protocol-and-session',
      severity: 'error',
      comment: 'lib/broker (spec section 10) imports lib/protocol, lib/session, itself and Node built-ins: never a transport, never Nest.',
      from: { path: LAYER.broker },
      to: { pathNot: [LAYER.protocol, LAYER.session, LAYER.broker], dependencyTypesNot: ['core'] },
    },
    {
      name: 'browser-sees-protocol-and-session',
      severity: 'error',
      comment: 'lib/browser (the nestjs-socketd/browser bundle) imports lib/protocol, lib/session and itself: no Node built-in, no node-only transport, no Nest; rxjs only in its rx entry.',
      from: { path: LAYER.browser },
      to: { pathNot: [LAYER.protocol, LAYER.session, LAYER.browser, '^node_modules/rxjs/'] },
    },
    {
      name: 'browser-rxjs-only-in-rx',
      severity: 'error',
      comment: 'The browser client itself has no runtime dependency; rxjs is an optional peer loaded by lib/browser/rx.ts alone.',
      from: { path: LAYER.browser, pathNot: '^lib/browser/rx\\.ts$' },
      to: { path: '^node_modules/rxjs/' },
    },
    {
      name: 'browser-never-reaches-node-only-code',
      severity: 'error',
      comment: 'Nothing the browser entry loads, even indirectly, is a transport, the broker or Nest.',
      from: { path: '^lib/browser/index\\.ts$' },
      to: { path: [LAYER.transports, LAYER.nest, LAYER.broker, '^node_modules/@nestjs/', '^node_modules/ws/'], reachable: true },
    },
    {
      name: 'only-entries-and-nest-import-the-broker',
      severity: 'error',
      comment: 'lib/broker is loaded by the entry points (lib/engine.ts, lib/index.ts) and lib/nest only.',
      from: { path: '^lib/', pathNot: [LAYER.broker, LAYER.nest, '^lib/engine\\.ts$', '^lib/index\\.ts$'] },
      to: { path: LAYER.broker },
    },
    {
      name: 'nest-wires-transports-explicitly',
      severity: 'error',
      comment: 'lib/nest gets its transports from the session API (the transports option, SHIPPED_TRANSPORTS), never from an entry point\'s registration side effects.',
      from: { path: LAYER.nest },
      to: { path: ['^lib/engine\\.ts$', '^lib/index\\.ts$'] },
    },
    {
      name: 'only-nest-imports-nest-and-rxjs',
      severity: 'error',
      comment: 'Only lib/nest (and the root entry that re-exports it) may load @nestjs/* or rxjs.',
      from: { path: '^lib/', pathNot: [LAYER.nest, '^lib/index\\.ts$', '^lib/browser/rx\\.ts$'] },
      to: { path: ['^node_modules/@nestjs/', '^node_modules/rxjs/', LAYER.nest] },
    },
    {
      name: 'engine-entry-has-no-nest',
      severity: 'error',
      comment: 'nestjs-socketd/engine must never load the Nest layer, even indirectly.',
      from: { path: '^lib/engine\\.ts$' },
      to: { path: ['^node_modules/@nestjs/', '^node_modules/rxjs/', LAYER.nest], reachable: true },
    },
    {
      name: 'cli-has-no-nest',
      severity: 'error',
      comment: 'The command line (lib/cli) runs on the engine: it never loads @nestjs/*, rxjs or lib/nest, even indirectly.',
      from: { path: LAYER.cli },
      to: { path: ['^node_modules/@nestjs/', '^node_modules/rxjs/', LAYER.nest], reachable: true },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'lib/cli is a program (package.json bin), not a library layer: only its own files import it.',
      from: { path: '^lib/', pathNot: LAYER.cli },
      to: { path: LAYER.cli },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: { path: '^lib/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
    moduleSystems: ['es6'],
  },
};
