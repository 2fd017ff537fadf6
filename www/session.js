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
//   users { users, all, total, partial }   the people to list, whether @all is offered,
//                                     how many the list has when complete (counted as
//                                     `users` is), and whether it is partial: a large room,
//                                     of which the server lists a part (find() the others)
//   found { name, users, more }       the answer to my latest find(): the matches (already
//                                     among `users`), and whether there are more
//   user-joined / user-left { name }
//   message { kind, from, console, to, admin, reply, text }   a verified message to show
//   dropped { from, reason }          a 0.9 message that failed verification, not shown
//   flagged { from, text }            (version 2) a message claiming a sender that failed a
//                                     check: not shown; `text` says so, to show in its place
//   outgoing { id, to, text, admin }  my message, sent: show it as "sending…"
//   confirm { to, named, namedTo, asNamed, asChosen }   not sent: the text starts with
//                                     @named, not the chosen `to`; ask, then send one of
//                                     the two { to, text } with { confirmed: true }
//   send-error { text }               nothing was sent, and why
//   ack { id }                        the server accepted my message `id`
//   undelivered { id, to, text, reason }   it refused it
//   unconfirmed { id, to, text }      the connection closed before the server answered
//   copy-undelivered { id, what, reason }   a copy of message `id` was not delivered:
//                                     `what` 'console' (the console's) or 'legacy' (0.9 clients')
// Files (version 2, docs/PROTOCOL.md "Version 2 — files"; the transfers are files.js'):
//   file-offered { tid, to, old, audience, expected }   my offer went out (`old`: 0.9 users
//                                     in the room get nothing; `audience`: the listed names
//                                     it should reach; `expected`: in a partial room, about
//                                     how many it reaches in all, else 0)
//   file-accepted { tid }             the server took it: the chunks may go
//   file-refused { tid, reason }      it refused it, or it could not be sent
//   file-offer { from, to, admin, file }   a verified offer to me (the envelope's `file`)
//   file-chunk / file-cancel { data }, file-window { tid, acked },
//   file-status { tid, to, state, reason }  the server's file frames, for files.js
//   files-closed                      the connection closed: every transfer ended
//
// Version 2 (docs/PROTOCOL.md, "Version 2") is asked for at every join; a server that
// answers with a 0.9 config is spoken to in 0.9. In version 2 the users list has names and
// Key IDs only: a public key is fetched (chat-getkeys) when a message to write or to check
// needs it, and what needs it waits in #wanted until the answer comes. A message shown
// carries `legacy: true` when it came from a 0.9 client (its signature binds no recipient,
// time or id).
//
// Cryptography comes in through `crypto` (the functions of crypto.js), so the same
// code runs on the page's WebCrypto and on node's.

import * as P from './protocol.js';
import * as E from './envelope.js';
import { SeenIds } from './seen.js';

// The replay window: a message whose time is further than this from my clock is not shown.
export const REPLAY_WINDOW_MS = 10 * 60 * 1000;
// Messages waiting for the key of one sender (or one recipient): beyond it they are
// flagged at once, so a flood cannot queue without end before the key comes.
export const MAX_WAITING_PER_KEY = 256;
// The server's largest frame (max_message_bytes, docs/LIMITS.md): a text of max-text bytes
// fits unless the JSON escapes of its envelope (quotes, backslashes, control characters)
// grow it by more than about 45%; such a text is refused before anything is sent.
export const MAX_FRAME_BYTES = 128 * 1024;

