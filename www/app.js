// dyspatcher web client: keys, join, chat. Every text from the network is inserted with
// textContent, never as HTML.

import * as C from './crypto.js';
import * as P from './protocol.js';
import * as U from './ui.js';

const $ = (id) => document.getElementById(id);

const S = {
  keys: null, // my key set (crypto.js)
  generated: null, // promise of generated keys
  custom: null, // custom key set, or an Error
  name: '', // the name asked for
  me: '', // the name the server registered
  admin: '', // the administrator's name (first in the users list)
  isAdmin: false,
  disableAll: false,
  group: null, // AES-GCM group key
  users: new Map(), // name -> { hash, keyid, peer }
  ws: null,
  opened: false,
  joined: false,
  everJoined: false,
  notice: '', // last notice before a close
  refused: false, // chat-invaliduser received
  pending: new Map(), // id -> { item, to, text, copy }
  mine: new Set(), // signatures of my messages to all (the server echoes them)
  queue: Promise.resolve(),
  busy: false,
};

// ---- start -----------------------------------------------------------------------

function start() {
  U.init();
  if (!C.available()) {
    const a = $('https-link');
    a.href = a.textContent = 'https://' + location.hostname + '/';
    $('nocrypto').hidden = false;
    $('join-form').hidden = true;
    U.setState('error', 'Encryption unavailable: HTTPS needed');
    return;
  }
  U.setState('idle', 'Not connected');
  const t0 = performance.now();
  const tick = setInterval(() => {
    if (!S.custom || S.custom instanceof Error) U.keygen('busy', `Generating your 4096-bit encryption keys… ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 200);
  S.generated = C.generate(4096).then(
    (k) => {
      clearInterval(tick);
      if (!S.custom || S.custom instanceof Error) U.keygen('done', `Keys ready. Key ID ${k.keyid.slice(0, 12)}`);
      return k;
    },
    (e) => {
      clearInterval(tick);
      U.keygen('error', 'Key generation failed: ' + (e && e.message ? e.message : e) + '. Reload the page, or use custom keys.');
      throw e;
    },
  );
  S.generated.catch(() => {});

  const name = $('name');
  name.addEventListener('input', () => {
    const v = name.value;
    if (v !== v.toLowerCase() && /^[A-Za-z0-9]*$/.test(v)) name.value = v.toLowerCase();
    U.fieldError(name, $('name-error'), name.value.length >= 4 || name.value.length === 0 ? P.nameProblem(name.value) : '');
  });
  name.addEventListener('blur', () => {
    if (name.value) U.fieldError(name, $('name-error'), P.nameProblem(name.value));
  });
  $('key-private').addEventListener('change', loadCustom);
  $('key-public').addEventListener('change', loadCustom);
  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    joinClicked();
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  const text = $('text');
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  text.addEventListener('input', () => {
    U.grow(text);
    U.sendError('');
    updateHelp();
  });
  $('reconnect').addEventListener('click', () => connect());
  $('dl-private').addEventListener('click', () => U.download(`${S.me || S.name}-private.pem`, C.pem('PRIVATE KEY', S.keys.pkcs8)));
  $('dl-public').addEventListener('click', () => U.download(`${S.me || S.name}-public.pem`, C.pem('PUBLIC KEY', S.keys.spki)));
  U.onPick((to) => setDestination(to));
  name.focus();
}

async function loadCustom() {
  const fp = $('key-private').files[0];
  const fq = $('key-public').files[0];
  U.fieldError(null, $('custom-error'), '');
  S.custom = null;
  if (!fp && !fq) {
    if (S.keys) U.keygen('done', `Keys ready. Key ID ${S.keys.keyid.slice(0, 12)}`);
    return;
  }
  if (!fp) {
    S.custom = new Error('Choose the private key file too.');
  } else {
    try {
      S.custom = await C.importPem(await fp.text(), fq ? await fq.text() : '');
    } catch (e) {
      S.custom = e instanceof Error ? e : new Error(String(e));
    }
  }
  if (S.custom instanceof Error) U.fieldError($('key-private'), $('custom-error'), S.custom.message);
  else U.keygen('done', `Custom keys loaded (${S.custom.bits} bits). Key ID ${S.custom.keyid.slice(0, 12)}`);
}

async function joinClicked() {
  const name = $('name');
  const problem = P.nameProblem(name.value);
  U.fieldError(name, $('name-error'), problem);
  U.joinError('');
  if (problem) {
    name.focus();
    return;
  }
  if (S.custom instanceof Error) {
    U.joinError(S.custom.message);
    return;
  }
  const btn = $('join');
  btn.disabled = true;
  try {
    if (S.custom) {
      S.keys = S.custom;
    } else {
      btn.textContent = 'Waiting for the keys…';
      S.keys = await S.generated;
    }
  } catch {
    U.joinError('No keys: key generation failed. Reload the page or use custom keys.');
    btn.disabled = false;
    btn.textContent = 'Join';
    return;
  }
  S.name = name.value;
  btn.textContent = 'Connecting…';
  connect();
}

// ---- connection --------------------------------------------------------------------

function connect() {
  if (S.ws) return;
  S.opened = false;
  S.joined = false;
  S.notice = '';
  S.refused = false;
  U.banner(null);
  U.setState('connecting', 'Connecting…');
  let ws;
  try {
    ws = new WebSocket(P.socketUrl());
  } catch (e) {
    closed(null, { code: 0, reason: String(e) });
    return;
  }
  S.ws = ws;
  ws.addEventListener('open', () => {
    S.opened = true;
    ws.send(P.join(S.name, S.keys.spkiB64));
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    const f = P.parse(ev.data);
    if (!f) return;
    S.queue = S.queue.then(() => frame(ws, f)).catch((e) => console.warn('frame', e));
  });
  ws.addEventListener('close', (ev) => {
    S.queue = S.queue.then(() => closed(ws, ev));
  });
}

function closed(ws, ev) {
  if (ws && S.ws !== ws) return;
  S.ws = null;
  const wasJoined = S.joined;
  S.joined = false;
  for (const [id, p] of S.pending) {
    if (!p.copy) U.status(p.item, 'failed', 'Not confirmed: the connection closed before the server answered.', () => putBack(p));
    S.pending.delete(id);
  }
  const failedToOpen = !S.opened;
  const tls = location.protocol === 'https:';
  let why;
  if (S.refused) why = `The name "${S.name}" is taken or not allowed. Choose another one.`;
  else if (S.notice) why = S.notice;
  else if (failedToOpen) why = 'Could not reach the chat server.';
  else why = 'The server closed the connection.';
  if (!S.everJoined) {
    U.setState('closed', 'Not connected');
    const btn = $('join');
    btn.disabled = false;
    btn.textContent = 'Join';
    if (S.refused) {
      U.fieldError($('name'), $('name-error'), why);
      $('name').focus();
      $('name').select();
    } else {
      U.joinError(why, failedToOpen && tls ? 'https://' + location.host + '/' : '');
    }
    return;
  }
  U.setState('closed', 'Disconnected');
  U.markUsersOffline();
  if (wasJoined) U.notice(S.notice ? 'Disconnected.' : 'Disconnected from the server.');
  U.banner(
    S.refused ? `Disconnected. The server still holds the name "${S.name}"; wait a moment and press Reconnect.` : `Disconnected. ${why} Your keys are kept: press Reconnect to join again as ${S.name}.`,
    failedToOpen && tls ? 'https://' + location.host + '/' : '',
  );
}

// ---- frames from the server ----------------------------------------------------------

async function frame(ws, f) {
  if (ws !== S.ws) return;
  if (f.cmd === 'config') return config(f.data);
  if (f.cmd === 'message') return message(f.data);
  if (f.cmd !== 'signal') return;
  const d = f.data;
  switch (d.code) {
    case 'notice':
      if (typeof d.notice !== 'string') return;
      S.notice = d.notice;
      if (S.everJoined) U.notice(d.notice);
      else U.joinError(d.notice);
      return;
    case 'chat-invaliduser':
      S.refused = true;
      return;
    case 'chat-userslist': {
      const list = P.usersList(d);
      if (list.length) S.admin = list[0].name;
      S.users.clear();
      for (const u of list) await addUser(u.name, u.hash, u.text, false);
      U.renderUsers(view());
      return;
    }
    case 'chat-join':
      if (!f.user || !d.publickey || typeof d.publickey.text !== 'string') return;
      await addUser(f.user, String(d.publickey.hash || ''), d.publickey.text, true);
      U.renderUsers(view());
      return;
    case 'chat-left':
      if (!S.users.has(f.user) || f.user === S.admin) return;
      S.users.delete(f.user);
      U.renderUsers(view());
      U.notice(`${f.user} left`);
      return;
    case 'chat-ack': {
      const p = S.pending.get(d.id);
      if (!p) return;
      S.pending.delete(d.id);
      if (!p.copy) U.status(p.item, 'sent', 'sent');
      return;
    }
    case 'chat-undelivered': {
      const p = S.pending.get(d.id);
      if (!p) return;
      S.pending.delete(d.id);
      const reason = typeof d.reason === 'string' && d.reason ? d.reason : 'the server did not deliver it';
      if (p.copy) U.status(p.copy, 'note', `(the console copy was not delivered: ${reason})`);
      else {
        U.status(p.item, 'failed', 'Not delivered: ' + reason, () => putBack(p));
        autoPutBack(p);
      }
      return;
    }
  }
}

async function config(d) {
  S.me = typeof d.user === 'string' && d.user ? d.user : S.name;
  S.isAdmin = d['is-admin'] === true;
  S.disableAll = d['disable-all'] === true;
  try {
    S.group = await C.importGroupKey(d.aeskey);
  } catch {
    S.group = null;
  }
  S.joined = true;
  const again = S.everJoined;
  S.everJoined = true;
  U.showChat(S.me, S.keys.keyid);
  U.setState('connected', `Connected as ${S.me}`);
  U.banner(null);
  if (again) U.notice(`Reconnected as ${S.me}.`);
  if (d.keyid && d.keyid !== S.keys.keyid) U.notice(`Warning: the server reports Key ID ${String(d.keyid).slice(0, 12)} for you, not ${S.keys.keyid.slice(0, 12)}.`, 'warn');
  if (S.isAdmin) U.notice(`You are the administrator (${S.me}) on the web. Messages typed on the console show here as copies.`);
  if (!S.group) U.notice('The server sent no usable group key: messages to @all cannot be read or sent.', 'warn');
  if (!again) $('text').focus();
  updateHelp();
}

async function addUser(name, hash, text, announce) {
  let peer;
  try {
    peer = await C.importPeer(text);
  } catch {
    return;
  }
  S.users.set(name, { hash, keyid: peer.keyid, peer, bad: !!hash && hash !== peer.keyid });
  if (announce) U.notice(`${name} joined`);
}

function view() {
  const list = [];
  for (const [name, u] of S.users) {
    if (name === S.me && name !== S.admin) continue;
    list.push({ name, keyid: u.keyid, bad: u.bad, admin: name === S.admin, self: name === S.me });
  }
  return { users: list, all: !(S.disableAll && !S.isAdmin) };
}

async function message(d) {
  if (!d || typeof d.signature !== 'string') return;
  let plain;
  try {
    if (d.algo === 'aes') {
      if (S.mine.has(d.signature)) {
        S.mine.delete(d.signature);
        return; // my own message to all, echoed by the server
      }
      if (!S.group) return;
      plain = await C.aesDecrypt(S.group, C.unb64(d.iv), C.unb64(d.ciphertext));
    } else if (d.algo === 'rsa') {
      plain = await C.rsaDecrypt(S.keys, C.unb64(d.ciphertext !== undefined ? d.ciphertext : d.message));
    } else return;
  } catch {
    return; // not for me (0.9 clients broadcast 1:1 messages), or damaged
  }
  let m;
  try {
    m = JSON.parse(C.fromUtf8(plain));
  } catch {
    return;
  }
  if (!m || typeof m.from !== 'string' || typeof m.message !== 'string' || typeof m.to !== 'string') return;
  const sender = S.users.get(m.from);
  if (!sender) return console.warn('message from an unknown sender dropped');
  let ok = false;
  try {
    ok = await C.verify(sender.peer, C.unb64(d.signature), plain);
  } catch { /* bad base64 */ }
  if (!ok) return console.warn('message with a bad signature dropped');
  if (d.algo === 'aes' && m.to !== 'all') return;
  if (S.isAdmin && m.isWebAdminMsgCopy === true && m.from === S.admin) {
    let inner;
    try {
      inner = JSON.parse(m.message);
    } catch {
      inner = { message: m.message, to: m.to };
    }
    if (!inner || typeof inner.message !== 'string') return;
    const to = typeof inner.to === 'string' ? inner.to : '?';
    U.message({ kind: 'mine', admin: true, who: `${S.admin} (console) → ${label(to)}`, reply: to === S.me ? '' : to, text: inner.message });
    return;
  }
  const fromConsole = S.isAdmin && m.from === S.me;
  const who = `${fromConsole ? S.me + ' (console)' : m.from} → ${label(m.to)}`;
  U.message({
    kind: fromConsole ? 'mine' : 'other',
    admin: m.from === S.admin || m.to === S.admin,
    who,
    reply: fromConsole ? (m.to === S.me ? '' : m.to) : m.from,
    text: m.message,
  });
}

function label(to) {
  if (to === 'all') return 'all';
  if (to === S.me) return 'you';
  return to;
}

// ---- sending -------------------------------------------------------------------------

function resolveUser(to) {
  if (S.users.has(to)) return to;
  const hits = [...S.users.keys()].filter((n) => n.toLowerCase() === to.toLowerCase());
  return hits.length === 1 ? hits[0] : null;
}

function plaintextFor(to, text) {
  return C.utf8(JSON.stringify({ from: S.me, to, message: text }));
}

function updateHelp() {
  const d = P.splitDestination($('text').value);
  let extra = '';
  if (S.joined && d && d.text && d.to.toLowerCase() !== 'all') {
    const to = resolveUser(d.to);
    if (to) {
      const left = maxBytes(to) - plaintextFor(to, d.text).length;
      extra = left >= 0 ? ` · ${left} bytes left` : ` · ${-left} bytes too long`;
    }
  }
  U.help('Enter sends · Shift+Enter: new line' + extra);
}

function maxBytes(to) {
  let max = C.oaepMax(S.users.get(to).peer.bits);
  if (S.isAdmin && to !== S.admin) max = Math.min(max, C.oaepMax(S.keys.bits));
  return max;
}

function setDestination(to) {
  const text = $('text');
  const d = P.splitDestination(text.value);
  const body = d ? d.text : text.value.trim();
  text.value = `@${to} ` + body;
  U.grow(text);
  U.closeUsers();
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
  U.sendError('');
  updateHelp();
}

function putBack(p) {
  const text = $('text');
  text.value = `@${p.to} ${p.text}`;
  U.grow(text);
  text.focus();
  updateHelp();
}

// Put an undelivered message back in the box when the box holds nothing of value.
function autoPutBack(p) {
  const v = $('text').value.trim();
  if (v === '' || /^@[A-Za-z0-9]+$/.test(v)) {
    putBack(p);
    U.sendError(`Not delivered to ${p.to}: the text is back in the box.`);
  }
}

async function send() {
  if (S.busy) return;
  const box = $('text');
  const value = box.value;
  if (!value.trim()) return;
  const fail = (msg) => {
    U.sendError(msg);
    box.focus();
  };
  const d = P.splitDestination(value);
  if (!d) return fail('Start with @name or @all, then the message. Or pick someone in the list of people.');
  if (!d.text) return fail(`Write the message after @${d.to}.`);
  if (!S.ws || !S.joined || S.ws.readyState !== WebSocket.OPEN) return fail('Not connected: nothing was sent. Reconnect, then press Send again.');
  const all = d.to.toLowerCase() === 'all';
  let to = 'all';
  if (all) {
    if (S.disableAll && !S.isAdmin) return fail('Messages to @all are disabled on this server: write to one person.');
    if (!S.group) return fail('No group key from the server: @all is unavailable.');
  } else {
    to = resolveUser(d.to);
    if (!to) return fail(`Unknown destination: nobody called "${d.to}" is connected.`);
    if (to === S.me && !S.isAdmin) return fail('That is you: choose somebody else.');
    const bytes = plaintextFor(to, d.text).length;
    const max = maxBytes(to);
    if (bytes > max) return fail(`Too long for one encrypted message: ${bytes} bytes, at most ${max} for ${to}. Shorten it by ${bytes - max} bytes or send it in parts.`);
  }
  S.busy = true;
  try {
    const plain = plaintextFor(to, d.text);
    const sig = C.b64(await C.sign(S.keys, plain));
    const frames = [];
    const id = P.newId();
    if (all) {
      const { iv, ct } = await C.aesEncrypt(S.group, plain);
      frames.push(P.aesMessage(S.me, id, C.b64(iv), C.b64(ct), sig));
    } else {
      const peer = S.users.get(to).peer;
      frames.push(P.rsaMessage(S.me, to, id, C.b64(await C.rsaEncrypt(peer, plain)), sig));
    }
    let copyId = '';
    if (!all && S.isAdmin && to !== S.admin) {
      // The web administrator's message to someone else goes to the console too.
      copyId = P.newId();
      frames.push(P.rsaMessage(S.me, S.admin, copyId, C.b64(await C.rsaEncrypt(S.users.get(S.admin).peer, plain)), sig));
    }
    const ws = S.ws;
    if (!ws || !S.joined || ws.readyState !== WebSocket.OPEN) return fail('The connection closed: nothing was sent. Reconnect, then press Send again.');
    if (all) S.mine.add(sig);
    for (const f of frames) ws.send(f);
    const item = U.message({ kind: 'mine', admin: to === S.admin || S.isAdmin, who: `you → ${to}`, reply: to, text: d.text, status: 'sending…' });
    const p = { item, to: all ? 'all' : to, text: d.text, copy: null };
    S.pending.set(id, p);
    if (copyId) S.pending.set(copyId, { item, to, text: d.text, copy: item });
    if (box.value === value) {
      box.value = `@${all ? d.to : to} `;
      U.grow(box);
    }
    U.sendError('');
    updateHelp();
    box.focus();
  } catch (e) {
    fail('Could not encrypt the message: ' + (e && e.message ? e.message : e));
  } finally {
    S.busy = false;
  }
}

start();
