// dyspatcher web client: the wiring. The user's actions and the WebSocket's events go to
// the session (session.js: the protocol); what it answers goes to the socket and, through
// ui.js, to the page. Every text from the network is inserted with textContent, never as HTML.
// Around the session: who has which key (key-watch.js), reconnecting by itself
// (reconnect.js) with what was written meanwhile (outbox.js), this device's memory
// (identity-store.js), notifications and the link to share.

import * as C from './crypto.js';
import * as P from './protocol.js';
import * as U from './ui.js';
import { Session } from './session.js';
import { KeyWatch } from './key-watch.js';
import { Outbox } from './outbox.js';
import { HeldMessages, waitingText, deliveredText } from './held.js';
import { Reconnector, stopsRetries } from './reconnect.js';
import { Notifier } from './notifications.js';
import { comparisonCode } from './comparison.js';
import * as Store from './identity-store.js';
import * as Share from './share.js';
import { Transfers, rowOf, sizeText, MAX_FILE_BYTES } from './files.js';
import * as F from './file-view.js';

const session = new Session(C, { host: location.host });
const transfers = new Transfers(C, { me: () => session.me }); // files sent and received
let ws = null; // the current socket
let keys = null; // my key set (crypto.js), once chosen
let generated = null; // promise of generated keys
let custom = null; // custom key set, or an Error
let everJoined = false; // then leaving the page loses the keys in use and the conversation

const watch = new KeyWatch(); // the keys this page saw and verified, per name
const outbox = new Outbox(); // written, not yet accepted by the server
const held = new HeldMessages(); // accepted, held by the server for a recipient away
const notifier = new Notifier();
const retry = new Reconnector({ attempt: () => apply(session.reconnect()), show: (v) => showRetry(v) });
let retrying = false; // joined once and not refused since: a lost connection is tried again
let flushNeeded = false; // joined again: send the outbox once the users list is in
let flushing = false;
let listed = new Map(); // name -> Key ID, as last listed
let lastUsers = null; // the last users output, to draw again when a mark changes
let lastFound = null; // the last answer to the search box, drawn again as the list changes
let lookedFor = new Set(); // outbox recipients looked up on this connection (once each)
let joinName = ''; // the name typed in the form (the administrator's is changed by the server)
let remembered = false; // this device keeps my keys (identity-store.js)
let stored = null; // what this device remembered at load

// ---- start -----------------------------------------------------------------------

function start() {
  U.init({
    join: joinClicked,
    keyFiles: loadCustom,
    send: () => send(),
    typed,
    pick: setDestination,
    reconnect: () => (retry.waiting ? retry.now() : apply(session.reconnect())),
    compare,
    remember: () => rememberDevice(),
    forget: () => forgetDevice(),
    notify: () => toggleNotifications(),
    find,
    share: () => {
      const link = Share.pageLink(location);
      U.share(link, Share.qrSource(link));
    },
    download: (which) =>
      which === 'private'
        ? keys.pkcs8 && U.download(`${session.me}-private.pem`, C.pem('PRIVATE KEY', keys.pkcs8))
        : U.download(`${session.me}-public.pem`, C.pem('PUBLIC KEY', keys.spki)),
  });
  F.init(attachFiles);
  const fp = Share.fingerprint(location.hash);
  U.certificate(fp ? Share.fingerprintPairs(fp) : '');
  if (!C.available()) {
    U.noCrypto();
    return;
  }
  U.setState('idle', 'Not connected');
  window.addEventListener('online', () => retry.now()); // the network is back
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) retry.now(); // a phone waking up
  });
  window.addEventListener('beforeunload', (e) => {
    if (!everJoined || remembered) return;
    e.preventDefault();
    e.returnValue = ''; // older browsers ask only when it is set
  });
  U.focusName();
  // The keys: those this device remembers, or new ones (made while the name is typed).
  generated = Store.load()
    .catch((e) => {
      console.warn('remembered identity unreadable', e);
      return null;
    })
    .then((s) => (s ? useStored(s) : generateKeys()));
  generated.catch(() => {});
}

// This device remembers me: the same keys and name as last time, no key generation.
function useStored(s) {
  stored = s;
  remembered = true;
  watch.replaceVerified(s.verified);
  U.keygen('done', `Remembered keys. Key ID ${s.keys.keyid.slice(0, 12)}`);
  U.remembered(`This device remembers you as ${s.name} (Key ID ${s.keys.keyid.slice(0, 12)}).`);
  U.setName(s.name);
  return s.keys;
}

