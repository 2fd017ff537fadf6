// The web client's side of the protocol (docs/PROTOCOL.md), with no DOM and no socket: a
// connection state machine fed with the user's intents, socket events and frames, that
// answers with outputs (frames to send, events to render). The page wires it to a
// WebSocket and to ui.js (app.js); the unit tests (session.test.mjs) feed it frames.
//
// Connection states (`state.name`):
//   idle ─join→ connecting ─open→ joining ─config→ joined ─close→ closed
//   closed ─join (never joined yet) → connecting;  closed ─reconnect (joined before) → reconnecting ─open→ joining
// A closed state carries its reason: { kind: 'refused' | 'admin-key' | 'notice' | 'unreachable' | 'closed', text }.
//
// Every input returns a list of outputs, each an object with a `type`:
//   connect { conn }                  open a WebSocket; pass `conn` back with its events
//   send { frame }                    send this text frame on the current socket
//   state { state }                   the connection state changed
//   notice { text, level }            a line for the log ('' or 'warn')
//   join-error { text }               a line for the join form (before the first join)
//   users { users, all }              the people to list, and whether @all is offered
//   user-joined / user-left { name }
//   message { kind, from, console, to, admin, reply, text }   a verified message to show
//   dropped { from, reason }          a message that failed verification, not shown
//   outgoing { id, to, text, admin }  my message, sent: show it as "sending…"
//   confirm { to, named, namedTo, asNamed, asChosen }   not sent: the text starts with
//                                     @named, not the chosen `to`; ask, then send one of
//                                     the two { to, text } with { confirmed: true }
//   send-error { text }               nothing was sent, and why
//   ack { id }                        the server accepted my message `id`
//   undelivered { id, to, text, reason }   it refused it
//   unconfirmed { id, to, text }      the connection closed before the server answered
//   copy-undelivered { id, reason }   the console copy of message `id` was not delivered
//
// Cryptography comes in through `crypto` (the functions of crypto.js), so the same
// code runs on the page's WebCrypto and on node's.

import * as P from './protocol.js';

const notice = (text, level = '') => ({ type: 'notice', text, level });
const sendError = (text) => [{ type: 'send-error', text }];

export class Session {
  #c;
  #newId;
  #state = { name: 'idle' };
  #conn = 0; // the number of the current connection: events of older ones are ignored
  #queue = Promise.resolve(); // socket events, handled one at a time in arrival order
  #name = ''; // the name asked for
  #keys = null; // my key set (crypto.js)
  #everJoined = false;
  #opened = false; // the current socket opened
  #notice = ''; // the last notice of the current connection (it explains the close)
  #refused = false; // chat-invaliduser on the current connection
  #me = ''; // the name the server registered
  #admin = ''; // the administrator's name: first in the users list
  #adminKeyid = ''; // the administrator's Key ID when last listed: a new one is warned about
  #isAdmin = false; // the last config said so (kept across a reconnect until the next one)
  #disableAll = false;
  #group = null; // AES-GCM group key
  #users = new Map(); // name -> { keyid, peer, bad }
  #pending = new Map(); // frame id -> { message: id of the shown message, to, text, copy }
  #mine = new Set(); // signatures of my messages to all: the server echoes them back
  #busy = false; // a message is being encrypted
  #host = '';

  // `host`: the host[:port] the socket connects to (the page's own), which a proof of
  // the key is bound to.
  constructor(crypto, { newId = P.newId, host = '' } = {}) {
    this.#c = crypto;
    this.#newId = newId;
    this.#host = host;
  }

