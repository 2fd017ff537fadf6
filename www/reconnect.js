// Reconnecting by itself: after a joined page loses its connection, the next attempt is
// scheduled with back-off (backoff.js), shown as a countdown, and can be run at once
// ("Now", the network coming back, the phone waking up). A refusal stops it: the server
// said no, and asking again would only hear the same answer.
//
// No DOM and no socket: timers come in through `clock` ({ setTimeout, clearTimeout,
// now }), the attempt itself through `attempt()`, and what to show through `show(view)`,
// view being { waiting: false } or { waiting: true, seconds } (seconds left, rounded up).

import { backoffDelay } from './backoff.js';

// Whether the reason a session closed for (session.js's closed state) ends the retries:
// a refused name, the administrator's key gone, or a notice (kicked, banned, replaced by
// another place, a key the server does not take). An unreachable server or a connection
// that dropped is tried again.
export function stopsRetries(reason) {
  return !reason || !['unreachable', 'closed'].includes(reason.kind);
}

const realClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
};

export class Reconnector {
  #attempt;
  #show;
  #clock;
  #random;
  #failures = 0; // attempts since the last successful join
  #timer = null;
  #tick = null;
  #due = 0;

  constructor({ attempt, show, clock = realClock, random = Math.random }) {
    this.#attempt = attempt;
    this.#show = show;
    this.#clock = clock;
    this.#random = random;
  }

  // Attempts since the last join.
  get failures() {
    return this.#failures;
  }

  get waiting() {
    return this.#timer !== null;
  }

  // The connection dropped (or an attempt failed): wait, then try again. Returns the delay.
  lost() {
    this.#cancel();
    const ms = backoffDelay(this.#failures++, this.#random);
    this.#due = this.#clock.now() + ms;
    this.#timer = this.#clock.setTimeout(() => this.now(), ms);
    this.#countdown();
    return ms;
  }

  // Try at once, when an attempt is being waited for.
  now() {
    if (!this.waiting) return;
    this.#cancel();
    this.#show({ waiting: false });
    this.#attempt();
  }

  // Joined again: the next loss starts from the shortest delay.
  joined() {
    this.#failures = 0;
    this.stop();
  }

  // No more attempts (a refusal, or the person leaving).
  stop() {
    this.#cancel();
    this.#show({ waiting: false });
  }

  #countdown() {
    const left = Math.max(0, this.#due - this.#clock.now());
    this.#show({ waiting: true, seconds: Math.ceil(left / 1000) });
    // The next whole second of the countdown (a little after it, not to show it twice).
    this.#tick = this.#clock.setTimeout(() => this.#countdown(), (left % 1000 || 1000) + 5);
  }

  #cancel() {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    if (this.#tick !== null) this.#clock.clearTimeout(this.#tick);
    this.#timer = this.#tick = null;
  }
}
