// The messages written but not yet accepted by the server, so that a dropped connection
// loses none and sends none twice. Each keeps the id it was given when written (the id
// of its envelope, docs/PROTOCOL.md): sent again after a reconnect, it carries the same
// id, and a recipient who did get the first copy drops the second as a replay.
//
// An entry is 'queued' (to send once joined) or 'sending' (handed to the connection,
// the server's chat-ack or chat-undelivered not yet received). It is handed out by
// next() only when queued, so one connection sends it at most once; an ack or a refusal
// ends it, and only the loss of the connection before that makes it queued again.

export class Outbox {
  #entries = new Map(); // id -> { id, to, text, state }, in the order written

  // Written while not connected: to send once joined again.
  queue(id, to, text) {
    if (!this.#entries.has(id)) this.#entries.set(id, { id, to, text, state: 'queued' });
  }

  // Sent on the current connection (as written, or handed out by next()).
  sending(id, to, text) {
    const e = this.#entries.get(id);
    if (e) e.state = 'sending';
    else this.#entries.set(id, { id, to, text, state: 'sending' });
  }

  // The server answered for `id` (accepted or refused): it is done. The entry, or null
  // (an id this outbox does not hold: answered already, or not ours).
  settled(id) {
    const e = this.#entries.get(id);
    if (!e) return null;
    this.#entries.delete(id);
    return e;
  }

  // The first queued entry that can go now (`ready(entry)`: its recipient is there), now
  // sending; null when none can.
  next(ready = () => true) {
    for (const e of this.#entries.values()) {
      if (e.state === 'queued' && ready(e)) {
        e.state = 'sending';
        return { ...e };
      }
    }
    return null;
  }

  // It could not go out on this connection after all (it closed meanwhile): queued again.
  requeue(id) {
    const e = this.#entries.get(id);
    if (e) e.state = 'queued';
  }

  // The connection is gone: whatever it did not confirm is sent again on the next one.
  // Returns those entries.
  lost() {
    const back = [];
    for (const e of this.#entries.values()) {
      if (e.state === 'sending') {
        e.state = 'queued';
        back.push({ ...e });
      }
    }
    return back;
  }

  // Nothing will be sent any more (the server refused this page): every entry, removed.
  drain() {
    const all = [...this.#entries.values()].map((e) => ({ ...e }));
    this.#entries.clear();
    return all;
  }

  get queued() {
    let n = 0;
    for (const e of this.#entries.values()) if (e.state === 'queued') n++;
    return n;
  }

  get size() {
    return this.#entries.size;
  }
}
