// How long the page waits before each attempt to reconnect: 1, 2, 4, … seconds, capped
// at 30 s, each drawn at random within ±25 % so that pages a server restart dropped all
// at once do not knock on its door all at the same moment. Reset once joined again.

export const FIRST_MS = 1000;
export const CAP_MS = 30000;
export const JITTER = 0.25;

// The delay before attempt `attempt` (0 for the first), `random()` in [0, 1).
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(CAP_MS, FIRST_MS * 2 ** Math.min(attempt, 30));
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.min(CAP_MS, jittered));
}
