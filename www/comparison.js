// Comparing keys (docs/PROTOCOL.md, "Comparing keys"): the whole Key ID in groups of
// four, and the comparison code of two Key IDs, the same on both screens (and on the
// console's /verify), so that two people can tell that nobody sits between them.

const enc = new TextEncoder();

// "abcd1234…" -> "abcd 1234 …": groups of `size` characters, read aloud more easily.
export function inGroups(text, size, sep = ' ') {
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.join(sep);
}

export const keyIdGroups = (keyid) => inGroups(String(keyid), 4);

// The 12 digits of two Key IDs (lowercase hex), in four groups of three: the first 8
// bytes of SHA-256("dyspatcher comparison v1\n" + min + "\n" + max), big-endian, mod 10^12.
// The order of a and b does not matter: both parties compute the same.
export async function comparisonCode(a, b, subtle = globalThis.crypto.subtle) {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const digest = new Uint8Array(await subtle.digest('SHA-256', enc.encode(`dyspatcher comparison v1\n${lo}\n${hi}`)));
  let n = 0n;
  for (const byte of digest.subarray(0, 8)) n = (n << 8n) | BigInt(byte);
  return inGroups((n % 10n ** 12n).toString().padStart(12, '0'), 3);
}
