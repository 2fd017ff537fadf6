// The message ids a page has seen, for the replay window of version 2 (docs/PROTOCOL.md,
// "Receiving"): a (sender, id) seen within the window is a replay. Entries older than the
// window are forgotten, and at most `cap` are kept, so a flood cannot grow it without end
// (the server's rate limit keeps a real room far below it).

export class SeenIds {
  #window;
  #cap;
  #at = new Map(); // "from\nid" -> time seen, in insertion (so time) order

  constructor(windowMs, cap = 100_000) {
    this.#window = windowMs;
    this.#cap = cap;
  }

  // True when (from, id) was seen within the window; otherwise remembers it.
  replay(from, id, now) {
    this.#forget(now);
    const k = `${from}\n${id}`;
    if (this.#at.has(k)) return true;
    this.#at.set(k, now);
    if (this.#at.size > this.#cap) this.#at.delete(this.#at.keys().next().value);
    return false;
  }

  get size() {
    return this.#at.size;
  }

  #forget(now) {
    for (const [k, t] of this.#at) {
      if (now - t <= this.#window) break;
      this.#at.delete(k);
    }
  }
}
