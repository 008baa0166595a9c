// The sample page: plain ES module, no framework. It loads the browser bundle from /lib/
// (dist/browser/socketd.min.js, served by the sample server) and talks to the Nest server.
import { SocketDBrowserClient } from '/lib/socketd.min.js';

const $ = (id) => document.getElementById(id);
const TOKEN = 'sample-token';
const FRAGMENT_SIZE = 64 * 1024;
const json = (value) => JSON.stringify(value);

function show(id, text, ok = true) {
  const el = $(id);
  el.textContent = text;
  el.dataset.state = ok ? 'ok' : 'error';
  return ok;
}

/** A round trip in progress: its text, and a state that is neither 'ok' nor 'error' yet. */
function busy(id, text) {
  $(id).textContent = text;
  $(id).dataset.state = 'busy';
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Runs one round trip, shows its error (code and message) when it fails. */
async function run(id, fn) {
  try {
    return await fn();
  } catch (err) {
    return show(id, `${err.code ?? err.name}: ${err.message}`, false);
  }
}

const config = await (await fetch('/config.json')).json();
if (config.url === null) {
  show('status', config.note, false);
  throw new Error(config.note);
}
// URL params (token) reach the server's handshake; metas travel in the Connect frame.
const url = `${config.url}/?token=${TOKEN}`;
$('url').textContent = url;
const client = new SocketDBrowserClient(url, {
  metas: { client: 'sample-page' },
  fragmentSize: FRAGMENT_SIZE,
  heartbeatInterval: 5_000,
});
client.onStatus((status) => {
  $('status').textContent = status;
  $('status').dataset.status = status;
});
// The server's Request (from /greet): the page answers with what it is.
client.on('/client/whoami', () => json({ name: 'the browser page', pid: 0 }));
// The server's pushes.
let pushes = 0;
client.on('/web/news', (message) => {
  const news = message.json();
  const li = document.createElement('li');
  li.textContent = `push ${news.n}/${news.of} at ${news.at}`;
  $('push-list').append(li);
  pushes++;
});

const actions = {
  request: () => run('request-result', async () => {
    const user = (await client.request('/user/get', json({ id: 1 }))).json();
    return show('request-result', `${user.id}: ${user.name}`, user.name === 'Ada Lovelace');
  }),

  greet: () => run('greet-result', async () => {
    const text = (await client.request('/greet', json({}))).text();
    return show('greet-result', text, text.includes('the browser page'));
  }),

  stream: () => run('stream-result', () => new Promise((resolve, reject) => {
    const values = [];
    const bar = $('stream-progress');
    bar.value = 0;
    busy('stream-result', 'streaming...');
    const take = (m) => {
      values.push(m.json());
      bar.value = values.length;
      $('stream-result').textContent = `${values.length}/50 (last ${values.at(-1)})`;
    };
    client.subscribe('/ticks', json({ count: 50 }), {
      next: take,
      complete: () => {
        const ok = values.length === 50 && values.every((v, i) => v === i + 1);
        resolve(show('stream-result', `${values.length} ticks, 1..${values.at(-1)} in order, done`, ok));
      },
      error: reject,
    }).catch(reject);
  })),

  push: () => run('push-result', async () => {
    pushes = 0;
    $('push-list').replaceChildren();
    busy('push-result', 'waiting...');
    const answer = (await client.request('/web/push', json({ count: 3 }))).text();
    $('push-result').textContent = `${answer}...`;
    for (let i = 0; i < 50 && pushes < 3; i++) await new Promise((r) => setTimeout(r, 50));
    return show('push-result', `${pushes} pushes received`, pushes === 3);
  }),

  download: () => run('download-result', async () => {
    const size = 1024 * 1024;
    const reply = await client.request('/web/download', json({ size }));
    const data = reply.data;
    let ok = data.length === size;
    for (let i = 0; ok && i < size; i++) ok = data[i] === ((i * 31 + 7) & 0xff);
    return show('download-result', `${data.length} bytes (${Math.ceil(size / FRAGMENT_SIZE)} fragments), every byte as sent: ${ok}`, ok);
  }),

  upload: () => run('upload-result', async () => {
    const file = $('file').files[0];
    if (file === undefined) return show('upload-result', 'pick a file first', false);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const local = await sha256Hex(bytes);
    const bar = $('upload-progress');
    bar.max = bytes.length || 1;
    busy('upload-result', `uploading ${bytes.length} bytes in ${Math.ceil(bytes.length / FRAGMENT_SIZE)} fragments...`);
    const reply = await client.request('/web/upload', bytes, {
      metas: { 'Data-Type': 'application/octet-stream' },
      timeout: 60_000,
      onProgress: (sent) => { bar.value = sent; },
    });
    bar.value = bar.max;
    const server = reply.json();
    const ok = server.bytes === bytes.length && server.sha256 === local;
    return show('upload-result', `${server.bytes} bytes, sha256 ${server.sha256} ${ok ? 'matches' : `differs from ${local}`}`, ok);
  }),
};

// Cancel: the page subscribes to a counter that never ends by itself, polls the server's own
// count, and after Cancel shows that count has stopped (the server's stream was unsubscribed).
let counter;
let serverPoll;
async function pollServer() {
  const state = (await client.request('/web/counter/state')).json();
  $('counter-server').textContent = `${state.running ? 'running' : 'stopped'} at ${state.count}`;
  return state;
}
$('btn-counter').onclick = () => run('cancel-result', async () => {
  let received = 0;
  $('cancel-result').textContent = '';
  delete $('cancel-result').dataset.state;
  counter = await client.subscribe('/web/counter', json({ every: 40 }), {
    next: (m) => { received = m.json(); $('counter-client').textContent = String(received); },
    error: (err) => show('cancel-result', `${err.code}: ${err.message}`, false),
  });
  $('btn-cancel').disabled = false;
  clearInterval(serverPoll);
  serverPoll = setInterval(() => pollServer().catch(() => undefined), 100);
});
$('btn-cancel').onclick = () => run('cancel-result', async () => {
  counter.cancel();
  $('btn-cancel').disabled = true;
  clearInterval(serverPoll);
  const atCancel = Number($('counter-client').textContent);
  await new Promise((r) => setTimeout(r, 300));
  const first = await pollServer();
  await new Promise((r) => setTimeout(r, 500));
  const second = await pollServer();
  const stopped = !second.running && second.count === first.count;
  return show('cancel-result', `cancelled after ${atCancel}; the server ${stopped ? `stopped at ${second.count}` : `is still counting (${first.count} -> ${second.count})`}`, stopped);
});

for (const [name, action] of Object.entries(actions)) $(`btn-${name}`).onclick = action;
$('btn-all').onclick = async () => {
  const started = performance.now();
  const failed = [];
  for (const name of ['request', 'greet', 'stream', 'push', 'download']) if ((await actions[name]()) !== true) failed.push(name);
  const ms = Math.round(performance.now() - started);
  show('all-result', failed.length === 0 ? `all passed in ${ms} ms` : `failed: ${failed.join(', ')}`, failed.length === 0);
};

await run('status', () => client.connect());
if (new URLSearchParams(location.search).has('auto')) $('btn-all').click();