function generateKeys() {
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
  return generated;
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
  joinName = name;
  apply(session.join(name, keys));
}

// ---- this device -------------------------------------------------------------------

async function rememberDevice(quiet = false) {
  try {
    await Store.remember(joinName, keys, watch.verified);
    remembered = true;
    stored = { name: joinName, keys };
    if (!quiet) U.deviceNote(`This device now remembers you as ${joinName}: your keys cannot be read out of it, and “Forget this device” erases them.`);
  } catch (e) {
    remembered = false;
    U.deviceNote('This browser could not store your keys: ' + (e && e.message ? e.message : e));
  }
  showDevice();
}

async function forgetDevice() {
  try {
    await Store.forget();
  } catch (e) {
    U.deviceNote('Could not erase the stored data: ' + (e && e.message ? e.message : e));
    return;
  }
  remembered = false;
  const hadStored = stored;
  stored = null;
  U.remembered('');
  if (hadStored && !everJoined) {
    // Not joined yet with the remembered keys: a new identity, made now.
    custom = null;
    generateKeys();
  }
  U.deviceNote('Forgotten: nothing of this chat is stored in this browser any more. Your keys still work in this tab until you close it.');
  showDevice();
}

async function toggleNotifications() {
  if (notifier.enabled) notifier.disable();
  else if (!(await notifier.enable())) U.deviceNote('Notifications are blocked for this page: allow them in the browser’s site settings.');
  showDevice();
}

function showDevice() {
  U.device({ remembered, notify: !notifier.supported ? 'unsupported' : notifier.enabled ? 'on' : 'off', exportable: !!(keys && keys.pkcs8) });
}

// ---- keys: changes and verification ------------------------------------------------

function watchUsers(users) {
  listed = new Map(users.map((u) => [u.name, u.keyid]));
  for (const c of watch.listed(users.filter((u) => !u.self))) {
    if (c.name === session.me) continue;
    const verified = c.wasVerified ? ' You had verified the old one: the mark is removed.' : '';
    transfers.keyChanged(c.name).then(applyFiles);
    U.keyChange(c.name, `⚠ ${c.name} now has a different key (Key ID ${c.after.slice(0, 12)}, before ${c.before.slice(0, 12)}). It may be ${c.name} on another device, or someone else using that name.${verified} Compare codes again before trusting them.`);
  }
}

const withTrust = (o) => ({ ...o, users: o.users.map((u) => ({ ...u, trust: u.self ? '' : watch.status(u.name, u.keyid) })) });

async function compare(name) {
  const theirs = listed.get(name);
  if (!theirs || !keys) return;
  const self = name === session.me;
  const v = { name, self, theirs, mine: keys.keyid, admin: lastUsers && lastUsers.users.some((u) => u.name === name && u.admin), status: watch.status(name, theirs), code: self ? '' : await comparisonCode(keys.keyid, theirs) };
  U.openVerify(v, (on) => {
    if (listed.get(name) !== theirs) return; // the key changed while the panel was open
    if (on) watch.verify(name, theirs);
    else watch.unverify(name);
    U.notice(on ? `You marked ${name}'s key as verified.` : `${name}'s key is no longer marked verified.`);
    if (remembered) Store.saveVerified(watch.verified).catch((e) => console.warn('verified keys not stored', e));
    if (lastUsers) U.renderUsers(withTrust(lastUsers));
    if (lastFound) showFound();
  });
}

// ---- finding someone in a large room ---------------------------------------------------

// What is typed in the search box, after its pause: asked of the server, whose answer
// (a `found` output) lists the matches.
function find(text) {
  const problem = P.findProblem(text);
  const out = session.find(text); // nothing asked for '' or a problem: an answer on its way is not shown
  if (!text.trim() || problem) {
    lastFound = null;
    U.found(null);
    U.findNote(problem);
    return;
  }
  U.findNote(out.length ? 'Looking…' : 'Not connected: asked again once connected.');
  apply(out);
}

