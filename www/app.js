// dyspatcher web client: the wiring. The user's actions and the WebSocket's events go to
// the session (session.js: the protocol); what it answers goes to the socket and, through
// ui.js, to the page. Every text from the network is inserted with textContent, never as HTML.

import * as C from './crypto.js';
import * as P from './protocol.js';
import * as U from './ui.js';
import { Session } from './session.js';

const session = new Session(C);
let ws = null; // the current socket
let keys = null; // my key set (crypto.js), once chosen
let generated = null; // promise of generated keys
let custom = null; // custom key set, or an Error

// ---- start -----------------------------------------------------------------------

function start() {
  U.init({
    join: joinClicked,
    keyFiles: loadCustom,
    send,
    typed: updateHelp,
    pick: setDestination,
    reconnect: () => apply(session.reconnect()),
    download: (which) =>
      which === 'private'
        ? U.download(`${session.me}-private.pem`, C.pem('PRIVATE KEY', keys.pkcs8))
        : U.download(`${session.me}-public.pem`, C.pem('PUBLIC KEY', keys.spki)),
  });
  if (!C.available()) {
    U.noCrypto();
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
  U.focusName();
}

async function loadCustom(fp, fq) {
  U.customError('');
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
  if (custom instanceof Error) U.customError(custom.message);
  else U.keygen('done', `Custom keys loaded (${custom.bits} bits). Key ID ${custom.keyid.slice(0, 12)}`);
}

async function joinClicked(name) {
  const problem = P.nameProblem(name);
  U.nameError(problem);
  U.joinError('');
  if (problem) {
    U.focusName();
    return;
  }
  if (custom instanceof Error) {
    U.joinError(custom.message);
    return;
  }
  U.joinButton('Join', true);
  try {
    if (custom) {
      keys = custom;
    } else {
      U.joinButton('Waiting for the keys…', true);
      keys = await generated;
    }
  } catch {
    U.joinError('No keys: key generation failed. Reload the page or use custom keys.');
    U.joinButton('Join', false);
    return;
  }
  U.joinButton('Connecting…', true);
  apply(session.join(name, keys));
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
    U.focusComposer();
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
      if (!st.again) U.focusComposer();
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
    U.joinButton('Join', false);
    if (reason.kind === 'refused') {
      U.nameError(reason.text);
      U.focusName(true);
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
  const left = session.room(U.composerText());
  let extra = '';
  if (left !== null) extra = left >= 0 ? ` · ${left} bytes left` : ` · ${-left} bytes too long`;
  U.help('Enter sends · Shift+Enter: new line' + extra);
}

function setDestination(to) {
  const value = U.composerText();
  const d = P.splitDestination(value);
  U.setComposerText(`@${to} ` + (d ? d.text : value.trim()));
  U.closeUsers();
  U.focusComposer(true);
  U.sendError('');
  updateHelp();
}

function putBack(p) {
  U.setComposerText(`@${p.to} ${p.text}`);
  U.focusComposer();
  updateHelp();
}

// Put an undelivered message back in the box when the box holds nothing of value.
function autoPutBack(p) {
  const v = U.composerText().trim();
  if (v === '' || /^@[A-Za-z0-9]+$/.test(v)) {
    putBack(p);
    U.sendError(`Not delivered to ${p.to}: the text is back in the box.`);
  }
}

async function send() {
  const value = U.composerText();
  const outputs = await session.send(value, socketOpen);
  apply(outputs);
  const sent = outputs.find((o) => o.type === 'outgoing');
  if (!sent) return;
  if (U.composerText() === value) U.setComposerText(sent.prefix);
  U.sendError('');
  updateHelp();
  U.focusComposer();
}

start();
