// dyspatcher frames: {"cmd", "user", "data"} as one JSON text frame (docs/PROTOCOL.md).

export const NAME_RE = /^[a-z0-9]{4,15}$/;
export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function socketUrl(loc = location) {
  return (loc.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + loc.host + '/ws';
}

// Why a name is refused, or '' when it is fine.
export function nameProblem(name) {
  if (name === '') return 'Enter a name.';
  if (name.length < 4) return 'Too short: at least 4 characters.';
  if (name.length > 15) return 'Too long: at most 15 characters.';
  if (/[A-Z]/.test(name)) return 'Use lower case letters only.';
  if (!NAME_RE.test(name)) return 'Only letters a-z and digits 0-9, no spaces or symbols.';
  return '';
}

export const KEYID_RE = /^[0-9a-f]{64}$/;

// `prove`: the page proves it holds the private key (a chat-challenge comes back); `v: 2`
// asks for version 2 (a server that does not know it answers as 0.9 did).
export const join = (user, spkiB64) =>
  JSON.stringify({ cmd: 'signal', user, data: { code: 'chat-join', publickey: spkiB64, prove: true, v: 2 } });

export const proof = (user, signature) =>
  JSON.stringify({ cmd: 'signal', user, data: { code: 'chat-proof', signature } });

export const rsaMessage = (user, to, id, ciphertext, signature) =>
  JSON.stringify({ cmd: 'message', user, data: { algo: 'rsa', ciphertext, signature, to, id } });

export const aesMessage = (user, id, iv, ciphertext, signature) =>
  JSON.stringify({ cmd: 'message', user, data: { algo: 'aes', iv, ciphertext, signature, id } });

// ---- version 2 ----------------------------------------------------------------------------

export const getKeys = (user, keyids) => JSON.stringify({ cmd: 'signal', user, data: { code: 'chat-getkeys', keyids } });

// The start of a name, as chat-find takes it (docs/PROTOCOL.md, "Large rooms").
export const FIND_RE = /^[a-z0-9]{1,15}$/;

export const find = (user, name) => JSON.stringify({ cmd: 'signal', user, data: { code: 'chat-find', name } });

// Why the text of the search box cannot be looked for, or '' (also for an empty box).
export function findProblem(text) {
  const t = text.trim().toLowerCase();
  if (t === '' || FIND_RE.test(t)) return '';
  if (t.length > 15) return 'Names have at most 15 characters.';
  return 'Names have only letters a–z and digits 0–9.';
}

// A 1:1 message: `wrapped`, `iv`, `ciphertext` in base64. `file`: a file offer's clear
// part for the server ({ tid, size, chunks }).
export const oneMessage = (user, to, id, { wrapped, iv, ciphertext }, file = null) =>
  JSON.stringify({ cmd: 'message', user, data: { v: 2, to, id, wrapped, iv, ciphertext, ...(file ? { file } : {}) } });

// To everybody under the group key of `epoch`; `legacy`: the copy for 0.9 clients.
export const allMessage = (user, id, epoch, { iv, ciphertext }, legacy = false, file = null) =>
  JSON.stringify({ cmd: 'message', user, data: { v: 2, to: 'all', ...(legacy ? { legacy: true } : {}), id, epoch, iv, ciphertext, ...(file ? { file } : {}) } });

// One entry of chat-users, or a join of chat-presence without its first element:
// [name, keyid, "0.9"?] -> { name, keyid, legacy }, or null when it is not one.
export function userEntry(a) {
  if (!Array.isArray(a) || typeof a[0] !== 'string' || !a[0] || typeof a[1] !== 'string' || !KEYID_RE.test(a[1])) return null;
  return { name: a[0], keyid: a[1], legacy: a[2] === '0.9' };
}

// Parse a server frame; null when it is not one.
export function parse(text) {
  let f;
  try {
    f = JSON.parse(text);
  } catch {
    return null;
  }
  if (!f || typeof f !== 'object' || typeof f.cmd !== 'string' || !f.data || typeof f.data !== 'object') return null;
  return { cmd: f.cmd, user: typeof f.user === 'string' ? f.user : '', data: f.data };
}

// The users list of a chat-userslist signal: [{name, hash, text}]
export function usersList(data) {
  let list = data.userslist;
  if (typeof list === 'string') {
    try {
      list = JSON.parse(list);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(list)) return [];
  return list
    .filter((u) => u && typeof u.name === 'string' && u.publickey && typeof u.publickey.text === 'string')
    .map((u) => ({ name: u.name, hash: String(u.publickey.hash || ''), text: u.publickey.text }));
}

// Split "@name text" -> {to, text}; null when there is no destination.
export function splitDestination(value) {
  const m = /^@([A-Za-z0-9]+)(?:[ \t\n]+([\s\S]*))?$/.exec(value.trim());
  if (!m) return null;
  return { to: m[1], text: (m[2] || '').trim() };
}

let seq = 0;
const prefix = Math.random().toString(36).slice(2, 8);
export const newId = () => `m${prefix}${(++seq).toString(36)}`;
