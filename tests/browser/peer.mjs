// A chat member in node for the browser tests: the page's own Session (www/session.js) on
// node's WebCrypto (www/crypto.js), over a small WebSocket client of its own (node 20 has
// none built in, and the tests take no dependencies). It joins as the page does (version
// 2, proof of the key), answers what the server asks, and also sends frames made by hand:
// a forging member, or a witness of what the room sends.

import { request } from 'node:http';
import { randomBytes, createHash } from 'node:crypto';
import * as C from '../../www/crypto.js';
import { Session } from '../../www/session.js';
import { sleep } from './helpers.mjs';

// A WebSocket client (RFC 6455) for text frames: enough for the chat's frames.
function openSocket(url, onText, onClose) {
  const u = new URL(url);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on('upgrade', (res, socket, head) => {
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) return reject(new Error('bad Sec-WebSocket-Accept'));
      let buf = head;
      let parts = [];
      const write = (op, payload) => {
        const mask = randomBytes(4);
        const n = payload.length;
        const len = n < 126 ? Buffer.from([0x80 | n]) : n < 65536 ? Buffer.from([0x80 | 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
        const body = Buffer.from(payload);
        for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
        if (!socket.destroyed) socket.write(Buffer.concat([Buffer.from([0x80 | op]), len, mask, body]));
      };
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (buf.length < 2) return;
          const fin = buf[0] & 0x80;
          const op = buf[0] & 0x0f;
          let n = buf[1] & 0x7f;
          let off = 2;
          if (n === 126) {
            if (buf.length < 4) return;
            n = buf.readUInt16BE(2);
            off = 4;
          } else if (n === 127) {
            if (buf.length < 10) return;
            n = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + n) return;
          const payload = buf.subarray(off, off + n);
          buf = buf.subarray(off + n);
          if (op === 0x1 || op === 0x0) {
            parts.push(payload);
            if (fin) {
              onText(Buffer.concat(parts).toString('utf8'));
              parts = [];
            }
          } else if (op === 0x8) {
            write(0x8, payload.subarray(0, 2));
            socket.end();
          } else if (op === 0x9) {
            write(0xa, payload);
          }
        }
      });
      socket.on('close', onClose);
      socket.on('error', () => {});
      resolve({ send: (text) => write(0x1, Buffer.from(text, 'utf8')), close: () => { write(0x8, Buffer.from([0x03, 0xe8])); socket.end(); } });
    });
    req.end();
  });
}

export class Peer {
  // `wsUrl`: the page's WebSocket (http://host:port/ws, as ws: with http); `keys`: a
  // PKCS#8 PEM of tests/vectors, or a key set of crypto.js (Peer.newKeys()).
  static async join(wsUrl, name, keys) {
    const p = new Peer();
    p.keys = typeof keys === 'string' ? await C.importPem(keys) : keys;
    const u = new URL(wsUrl);
    p.session = new Session(C, { host: u.host });
    p.url = wsUrl;
    p.apply(p.session.join(name, p.keys));
    await p.until(() => p.session.state.name === 'joined' || p.session.state.name === 'closed', 'joined');
    if (p.session.state.name !== 'joined') throw new Error(`${name} did not join: ${JSON.stringify(p.session.state)}`);
    return p;
  }

  constructor() {
    this.frames = []; // every frame received, parsed
    this.outputs = []; // every output of the session
    this.socket = null;
    this.closed = false;
    this.acksFiles = false;
  }

  apply(outputs) {
    for (const o of outputs) {
      this.outputs.push(o);
      if (o.type === 'connect') this.#open(o.conn);
      else if (o.type === 'send') this.socket.send(o.frame);
    }
  }

  async #open(conn) {
    try {
      this.socket = await openSocket(
        this.url,
        (text) => {
          try {
            const f = JSON.parse(text);
            this.frames.push(f);
            if (this.acksFiles) this.#ack(f);
          } catch { /* not JSON */ }
          this.session.received(conn, text).then((o) => this.apply(o));
        },
        () => {
          this.closed = true;
          this.session.closed(conn).then((o) => this.apply(o));
        },
      );
    } catch {
      this.session.closed(conn).then((o) => this.apply(o));
      return;
    }
    this.apply(await this.session.opened(conn));
  }

  async until(pred, what, timeout = 20000) {
    const t0 = Date.now();
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() - t0 > timeout) throw new Error(`peer: no ${what} in ${timeout} ms; frames: ${JSON.stringify(this.frames.map((f) => f.data && (f.data.code || f.cmd)))}`);
      await sleep(50);
    }
  }

  // The next frame (after the `from`-th) for which pred(frame) holds.
  frame(pred, what, from = 0) {
    return this.until(() => this.frames.slice(from).find(pred), what);
  }

  // The highest group-key epoch received.
  get epoch() {
    return Math.max(0, ...this.frames.filter((f) => f.data && f.data.code === 'chat-groupkey').map((f) => f.data.epoch));
  }

  // The messages the session showed.
  shown() {
    return this.outputs.filter((o) => o.type === 'message');
  }

  // A key set of its own (one live session per key: a room of many peers needs many).
  static newKeys() {
    return C.generate(2048);
  }

  // Sends `text` to `to` as the page does (its key fetched first if need be).
  async send(to, text) {
    const out = await this.session.send(to, text, () => !this.closed, { confirmed: true });
    const err = out.find((o) => o.type === 'send-error');
    if (err) throw new Error(`peer: not sent: ${err.text}`);
    this.apply(out);
  }

  // Looks up the connected people whose name starts with `text` (chat-find): the
  // session's `found` output, once the answer came.
  find(text) {
    const from = this.outputs.length;
    this.apply(this.session.find(text));
    return this.until(() => this.outputs.slice(from).find((o) => o.type === 'found' && o.name === text), `chat-found ${text}`);
  }

  // The last users list the session showed.
  get listed() {
    const views = this.outputs.filter((o) => o.type === 'users');
    return views.length ? views[views.length - 1] : null;
  }

  // From now on, acks every file chunk relayed to it (and those already come), as a
  // recipient that keeps up would, without reading them: the sender's side is under test.
  ackFiles() {
    this.acksFiles = true;
    for (const f of this.frames) this.#ack(f);
  }

  #ack(f) {
    if (f.cmd !== 'file-chunk' || !f.data) return;
    const { tid, from, seq } = f.data;
    this.sendRaw(JSON.stringify({ cmd: 'file-ack', user: this.session.me, data: { tid, from, seq } }));
  }

  sendRaw(text) {
    this.socket.send(text);
  }

  // The public key (as crypto.js importPeer) of `keyid`, asked from the server.
  async peerKey(keyid) {
    const from = this.frames.length;
    this.sendRaw(JSON.stringify({ cmd: 'signal', user: this.session.me, data: { code: 'chat-getkeys', keyids: [keyid] } }));
    const f = await this.frame((f) => f.data && f.data.code === 'chat-key' && f.data.keyid === keyid, `chat-key ${keyid}`, from);
    return C.importPeer(f.data.publickey);
  }

  close() {
    this.socket?.close();
    return this.until(() => this.closed, 'close');
  }
}
