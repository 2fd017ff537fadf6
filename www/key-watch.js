// Who has which key, as this page knows it: the Key ID each name had when this page last
// saw it, and the ones the person marked as verified (compared codes). A name that comes
// back with another Key ID is a key change, said plainly before anything signed by the new
// key is shown as that person: it may be the same person on another device, or someone
// else under that name. A public key alone is no identity; a compared one is.

// Names remembered as seen in this tab: a server listing ever more names cannot grow this
// page's memory without end (the oldest seen is forgotten first; verified keys are kept).
export const MAX_SEEN = 4096;

export class KeyWatch {
  #seen = new Map(); // name -> Key ID last listed
  #verified; // name -> Key ID marked verified
  #changed = new Set(); // names whose verified key was replaced, not compared again yet

  constructor(verified = new Map()) {
    this.#verified = new Map(verified);
  }

  // A users list (or its change): [{ name, keyid }]. Returns the key changes it holds,
  // [{ name, before, after, wasVerified }], each once.
  listed(users) {
    const changes = [];
    for (const { name, keyid } of users) {
      if (!name || !keyid) continue;
      const verified = this.#verified.get(name);
      const before = this.#seen.get(name) ?? verified;
      this.#seen.delete(name); // re-inserted: the most recently seen last
      this.#seen.set(name, keyid);
      if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.keys().next().value);
      if (verified === keyid) this.#changed.delete(name);
      if (!before || before === keyid) continue;
      const wasVerified = verified !== undefined && verified !== keyid;
      if (wasVerified) this.#changed.add(name);
      changes.push({ name, before, after: keyid, wasVerified });
    }
    return changes;
  }

  // 'verified' (this very key was compared), 'changed' (a compared key was replaced by
  // this one) or '' (never compared).
  status(name, keyid) {
    if (keyid && this.#verified.get(name) === keyid) return 'verified';
    if (this.#changed.has(name)) return 'changed';
    return '';
  }

  // The person compared the codes: `keyid` is `name`'s key.
  verify(name, keyid) {
    this.#verified.set(name, keyid);
    this.#changed.delete(name);
  }

  unverify(name) {
    this.#verified.delete(name);
  }

  // The verified keys, to remember them (identity-store.js).
  get verified() {
    return new Map(this.#verified);
  }

  // After "Forget this device": the marks are kept for this tab only, as if never stored.
  replaceVerified(map) {
    this.#verified = new Map(map);
  }
}
