// dyspatcher web client: the wiring. The user's actions and the WebSocket's events go to
// the session (session.js: the protocol); what it answers goes to the socket and, through
// ui.js, to the page. Every text from the network is inserted with textContent, never as HTML.

import * as C from './crypto.js';
import * as P from './protocol.js';
import * as U from './ui.js';
import { Session } from './session.js';

const session = new Session(C, { host: location.host });
let ws = null; // the current socket
let keys = null; // my key set (crypto.js), once chosen
let generated = null; // promise of generated keys
let custom = null; // custom key set, or an Error
let everJoined = false; // then leaving the page loses the keys in use and the conversation

// ---- start -----------------------------------------------------------------------

function start() {
  U.init({
    join: joinClicked,
    keyFiles: loadCustom,
    send: () => send(),
    typed,
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
  window.addEventListener('beforeunload', (e) => {
    if (!everJoined) return;
    e.preventDefault();
    e.returnValue = ''; // older browsers ask only when it is set
  });
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
  users: (o) => {
    U.renderUsers(o);
    updateHelp();
  },
  'user-joined': (o) => U.notice(`${o.name} joined`),
  'user-left': (o) => U.notice(`${o.name} left`),
  message: (o) => U.message({ kind: o.kind, admin: o.admin, who: `${o.from}${o.console ? ' (console)' : ''} → ${label(o.to)}`, reply: o.reply, text: o.text, legacy: o.legacy }),
  dropped: (o) => console.warn(`message from ${o.from} dropped: ${o.reason}`),
  flagged: (o) => U.flagged(o.text),
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
  'copy-undelivered': (o) => U.status(o.id, 'note', `(the ${o.what === 'legacy' ? 'copy for 0.9 clients' : 'console copy'} was not delivered: ${o.reason})`),
  confirm: (o) => askBeforeSending(o),
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
      if (!st.again) firstJoin(st.me);
      updateHelp();
      return;
    case 'closed':
      ws = null;
      showClosed(st);
  }
}

// Said once: how to start, and that the generated keys live in this tab only.
function firstJoin(me) {
  everJoined = true;
  U.notice('To start: choose who reads your message beside “To” (or click a person under People, or a message to answer it), write it, press Enter.');
  if (!custom) U.notice(`Your keys exist only in this tab: reloading or closing it loses them. To come back later as ${me} with the same Key ID, keep them with “Save my keys” (beside your name, under People on a phone) and join next time with “Use custom keys”.`);
  U.focusComposer();
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
  let text = `Disconnected. ${reason.text} Your keys are kept: press Reconnect to join again as ${user}.`;
  if (reason.kind === 'refused') text = `Disconnected. The server still holds the name "${user}"; wait a moment and press Reconnect.`;
  if (reason.kind === 'admin-key') text = `Disconnected. ${reason.text}`;
  U.banner(text, certUrl);
}

// ---- the composer --------------------------------------------------------------------------

// The recipient, a choice of its own beside the box ('' none yet, 'all', or a name): set by
// clicking a person or a message, by the selector, or by typing "@name " first in the box.
let to = '';

function typed() {
  const lead = session.leading(U.composerText());
  if (lead) {
    to = lead.to;
    U.takeFromComposer(U.composerText().length - lead.text.length);
  }
  updateHelp();
}

function updateHelp() {
  const text = U.composerText();
  U.recipient(session.recipient(to), session.named(to, text), to);
  const left = session.charactersLeft(to, text);
  let extra = '';
  if (left !== null) extra = left >= 0 ? ` · ${left} ${left === 1 ? 'character' : 'characters'} left` : ` · ${-left} ${left === -1 ? 'character' : 'characters'} too many`;
  U.help('Enter sends · Shift+Enter: new line' + extra);
}

function setDestination(name) {
  to = name;
  U.closeUsers();
  U.focusComposer(true);
  U.sendError('');
  updateHelp();
}

function putBack(p) {
  to = p.to;
  U.setComposerText(p.text);
  U.focusComposer();
  updateHelp();
}

// Put an undelivered message back in the box when the box holds nothing of value.
function autoPutBack(p) {
  if (U.composerText().trim() === '') {
    putBack(p);
    U.sendError(`Not delivered to ${p.to}: the text is back in the box.`);
  }
}

// The text starts with @named, not with the chosen recipient: nothing went out yet.
function askBeforeSending(c) {
  const who = (to) => (to === 'all' ? 'everybody' : to === session.me ? 'you' : `${to} only`);
  const toChosen = { label: `Send to ${who(c.to)}`, run: () => send(c.asChosen, true), wide: c.to === 'all' };
  const toNamed = c.namedTo && { label: `Send to ${who(c.namedTo)}`, run: () => send(c.asNamed, true), wide: c.namedTo === 'all' };
  const named = c.namedTo ? `@${c.named}` : `@${c.named}, who is not connected`;
  const question = `This message goes to ${c.to === 'all' ? 'EVERYBODY' : c.to + ' only'}, but it starts with ${named}. Send it to whom?`;
  // The narrower audience first, with the focus, when there is one; otherwise (everybody
  // only, or two single people) the focus is on "Edit the message".
  const choices = !toNamed ? [toChosen] : c.to === 'all' ? [toNamed, toChosen] : [toChosen, toNamed];
  U.confirm(question, choices, (c.to === 'all' && !!toNamed) || c.namedTo === 'all');
}

// Sends the box to the chosen recipient, or (confirmed) one of the two a question offered.
async function send(message = { to, text: U.composerText() }, confirmed = false) {
  const typedText = U.composerText();
  const outputs = await session.send(message.to, message.text, socketOpen, { confirmed });
  apply(outputs);
  const sent = outputs.find((o) => o.type === 'outgoing');
  if (!sent) return;
  to = sent.to; // the next message goes where this one went
  if (U.composerText() === typedText) U.setComposerText('');
  U.sendError('');
  updateHelp();
  U.focusComposer();
}

start();