  get state() {
    return { ...this.#state };
  }

  get me() {
    return this.#me;
  }

  // ---- intents -------------------------------------------------------------------

  join(name, keys) {
    if (this.#state.name !== 'idle' && this.#state.name !== 'closed') return [];
    this.#name = name;
    this.#keys = keys;
    return this.#connect();
  }

  reconnect() {
    if (this.#state.name !== 'closed' || !this.#keys) return [];
    return this.#connect();
  }

  // The recipient is chosen beside the box (by a click, the selector, or typing `@name `
  // first: leading()); the box holds the message text only. `to` is that choice ('' for
  // none, 'all', or a name in any letter case), `text` the box's text. With no recipient
  // chosen, a text starting with "@name " still names its own (as typed in 0.9).

  // Bytes left in one encrypted 1:1 message for the text (negative: too long), or null
  // when that is not known (no recipient, @all, not joined).
  room(to, text) {
    const d = this.#destination(to, text);
    if (this.#state.name !== 'joined' || !d || !d.text || d.to.toLowerCase() === 'all') return null;
    const name = this.#resolve(d.to);
    if (!name) return null;
    return this.#maxBytes(name) - this.#plaintext(name, d.text).length;
  }

  // room() in characters, as people count: how many more characters of the kind already
  // typed still fit, or (negative) exactly how many to take off the end; null as room().
  charactersLeft(to, text) {
    const bytes = this.room(to, text);
    if (bytes === null) return null;
    const chars = [...this.#destination(to, text).text];
    const size = (c) => this.#c.utf8(JSON.stringify(c)).length - 2; // as it is in the plaintext
    if (bytes >= 0) {
      const perChar = chars.reduce((n, c) => n + size(c), 0) / chars.length;
      return Math.floor(bytes / Math.max(1, perChar));
    }
    let over = -bytes;
    let cut = 0;
    while (over > 0) over -= size(chars[chars.length - 1 - cut++]);
    return -cut;
  }

  // What the recipient selector shows for the chosen `to`:
  //   { kind: 'none' }                 nobody chosen yet
  //   { kind: 'all', allowed }         everybody (not allowed under --disable-all)
  //   { kind: 'one', to, admin, allowed }   one person (not allowed: oneself)
  //   { kind: 'unknown', typed }       nobody of that name is connected (any more)
  recipient(to) {
    if (!to) return { kind: 'none' };
    if (to.toLowerCase() === 'all') return { kind: 'all', allowed: this.#allAllowed() };
    const name = this.#resolve(to);
    if (!name) return { kind: 'unknown', typed: to };
    return { kind: 'one', to: name, admin: name === this.#admin, allowed: name !== this.#me || this.#isAdmin };
  }

  // The "@name " the text starts with, when it names a recipient that can be chosen:
  // { to, text } with the rest of the text; null otherwise. Typed or pasted first in the
  // box, it becomes the recipient. Nobody of that name, oneself, or @all where it is
  // disabled stay in the text: sending then says why.
  leading(text) {
    const m = /^@([A-Za-z0-9]+) /.exec(text);
    if (!m) return null;
    const r = this.recipient(m[1]);
    if (!r.allowed) return null;
    return { to: r.kind === 'all' ? 'all' : r.to, text: text.slice(m[0].length) };
  }

  // The @name the text starts with when it is not the chosen recipient, for a warning
  // before sending: { named, namedTo, refused } (namedTo null: nobody that can be written
  // to, and `refused` says why: 'unknown', 'self' or 'disabled'); null when there is none.
  named(to, text) {
    const chosen = to ? this.#chosen(to) : null;
    if (to && !chosen) return null; // the recipient itself is the problem, shown as such
    const n = this.#named(chosen, text.trim());
    return n && { named: n.named, namedTo: n.namedTo, refused: n.refused };
  }

  // Sends `text` to `to` (as recipient()). `isOpen` tells whether the socket can still
  // send: it is asked before and after the (slow) encryption. A text that itself starts
  // with another @name than the recipient is not sent unless `confirmed`: the person may
  // believe it goes there (a confirm output says so). `id`: the message's id when it was
  // written before (sent again after a reconnect, outbox.js); a new one otherwise.
  async send(to, text, isOpen = () => true, { confirmed = false, id = '' } = {}) {
    if (this.#busy || !text.trim()) return [];
    const d = this.#destination(to, text);
    if (!d) return sendError('Start with @name or @all, or choose who reads it beside “To”.');
    if (!d.text) return sendError(`Write the message after @${d.to}.`);
    if (this.#state.name !== 'joined' || !isOpen()) return sendError('Not connected: nothing was sent. Reconnect, then press Send again.');
    const all = d.to.toLowerCase() === 'all';
    let name = 'all';
    if (all) {
      if (!this.#allAllowed()) return sendError('Messages to @all are disabled on this server: write to one person.');
      if (!this.#group) return sendError('No group key from the server: @all is unavailable.');
    } else {
      name = this.#resolve(d.to);
      if (!name) return sendError(`Unknown destination: nobody called "${d.to}" is connected.`);
      if (name === this.#me && !this.#isAdmin) return sendError('That is you: choose somebody else.');
      const bytes = this.#plaintext(name, d.text).length;
      const max = this.#maxBytes(name);
      if (bytes > max) return sendError(`Too long for one encrypted message: ${bytes} bytes, at most ${max} for ${name}. Shorten it by ${bytes - max} bytes or send it in parts.`);
    }
    if (!confirmed) {
      const n = this.#named(name, d.text);
      if (n) {
        const asNamed = n.namedTo ? { to: n.namedTo, text: n.rest } : null;
        return [{ type: 'confirm', to: name, named: n.named, namedTo: n.namedTo, asNamed, asChosen: { to: name, text: d.text } }];
      }
    }
    this.#busy = true;
    try {
      return await this.#encrypt(all, name, d.text, isOpen, id || this.#newId());
    } catch (e) {
      return sendError('Could not encrypt the message: ' + (e && e.message ? e.message : e));
    } finally {
      this.#busy = false;
    }
  }

  // ---- socket events -------------------------------------------------------------

  opened(conn) {
    return this.#enqueue(conn, () => {
      this.#opened = true;
      // Again as the name in use: the administrator on the web, renamed by the server,
      // asks for that name, which is refused if the server no longer knows its key.
      const name = this.#everJoined ? this.#me : this.#name;
      return [this.#enter('joining'), { type: 'send', frame: P.join(name, this.#keys.spkiB64) }];
    });
  }

  received(conn, text) {
    return this.#enqueue(conn, () => {
      const f = P.parse(text);
      return f ? this.#frame(f) : [];
    });
  }

  // The close's code and reason are not needed: the frames before it say why.
  closed(conn) {
    return this.#enqueue(conn, () => this.#close());
  }

  #enqueue(conn, handle) {
    const run = async () => (conn === this.#conn && this.#state.name !== 'closed' ? handle() : []);
    const done = this.#queue.then(run);
    this.#queue = done.catch(() => {});
    return done;
  }

  #connect() {
    this.#conn += 1;
    this.#opened = false;
    this.#notice = '';
    this.#refused = false;
    return [this.#enter(this.#everJoined ? 'reconnecting' : 'connecting'), { type: 'connect', conn: this.#conn }];
  }

  #enter(name, more = {}) {
    this.#state = { name, ...more };
    return { type: 'state', state: this.state };
  }

  #close() {
    const wasJoined = this.#state.name === 'joined';
    const out = [];
    for (const [id, p] of this.#pending) if (!p.copy) out.push({ type: 'unconfirmed', id, to: p.to, text: p.text });
    this.#pending.clear();
    const user = this.#everJoined ? this.#me : this.#name;
    let reason;
    // Refused although this key was the administrator's last time: the server has another.
    if (this.#refused && this.#everJoined && this.#isAdmin) reason = { kind: 'admin-key', text: `The administrator's key changed: this server no longer has the key you joined with as ${user}, so it did not let you in. It was probably restarted without --admin-private-key, which makes a new key at each start. To be the administrator on the web again, get the new private key at the console (/key private), reload this page and join with it under "Use custom keys".` };
    else if (this.#refused) reason = { kind: 'refused', text: `The name "${user}" is taken or not allowed. Choose another one.` };
    else if (this.#notice) reason = { kind: 'notice', text: this.#notice };
    else if (!this.#opened) reason = { kind: 'unreachable', text: 'Could not reach the chat server.' };
    else reason = { kind: 'closed', text: 'The server closed the connection.' };
    out.push(this.#enter('closed', { reason, user, everJoined: this.#everJoined }));
    if (wasJoined) out.push(notice(this.#notice ? 'Disconnected.' : 'Disconnected from the server.'));
    return out;
  }

  // ---- frames from the server ------------------------------------------------------

  async #frame(f) {
    if (f.cmd === 'config') return this.#config(f.data);
    if (f.cmd === 'message') return this.#message(f.data);
    if (f.cmd !== 'signal') return [];
    const d = f.data;
    switch (d.code) {
      case 'notice':
        if (typeof d.notice !== 'string') return [];
        this.#notice = d.notice;
        return [this.#everJoined ? notice(d.notice) : { type: 'join-error', text: d.notice }];
      case 'chat-invaliduser':
        this.#refused = true;
        return [];
      case 'chat-challenge': {
        if (typeof d.nonce !== 'string' || this.#state.name !== 'joining') return [];
        const signature = await this.#c.signJoinProof(this.#keys, this.#host, d.nonce);
        const name = this.#everJoined ? this.#me : this.#name;
        return [{ type: 'send', frame: P.proof(name, signature) }];
      }
      case 'chat-userslist': {
        const list = P.usersList(d);
        if (list.length) this.#admin = list[0].name;
        this.#users.clear();
        for (const u of list) await this.#addUser(u.name, u.hash, u.text);
        return [...this.#adminKeyChange(), this.#usersView()];
      }
      case 'chat-join': {
        if (!f.user || !d.publickey || typeof d.publickey.text !== 'string') return [];
        const added = await this.#addUser(f.user, String(d.publickey.hash || ''), d.publickey.text);
        return added ? [{ type: 'user-joined', name: f.user }, this.#usersView()] : [this.#usersView()];
      }
      case 'chat-left':
        if (!this.#users.has(f.user) || f.user === this.#admin) return [];
        this.#users.delete(f.user);
        return [this.#usersView(), { type: 'user-left', name: f.user }];
      case 'chat-ack': {
        const p = this.#settle(d.id);
        return p && !p.copy ? [{ type: 'ack', id: p.message }] : [];
      }
      case 'chat-undelivered': {
        const p = this.#settle(d.id);
        if (!p) return [];
        const reason = typeof d.reason === 'string' && d.reason ? d.reason : 'the server did not deliver it';
        if (p.copy) return [{ type: 'copy-undelivered', id: p.message, reason }];
        return [{ type: 'undelivered', id: p.message, to: p.to, text: p.text, reason }];
      }
    }
    return [];
  }

  #settle(id) {
    const p = this.#pending.get(id);
    this.#pending.delete(id);
    return p;
  }

  async #config(d) {
    this.#me = typeof d.user === 'string' && d.user ? d.user : this.#name;
    this.#isAdmin = d['is-admin'] === true;
    this.#disableAll = d['disable-all'] === true;
    try {
      this.#group = await this.#c.importGroupKey(d.aeskey);
    } catch {
      this.#group = null;
    }
    const again = this.#everJoined;
    this.#everJoined = true;
    const me = this.#me;
    const mine = this.#keys.keyid;
    const out = [this.#enter('joined', { me, keyid: mine, again })];
    if (again) out.push(notice(`Reconnected as ${me}.`));
    if (d.keyid && d.keyid !== mine) out.push(notice(`Warning: the server reports Key ID ${String(d.keyid).slice(0, 12)} for you, not ${mine.slice(0, 12)}.`, 'warn'));
    if (this.#isAdmin) out.push(notice(`You are the administrator (${me}) on the web. Messages typed on the console show here as copies.`));
    if (!this.#group) out.push(notice('The server sent no usable group key: messages to @all cannot be read or sent.', 'warn'));
    return out;
  }

  // A warning when the administrator's key is not the one listed before (a server
  // restarted without --admin-private-key makes a new one): whoever holds the new key
  // reads the messages to the administrator from now on.
  #adminKeyChange() {
    const admin = this.#users.get(this.#admin);
    if (!admin) return [];
    const before = this.#adminKeyid;
    this.#adminKeyid = admin.keyid;
    if (!before || before === admin.keyid) return [];
    return [notice(`The administrator's key changed: ${this.#admin} now has Key ID ${admin.keyid.slice(0, 12)}, not ${before.slice(0, 12)} as before. The server was restarted with a new key, or it is another server. Messages to ${this.#admin} now go to whoever holds the new key: check its Key ID with the administrator before you write anything private.`, 'warn')];
  }

  async #addUser(name, hash, text) {
    let peer;
    try {
      peer = await this.#c.importPeer(text);
    } catch {
      return false;
    }
    this.#users.set(name, { keyid: peer.keyid, peer, bad: !!hash && hash !== peer.keyid });
    return true;
  }

  // One's own entry is listed only for the administrator on the web (it is the console).
  #usersView() {
    const users = [];
    for (const [name, u] of this.#users) {
      if (name === this.#me && name !== this.#admin) continue;
      users.push({ name, keyid: u.keyid, bad: u.bad, admin: name === this.#admin, self: name === this.#me });
    }
    return { type: 'users', users, all: !(this.#disableAll && !this.#isAdmin) };
  }

  async #message(d) {
    if (!d || typeof d.signature !== 'string') return [];
    const C = this.#c;
    let plain;
    try {
      if (d.algo === 'aes') {
        if (this.#mine.delete(d.signature)) return []; // my own message to all, echoed by the server
        if (!this.#group) return [];
        plain = await C.aesDecrypt(this.#group, C.unb64(d.iv), C.unb64(d.ciphertext));
      } else if (d.algo === 'rsa') {
        plain = await C.rsaDecrypt(this.#keys, C.unb64(d.ciphertext !== undefined ? d.ciphertext : d.message));
      } else return [];
    } catch {
      return []; // not for me (0.9 clients broadcast 1:1 messages), or damaged
    }
    let m;
    try {
      m = JSON.parse(C.fromUtf8(plain));
    } catch {
      return [];
    }
    if (!m || typeof m.from !== 'string' || typeof m.message !== 'string' || typeof m.to !== 'string') return [];
    const sender = this.#users.get(m.from);
    if (!sender) return [{ type: 'dropped', from: m.from, reason: 'unknown sender' }];
    let ok = false;
    try {
      ok = await C.verify(sender.peer, C.unb64(d.signature), plain);
    } catch { /* bad base64 */ }
    if (!ok) return [{ type: 'dropped', from: m.from, reason: 'bad signature' }];
    if (d.algo === 'aes' && m.to !== 'all') return [];
    const me = this.#me;
    const admin = this.#admin;
    if (this.#isAdmin && m.isWebAdminMsgCopy === true && m.from === admin) {
      // A message typed on the console, copied to me: its text wraps {message, to}.
      let inner;
      try {
        inner = JSON.parse(m.message);
      } catch {
        inner = { message: m.message, to: m.to };
      }
      if (!inner || typeof inner.message !== 'string') return [];
      const to = typeof inner.to === 'string' ? inner.to : '?';
      return [{ type: 'message', kind: 'mine', from: admin, console: true, to, admin: true, reply: to === me ? '' : to, text: inner.message }];
    }
    const fromConsole = this.#isAdmin && m.from === me;
    return [{
      type: 'message',
      kind: fromConsole ? 'mine' : 'other',
      from: m.from,
      console: fromConsole,
      to: m.to,
      admin: m.from === admin || m.to === admin,
      reply: fromConsole ? (m.to === me ? '' : m.to) : m.from,
      text: m.message,
    }];
  }

  // ---- sending -----------------------------------------------------------------------

  // The recipient and the text of a message: the one chosen, or with none chosen the
  // "@name " the text starts with; null when there is neither.
  #destination(to, text) {
    if (!to) return P.splitDestination(text);
    return { to, text: text.trim() };
  }

  // The chosen `to` as messages name it: 'all', a connected name, or null.
  #chosen(to) {
    return to.toLowerCase() === 'all' ? 'all' : this.#resolve(to);
  }

  #allAllowed() {
    return !(this.#disableAll && !this.#isAdmin);
  }

  // When `text` starts with @someone other than `to`: who, and the text without it.
  #named(to, text) {
    const m = /^@([A-Za-z0-9]+)(?![A-Za-z0-9])/.exec(text);
    if (!m) return null;
    const all = m[1].toLowerCase() === 'all';
    let namedTo = all ? 'all' : this.#resolve(m[1]);
    if (namedTo && namedTo === to) return null;
    let refused = '';
    if (!namedTo) refused = 'unknown';
    else if (all && !this.#allAllowed()) refused = 'disabled';
    else if (namedTo === this.#me && !this.#isAdmin) refused = 'self';
    if (refused) namedTo = null;
    return { named: m[1], namedTo, refused, rest: text.slice(m[0].length).replace(/^[\s,:;]+/, '') };
  }

  #resolve(to) {
    if (this.#users.has(to)) return to;
    const hits = [...this.#users.keys()].filter((n) => n.toLowerCase() === to.toLowerCase());
    return hits.length === 1 ? hits[0] : null;
  }

  #plaintext(to, text) {
    return this.#c.utf8(JSON.stringify({ from: this.#me, to, message: text }));
  }

  // The web administrator's 1:1 message also goes to the console: it must fit both keys.
  #maxBytes(to) {
    let max = this.#c.oaepMax(this.#users.get(to).peer.bits);
    if (this.#isAdmin && to !== this.#admin) max = Math.min(max, this.#c.oaepMax(this.#keys.bits));
    return max;
  }

  async #encrypt(all, to, text, isOpen, id) {
    const C = this.#c;
    const plain = this.#plaintext(to, text);
    const sig = C.b64(await C.sign(this.#keys, plain));
    const frames = [];
    if (all) {
      const { iv, ct } = await C.aesEncrypt(this.#group, plain);
      frames.push(P.aesMessage(this.#me, id, C.b64(iv), C.b64(ct), sig));
    } else {
      frames.push(P.rsaMessage(this.#me, to, id, C.b64(await C.rsaEncrypt(this.#users.get(to).peer, plain)), sig));
    }
    let copyId = '';
    if (!all && this.#isAdmin && to !== this.#admin) {
      copyId = this.#newId();
      const console = this.#users.get(this.#admin).peer;
      frames.push(P.rsaMessage(this.#me, this.#admin, copyId, C.b64(await C.rsaEncrypt(console, plain)), sig));
    }
    if (this.#state.name !== 'joined' || !isOpen()) return sendError('The connection closed: nothing was sent. Reconnect, then press Send again.');
    if (all) this.#mine.add(sig);
    this.#pending.set(id, { message: id, to, text, copy: false });
    if (copyId) this.#pending.set(copyId, { message: id, to, text, copy: true });
    const out = frames.map((frame) => ({ type: 'send', frame }));
    out.push({ type: 'outgoing', id, to, text, admin: to === this.#admin || this.#isAdmin });
    return out;
  }
}