// Version-2 users who left, kept so that one can still write to them: the server holds
// such a message for a while (docs/PROTOCOL.md, "Held for a short absence") and says so
// (chat-held), then acks it when they come back, or reports it. The most recent ones.
export const MAX_GONE = 64;
// People looked up (found by name, or senders not listed) the page keeps in its list:
// the server follows the most recent looked_up_per_member (256) of them and says nothing
// more of the others (docs/PROTOCOL.md, "Large rooms"), so the oldest is dropped here too.
export const MAX_LOOKED_UP = 256;
// The matches of one chat-found taken: the server's found_per_request.
export const MAX_FOUND = 20;
// Keys of 0.9 users are fetched as soon as they are listed (a 0.9 1:1 message's size
// depends on its key, and their frames reach everybody): at most this many per frame.
const KEYS_PER_FRAME = 64;

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
  #users = new Map(); // name -> { keyid, bad, legacy, listed }: listed by the server, or looked up
  #gone = new Map(); // name -> { keyid, bad, legacy }: version-2 users who left, in order
  #pending = new Map(); // frame id -> { message: id of the shown message, to, text, copy }
  #mine = new Set(); // signatures of my messages to all: the server echoes them back
  #busy = false; // a message is being encrypted
  #host = '';
  #now;
  // version 2
  #v2 = false;
  #maxText = 65536;
  #member = null; // the member key (AES-GCM) of this session
  #epoch = 0; // the highest epoch whose group key I have
  #groupKeys = new Map(); // epoch -> group key: the highest and the one before it
  #peers = new Map(); // Key ID -> peer (crypto.js importPeer), checked against its Key ID
  #wanted = new Map(); // Key ID asked for -> [ async (peer or null) => outputs ]
  #waitEpoch = []; // resends of refused stale messages: [{ epoch, run(key, epoch) }]
  #seen = new SeenIds(REPLAY_WINDOW_MS);
  // large rooms
  #count = 0; // the size of the complete list, as the server last said (0: not said)
  #lookups = new Set(); // names looked up and not listed, the least recent first
  #finding = ''; // the latest name asked for with chat-find

  // `host`: the host[:port] the socket connects to (the page's own), which a proof of
  // the key is bound to.
  // `now`: the clock (milliseconds since 1970), for envelopes' times and the replay window.
  constructor(crypto, { newId = P.newId, host = '', now = Date.now } = {}) {
    this.#c = crypto;
    this.#newId = newId;
    this.#host = host;
    this.#now = now;
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

  // Bytes left for the text (negative: too long), or null when that is not known (no
  // recipient, not joined, a 0.9 recipient whose key has not come yet, or @all with a
  // 0.9 server). Version 2: the text's UTF-8 up to max-text; a 0.9 recipient: one
  // encrypted 0.9 message.
  room(to, text) {
    const d = this.#destination(to, text);
    if (this.#state.name !== 'joined' || !d || !d.text) return null;
    const all = d.to.toLowerCase() === 'all';
    const name = all ? 'all' : this.#resolve(d.to);
    if (!name) return null;
    if (this.#v2 && (all || !this.#listedOrGone(name).legacy)) return this.#maxText - this.#c.utf8(d.text).length;
    if (all || !this.#peerOf(name)) return null;
    return this.#maxBytes(name) - this.#plaintext(name, d.text).length;
  }

  // room() in characters, as people count: how many more characters of the kind already
  // typed still fit, or (negative) exactly how many to take off the end; null as room(),
  // and in version 2 while the text is far from the limit (an eighth of it left or more).
  charactersLeft(to, text) {
    const bytes = this.room(to, text);
    if (bytes === null) return null;
    const d = this.#destination(to, text);
    const v2 = this.#v2 && (d.to.toLowerCase() === 'all' || !this.#listedOrGone(this.#resolve(d.to)).legacy);
    if (v2 && bytes >= this.#maxText / 8) return null;
    const chars = [...d.text];
    // As it counts: its UTF-8 (version 2), or as it is in the 0.9 JSON plaintext.
    const size = v2 ? (c) => this.#c.utf8(c).length : (c) => this.#c.utf8(JSON.stringify(c)).length - 2;
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
  //   { kind: 'all', allowed, people? } everybody (not allowed under --disable-all); in a
  //                                    large room `people`: how many, most of them unlisted
  //   { kind: 'one', to, admin, allowed, gone? }   one person (not allowed: oneself; gone: left a
  //                                    short while ago, the server may hold a message for them)
  //   { kind: 'unknown', typed }       nobody of that name is connected (any more)
  recipient(to) {
    if (!to) return { kind: 'none' };
    if (to.toLowerCase() === 'all') return { kind: 'all', allowed: this.#allAllowed(), ...(this.#partial() ? { people: this.#usersView().total } : {}) };
    const name = this.#resolve(to);
    if (!name) return { kind: 'unknown', typed: to, ...(this.#partial() ? { partial: true } : {}) };
    const gone = this.#users.has(name) ? {} : { gone: true };
    return { kind: 'one', to: name, admin: name === this.#admin, allowed: name !== this.#me || this.#isAdmin, ...gone };
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

  // Asks the server for the connected people whose name starts with `text` (chat-find);
  // the answer comes as a `found` output. A text that cannot start a name sends nothing.
  find(text) {
    const name = text.trim().toLowerCase();
    this.#finding = '';
    if (!this.#v2 || this.#state.name !== 'joined' || !P.FIND_RE.test(name)) return [];
    this.#finding = name;
    return [{ type: 'send', frame: P.find(this.#me, name) }];
  }

  // Looks `name` up without showing the answer: somebody written to before a
  // reconnection, whom the new connection does not list. Its users join the list.
  lookUp(name) {
    if (!this.#v2 || this.#state.name !== 'joined' || !P.NAME_RE.test(name)) return [];
    return [{ type: 'send', frame: P.find(this.#me, name) }];
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
      if (this.#v2 ? !this.#groupKeys.has(this.#epoch) : !this.#group) return sendError('No group key from the server: @all is unavailable.');
    } else {
      name = this.#resolve(d.to);
      if (!name && this.#partial()) return sendError(`Nobody called "${d.to}" is in your list: this room is large, find them by name under People first.`);
      if (!name) return sendError(`Unknown destination: nobody called "${d.to}" is connected.`);
      if (name === this.#me && !this.#isAdmin) return sendError('That is you: choose somebody else.');
      const tooLong = this.#peerOf(name) && this.#tooLong09(name, d.text);
      if ((!this.#v2 || this.#listedOrGone(name).legacy) && tooLong) return sendError(tooLong);
    }
    if (this.#v2 && (all || !this.#listedOrGone(name).legacy)) {
      const bytes = this.#c.utf8(d.text).length;
      if (bytes > this.#maxText) return sendError(`Too long: ${bytes} bytes of text, at most ${this.#maxText}. Shorten it by ${bytes - this.#maxText} bytes or send it in parts.`);
      const frame = this.#frameBytes(name, d.text);
      if (frame > MAX_FRAME_BYTES) {
        const escaped = this.#c.utf8(JSON.stringify(d.text)).length - 2 - bytes;
        return sendError(`Too long once encrypted: its quotes, backslashes and control characters take ${escaped} more bytes in the message, which is ${frame - MAX_FRAME_BYTES} bytes over what the server takes. Shorten it or send it in parts.`);
      }
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
      const mid = id || this.#newId();
      return await (this.#v2 ? this.#sendV2(all, name, d.text, isOpen, mid) : this.#encrypt(all, name, d.text, isOpen, mid));
    } catch (e) {
      return sendError('Could not encrypt the message: ' + (e && e.message ? e.message : e));
    } finally {
      this.#busy = false;
    }
  }

  // Offers a file (files.js prepare(): `file` the envelope's description, `clear` the
  // server's part) to `to` exactly as chosen beside the box: 'all' or a listed name, never
  // a wider audience. Sends the offer only; the chunks follow once it is accepted.
  async sendFile(to, file, clear, isOpen = () => true) {
    if (!to) return sendError('Choose who gets the file beside “To” first, then attach it.');
    if (this.#state.name !== 'joined' || !isOpen()) return sendError('Not connected: the file was not sent. Reconnect, then attach it again.');
    if (!this.#v2) return sendError('This server speaks the old protocol (0.9): it cannot pass files on.');
    const all = to.toLowerCase() === 'all';
    const name = all ? 'all' : this.#resolve(to);
    if (all && !this.#allAllowed()) return sendError('Messages to @all are disabled on this server: send the file to one person.');
    if (all && !this.#groupKeys.has(this.#epoch)) return sendError('No group key from the server: files to @all are unavailable.');
    if (!name) return sendError(`Nobody called "${to}" is connected: the file was not sent.`);
    if (!all) {
      if (name === this.#me) return sendError('That is you: choose somebody else.');
      if (name === this.#admin) return sendError('The administrator’s console cannot receive files: choose somebody else.');
      if (this.#listedOrGone(name).legacy) return sendError(`${name} uses an old 0.9 client, which cannot receive files.`);
    }
    if (all && this.#fileAudience().length === 0 && !this.#fileRecipients()) return sendError('Nobody else here can receive files: the file was not sent.');
    const id = this.#newId();
    const offered = { type: 'file-offered', tid: file.tid, to: name, old: all && this.#has09(), audience: all ? this.#fileAudience() : [name], expected: all ? this.#fileRecipients() : 0 };
    try {
      if (all) {
        const epoch = this.#epoch;
        const f = await this.#fileAllFrame(id, file, clear, this.#groupKeys.get(epoch), epoch);
        if (this.#state.name !== 'joined' || !isOpen()) return sendError('The connection closed: the file was not sent.');
        this.#pending.set(id, { message: id, to: name, text: '', copy: '', file: file.tid, resend: (k, e) => this.#fileAllFrame(id, file, clear, k, e) });
        return [{ type: 'send', frame: f }, offered];
      }
      this.#pending.set(id, { message: id, to: name, text: '', copy: '', file: file.tid });
      const out = await this.#withKey(this.#listedOrGone(name).keyid, async (peer) => {
        if (!peer) {
          this.#pending.delete(id);
          return [{ type: 'file-refused', tid: file.tid, reason: `${name} is not connected` }];
        }
        const sealed = await E.seal(this.#c, this.#keys, { from: this.#me, to: name, id, time: this.#now(), epoch: this.#epoch, file });
        return [{ type: 'send', frame: P.oneMessage(this.#me, name, id, await E.hybrid(this.#c, peer, sealed), clear) }];
      });
      return [offered, ...out];
    } catch (e) {
      this.#pending.delete(id);
      return sendError('Could not encrypt the file’s description: ' + (e && e.message ? e.message : e));
    }
  }

  // Who a file to all reaches as this page sees the room: the version-2 members but me and
  // the administrator (whose console shows no files).
  #fileAudience() {
    const names = [];
    for (const [name, u] of this.#users) if (!u.legacy && name !== this.#me && name !== this.#admin) names.push(name);
    return names;
  }

  // To all in a room the page lists only part of, the server relays the file to every
  // version-2 member, listed or not: about `count` less the administrator's entry, me and
  // the 0.9 users (all of them listed). 0 when the list is the whole room. An estimate:
  // `count` may be up to `count_every` old, and the administrator on the web gets it too.
  #fileRecipients() {
    if (!this.#partial()) return 0;
    let legacy = 0;
    for (const u of this.#users.values()) if (u.legacy) legacy++;
    return Math.max(0, this.#count - legacy - (this.#me === this.#admin ? 1 : 2));
  }

  async #fileAllFrame(id, file, clear, key, epoch) {
    const sealed = await E.seal(this.#c, this.#keys, { from: this.#me, to: 'all', id, time: this.#now(), epoch, file });
    return P.allMessage(this.#me, id, epoch, await E.underGroupKey(this.#c, key, sealed), false, clear);
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
    for (const [id, p] of this.#pending) if (!p.copy && !p.file) out.push({ type: 'unconfirmed', id, to: p.to, text: p.text });
    if (this.#v2) out.push({ type: 'files-closed' });
    this.#pending.clear();
    this.#wanted.clear();
    this.#waitEpoch = [];
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
    if (f.cmd === 'message') return this.#v2 && f.data.v === 2 ? this.#messageV2(f.data) : this.#message(f.data);
    if (f.cmd === 'file-chunk' || f.cmd === 'file-cancel') return this.#v2 ? [{ type: f.cmd, data: f.data }] : [];
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
      case 'chat-groupkey':
        return this.#groupKey(d);
      case 'chat-users':
        return this.#v2 && Array.isArray(d.users) ? this.#usersV2(d.users, d.count) : [];
      case 'chat-presence':
        return this.#v2 && Array.isArray(d.changes) ? this.#presence(d.changes, d.count) : [];
      case 'chat-found':
        return this.#v2 && typeof d.name === 'string' && Array.isArray(d.users) ? this.#found(d) : [];
      case 'chat-key':
        return this.#keyArrived(d);
      case 'file-window':
        return this.#v2 && typeof d.tid === 'string' ? [{ type: 'file-window', tid: d.tid, acked: d.acked }] : [];
      case 'file-status':
        return this.#v2 && typeof d.tid === 'string' ? [{ type: 'file-status', tid: d.tid, to: d.to, state: d.state, reason: d.reason }] : [];
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
      case 'chat-held': {
        // Held for a recipient who left: the ack or the report comes later, for this id.
        const p = this.#pending.get(d.id);
        if (!p || p.copy || p.file || !this.#v2) return [];
        const until = Number.isSafeInteger(d.until) ? d.until : 0;
        return [{ type: 'held', id: p.message, to: p.to, until }];
      }
      case 'chat-ack': {
        const p = this.#settle(d.id);
        if (p && p.file) return [{ type: 'file-accepted', tid: p.file }];
        return p && !p.copy ? [{ type: 'ack', id: p.message }] : [];
      }
      case 'chat-undelivered': {
        const p = this.#settle(d.id);
        if (!p) return [];
        if (d.why === 'stale-epoch' && Number.isSafeInteger(d.epoch) && p.resend && !p.resent) return this.#resendStale(d.id, p, d.epoch);
        const reason = typeof d.reason === 'string' && d.reason ? d.reason : 'the server did not deliver it';
        if (p.file) return [{ type: 'file-refused', tid: p.file, reason, why: typeof d.why === 'string' ? d.why : '' }];
        if (p.copy) return [{ type: 'copy-undelivered', id: p.message, what: p.copy, reason }];
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
    if (this.#state.name === 'joined' && !this.#v2) return this.#rekey09(d);
    if (this.#state.name !== 'joining') return [];
    this.#me = typeof d.user === 'string' && d.user ? d.user : this.#name;
    this.#isAdmin = d['is-admin'] === true;
    this.#disableAll = d['disable-all'] === true;
    this.#v2 = d.v === 2;
    this.#group = null;
    this.#member = null;
    this.#epoch = 0;
    this.#groupKeys.clear();
    this.#users.clear();
    this.#lookups.clear();
    this.#count = 0;
    this.#finding = '';
    let keyProblem = '';
    if (this.#v2) {
      this.#maxText = Number.isSafeInteger(d['max-text']) && d['max-text'] > 0 ? d['max-text'] : 65536;
      this.#peers.set(this.#keys.keyid, await this.#c.importPeer(this.#keys.spkiB64));
      try {
        this.#member = await this.#c.unwrapMemberKey(this.#keys, d.memberkey);
      } catch {
        keyProblem = 'The server sent no member key this page can read: messages to @all cannot be read or sent.';
      }
      this.#admin = typeof d.admin === 'string' ? d.admin : '';
      const ak = d.adminkey;
      if (ak && typeof ak.text === 'string') {
        try {
          const peer = await this.#c.importPeer(ak.text);
          if (peer.keyid === ak.hash) this.#peers.set(peer.keyid, peer);
        } catch { /* fetched when needed */ }
      }
    } else {
      try {
        this.#group = await this.#c.importGroupKey(d.aeskey);
      } catch {
        keyProblem = 'The server sent no usable group key: messages to @all cannot be read or sent.';
      }
    }
    const again = this.#everJoined;
    this.#everJoined = true;
    const me = this.#me;
    const mine = this.#keys.keyid;
    const out = [this.#enter('joined', { me, keyid: mine, again })];
    if (again) out.push(notice(`Reconnected as ${me}.`));
    if (d.keyid && d.keyid !== mine) out.push(notice(`Warning: the server reports Key ID ${String(d.keyid).slice(0, 12)} for you, not ${mine.slice(0, 12)}.`, 'warn'));
    if (this.#isAdmin) out.push(notice(`You are the administrator (${me}) on the web. Messages typed on the console show here as copies.`));
    if (keyProblem) out.push(notice(keyProblem, 'warn'));
    return out;
  }

  // A 0.9 server's config again, once joined: the group key changed (0.9 rooms never do
  // this; kept for a server that rotates 0.9 keys).
  async #rekey09(d) {
    try {
      this.#group = await this.#c.importGroupKey(d.aeskey);
    } catch { /* the old one stays */ }
    return [];
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
    this.#peers.set(peer.keyid, peer);
    this.#users.set(name, { keyid: peer.keyid, bad: !!hash && hash !== peer.keyid, legacy: false, listed: true });
    return true;
  }

  // The public key of a listed user, when known.
  #peerOf(name) {
    const u = this.#users.get(name);
    return (u && this.#peers.get(u.keyid)) || null;
  }

  // One's own entry is listed only for the administrator on the web (it is the console).
  #usersView() {
    const users = [];
    for (const [name, u] of this.#users) {
      if (name === this.#me && name !== this.#admin) continue;
      users.push(this.#person(name, u));
    }
    // `count` has me in it, whom the list shows only as the administrator's console.
    const total = this.#count ? Math.max(users.length, this.#count - (this.#me === this.#admin ? 0 : 1)) : users.length;
    return { type: 'users', users, all: !(this.#disableAll && !this.#isAdmin), total, partial: this.#partial() };
  }

  #person(name, u) {
    return { name, keyid: u.keyid, bad: u.bad, admin: name === this.#admin, self: name === this.#me, ...(u.legacy ? { legacy: true } : {}), ...(u.listed ? {} : { lookedUp: true }) };
  }

  // The server lists only a part of the room: the others are found by name.
  #partial() {
    if (!this.#count) return false;
    let listed = 0;
    for (const u of this.#users.values()) if (u.listed) listed++;
    return this.#count > listed;
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
    if (!sender) return [this.#v2 ? this.#flag(m.from) : { type: 'dropped', from: m.from, reason: 'unknown sender' }];
    // Version 2: the 0.9 client's key is fetched when its first message comes.
    return this.#withKey(sender.keyid, (peer) => this.#shown09(d, plain, m, peer));
  }

  async #shown09(d, plain, m, peer) {
    const C = this.#c;
    let ok = false;
    try {
      ok = !!peer && (await C.verify(peer, C.unb64(d.signature), plain));
    } catch { /* bad base64 */ }
    if (!ok) return [this.#v2 ? this.#flag(m.from) : { type: 'dropped', from: m.from, reason: 'bad signature' }];
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
      ...(this.#v2 ? { legacy: true } : {}),
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
    for (const names of [this.#users, this.#gone]) {
      if (names.has(to)) return to;
      const hits = [...names.keys()].filter((n) => n.toLowerCase() === to.toLowerCase());
      if (hits.length === 1) return hits[0];
    }
    return null;
  }

  // A listed user, or one gone a short while (whose messages the server may hold).
  #listedOrGone(name) {
    return this.#users.get(name) || this.#gone.get(name);
  }

  #left(name) {
    const u = this.#users.get(name);
    this.#users.delete(name);
    this.#lookups.delete(name);
    if (!this.#v2 || !u || u.legacy) return;
    this.#gone.delete(name);
    this.#gone.set(name, u);
    if (this.#gone.size > MAX_GONE) this.#gone.delete(this.#gone.keys().next().value);
  }

  #plaintext(to, text) {
    return this.#c.utf8(JSON.stringify({ from: this.#me, to, message: text }));
  }

  // The web administrator's 1:1 message also goes to the console: it must fit both keys.
  #maxBytes(to) {
    let max = this.#c.oaepMax(this.#peerOf(to).bits);
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
      frames.push(P.rsaMessage(this.#me, to, id, C.b64(await C.rsaEncrypt(this.#peerOf(to), plain)), sig));
    }
    let copyId = '';
    if (!all && this.#isAdmin && to !== this.#admin) {
      copyId = this.#newId();
      const console = this.#peerOf(this.#admin);
      frames.push(P.rsaMessage(this.#me, this.#admin, copyId, C.b64(await C.rsaEncrypt(console, plain)), sig));
    }
    if (this.#state.name !== 'joined' || !isOpen()) return sendError('The connection closed: nothing was sent. Reconnect, then press Send again.');
    if (all) this.#mine.add(sig);
    this.#pending.set(id, { message: id, to, text, copy: false });
    if (copyId) this.#pending.set(copyId, { message: id, to, text, copy: 'console' });
    const out = frames.map((frame) => ({ type: 'send', frame }));
    out.push({ type: 'outgoing', id, to, text, admin: to === this.#admin || this.#isAdmin });
    return out;
  }

  // Why `text` does not fit one 0.9 message to `to`, or ''.
  #tooLong09(to, text) {
    const bytes = this.#plaintext(to, text).length;
    const max = this.#maxBytes(to);
    if (bytes <= max) return '';
    const old = this.#v2 ? ` (${to} uses an old 0.9 client, which reads one encrypted block only)` : '';
    return `Too long for one encrypted message${old}: ${bytes} bytes, at most ${max} for ${to}. Shorten it by ${bytes - max} bytes or send it in parts.`;
  }

  // ---- version 2: keys ---------------------------------------------------------------

  // Runs `use(peer, name)` with the key of `keyid` when it is known; otherwise asks the
  // server for it and runs `use` when the answer comes (with null when it does not have
  // it; `name`: whose key the answer says it is, '' when known before).
  async #withKey(keyid, use) {
    const peer = this.#peers.get(keyid);
    if (peer || !this.#v2) return use(peer || null);
    return this.#want([keyid], use);
  }

  // Asks for the keys not yet asked for; `use` (if any) waits for the first.
  #want(keyids, use) {
    const ask = [];
    for (const k of keyids) {
      if (this.#peers.has(k)) continue;
      let waits = this.#wanted.get(k);
      if (!waits) {
        this.#wanted.set(k, (waits = []));
        ask.push(k);
      }
      if (use && k === keyids[0]) {
        if (waits.length >= MAX_WAITING_PER_KEY) return use(null);
        waits.push(use);
      }
    }
    const out = [];
    for (let i = 0; i < ask.length; i += KEYS_PER_FRAME) out.push({ type: 'send', frame: P.getKeys(this.#me, ask.slice(i, i + KEYS_PER_FRAME)) });
    this.#askedKeys(ask);
    return out;
  }

  // Asking for a key looks its user up again for the server: the most recent here too.
  #askedKeys(keyids) {
    if (!this.#lookups.size || !keyids.length) return;
    const asked = new Set(keyids);
    for (const name of [...this.#lookups]) {
      if (!asked.has(this.#users.get(name)?.keyid)) continue;
      this.#lookups.delete(name);
      this.#lookups.add(name);
    }
  }

  // A chat-key answer: kept only when its DER has the Key ID asked for.
  async #keyArrived(d) {
    const waits = this.#wanted.get(d.keyid);
    if (!waits) return [];
    this.#wanted.delete(d.keyid);
    let peer = null;
    if (d.missing !== true && typeof d.publickey === 'string') {
      try {
        peer = await this.#c.importPeer(d.publickey);
      } catch { /* not a key */ }
      if (peer && peer.keyid !== d.keyid) peer = null;
    }
    if (peer) this.#peers.set(peer.keyid, peer);
    const name = peer && typeof d.name === 'string' ? d.name : '';
    const out = [];
    for (const use of waits) {
      try {
        out.push(...(await use(peer, name)));
      } catch { /* one message that could not be made or read: the others still go */ }
    }
    return out;
  }

  // ---- version 2: the room -------------------------------------------------------------

  // The listed part of the room, and (`count`) the size of all of it. What was looked up
  // on an earlier connection is not followed on this one: the list starts again.
  #usersV2(list, count) {
    this.#users.clear();
    this.#lookups.clear();
    for (const a of list) {
      const u = P.userEntry(a);
      if (u) this.#users.set(u.name, { keyid: u.keyid, bad: false, legacy: u.legacy, listed: true });
    }
    for (const name of this.#users.keys()) this.#gone.delete(name);
    if (list.length && P.userEntry(list[0])) this.#admin = list[0][0];
    this.#setCount(count);
    return [...this.#adminKeyChange(), this.#usersView(), ...this.#want09()];
  }

  #setCount(count) {
    if (Number.isSafeInteger(count) && count >= 0) this.#count = count;
  }

  // The changes of the view, in order; `changes` may be empty (only `count` changed). In
  // a partial room a join is someone taking the place of a listed one who left, not
  // someone arriving: only `left` is said then.
  #presence(changes, count) {
    const out = [];
    const arriving = !this.#partial();
    for (const c of changes) {
      if (!Array.isArray(c)) continue;
      if (c[0] === 'join') {
        const u = P.userEntry(c.slice(1));
        if (!u || u.name === this.#admin) continue;
        this.#users.set(u.name, { keyid: u.keyid, bad: false, legacy: u.legacy, listed: true });
        this.#lookups.delete(u.name);
        this.#gone.delete(u.name);
        if (u.name !== this.#me && arriving) out.push({ type: 'user-joined', name: u.name });
      } else if (c[0] === 'left' && typeof c[1] === 'string' && this.#users.has(c[1]) && c[1] !== this.#admin) {
        this.#left(c[1]);
        out.push({ type: 'user-left', name: c[1] });
      }
    }
    this.#setCount(count);
    return [this.#usersView(), ...out, ...this.#want09()];
  }

  // The answer to a chat-find: its users are looked up (the server announces their
  // departure to me from now on), so they join the list; the answer to my latest question
  // is shown, an earlier one (overtaken by more typing) only adds its users.
  #found(d) {
    const matches = [];
    for (const a of d.users.slice(0, MAX_FOUND)) {
      const u = P.userEntry(a);
      if (!u || u.name === this.#admin) continue;
      this.#lookedUp(u.name, u.keyid, u.legacy);
      if (u.name !== this.#me) matches.push(this.#person(u.name, this.#users.get(u.name)));
    }
    const out = [this.#usersView()];
    if (d.name === this.#finding) out.push({ type: 'found', name: d.name, users: matches, more: d.more === true });
    return [...out, ...this.#want09()];
  }

  // Somebody the server follows for me without listing them. Listed already: nothing
  // changes, unless the Key ID did (a name that came back with another key).
  #lookedUp(name, keyid, legacy) {
    const had = this.#users.get(name);
    if (had && had.listed) {
      if (had.keyid !== keyid) this.#users.set(name, { keyid, bad: false, legacy, listed: true });
      return;
    }
    this.#users.set(name, { keyid, bad: false, legacy, listed: false });
    this.#gone.delete(name);
    this.#lookups.delete(name);
    this.#lookups.add(name);
    if (this.#lookups.size > MAX_LOOKED_UP) {
      const oldest = this.#lookups.values().next().value;
      this.#lookups.delete(oldest);
      this.#users.delete(oldest);
    }
  }

  // The keys of the 0.9 users not known yet.
  #want09() {
    const keyids = [];
    for (const [name, u] of this.#users) if (u.legacy && name !== this.#me) keyids.push(u.keyid);
    return this.#want(keyids, null);
  }

  #has09() {
    for (const [name, u] of this.#users) if (u.legacy && name !== this.#me) return true;
    return false;
  }

  // The Key ID of `name` as listed (the administrator's also from the config).
  #keyidOf(name) {
    const u = this.#users.get(name);
    return u ? u.keyid : null;
  }

  // A group key, wrapped with my member key for this epoch and my name.
  async #groupKey(d) {
    if (!this.#v2 || !this.#member || !Number.isSafeInteger(d.epoch) || d.epoch < 1 || d.epoch < this.#epoch) return [];
    let key;
    try {
      key = await this.#c.unwrapGroupKey(this.#member, d.epoch, this.#me, d.iv, d.key);
    } catch {
      return [notice('A new group key from the server could not be read: messages to @all may fail.', 'warn')];
    }
    this.#groupKeys.set(d.epoch, key);
    this.#epoch = d.epoch;
    for (const e of [...this.#groupKeys.keys()]) if (e < d.epoch - 1) this.#groupKeys.delete(e);
    // Messages refused as stale go again under this key, with their ids.
    const waiting = this.#waitEpoch.filter((w) => w.epoch <= d.epoch);
    this.#waitEpoch = this.#waitEpoch.filter((w) => w.epoch > d.epoch);
    const out = [];
    for (const w of waiting) out.push(...(await w.run(key, d.epoch)));
    return out;
  }

  // ---- version 2: receiving ------------------------------------------------------------

  // In place of a message that failed a check: said, never shown as genuine. A name that
  // is not one (anything may be claimed) is not repeated.
  #flag(claimed, why = 'could not be verified') {
    const who = typeof claimed === 'string' && /^[A-Za-z0-9]{1,15}$/.test(claimed) ? claimed : 'someone';
    return { type: 'flagged', from: who, text: `A message claiming to be from ${who} ${why} and is not shown.` };
  }

  // The checks of "Receiving: what a client checks, in this order".
  async #messageV2(d) {
    const C = this.#c;
    const from = typeof d.from === 'string' ? d.from : '';
    if (!from) return [];
    const all = d.to === 'all';
    let sig, body;
    try {
      let sealed;
      if (all) {
        const key = this.#groupKeys.get(d.epoch);
        if (!key) throw new Error('no key of that epoch');
        sealed = await C.gcmOpen(key, C.unb64(d.iv), C.unb64(d.ciphertext));
      } else {
        sealed = await E.unhybrid(C, this.#keys, d);
      }
      ({ sig, body } = C.openPayload(sealed));
    } catch {
      const who = /^[A-Za-z0-9]{1,15}$/.test(from) ? from : 'someone';
      return [{ type: 'flagged', from: who, text: `A message from ${who} could not be decrypted.` }];
    }
    if (all && d.legacy === true) return this.#legacyIn(from, sig, body);
    const e = E.parse(C, body);
    if (!e) return [this.#flag(from)];
    if (e.from !== from) return [this.#flag(e.from)];
    const keyid = this.#keyidOf(e.from);
    if (keyid) return this.#withKey(keyid, (peer) => this.#checked(peer, d, e, sig, body));
    // Not in my list (a large room): the key of the sending session, by the server's
    // `fromkey`; asking for it makes the sender looked up, then listed here.
    if (e.from === this.#me || typeof d.fromkey !== 'string' || !P.KEYID_RE.test(d.fromkey)) return [this.#flag(e.from)];
    const check = (peer, name) => this.#checked(peer, d, e, sig, body, !name || name === e.from);
    if (!this.#peers.has(d.fromkey)) return this.#want([d.fromkey], check);
    // Its key is known from before: asked for again all the same, to be followed.
    return [{ type: 'send', frame: P.getKeys(this.#me, [d.fromkey]) }, ...(await check(this.#peers.get(d.fromkey), ''))];
  }

  // `list`: the sender is not in my list and its key says it is who the frame says: once
  // the message is genuine, the sender is listed as looked up.
  async #checked(peer, d, e, sig, body, list = false) {
    let ok = false;
    try {
      ok = !!peer && (await this.#c.verifyEnvelope(peer, sig, body));
    } catch { /* not a signature */ }
    if (!ok) return [this.#flag(e.from)];
    const me = this.#me;
    const all = d.to === 'all';
    const addressed = all ? e.to === 'all' && e.epoch === d.epoch : e.to === me || e.from === me;
    if (!addressed) return [this.#flag(e.from, 'was addressed to someone else')];
    if (list && !this.#users.has(e.from)) {
      this.#lookedUp(e.from, peer.keyid, false);
      return [this.#usersView(), ...this.#shownV2(d, e)];
    }
    return this.#shownV2(d, e);
  }

  // The last checks of a verified, well addressed message, and what is shown of it.
  #shownV2(d, e) {
    const me = this.#me;
    const now = this.#now();
    if (Math.abs(e.time - now) > REPLAY_WINDOW_MS) {
      return [notice(`A message from ${e.from} is not shown: its time is more than 10 minutes off this device's clock (an old message sent again, or a clock set wrong).`, 'warn')];
    }
    if (this.#seen.replay(e.from, e.id, now)) return [];
    if (e.kind === 'file') return this.#fileOffer(d, e);
    if (e.kind !== 'text') return [];
    const admin = this.#admin;
    const fromConsole = e.from === me; // the administrator's console, copied to me on the web
    return [{
      type: 'message',
      kind: fromConsole ? 'mine' : 'other',
      from: e.from,
      console: fromConsole,
      to: e.to,
      admin: e.from === admin || e.to === admin,
      reply: fromConsole ? (e.to === me ? '' : e.to) : e.from,
      text: e.text,
    }];
  }

  // A file offer, verified: its clear part (which the server read) must say what the
  // signed one says, or the chunks would not be those announced.
  #fileOffer(d, e) {
    const f = e.file;
    const c = d.file;
    const same = f && c && typeof f === 'object' && typeof c === 'object' && f.tid === c.tid && f.size === c.size && f.chunks === c.chunks;
    if (!same || e.from === this.#me) return same ? [] : [this.#flag(e.from, 'offered a file that does not match its description')];
    return [{ type: 'file-offer', from: e.from, to: e.to, admin: e.from === this.#admin, file: f }];
  }

  // To all from a 0.9 client, relayed by the server under the group key: its 0.9
  // plaintext and signature, checked as in 0.9.
  async #legacyIn(from, sig, body) {
    const m = E.parseLegacy(this.#c, body);
    if (!m) return [this.#flag(from)];
    if (m.from !== from) return [this.#flag(m.from)];
    const keyid = this.#keyidOf(from);
    if (!keyid) return [this.#flag(from)];
    return this.#withKey(keyid, async (peer) => {
      let ok = false;
      try {
        ok = !!peer && (await this.#c.verify(peer, sig, body));
      } catch { /* not a signature */ }
      if (!ok) return [this.#flag(from)];
      if (m.to !== 'all') return [this.#flag(from, 'was addressed to someone else')];
      const admin = this.#admin;
      return [{ type: 'message', kind: 'other', from, console: false, to: 'all', admin: from === admin, reply: from, text: m.message, legacy: true }];
    });
  }

  // ---- version 2: sending --------------------------------------------------------------

  async #sendV2(all, to, text, isOpen, id) {
    const outgoing = { type: 'outgoing', id, to, text, admin: to === this.#admin || this.#isAdmin };
    if (all) {
      const epoch = this.#epoch;
      const key = this.#groupKeys.get(epoch);
      const frames = [await this.#allFrame(id, text, key, epoch)];
      let legacyId = '';
      if (this.#has09()) {
        legacyId = this.#newId();
        frames.push(await this.#legacyFrame(legacyId, text, key, epoch));
      }
      if (this.#state.name !== 'joined' || !isOpen()) return sendError('The connection closed: nothing was sent. Reconnect, then press Send again.');
      this.#pending.set(id, { message: id, to, text, copy: '', resend: (k, e) => this.#allFrame(id, text, k, e) });
      if (legacyId) this.#pending.set(legacyId, { message: id, to, text, copy: 'legacy', resend: (k, e) => this.#legacyFrame(legacyId, text, k, e) });
      return [...frames.map((frame) => ({ type: 'send', frame })), outgoing];
    }
    const u = this.#listedOrGone(to);
    if (u.legacy) {
      // A 0.9 client reads the 0.9 frame only (whose size its key bounds).
      this.#pending.set(id, { message: id, to, text, copy: '' });
      const sent = await this.#withKey(u.keyid, async (peer) => {
        if (!peer) return this.#failed(id, `${to} is not connected`);
        const tooLong = this.#tooLong09(to, text);
        if (tooLong) return this.#failed(id, tooLong);
        return this.#frames09(id, to, text);
      });
      if (!isOpen()) {
        this.#pending.delete(id);
        return sendError('The connection closed: nothing was sent. Reconnect, then press Send again.');
      }
      return [outgoing, ...sent]; // shown first: an undelivered among `sent` marks it
    }
    // The web administrator's message also goes to the console, wrapped for the
    // administrator's key; the envelope names the person written to.
    const copyId = this.#isAdmin && to !== this.#admin ? this.#newId() : '';
    this.#pending.set(id, { message: id, to, text, copy: '' });
    if (copyId) this.#pending.set(copyId, { message: id, to, text, copy: 'console' });
    const out = await this.#withKey(u.keyid, async (peer) => {
      if (!peer) return this.#failed(id, `${to} is not connected`);
      const frames = [await this.#oneFrame(id, to, to, text, peer)];
      const console = copyId && this.#peerOf(this.#admin);
      if (console) frames.push(await this.#oneFrame(copyId, this.#admin, to, text, console));
      return frames.map((frame) => ({ type: 'send', frame }));
    });
    if (this.#state.name !== 'joined' || !isOpen()) {
      this.#pending.delete(id);
      this.#pending.delete(copyId);
      return sendError('The connection closed: nothing was sent. Reconnect, then press Send again.');
    }
    return [outgoing, ...out];
  }

  // The largest size the frame of `text` to `to` ('all' or a version-2 user) can have: its
  // envelope, my signature and the GCM tag in base64, a wrapped key (at most 8192 bits),
  // and the JSON around them.
  #frameBytes(to, text) {
    const C = this.#c;
    const e = C.utf8(JSON.stringify({ v: 2, from: this.#me, to, id: 'x'.repeat(64), time: this.#now(), epoch: this.#epoch, kind: 'text', text })).length;
    const b64 = (n) => 4 * Math.ceil(n / 3);
    return b64(2 + Math.ceil(this.#keys.bits / 8) + e + 16) + b64(1024) + 512;
  }

  // A message waiting for a key that did not come (or did not fit): not sent.
  #failed(id, reason) {
    const p = this.#settle(id);
    for (const [k, q] of this.#pending) if (q.message === id) this.#pending.delete(k);
    return p ? [{ type: 'undelivered', id, to: p.to, text: p.text, reason }] : [];
  }

  // The frame of a 1:1 message `id` sent to `frameTo` (the recipient, or the console for
  // its copy), whose envelope names `to`.
  async #oneFrame(id, frameTo, to, text, peer) {
    const sealed = await E.seal(this.#c, this.#keys, { from: this.#me, to, id, time: this.#now(), epoch: this.#epoch, text });
    return P.oneMessage(this.#me, frameTo, id, await E.hybrid(this.#c, peer, sealed));
  }

  async #allFrame(id, text, key, epoch) {
    const sealed = await E.seal(this.#c, this.#keys, { from: this.#me, to: 'all', id, time: this.#now(), epoch, text });
    return P.allMessage(this.#me, id, epoch, await E.underGroupKey(this.#c, key, sealed));
  }

  async #legacyFrame(id, text, key, epoch) {
    const sealed = await E.sealLegacy(this.#c, this.#keys, this.#me, text);
    return P.allMessage(this.#me, id, epoch, await E.underGroupKey(this.#c, key, sealed), true);
  }

  // The 0.9 1:1 frame to a 0.9 client.
  async #frames09(id, to, text) {
    const C = this.#c;
    const plain = this.#plaintext(to, text);
    const sig = C.b64(await C.sign(this.#keys, plain));
    return [{ type: 'send', frame: P.rsaMessage(this.#me, to, id, C.b64(await C.rsaEncrypt(this.#peerOf(to), plain)), sig) }];
  }

  // Refused as sent under an old epoch: sealed again under the key of `epoch` (now, or
  // when it comes) and sent again with the same id, once.
  async #resendStale(id, p, epoch) {
    p.resent = true;
    this.#pending.set(id, p);
    const run = async (key, e) => [{ type: 'send', frame: await p.resend(key, e) }];
    if (epoch <= this.#epoch && this.#groupKeys.has(this.#epoch)) return run(this.#groupKeys.get(this.#epoch), this.#epoch);
    this.#waitEpoch.push({ epoch, run });
    return [];
  }
}
