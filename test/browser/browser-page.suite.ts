/**
 * The browser build in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): the sample page against the sample's real Nest server (a hybrid app with
 * SocketDServer on sd:ws), then the bundle alone: recorded vectors, errors, reconnect.
 * Needs `npm run build` (dist/lib: the sample imports `nestjs-socketd`); the bundle itself is
 * rebuilt here so it matches lib/. A screenshot of the page goes to test/browser/.out/.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium, vectorExpectations, VECTORS, type VectorExpectation } from './browser-helpers.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = path.join(REPO_ROOT, 'test/browser/.out');
const UPLOAD_BYTES = 5 * 1024 * 1024;

if (!existsSync(path.join(REPO_ROOT, 'dist/lib/index.js'))) throw new Error('run `npm run build` first: the sample server imports nestjs-socketd from dist/lib');
execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts/build-browser.mjs')], { stdio: 'pipe' });

// Imported after the checks above: the sample resolves `nestjs-socketd` to dist/lib.
const { SocketDServer } = await import('nestjs-socketd');
const { requireToken } = await import('../../sample/server/src/auth.js');
const { startHybrid } = await import('../../sample/server/src/web.js');
const { freePort } = await import('./browser-helpers.js');

let app: Awaited<ReturnType<typeof startHybrid>>['app'];
let pageUrl: string;
let context: BrowserContext;
let page: Page;
let profile: string;

beforeAll(async () => {
  const url = `sd:ws://127.0.0.1:${await freePort()}`;
  const strategy = new SocketDServer({ url, onHandshake: requireToken, fragmentSize: 64 * 1024, logger: false });
  ({ app, pageUrl } = await startHybrid(strategy, url, 0));
  profile = mkdtempSync(path.join(tmpdir(), 'socketd-chromium-'));
  context = await launchChromium(chromium, profile);
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (err) => console.error('[page]', err));
  await page.goto(`${pageUrl}?auto=1`);
}, 30_000);

afterAll(async () => {
  await context?.close();
  await app?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

/** Waits until `#id` shows a final result (data-state ok or error) and returns its state and text. */
async function result(id: string, timeout = 15_000): Promise<{ state: string; text: string }> {
  // A final state only: 'busy' marks a round trip still in progress.
  const el = page.locator(`#${id}[data-state="ok"], #${id}[data-state="error"]`);
  await el.waitFor({ timeout });
  return { state: (await el.getAttribute('data-state'))!, text: (await el.textContent())! };
}

describe('the sample page in Chromium, against the sample Nest server', () => {
  it('connects with URL params and metas, and runs request, server-to-page request, stream, push and a fragmented download', async () => {
    // 'Run all' first: the others show progress while they run.
    const ids = ['all-result', 'request-result', 'greet-result', 'stream-result', 'push-result', 'download-result'];
    const shown: Record<string, { state: string; text: string }> = {};
    for (const id of ids) shown[id] = await result(id);
    expect(shown).toEqual({
      'request-result': { state: 'ok', text: '1: Ada Lovelace' },
      'greet-result': { state: 'ok', text: 'Hello, the browser page (pid 0)!' },
      'stream-result': { state: 'ok', text: '50 ticks, 1..50 in order, done' },
      'push-result': { state: 'ok', text: '3 pushes received' },
      'download-result': { state: 'ok', text: '1048576 bytes (16 fragments), every byte as sent: true' },
      'all-result': { state: 'ok', text: expect.stringMatching(/^all passed in \d+ ms$/) },
    });
    expect(await page.locator('#status').textContent()).toBe('connected');
    expect(await page.locator('#stream-progress').evaluate((el: { value: number }) => el.value)).toBe(50);
    expect(await page.locator('#push-list li').count()).toBe(3);
  });

  it('Cancel stops the server\'s stream: the server\'s count stops', async () => {
    await page.click('#btn-counter');
    await page.waitForFunction("Number(document.getElementById('counter-client').textContent) >= 5", undefined, { timeout: 10_000 });
    expect(await page.locator('#counter-server').textContent()).toMatch(/^running at \d+$/);
    await page.click('#btn-cancel');
    const cancel = await result('cancel-result');
    expect(cancel.state).toBe('ok');
    expect(cancel.text).toMatch(/^cancelled after \d+; the server stopped at \d+$/);
    expect(await page.locator('#counter-server').textContent()).toMatch(/^stopped at \d+$/);
  });

  it('uploads a 5 MiB file picked in the page in fragments with progress; the server\'s sha256 matches', async () => {
    const bytes = randomBytes(UPLOAD_BYTES);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await page.setInputFiles('#file', { name: 'five-mib.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await page.click('#btn-upload');
    expect(await result('upload-result', 30_000)).toEqual({ state: 'ok', text: `${UPLOAD_BYTES} bytes, sha256 ${sha256} matches` });
    expect(await page.locator('#upload-progress').evaluate((el: { value: number; max: number }) => el.value === el.max)).toBe(true);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'sample-page.png'), fullPage: true });
  }, 40_000);
});