// The matches still in the list (one who left is no longer one), with their marks.
function showFound() {
  const here = new Map(lastUsers ? lastUsers.users.map((u) => [u.name, u.keyid]) : []);
  const users = lastFound.users.filter((u) => here.get(u.name) === u.keyid);
  U.found(withTrust({ ...lastFound, users }));
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
    watchUsers(o.users);
    lastUsers = o;
    U.renderUsers(withTrust(o));
    if (lastFound) showFound();
    updateHelp();
    // Joined again, or somebody a message waits for may be back.
    if (flushNeeded || (outbox.queued > 0 && session.state.name === 'joined')) {
      flushNeeded = false;
      flush();
    }
  },
  found: (o) => {
    lastFound = o;
    showFound();
  },
  'user-joined': (o) => U.notice(`${o.name} joined`),
  'user-left': (o) => U.notice(`${o.name} left`),
  message: (o) => {
    const trust = o.kind === 'other' ? watch.status(o.from, listed.get(o.from)) : '';
    U.message({ kind: o.kind, admin: o.admin, who: `${o.from}${o.console ? ' (console)' : ''} → ${label(o.to)}`, reply: o.reply, text: o.text, legacy: o.legacy, trust });
    notifier.message(o);
  },
  dropped: (o) => console.warn(`message from ${o.from} dropped: ${o.reason}`),
  flagged: (o) => U.flagged(o.text),
  outgoing: (o) => {
    outbox.sending(o.id, o.to, o.text);
    if (U.shown(o.id)) U.status(o.id, 'sending', 'sending…');
    else U.message({ id: o.id, kind: 'mine', admin: o.admin, who: `you → ${o.to}`, reply: o.to, text: o.text, status: 'sending…' });
  },
  'send-error': (o) => {
    U.sendError(o.text);
    U.focusComposer();
  },
  // The server holds it for a recipient who left a short while ago: not sent again
  // from the outbox (the server has it); its ack, later, means delivered.
  held: (o) => {
    outbox.settled(o.id);
    held.held(o.id, o.to);
    U.status(o.id, 'waiting', waitingText(o.to, o.until));
  },
  ack: (o) => {
    outbox.settled(o.id);
    const to = held.answered(o.id);
    U.status(o.id, 'sent', to === null ? 'sent' : deliveredText(to));
  },
  undelivered: (o) => {
    outbox.settled(o.id);
    held.answered(o.id);
    U.status(o.id, 'failed', 'Not delivered: ' + o.reason, () => putBack(o));
    autoPutBack(o);
  },
  'file-offered': (o) => {
    if (o.old) F.note(rowOf('out', o.tid), 'People on old 0.9 clients do not get files.', 'warn');
    transfers.offered(o.tid, o.audience, o.expected).then(applyFiles);
  },
  'file-accepted': (o) => transfers.accepted(o.tid).then(applyFiles),
  'file-refused': (o) => transfers.refused(o.tid, o.reason).then(applyFiles),
  'file-offer': (o) => transfers.offer(o.from, o.to, o.admin, o.file).then(applyFiles),
  'file-chunk': (o) => transfers.chunk(o.data).then(applyFiles),
  'file-cancel': (o) => transfers.cancelled(o.data).then(applyFiles),
  'file-window': (o) => transfers.window(o.tid, o.acked).then(applyFiles),
  'file-status': (o) => transfers.status(o.tid, o.to, o.state, o.reason).then(applyFiles),
  'files-closed': () => transfers.closed().then(applyFiles),
  'copy-undelivered': (o) => U.status(o.id, 'note', `(the ${o.what === 'legacy' ? 'copy for 0.9 clients' : 'console copy'} was not delivered: ${o.reason})`),
  confirm: (o) => askBeforeSending(o),
  // Still in the outbox while the page reconnects by itself: sent again, with its id.
  unconfirmed: (o) => (retrying ? U.status(o.id, 'waiting', 'waiting for the connection…') : U.status(o.id, 'failed', 'Not confirmed: the connection closed before the server answered.', () => putBack(o))),
};

// ---- files ---------------------------------------------------------------------------------

