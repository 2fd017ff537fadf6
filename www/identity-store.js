// "Remember me on this device": my key pair, my name and the keys I verified of others,
// kept in this browser's IndexedDB — only once the person ticked the box, so that a
// private window, or anyone who never asked, leaves no trace. The private keys are
// stored as WebCrypto CryptoKeys that cannot be exported (extractable: false): the page
// can sign and decrypt with them after a reload, but no script can read them out.
// "Forget this device" deletes the whole database.

const DB = 'dyspatcher';
const VERSION = 1;
const IDENTITY = 'identity'; // one record, key 'me': { name, keys }
const VERIFIED = 'verified'; // { name, keyid }, one per person

const done = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

const finished = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });

// The database, or null when it does not exist and `create` is false: opening must not
// create it, or merely loading the page would leave an (empty) database behind. Where the
// engine lists its databases, one not listed is not opened at all (WebKit keeps a
// database whose creation was aborted); elsewhere the creation is aborted.
async function open(idb, create) {
  if (!create && typeof idb.databases === 'function') {
    const names = (await idb.databases()).map((d) => d.name);
    if (!names.includes(DB)) return null;
  }
  return new Promise((resolve, reject) => {
    const req = idb.open(DB, VERSION);
    let aborted = false;
    req.onupgradeneeded = (e) => {
      if (!create && e.oldVersion === 0) {
        aborted = true;
        req.transaction.abort(); // a new database aborted at its creation is not kept
        return;
      }
      const db = req.result;
      if (!db.objectStoreNames.contains(IDENTITY)) db.createObjectStore(IDENTITY);
      if (!db.objectStoreNames.contains(VERIFIED)) db.createObjectStore(VERIFIED, { keyPath: 'name' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = (e) => {
      if (aborted) {
        e.preventDefault();
        resolve(null);
      } else reject(req.error);
    };
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

// A copy of the key set (crypto.js) fit for storing: every private key non-extractable
// (an extractable one, as custom PEM keys are imported, is exported once and imported
// again without the right to export it), and without the PKCS#8 bytes.
export async function storable(keys, subtle = globalThis.crypto.subtle) {
  const out = {};
  for (const [field, value] of Object.entries(keys)) {
    if (field === 'pkcs8') continue;
    if (value instanceof CryptoKey && value.type === 'private' && value.extractable) {
      const der = await subtle.exportKey('pkcs8', value);
      const alg = { name: value.algorithm.name, hash: value.algorithm.hash && value.algorithm.hash.name };
      out[field] = await subtle.importKey('pkcs8', der, alg, false, value.usages);
    } else out[field] = value;
  }
  return out;
}

// What this device remembers: { name, keys, verified: Map name -> Key ID }, or null.
export async function load(idb = globalThis.indexedDB) {
  if (!idb) return null;
  const db = await open(idb, false);
  if (!db) return null;
  try {
    const tx = db.transaction([IDENTITY, VERIFIED], 'readonly');
    const [me, verified] = await Promise.all([done(tx.objectStore(IDENTITY).get('me')), done(tx.objectStore(VERIFIED).getAll())]);
    if (!me || !me.keys || typeof me.name !== 'string') return null;
    return { name: me.name, keys: { ...me.keys, pkcs8: null }, verified: new Map(verified.map((v) => [v.name, v.keyid])) };
  } finally {
    db.close();
  }
}

// Remember `name`, the key set and the verified keys (Map name -> Key ID) on this device.
export async function remember(name, keys, verified, idb = globalThis.indexedDB) {
  const stored = await storable(keys);
  const db = await open(idb, true);
  try {
    const tx = db.transaction([IDENTITY, VERIFIED], 'readwrite');
    tx.objectStore(IDENTITY).put({ name, keys: stored, at: Date.now() }, 'me');
    writeVerified(tx.objectStore(VERIFIED), verified);
    await finished(tx);
  } finally {
    db.close();
  }
}

// The verified keys changed: stored when this device remembers, nothing otherwise.
export async function saveVerified(verified, idb = globalThis.indexedDB) {
  if (!idb) return false;
  const db = await open(idb, false);
  if (!db) return false;
  try {
    const tx = db.transaction(VERIFIED, 'readwrite');
    writeVerified(tx.objectStore(VERIFIED), verified);
    await finished(tx);
    return true;
  } finally {
    db.close();
  }
}

function writeVerified(store, verified) {
  store.clear();
  for (const [name, keyid] of verified) store.put({ name, keyid });
}

// Erase everything this page stored on this device.
export function forget(idb = globalThis.indexedDB) {
  if (!idb) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const req = idb.deleteDatabase(DB);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve(); // deleted once the other tabs close it
  });
}