describe('the bundle in Chromium', () => {
  it('decodes and re-encodes every recorded vector, in the page, to the same bytes as the Node engine', async () => {
    const expectations = vectorExpectations();
    expect(expectations.length).toBe(246 + 66);
    await page.route('**/__vectors/**', (route) => {
      const rel = decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/__vectors\//, ''));
      return route.fulfill({ path: path.join(VECTORS, rel), contentType: 'application/octet-stream' });
    });
    const failures = await page.evaluate(async (list: VectorExpectation[]) => {
      const sd = await import('/lib/socketd.min.js' as string);
      const hex = async (bytes: Uint8Array) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
      const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
      const bad: string[] = [];
      const files = await Promise.all(list.map(async (e) => new Uint8Array(await (await fetch(`/__vectors/${e.file}`)).arrayBuffer())));
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        const bytes = files[i]!;
        try {
          const input = e.storedLength === undefined ? bytes : bytes.slice();
          // A truncated recording: decode its stored prefix as if it were the whole frame.
          if (e.storedLength !== undefined) new DataView(input.buffer).setInt32(0, bytes.length);
          const frame = sd.decodeFrame(input);
          const canon = (metas: object) => JSON.stringify(Object.entries(metas).sort());
          const metas = canon(sd.parseMetas(frame.metaString));
          const problems = [
            frame.flag !== e.flag && 'flag', frame.sid !== e.sid && 'sid', frame.event !== e.event && 'event',
            frame.metaString !== e.metaString && 'metaString',
            metas !== canon(e.metas ?? sd.parseMetas(e.metaString)) && 'metas',
          ];
          if (e.storedLength === undefined) {
            problems.push(
              bytes.length !== e.frameLength && 'length', frame.data.length !== e.dataLength && 'dataLength',
              e.dataSha256 !== undefined && await hex(frame.data) !== e.dataSha256 && 'dataSha256',
              typeof e.dataText === 'string' && new TextDecoder().decode(frame.data) !== e.dataText && 'dataText',
              !same(sd.encodeFrame(frame), bytes) && 're-encoded bytes',
            );
          }
          const wrong = problems.filter(Boolean);
          if (wrong.length > 0) bad.push(`${e.file}: ${wrong.join(', ')}`);
        } catch (err) {
          bad.push(`${e.file}: ${(err as Error).message}`);
        }
      }
      return bad;
    }, expectations);
    expect(failures).toEqual([]);
  });
});

