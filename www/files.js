// Files over version 2 (docs/PROTOCOL.md, "Version 2 — files"), with no DOM and no socket:
// the transfers this page sends and receives. A file is encrypted under a fresh key F,
// cut in chunks of CHUNK_SIZE bytes, each sealed with AES-GCM under an AAD naming the
// sender, the transfer, the chunk's place and the count, so that a missing, reordered,
// altered or foreign chunk fails. The offer (name, type, size, hash, F) travels as a signed
// version-2 message, made by the session; this module makes and reads the chunks, keeps
// to the server's window and checks the whole file's SHA-256 before it is shown.
//
// Every call returns (a promise of) outputs, handled one call at a time in call order:
//   send { frame }                          a frame for the socket
//   file-incoming { row, tid, from, to, admin, name, size }   an offer taken: show its row
//   file-refused-offer { from, text }       an offer not taken, and why
//   file-progress { row, dir, done, total, text }   dir 'out' | 'in'; done/total in bytes, or
//                                           (to all in a partial room, once the file is out)
//                                           in recipients with an outcome
//   file-note { row, dir, text, level }     a line under the transfer (e.g. one recipient)
//   file-complete { row, tid, from, name, mime, preview, bytes }   received and verified;
//                                           preview: an image type whose magic bytes match, or ''
//   file-sent { row, text }                 every recipient has it (the window reached the end)
//   file-failed { row, dir, text }          the transfer ended without the file
// `row` (rowOf) names the transfer's line in the log.
//
// Cryptography comes in through `C` (crypto.js), as for the session.

import { ID_RE } from './protocol.js';

// Raw bytes per chunk: the server's `max_file_chunk_bytes` (a chunk frame, base64 and
// all, stays under its frame limit).
export const CHUNK_SIZE = 32768;
// Chunks a sender may be ahead of the server's `acked` (the server's `file_window`).
export const FILE_WINDOW = 4;
// The page reads no larger file, and takes no larger offer: it holds a file whole in
// memory (to hash it, and to show it). The server's own cap (25 MiB by default) is lower.
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
// Transfers received at once; an offer beyond it is declined (a file-cancel).
export const MAX_INCOMING = 16;
// Chunks that came before their offer was read (its sender's key was being fetched):
// at most the window of this many transfers are kept; more are dropped.
export const MAX_EARLY_TRANSFERS = 16;
// A shown file name is cut to this many characters.
export const MAX_NAME = 120;

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];

export const chunkCount = (size, chunkSize = CHUNK_SIZE) => Math.max(1, Math.ceil(size / chunkSize));

export const chunkAad = (C, from, tid, seq, chunks) => C.utf8(`dyspatcher file v2\n${from}\n${tid}\n${seq}\n${chunks}`);

