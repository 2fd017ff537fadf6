// dyspatcher web client: the wiring. The user's actions and the WebSocket's events go to
// the session (session.js: the protocol); what it answers goes to the socket and, through
// ui.js, to the page. Every text from the network is inserted with textContent, never as HTML.

import * as C from './crypto.js';
import * as P from './protocol.js';
import * as U from './ui.js';
import { Session } from './session.js';

const $ = (id) => document.getElementById(id);

const session = new Session(C);
let ws = null; // the current socket
let keys = null; // my key set (crypto.js), once chosen
let generated = null; // promise of generated keys
let custom = null; // custom key set, or an Error

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
    if (!custom || custom instanceof Error) U.keygen('busy', `Generating your 4096-bit encryption keys… ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 200);
  generated = C.generate(4096).then(
    (k) => {
      clearInterval(tick);
      if (!custom || custom instanceof Error) U.keygen('done', `Keys ready. Key ID ${k.keyid.slice(0, 12)}`);
      return k;
    },
    (e) => {
      clearInterval(tick);
      U.keygen('error', 'Key generation failed: ' + (e && e.message ? e.message : e) + '. Reload the page, or use custom keys.');
      throw e;
    },
  );
  generated.catch(() => {});

  const nameInput = $('name');
  nameInput.addEventListener('input', () => {
    const v = nameInput.value;
    if (v !== v.toLowerCase() && /^[A-Za-z0-9]*$/.test(v)) nameInput.value = v.toLowerCase();
    U.fieldError(nameInput, $('name-error'), nameInput.value.length >= 4 || nameInput.value.length === 0 ? P.nameProblem(nameInput.value) : '');
  });
  nameInput.addEventListener('blur', () => {
    if (nameInput.value) U.fieldError(nameInput, $('name-error'), P.nameProblem(nameInput.value));
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
  $('reconnect').addEventListener('click', () => apply(session.reconnect()));
  $('dl-private').addEventListener('click', () => U.download(`${session.me}-private.pem`, C.pem('PRIVATE KEY', keys.pkcs8)));
  $('dl-public').addEventListener('click', () => U.download(`${session.me}-public.pem`, C.pem('PUBLIC KEY', keys.spki)));
  U.onPick((to) => setDestination(to));
  nameInput.focus();
}

async function loadCustom() {
  const fp = $('key-private').files[0];
  const fq = $('key-public').files[0];
  U.fieldError(null, $('custom-error'), '');
  custom = null;
  if (!fp && !fq) {
    if (keys) U.keygen('done', `Keys ready. Key ID ${keys.keyid.slice(0, 12)}`);
    return;
  }
  if (!fp) {
    custom = new Error('Choose the private key file too.');
  } else {
    try {
      custom = await C.importPem(await fp.text(), fq ? await fq.text() : '');
    } catch (e) {
      custom = e instanceof Error ? e : new Error(String(e));
    }
  }
  if (custom instanceof Error) U.fieldError($('key-private'), $('custom-error'), custom.message);
  else U.keygen('done', `Custom keys loaded (${custom.bits} bits). Key ID ${custom.keyid.slice(0, 12)}`);
}

async function joinClicked() {
  const input = $('name');
  const problem = P.nameProblem(input.value);
  U.fieldError(input, $('name-error'), problem);
  U.joinError('');
  if (problem) {
    input.focus();
    return;
  }
  if (custom instanceof Error) {
    U.joinError(custom.message);
    return;
  }
  const btn = $('join');
  btn.disabled = true;
  try {
    if (custom) {
      keys = custom;
    } else {
      btn.textContent = 'Waiting for the keys…';
      keys = await generated;
    }
  } catch {
    U.joinError('No keys: key generation failed. Reload the page or use custom keys.');
    btn.disabled = false;
    btn.textContent = 'Join';
    return;
  }
  btn.textContent = 'Connecting…';
  apply(session.join(input.value, keys));
}

// ---- the socket ------------------------------------------------------------------------

function openSocket(conn) {
  let sock;
  try {
    sock = new WebSocket(P.socketUrl());
  } catch {
    ws = null;
    session.closed(conn).then(apply);
    return;
  }
  ws = sock;
  sock.addEventListener('open', () => session.opened(conn).then(apply));
  sock.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    session.received(conn, ev.data).then(apply, (e) => console.warn('frame', e));
  });
  sock.addEventListener('close', () => session.closed(conn).then(apply));
}

const socketOpen = () => !!ws && ws.readyState === WebSocket.OPEN;

// ---- the session's outputs ---------------------------------------------------------------

function apply(outputs) {
  for (const o of outputs) show[o.type](o);
}

const show = {
  connect: (o) => openSocket(o.conn),
  send: (o) => ws.send(o.frame),
  state: (o) => showState(o.state),
  notice: (o) => U.notice(o.text, o.level),
  'join-error': (o) => U.joinError(o.text),
  users: (o) => U.renderUsers(o),
  'user-joined': (o) => U.notice(`${o.name} joined`),
  'user-left': (o) => U.notice(`${o.name} left`),
  message: (o) => U.message({ kind: o.kind, admin: o.admin, who: `${o.from}${o.console ? ' (console)' : ''} → ${label(o.to)}`, reply: o.reply, text: o.text }),
  dropped: (o) => console.warn(`message from ${o.from} dropped: ${o.reason}`),
  outgoing: (o) => U.message({ id: o.id, kind: 'mine', admin: o.admin, who: `you → ${o.to}`, reply: o.to, text: o.text, status: 'sending…' }),
  'send-error': (o) => {
    U.sendError(o.text);
    $('text').focus();
  },
  ack: (o) => U.status(o.id, 'sent', 'sent'),
  undelivered: (o) => {
    U.status(o.id, 'failed', 'Not delivered: ' + o.reason, () => putBack(o));
    autoPutBack(o);
  },
  'copy-undelivered': (o) => U.status(o.id, 'note', `(the console copy was not delivered: ${o.reason})`),
  unconfirmed: (o) => U.status(o.id, 'failed', 'Not confirmed: the connection closed before the server answered.', () => putBack(o)),
};

function label(to) {
  if (to === 'all') return 'all';
  if (to === session.me) return 'you';
  return to;
}

function showState(st) {
  switch (st.name) {
    case 'connecting':
    case 'reconnecting':
      U.banner(null);
      U.setState('connecting', 'Connecting…');
      return;
    case 'joined':
      U.showChat(st.me, st.keyid);
      U.setState('connected', `Connected as ${st.me}`);
      U.banner(null);
      if (!st.again) $('text').focus();
      updateHelp();
      return;
    case 'closed':
      ws = null;
      showClosed(st);
  }
}

function showClosed({ reason, user, everJoined }) {
  const certUrl = reason.kind === 'unreachable' && location.protocol === 'https:' ? 'https://' + location.host + '/' : '';
  if (!everJoined) {
    U.setState('closed', 'Not connected');
    const btn = $('join');
    btn.disabled = false;
    btn.textContent = 'Join';
    if (reason.kind === 'refused') {
      U.fieldError($('name'), $('name-error'), reason.text);
      $('name').focus();
      $('name').select();
    } else {
      U.joinError(reason.text, certUrl);
    }
    return;
  }
  U.setState('closed', 'Disconnected');
  U.markUsersOffline();
  U.banner(
    reason.kind === 'refused' ? `Disconnected. The server still holds the name "${user}"; wait a moment and press Reconnect.` : `Disconnected. ${reason.text} Your keys are kept: press Reconnect to join again as ${user}.`,
    certUrl,
  );
}

// ---- the composer --------------------------------------------------------------------------

function updateHelp() {
  const left = session.room($('text').value);
  let extra = '';
  if (left !== null) extra = left >= 0 ? ` · ${left} bytes left` : ` · ${-left} bytes too long`;
  U.help('Enter sends · Shift+Enter: new line' + extra);
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
  const box = $('text');
  const value = box.value;
  const outputs = await session.send(value, socketOpen);
  apply(outputs);
  const sent = outputs.find((o) => o.type === 'outgoing');
  if (!sent) return;
  if (box.value === value) {
    box.value = sent.prefix;
    U.grow(box);
  }
  U.sendError('');
  updateHelp();
  box.focus();
}

start();
