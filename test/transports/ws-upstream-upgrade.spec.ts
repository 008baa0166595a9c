// The HTTP upgrade requests of real upstream peers (recorded in test/fixtures/socketd-vectors:
// the JS client through ws, which offers permessage-deflate, and Python's websockets), replayed
// byte for byte to our server, then their recorded Connect as a masked frame.
import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '../../lib/protocol/flags.js';
import { Recorder, rawSocket, runCleanups, startWsServer } from './helpers.js';
import { acceptFor, OP, WireReader, wsFrame } from './ws-wire.js';

afterEach(runCleanups);

const VECTORS = fileURLToPath(new URL('../fixtures/socketd-vectors/', import.meta.url));
const SETS = readdirSync(VECTORS).filter((d) => existsSync(path.join(VECTORS, d, 'http-upgrade-request-conn1.txt')));

describe('upstream upgrade requests', () => {
  it('the recorded sets are there', () => {
    expect(SETS.length).toBeGreaterThanOrEqual(6);
  });

  it.each(SETS)('%s: 101 with its accept key and Socket.D, no extension; its recorded Connect is read', async (set) => {
    const request = readFileSync(path.join(VECTORS, set, 'http-upgrade-request-conn1.txt'), 'latin1');
    const key = /Sec-WebSocket-Key: (\S+)/i.exec(request)![1]!;
    const { port, accepted } = await startWsServer();
    const s = await rawSocket(port);
    // Recorded with LF or CRLF line ends: sent as HTTP wants them.
    s.write(request.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n\r\n'));
    let got = Buffer.alloc(0);
    while (got.indexOf('\r\n\r\n') === -1) got = Buffer.concat([got, ((await once(s, 'data')) as [Buffer])[0]]);
    const end = got.indexOf('\r\n\r\n') + 4;
    const head = got.subarray(0, end).toString('latin1');
    expect(head.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(head).toContain(`\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n`);
    expect(head).toContain('\r\nSec-WebSocket-Protocol: Socket.D\r\n');
    expect(head).not.toMatch(/Sec-WebSocket-Extensions/i);
    new WireReader(s, got.subarray(end));
    const rec = new Recorder(await accepted.next());
    const connect = readdirSync(path.join(VECTORS, set)).find((f) => /^c2s-001-connect\.bin$/.test(f));
    expect(connect).toBeDefined();
    s.write(wsFrame(OP.BINARY, readFileSync(path.join(VECTORS, set, connect!)), { mask: 'random' }));
    await rec.until(() => rec.frames.length === 1);
    expect(rec.frames[0]!.flag).toBe(Flags.Connect);
  });
});
