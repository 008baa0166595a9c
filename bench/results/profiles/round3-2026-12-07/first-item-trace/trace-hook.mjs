// Diagnostic only (issue 22): loaded with `node --import` into the bench parent and (inherited) its server child,
// it wraps the session internals of dist-bench/lib to time one stream's first Reply per stage, and logs
// every GC pause over 0.3 ms. Run: node --import ./trace-hook.mjs dist-bench/bench/run.js --only first-item-10k,first-item-1m --transport socketd-tcp,engine-tcp --runs 1
import net from 'node:net';
import { pathToFileURL } from 'node:url';
// Run from the repository's root, after `npx tsc -p bench/tsconfig.json`.
const base = new URL('dist-bench/lib/session/', pathToFileURL(`${process.cwd()}/`)).href;
const { SocketDSession } = await import(base + 'session.js');
const { Responder } = await import(base + 'responder.js');
const { Requester } = await import(base + 'requester.js');
const now = () => performance.timeOrigin + performance.now();
const marks = new Map();
let pendingWrite; // server: sid waiting for its first socket write
const out = (s) => process.stderr.write(`T ${s}\n`);
const hf = SocketDSession.prototype.handleFrame;
SocketDSession.prototype.handleFrame = function (frame) {
  if (frame.event === 'stream') {
    const m = marks.get(frame.sid);
    if (m === undefined) marks.set(frame.sid, { recv: now(), n: frame.data.toString() });
    else if (m.sent !== undefined && m.firstIn === undefined) { m.firstIn = now(); out(`C ${frame.sid.slice(0,6)} n=${m.n} sent=${m.sent.toFixed(3)} firstIn=${m.firstIn.toFixed(3)}`); }
  }
  return hf.call(this, frame);
};
const rp = Responder.prototype.reply;
Responder.prototype.reply = function (to, data, metas) {
  const m = marks.get(to.sid);
  if (m && !m.firstReply) { m.firstReply = now(); pendingWrite = m; m.sid = to.sid; }
  return rp.call(this, to, data, metas);
};
for (const name of ['_writev', '_write']) {
  const orig = net.Socket.prototype[name];
  net.Socket.prototype[name] = function (...args) {
    if (pendingWrite !== undefined) { const m = pendingWrite; pendingWrite = undefined; const t = now(); const len = name === '_writev' ? args[0].reduce((a, c) => a + c.chunk.length, 0) : args[0].length; out(`S ${m.sid.slice(0,6)} n=${m.n} recv=${m.recv.toFixed(3)} firstReply=${m.firstReply.toFixed(3)} firstWrite=${t.toFixed(3)} bytes=${len}`); }
    return orig.apply(this, args);
  };
}
const rs = Requester.prototype.stream;
Requester.prototype.stream = function (kind, event, data, observer, options) {
  const h = rs.call(this, kind, event, data, observer, options);
  if (event === 'stream') marks.set(h.sid, { sent: now(), n: String(data) });
  return h;
};
import { PerformanceObserver } from 'node:perf_hooks';
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.duration > 0.3) out(`G ${(performance.timeOrigin + e.startTime).toFixed(3)} ${e.duration.toFixed(3)} kind=${e.detail?.kind ?? e.kind}`);
}).observe({ entryTypes: ['gc'] });