describe('the browser client in Chromium, against the engine', () => {
  it('fails with clear errors, reports its status, and reconnects after the connection drops', async () => {
    const { listen, CloseCodes } = await import('../../lib/engine.js');
    const port = await freePort();
    const server = await listen(`sd:ws://127.0.0.1:${port}`, {
      logger: false,
      onHandshake: (handshake) => handshake.params['token'] === 'ok',
      onMessage: (session, message) => { if (message.isRequest) session.replyEnd(message, `echo ${message.dataAsString()} from ${message.metas['who'] ?? '?'}`); },
    });
    try {
      const out = await page.evaluate(async (p: number) => {
        const sd = await import('/lib/socketd.min.js' as string);
        const errorOf = (promise: Promise<unknown>) => promise.then(() => 'no error', (err: { code: string }) => err.code);
        const refused = await errorOf(sd.connect(`sd:ws://127.0.0.1:${p}/?token=bad`, { autoReconnect: false }));
        const down = await errorOf(sd.connect('sd:ws://127.0.0.1:1/', { autoReconnect: false }));
        const badUrl = await errorOf(sd.connect('sd:tcp://127.0.0.1:1/'));
        const statuses: string[] = [];
        const client = new sd.SocketDBrowserClient(`sd:ws://127.0.0.1:${p}/?token=ok`, { reconnectDelay: 50, heartbeatInterval: 100 });
        client.onStatus((s: string) => statuses.push(s));
        await client.connect();
        const before = (await client.request('/echo', 'one', { metas: { who: 'page' } })).text();
        (globalThis as unknown as { sdStatuses: string[] }).sdStatuses = statuses;
        (globalThis as unknown as { sdClient: unknown }).sdClient = client;
        return { refused, down, badUrl, before };
      }, port);
      expect(out).toEqual({
        refused: 'SOCKETD_ERR_HANDSHAKE_REJECTED', down: 'SOCKETD_ERR_TRANSPORT', badUrl: 'SOCKETD_ERR_BAD_URL', before: 'echo one from page',
      });
      // A few heartbeats go by; then the server drops the session with an error code (2001).
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.sessions.size).toBe(1);
      for (const session of server.sessions) session.close(CloseCodes.ERROR);
      const after = await page.evaluate(async () => {
        const w = globalThis as unknown as { sdStatuses: string[]; sdClient: { request(e: string, d: string): Promise<{ text(): string }>; close(): Promise<void>; status: string } };
        const start = Date.now();
        while (w.sdClient.status !== 'connected' || !w.sdStatuses.includes('reconnecting')) {
          if (Date.now() - start > 5000) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const text = (await w.sdClient.request('/echo', 'two')).text();
        await w.sdClient.close();
        return { text, statuses: w.sdStatuses };
      });
      expect(after.text).toBe('echo two from ?');
      expect(after.statuses).toEqual(['connecting', 'connected', 'disconnected', 'reconnecting', 'connected', 'closed']);
    } finally {
      await server.close();
    }
  });

  it('decodes replies by their Data-Type and gives a stream\'s every value to next, the ReplyEnd\'s too', async () => {
    const { listen } = await import('../../lib/engine.js');
    const port = await freePort();
    const server = await listen(`sd:ws://127.0.0.1:${port}`, {
      logger: false,
      onMessage(session, message) {
        if (message.event === '/typed') {
          const type = message.meta('as');
          session.replyEnd(message, message.data, type === undefined ? undefined : { 'Data-Type': type });
        } else if (message.event === '/upstream') {
          session.reply(message, '1');
          session.reply(message, '2');
          session.replyEnd(message, '3');
        }
      },
    });
    try {
      const out = await page.evaluate(async (p: number) => {
        const sd = await import('/lib/socketd.min.js' as string);
        const client = await sd.connect(`sd:ws://127.0.0.1:${p}/`, { autoReconnect: false });
        const typed = (data: string, as?: string) => client.request('/typed', data, { metas: as === undefined ? {} : { as } });
        const text = await typed('Hello, web page', 'text/plain');
        const json = await typed('{"id":1}', 'application/json');
        const raw = await typed('{"id":1}', 'application/octet-stream');
        const unmarked = await typed('{"id":1}');
        let rawJson = 'no error';
        try { raw.json(); } catch (err) { rawJson = (err as Error).name; }
        const stream = await new Promise((resolve, reject) => {
          const values: unknown[] = [];
          client.subscribe('/upstream', undefined, {
            next: (m: { value: unknown }) => values.push(m.value),
            complete: (end: unknown) => resolve({ values, end: end === undefined ? 'none' : 'a message' }),
            error: reject,
          }).catch(reject);
        });
        await client.close();
        return {
          text: [text.dataType, text.value, text.json(), text.text()],
          json: [json.value, json.json()],
          raw: [raw.value instanceof Uint8Array, Array.from(raw.bytes()).length, rawJson],
          unmarked: unmarked.value,
          stream,
        };
      }, port);
      expect(out).toEqual({
        text: ['text/plain', 'Hello, web page', 'Hello, web page', 'Hello, web page'],
        json: [{ id: 1 }, { id: 1 }],
        raw: [true, 8, 'TypeError'],
        unmarked: { id: 1 },
        stream: { values: [1, 2, 3], end: 'none' },
      });
    } finally {
      await server.close();
    }
  });
});
