// The room that the page's version-2 unit tests share (session-v2.test.mjs,
// session-files.test.mjs): the keys of tests/vectors/, and a "server" of a few functions
// that write the frames the contract describes (member keys wrapped with RSA-OAEP, group
// keys with AES-GCM and their AAD) and relay what one session sends to another, adding
// `from` as the server does. Not served (build.rs), not a test file itself.

import { readFileSync } from 'node:fs';
import * as C from './crypto.js';
import { Session } from './session.js';
import assert from 'node:assert/strict';

const vectorFile = (name) => readFileSync(new URL(`../tests/vectors/${name}`, import.meta.url), 'utf8');
export const KEYS = {
  alice: await C.importPem(vectorFile('alice.pkcs8.pem'), vectorFile('alice.pub.pem')),
  bob: await C.importPem(vectorFile('bob.pkcs8.pem'), vectorFile('bob.pub.pem')),
  admin: await C.importPem(vectorFile('admin.pkcs1.pem'), vectorFile('admin.pub.pem')),
  carol: await C.importPem(vectorFile('small2048.pkcs8.pem'), vectorFile('small2048.pub.pem')),
};

// A long text in many scripts: emoji with skin-tone modifiers and ZWJ sequences, flags,
// CJK, Arabic and Hebrew (right to left), combining marks, and characters JSON escapes.
const MIXED = '👍🏽 👩🏾‍💻 🇫🇷 漢字かなカナ 한국어 مرحبا بالعالم שלום עולם e\u0301 a\u0308\u0323 Z\u0351\u0352 \u200f "q" \\ \t\n ';
export const LONG = MIXED.repeat(Math.ceil(20000 / [...MIXED].length)).trim();

// ---- the server ---------------------------------------------------------------------

export const frame = (cmd, data, user = '') => JSON.stringify({ cmd, user, data });
export const signal = (code, more = {}) => frame('signal', { code, ...more });

// The state a server keeps for one version-2 member.
export class Member {
  constructor(name, keys) {
    this.name = name;
    this.keys = keys;
    this.m = C.randomBytes(32);
  }

  async config({ admin = false } = {}) {
    const peer = await C.importPeer(this.keys.spkiB64);
    return frame('config', {
      v: 2, 'disable-all': false, user: this.name, 'is-admin': admin, keyid: this.keys.keyid,
      admin: 'ADMIN', adminkey: { hash: KEYS.admin.keyid, text: KEYS.admin.spkiB64 },
      memberkey: C.b64(await C.rsaEncrypt(peer, this.m)), 'max-text': 65536,
    });
  }

  // chat-groupkey of `epoch`; `name` in the AAD (another name: a key wrapped for someone else).
  async groupKey(epoch, raw, name = this.name) {
    const { iv, ct } = await C.gcmSeal(await C.importSecret(this.m), raw, C.groupKeyAad(epoch, name));
    return signal('chat-groupkey', { epoch, iv: C.b64(iv), key: C.b64(ct) });
  }
}

export const users = (...list) => signal('chat-users', { users: list });
export const keyOf = (name, keys) => signal('chat-key', { keyid: keys.keyid, name, publickey: keys.spkiB64 });

// What the server relays of a sent frame: its data with `from` the sender's name.
export const relay = (sent, from) => frame('message', { ...JSON.parse(sent).data, from });

// ---- outputs ----------------------------------------------------------------------------

export const ofType = (outputs, type) => outputs.filter((o) => o.type === type);
export const one = (outputs, type) => {
  const found = ofType(outputs, type);
  assert.equal(found.length, 1, `one ${type} in ${JSON.stringify(outputs.map((o) => o.type))}`);
  return found[0];
};
export const sent = (outputs) => ofType(outputs, 'send').map((o) => JSON.parse(o.frame));
export const sentText = (outputs) => ofType(outputs, 'send').map((o) => o.frame);

export const G1 = C.randomBytes(32);
export const G2 = C.randomBytes(32);
export const ROOM = [['ADMIN', KEYS.admin.keyid], ['alice', KEYS.alice.keyid], ['bob', KEYS.bob.keyid]];

// A version-2 session through config, group key and users list. `clock` is its time.
export async function joined(name, keys, { list = ROOM, epoch = 1, raw = G1, admin = false, as = name } = {}) {
  let n = 0;
  const clock = { t: 1764633600000 };
  const s = new Session(C, { newId: () => `${name}-${++n}`, now: () => clock.t });
  const conn = one(s.join(name, keys), 'connect').conn;
  await s.opened(conn);
  const member = new Member(as, keys);
  const feed = (text) => s.received(conn, text);
  const welcome = await feed(await member.config({ admin }));
  await feed(await member.groupKey(epoch, raw));
  const listed = await feed(users(...list));
  return { s, member, feed, clock, welcome, listed };
}

// Feeds `frameText` to `to`, answering its key requests with `keys` (name -> key set).
export async function deliver(to, frameText, keys = { alice: KEYS.alice, bob: KEYS.bob, ADMIN: KEYS.admin }) {
  let out = await to.feed(frameText);
  const all = [...out];
  for (let i = 0; i < 4; i++) {
    const asks = sent(out).filter((f) => f.data.code === 'chat-getkeys');
    if (!asks.length) break;
    out = [];
    for (const f of asks) {
      for (const keyid of f.data.keyids) {
        const [name, k] = Object.entries(keys).find(([, k]) => k.keyid === keyid) || [];
        out.push(...(await to.feed(k ? keyOf(name, k) : signal('chat-key', { keyid, missing: true }))));
      }
    }
    all.push(...out);
  }
  return all;
}