// What files.js answers: frames for the socket and the transfers' lines.
function applyFiles(outputs) {
  for (const o of outputs) {
    switch (o.type) {
      case 'send':
        if (socketOpen()) ws.send(o.frame);
        break;
      case 'file-incoming':
        F.row({ row: o.row, dir: 'in', who: `${o.from} → ${label(o.to)}`, name: o.name, size: o.size, admin: o.admin, cancel: () => transfers.cancel('in', o.tid, o.from).then(applyFiles) });
        notifier.message({ kind: 'other', from: o.from, to: o.to });
        break;
      case 'file-refused-offer':
        U.notice(o.text, 'warn');
        break;
      case 'file-progress':
        F.progress(o.row, o.done, o.total, o.text);
        break;
      case 'file-note':
        F.note(o.row, o.text, o.level);
        break;
      case 'file-sent':
        F.sent(o.row, o.text);
        break;
      case 'file-complete':
        F.complete(o.row, o);
        break;
      case 'file-failed':
        F.failed(o.row, o.text);
        break;
    }
  }
}

// Files picked, dropped or pasted: to the recipient chosen beside “To”, exactly (a file
// never goes to a wider audience than the person sees chosen), one after the other.
async function attachFiles(list) {
  U.sendError('');
  if (session.state.name !== 'joined' || !socketOpen()) return U.sendError('Not connected: files can be sent once connected again.');
  const r = session.recipient(to);
  if (r.kind === 'none') return U.sendError('Choose who gets the file beside “To” first, then attach it.');
  if (r.kind === 'unknown') return U.sendError(`Nobody called "${r.typed}" is connected: the file was not sent.`);
  const dest = r.kind === 'all' ? 'all' : r.to;
  for (const file of list) await sendFile(dest, file);
}

async function sendFile(dest, file) {
  const name = file.name || 'pasted image';
  if (file.size > MAX_FILE_BYTES) return U.sendError(`${name} is too large for this page (${sizeText(file.size)}; at most ${sizeText(MAX_FILE_BYTES)}).`);
  let p;
  try {
    p = await transfers.prepare({ to: dest, name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) });
  } catch (e) {
    return U.sendError(`${name} could not be read: ${e && e.message ? e.message : e}`);
  }
  const outputs = await session.sendFile(dest, p.file, p.clear, socketOpen);
  const err = outputs.find((o) => o.type === 'send-error');
  if (err) {
    await transfers.refused(p.tid, err.text);
    return U.sendError(err.text);
  }
  F.row({ row: rowOf('out', p.tid), dir: 'out', who: `you → ${label(dest)}`, name: p.file.name, size: p.file.size, admin: false, cancel: () => transfers.cancel('out', p.tid).then(applyFiles) });
  apply(outputs);
}

function label(to) {
  if (to === 'all') return 'all';
  if (to === session.me) return 'you';
  return to;
}

function showState(st) {
  switch (st.name) {
    case 'connecting':
    case 'reconnecting':
      if (everJoined) U.banner('Reconnecting…', '', '', false);
      else U.banner(null);
      U.setState('connecting', 'Connecting…');
      return;
    case 'joined':
      U.showChat(st.me, st.keyid);
      U.setState('connected', `Connected as ${st.me}`);
      U.banner(null);
      retry.joined();
      retrying = true;
      flushNeeded = outbox.size > 0;
      lookedFor = new Set();
      if (!st.again) firstJoin(st.me);
      // What was looked up is followed per connection: the search is asked again.
      else if (U.findText().trim()) find(U.findText());
      showDevice();
      updateHelp();
      return;
    case 'closed':
      ws = null;
      if (st.everJoined && retrying && !stopsRetries(st.reason)) {
        outbox.lost();
        U.markUsersOffline();
        retry.lost();
        return;
      }
      retrying = false;
      retry.stop();
      for (const e of outbox.drain()) U.status(e.id, 'failed', 'Not sent: the connection ended.', () => putBack(e));
      showClosed(st);
  }
}

// The countdown to the next attempt, or (not waiting) nothing: the attempt shows itself.
function showRetry(v) {
  if (!v.waiting) return;

  // Still unreachable after a few attempts: perhaps a new self-signed certificate to accept.
  const certUrl = location.protocol === 'https:' && retry.failures >= 3 ? 'https://' + location.host + '/' : '';
  U.banner(`Connection lost. Reconnecting in ${v.seconds} s… What you write meanwhile is sent once reconnected.`, certUrl, 'Now', false);
  U.setState('connecting', 'Reconnecting…');
}