// The image type the first bytes show, or ''.
export function sniffImage(b) {
  const at = (i, ...v) => v.every((x, j) => b[i + j] === x);
  if (b.length >= 3 && at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (b.length >= 8 && at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (b.length >= 6 && (at(0, 0x47, 0x49, 0x46, 0x38, 0x37, 0x61) || at(0, 0x47, 0x49, 0x46, 0x38, 0x39, 0x61))) return 'image/gif';
  if (b.length >= 12 && at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return '';
}

// Shown as a picture only when the declared type is one of the four and the bytes agree:
// a file that claims to be an image and is something else is offered as a download.
export function previewType(declared, bytes) {
  const sniffed = sniffImage(bytes);
  return sniffed && IMAGE_TYPES.includes(declared) && sniffed === declared ? sniffed : '';
}

// A file name as shown and as saved: no path, no control or bidirectional-override
// characters, no leading dots, at most MAX_NAME characters; 'file' when nothing is left.
export function sanitizeName(name) {
  let n = String(name ?? '');
  n = n.replace(/^.*[/\\]/, '');
  n = n.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');
  n = n.replace(/[<>:"|?*]/g, '_').trim().replace(/^\.+/, '');
  const chars = [...n];
  if (chars.length > MAX_NAME) {
    const dot = n.lastIndexOf('.');
    const ext = dot > 0 && n.length - dot <= 10 ? n.slice(dot) : '';
    n = chars.slice(0, MAX_NAME - [...ext].length).join('') + ext;
  }
  return n || 'file';
}

// A MIME type as declared, or '' when it is not one (it is shown nowhere but decides a preview).
const cleanType = (t) => (typeof t === 'string' && /^[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,80}$/i.test(t) ? t.toLowerCase() : '');

// A number of people as the list's heading writes it (9,999).
const count = (n) => n.toLocaleString('en-US');

export function sizeText(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// The envelope's `file` of an offer, checked: { tid, name, type, size, chunks, chunkSize,
// sha256, key } or null.
export function parseOffer(f) {
  if (!f || typeof f !== 'object') return null;
  const { tid, name, type, size, chunks, sha256, key } = f;
  const chunkSize = f['chunk-size'];
  if (typeof tid !== 'string' || !ID_RE.test(tid) || typeof name !== 'string') return null;
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_BYTES) return null;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > CHUNK_SIZE) return null;
  if (chunks !== chunkCount(size, chunkSize)) return null;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256) || typeof key !== 'string') return null;
  return { tid, name: sanitizeName(name), type: cleanType(type), size, chunks, chunkSize, sha256, key };
}

let tidSeq = 0;
const tidPrefix = Math.random().toString(36).slice(2, 8);
export const newTid = () => `f${tidPrefix}${(++tidSeq).toString(36)}`;

const frame = (cmd, user, data) => JSON.stringify({ cmd, user, data });
// The row a transfer is shown in: my tids are mine, another sender's only unique with its name.
export const rowOf = (dir, tid, from = '') => (dir === 'out' ? `out\n${tid}` : `in\n${from}\n${tid}`);
const failed = (row, dir, text) => ({ type: 'file-failed', row, dir, text });

export class Transfers {
  #c;
  #me = () => '';
  #queue = Promise.resolve();
  #out = new Map(); // tid -> outgoing transfer
  #in = new Map(); // "from\ntid" -> incoming transfer
  #early = new Map(); // "from\ntid" -> [chunk data] that came before the offer was read

  // `me()`: the name the server registered (frames carry it, chunks' AAD names it).
  constructor(C, { me }) {
    this.#c = C;
    this.#me = me;
  }

  #run(fn) {
    const done = this.#queue.then(fn);
    this.#queue = done.catch(() => {});
    return done;
  }

  // ---- sending ---------------------------------------------------------------------

  // A file to send to `to` ('all' or a name): its offer's envelope `file` and the clear
  // part for the server. Nothing is sent before accepted(tid).
  prepare({ to, name, type, bytes }) {
    return this.#run(async () => {
      const C = this.#c;
      if (bytes.length > MAX_FILE_BYTES) throw new Error(`too large: ${sizeText(bytes.length)}, this page sends at most ${sizeText(MAX_FILE_BYTES)}`);
      const tid = newTid();
      const raw = C.randomBytes(32);
      const chunks = chunkCount(bytes.length);
      const file = { tid, name: sanitizeName(name), type: cleanType(type) || 'application/octet-stream', size: bytes.length, chunks, 'chunk-size': CHUNK_SIZE, sha256: await C.sha256hex(bytes), key: C.b64(raw) };
      this.#out.set(tid, { tid, to, bytes, size: bytes.length, chunks, key: await C.importSecret(raw), next: 0, acked: 0, state: 'offered', from: this.#me(), audience: to === 'all' ? null : [to], outcomes: new Map(), expected: 0, got: 0, lost: 0 });
      return { tid, file, clear: { tid, size: bytes.length, chunks } };
    });
  }

  // Who the offer went to, as this page saw the room (to all: the version-2 members but me
  // and the console): the transfer is over for me once each has an outcome, since the
  // server ends a transfer with its last recipient's file-status and no further window.
  // `expected` (to all in a room listed only in part): about how many the server relays it
  // to, listed or not; their outcomes are counted against it rather than each shown.
  offered(tid, audience, expected = 0) {
    return this.#run(() => {
      const t = this.#out.get(tid);
      if (!t || t.to !== 'all') return [];
      t.audience = audience;
      if (Number.isSafeInteger(expected) && expected > 0) {
        t.expected = Math.max(expected, audience.length);
        t.listed = new Set(audience);
      }
      return [];
    });
  }

  // The server took the offer: the first window of chunks goes.
  accepted(tid) {
    return this.#run(async () => {
      const t = this.#out.get(tid);
      if (!t || t.state !== 'offered') return [];
      t.state = 'sending';
      return [this.#outProgress(t), ...(await this.#fill(t))];
    });
  }

  // The offer was refused (or could not be sent).
  refused(tid, reason) {
    return this.#run(() => {
      const t = this.#out.get(tid);
      if (!t) return [];
      this.#out.delete(tid);
      // The server's reasons say "not sent" themselves.
      return [failed(rowOf('out', tid), 'out', /not sent/i.test(reason) ? reason : `Not sent: ${reason}`)];
    });
  }

  // file-window: every recipient still in the transfer has the first `acked` chunks.
  window(tid, acked) {
    return this.#run(async () => {
      const t = this.#out.get(tid);
      if (!t || t.state !== 'sending' || !Number.isSafeInteger(acked) || acked < t.acked || acked > t.chunks) return [];
      t.acked = acked;
      return [this.#outProgress(t), ...(await this.#fill(t))];
    });
  }

  // file-status about one recipient.
  status(tid, to, state, reason) {
    return this.#run(() => {
      const t = this.#out.get(tid);
      if (!t || (state !== 'delivered' && state !== 'failed' && state !== 'cancelled')) return [];
      const who = typeof to === 'string' && /^[A-Za-z0-9]{1,15}$/.test(to) ? to : 'a recipient';
      const why = typeof reason === 'string' && reason ? reason : state === 'cancelled' ? `${who} cancelled the file.` : `the file was not delivered to ${who}.`;
      if (t.expected) return this.#outcomeOfMany(t, who, state, why);
      t.outcomes.set(who, state);
      const row = rowOf('out', tid);
      const done = t.audience && t.audience.every((n) => t.outcomes.has(n));
      if (t.to !== 'all') {
        // To one person: that person was the transfer.
        if (!done) return [];
        this.#out.delete(tid);
        return [state === 'delivered' ? { type: 'file-sent', row, text: `Sent: ${who} has it.` } : failed(row, 'out', why)];
      }
      const out = [state === 'delivered' ? { type: 'file-note', row, dir: 'out', text: `Delivered to ${who}.`, level: '' } : { type: 'file-note', row, dir: 'out', text: why, level: 'warn' }];
      if (done) {
        this.#out.delete(tid);
        const got = [...t.outcomes.values()].filter((v) => v === 'delivered').length;
        out.push(got ? { type: 'file-sent', row, text: got === t.outcomes.size ? 'Sent: every recipient has it.' : `Sent to ${got} of ${t.outcomes.size}.` } : failed(row, 'out', 'Nobody received it.'));
      }
      return out;
    });
  }

  // To all in a partial room, thousands of outcomes: counted, and a line only for a listed
  // person who did not get it (so at most the audience's lines). Over once as many came as
  // the room had recipients and each listed one has its own; even then it says how many
  // have it, not "everybody": `expected` is the server's `count`, not its list.
  #outcomeOfMany(t, who, state, why) {
    const row = rowOf('out', t.tid);
    const listed = t.listed.has(who);
    if (listed && t.outcomes.has(who)) return [];
    if (listed) t.outcomes.set(who, state);
    if (state === 'delivered') t.got += 1;
    else t.lost += 1;
    const out = listed && state !== 'delivered' ? [{ type: 'file-note', row, dir: 'out', text: why, level: 'warn' }] : [];
    if (t.got + t.lost < t.expected || t.outcomes.size < t.listed.size) return [...out, this.#outProgress(t)];
    this.#out.delete(t.tid);
    const lost = t.lost ? `; ${count(t.lost)} did not get it` : '';
    out.push(t.got ? { type: 'file-sent', row, text: `Sent: ${count(t.got)} ${t.got === 1 ? 'has' : 'have'} it${lost}.` } : failed(row, 'out', 'Nobody received it.'));
    return out;
  }

  // Chunks up to the window, each read and sealed when it may go.
  async #fill(t) {
    const C = this.#c;
    const out = [];
    while (t.next < t.chunks && t.next < t.acked + FILE_WINDOW) {
      const seq = t.next++;
      const part = t.bytes.subarray(seq * CHUNK_SIZE, Math.min(t.bytes.length, (seq + 1) * CHUNK_SIZE));
      const { iv, ct } = await C.gcmSeal(t.key, part, chunkAad(C, t.from, t.tid, seq, t.chunks));
      out.push({ type: 'send', frame: frame('file-chunk', t.from, { tid: t.tid, seq, iv: C.b64(iv), data: C.b64(ct) }) });
    }
    // Every chunk is out: the outcomes may take long to come (thousands of recipients).
    if (t.next === t.chunks) t.bytes = null;
    return out;
  }

  #outProgress(t) {
    const done = Math.min(t.size, t.acked * CHUNK_SIZE);
    let text = t.acked === 0 ? 'Sending…' : `Sending… ${sizeText(done)} of ${sizeText(t.size)}`;
    if (t.to === 'all' && t.acked > 0) text += ' (as far as the slowest recipient)';
    if (t.expected) {
      const n = t.got + t.lost;
      const lost = t.lost ? `, ${count(t.lost)} did not get it` : '';
      // A delivery means every chunk is out: from then on the bar counts people.
      // More than expected: `count` was older than the room (or the console is on the web).
      const all = Math.max(t.expected, n);
      if (t.got) return { type: 'file-progress', row: rowOf('out', t.tid), dir: 'out', done: n, total: all, text: `Sent to everybody: ${count(t.got)} of about ${count(all)} have it so far${lost}.` };
      text += ` to about ${count(t.expected)} people` + (n ? `; nobody has it yet${lost}` : '');
    }
    return { type: 'file-progress', row: rowOf('out', t.tid), dir: 'out', done, total: t.size, text };
  }

  // ---- receiving -------------------------------------------------------------------

  // A verified offer from `from` (the session checked its signature, its addressing and
  // that its clear part matches). Returns outputs; the first is file-incoming when taken.
  offer(from, to, admin, envelopeFile) {
    return this.#run(async () => {
      const f = parseOffer(envelopeFile);
      if (!f) return [{ type: 'file-refused-offer', from, text: `A file from ${from} could not be read (its description is malformed) and is not shown.` }];
      const k = `${from}\n${f.tid}`;
      if (this.#in.has(k)) return [];
      const early = this.#early.get(k) || [];
      this.#early.delete(k);
      const cancel = { type: 'send', frame: frame('file-cancel', this.#me(), { tid: f.tid, from }) };
      if (this.#in.size >= MAX_INCOMING) return [cancel, { type: 'file-refused-offer', from, text: `A file from ${from} was declined: ${MAX_INCOMING} files are already arriving.` }];
      let key;
      try {
        key = await this.#c.importSecret(this.#c.unb64(f.key));
      } catch {
        return [cancel, { type: 'file-refused-offer', from, text: `A file from ${from} could not be read (its key is malformed) and is not shown.` }];
      }
      const t = { ...f, from, to, key, seq: 0, parts: [], got: 0 };
      this.#in.set(k, t);
      const out = [{ type: 'file-incoming', row: rowOf('in', f.tid, from), tid: f.tid, from, to, admin, name: f.name, size: f.size }, this.#inProgress(t)];
      for (const d of early) out.push(...(await this.#chunkIn(t, d)));
      return out;
    });
  }

  // A relayed file-chunk frame's data.
  chunk(d) {
    return this.#run(async () => {
      if (!d || typeof d.from !== 'string' || typeof d.tid !== 'string') return [];
      const k = `${d.from}\n${d.tid}`;
      const t = this.#in.get(k);
      if (t) return this.#chunkIn(t, d);
      // Its offer may still be on its way through the checks (a key being fetched): kept,
      // at most a window of it. The server sends no more before an ack.
      let early = this.#early.get(k);
      if (!early) {
        if (this.#early.size >= MAX_EARLY_TRANSFERS || !ID_RE.test(d.tid)) return [];
        this.#early.set(k, (early = []));
      }
      if (early.length < FILE_WINDOW) early.push(d);
      return [];
    });
  }

  async #chunkIn(t, d) {
    const C = this.#c;
    if (d.seq !== t.seq) return this.#inFailed(t, `a piece of ${t.name} from ${t.from} arrived out of order`, true);
    let part;
    try {
      part = await C.gcmOpen(t.key, C.unb64(d.iv), C.unb64(d.data), chunkAad(C, t.from, t.tid, t.seq, t.chunks));
    } catch {
      return this.#inFailed(t, `a piece of ${t.name} from ${t.from} could not be decrypted (altered, or not from ${t.from})`, true);
    }
    const last = t.seq === t.chunks - 1;
    const expected = last ? t.size - t.seq * t.chunkSize : t.chunkSize;
    if (part.length !== expected) return this.#inFailed(t, `a piece of ${t.name} from ${t.from} has the wrong size`, true);
    t.parts.push(part);
    t.got += part.length;
    const ack = { type: 'send', frame: frame('file-ack', this.#me(), { tid: t.tid, from: t.from, seq: t.seq }) };
    t.seq += 1;
    if (!last) return [ack, this.#inProgress(t)];
    this.#in.delete(`${t.from}\n${t.tid}`);
    const bytes = new Uint8Array(t.size);
    let at = 0;
    for (const p of t.parts) {
      bytes.set(p, at);
      at += p.length;
    }
    t.parts = [];
    if ((await C.sha256hex(bytes)) !== t.sha256) return [ack, failed(rowOf('in', t.tid, t.from), 'in', `${t.name} from ${t.from} is not the file that was announced (its SHA-256 differs): not shown.`)];
    return [ack, this.#inProgress(t), { type: 'file-complete', row: rowOf('in', t.tid, t.from), tid: t.tid, from: t.from, name: t.name, mime: t.type, preview: previewType(t.type, bytes), bytes }];
  }

  #inFailed(t, why, cancel) {
    this.#in.delete(`${t.from}\n${t.tid}`);
    const out = [failed(rowOf('in', t.tid, t.from), 'in', `Not received: ${why}.`)];
    if (cancel) out.unshift({ type: 'send', frame: frame('file-cancel', this.#me(), { tid: t.tid, from: t.from }) });
    return out;
  }

  #inProgress(t) {
    return { type: 'file-progress', row: rowOf('in', t.tid, t.from), dir: 'in', done: t.got, total: t.size, text: `Receiving… ${sizeText(t.got)} of ${sizeText(t.size)}` };
  }

  // A file-cancel from the server: the sender cancelled, or this page was removed.
  cancelled(d) {
    return this.#run(() => {
      if (!d || typeof d.from !== 'string' || typeof d.tid !== 'string') return [];
      const k = `${d.from}\n${d.tid}`;
      this.#early.delete(k);
      const t = this.#in.get(k);
      if (!t) return [];
      this.#in.delete(k);
      const reason = typeof d.reason === 'string' && d.reason ? d.reason : `${t.from} cancelled the file.`;
      return [failed(rowOf('in', t.tid, t.from), 'in', `Not received: ${reason}`)];
    });
  }

  // ---- either side -----------------------------------------------------------------

  // The person cancels `tid` (dir 'out': mine; 'in': from `from`).
  cancel(dir, tid, from = '') {
    return this.#run(() => {
      if (dir === 'out') {
        const t = this.#out.get(tid);
        if (!t) return [];
        this.#out.delete(tid);
        // Sent even before the offer was taken: the server may have set the transfer up.
        const sent = { type: 'send', frame: frame('file-cancel', t.from, { tid, reason: `${t.from} cancelled the file.` }) };
        return [sent, failed(rowOf('out', tid), 'out', 'Cancelled: the file was not sent (whoever got all of it keeps it).')];
      }
      const k = `${from}\n${tid}`;
      const t = this.#in.get(k);
      if (!t) return [];
      this.#in.delete(k);
      return [{ type: 'send', frame: frame('file-cancel', this.#me(), { tid, from }) }, failed(rowOf('in', tid, from), 'in', 'Cancelled: you stopped this file.')];
    });
  }

  // A key changed: what goes to or comes from `name` stops (the person may be someone else).
  keyChanged(name) {
    return this.#run(() => {
      const out = [];
      for (const [tid, t] of this.#out) {
        if (t.to !== name) continue;
        this.#out.delete(tid);
        out.push({ type: 'send', frame: frame('file-cancel', t.from, { tid, reason: `${t.from} stopped the file: ${name}'s key changed.` }) });
        out.push(failed(rowOf('out', tid), 'out', `Stopped: ${name}'s key changed. Compare codes with ${name}, then send it again.`));
      }
      for (const [k, t] of this.#in) {
        if (t.from !== name) continue;
        this.#in.delete(k);
        out.push({ type: 'send', frame: frame('file-cancel', this.#me(), { tid: t.tid, from: t.from }) }, failed(rowOf('in', t.tid, t.from), 'in', `Stopped: ${name}'s key changed while the file arrived.`));
      }
      return out;
    });
  }

  // The connection closed: the server ended every transfer.
  closed() {
    return this.#run(() => {
      const out = [];
      for (const tid of this.#out.keys()) out.push(failed(rowOf('out', tid), 'out', 'Not sent: the connection was lost. Send it again once reconnected.'));
      for (const t of this.#in.values()) out.push(failed(rowOf('in', t.tid, t.from), 'in', 'Not received: the connection was lost.'));
      this.#out.clear();
      this.#in.clear();
      this.#early.clear();
      return out;
    });
  }
}
