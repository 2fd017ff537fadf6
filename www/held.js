// The words for a message the server holds for a recipient who left a short while ago
// (docs/PROTOCOL.md, "Held for a short absence"): waiting until a time, then delivered or
// not. Kept apart from the page so that they can be tested in node.

// "HH:MM" of a wall-clock time (ms since 1970), in this device's time zone.
export function clockTime(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}`;
}

// The status of a held message: "waiting for bob (until 14:05)".
export function waitingText(to, until) {
  return Number.isSafeInteger(until) && until > 0 ? `waiting for ${to} (until ${clockTime(until)})` : `waiting for ${to}`;
}

// The status once the held message reached its recipient.
export const deliveredText = (to) => `delivered to ${to}`;

// Messages shown as held, by id, with their recipient: their later ack means delivered.
export class HeldMessages {
  #held = new Map(); // id -> recipient

  held(id, to) {
    this.#held.set(id, to);
  }

  // The id was answered (acked or reported): the recipient it was held for, or null.
  answered(id) {
    const to = this.#held.get(id);
    this.#held.delete(id);
    return to === undefined ? null : to;
  }
}