// Said once: how to start, and that the generated keys live in this tab only.
function firstJoin(me) {
  everJoined = true;
  const keep = U.rememberTicked();
  if (keep && (!remembered || joinName !== stored?.name)) rememberDevice(true);
  else if (remembered && !keep) forgetDevice(); // unticked before joining
  U.notice('To start: choose who reads your message beside “To” (or click a person under People, or a message to answer it), write it, press Enter.');
  if (keep) U.notice(`This device remembers your keys: reload or come back later and you join as ${joinName} with the same Key ID. “Forget this device” (beside your name) erases them.`);
  else if (!custom) U.notice(`Your keys exist only in this tab: reloading or closing it loses them. To come back later as ${me} with the same Key ID, keep them with “Save my keys” (beside your name, under People on a phone) and join next time with “Use custom keys”.`);
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
// While the page reconnects (or sends what was written meanwhile), it goes to the outbox.
async function send(message = { to, text: U.composerText() }, confirmed = false) {
  if (retrying && (session.state.name !== 'joined' || outbox.queued > 0 || flushing)) return queue(message, confirmed);
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

// Written while not connected: shown at once as waiting, sent once joined again.
function queue(message, confirmed) {
  const typedText = U.composerText();
  const d = message.to ? { to: message.to, text: message.text.trim() } : P.splitDestination(message.text);
  if (!message.text.trim()) return;
  if (!d) return U.sendError('Start with @name or @all, or choose who reads it beside “To”.');
  if (!d.text) return U.sendError(`Write the message after @${d.to}.`);
  const r = session.recipient(d.to);
  const dest = r.kind === 'all' ? 'all' : r.kind === 'one' ? r.to : d.to;
  if (r.kind === 'one' && !r.allowed) return U.sendError('That is you: choose somebody else.');
  if (!confirmed && message.to) {
    const n = session.named(message.to, message.text);
    if (n) {
      const rest = d.text.slice(1 + n.named.length).replace(/^[\s,:;]+/, '');
      return askBeforeSending({ to: dest, named: n.named, namedTo: n.namedTo, asNamed: n.namedTo ? { to: n.namedTo, text: rest } : null, asChosen: { to: dest, text: d.text } });
    }
  }
  const id = P.newId();
  outbox.queue(id, dest, d.text);
  U.message({ id, kind: 'mine', admin: r.kind === 'one' && r.admin, who: `you → ${dest}`, reply: dest, text: d.text, status: '' });
  U.status(id, 'waiting', 'waiting for the connection…');
  to = dest;
  if (U.composerText() === typedText) U.setComposerText('');
  U.sendError('');
  updateHelp();
  U.focusComposer();
  if (session.state.name === 'joined') flush();
}

// Joined again: what waits in the outbox goes out, in order, each with its own id.
async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    // A message to somebody not (yet) back after the reconnect waits for them.
    // In a large room they may be there unlisted: looked up by name, once per connection
    // (the answer, a new users list, flushes again).
    const ready = (e) => {
      const r = e.to === 'all' ? null : session.recipient(e.to);
      const here = !r || r.kind !== 'unknown';
      if (!here) U.status(e.id, 'waiting', `waiting for ${e.to} to connect…`);
      if (!here && r.partial && !lookedFor.has(e.to)) {
        lookedFor.add(e.to);
        apply(session.lookUp(e.to));
      }
      return here;
    };
    for (let e = outbox.next(ready); e; e = outbox.next(ready)) {
      if (session.state.name !== 'joined' || !socketOpen()) {
        outbox.requeue(e.id);
        break;
      }
      U.status(e.id, 'sending', 'sending…');
      const outputs = await session.send(e.to, e.text, socketOpen, { confirmed: true, id: e.id });
      apply(outputs.filter((o) => o.type !== 'send-error'));
      if (outputs.some((o) => o.type === 'outgoing')) continue;
      if (session.state.name !== 'joined' || !socketOpen() || !outputs.length) {
        // Closed meanwhile (sent on the next connection), or the session was busy with
        // a message typed at that moment (sent in a moment).
        outbox.requeue(e.id);
        if (!outputs.length) setTimeout(flush, 200);
        break;
      }
      outbox.settled(e.id);
      const why = outputs.find((o) => o.type === 'send-error');
      U.status(e.id, 'failed', 'Not sent: ' + (why ? why.text : 'the message could not be sent.'), () => putBack(e));
    }
  } finally {
    flushing = false;
  }
}

start();
