// The page's own link, to pass on (as a QR code drawn by the server: GET /qr.svg, see
// docs/PROTOCOL.md), and the certificate fingerprint the console's link carries in its
// fragment (#sha256=…), to compare with what the browser shows of the certificate.

const MAX_QR_TEXT = 256; // bytes the server encodes (docs/PROTOCOL.md, "QR codes")

// The SHA-256 fingerprint (64 lowercase hex) of `#sha256=…` in the fragment, or ''.
export function fingerprint(hash) {
  const m = /(?:^#|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(String(hash || ''));
  return m ? m[1].toLowerCase() : '';
}

// As browsers show it in the certificate's details: pairs of upper-case hex digits.
export const fingerprintPairs = (hex) => hex.toUpperCase().match(/../g).join(':');

// The link others open: this page, with its fingerprint when it has one.
export function pageLink(loc) {
  const fp = fingerprint(loc.hash);
  return `${loc.origin}${loc.pathname}${fp ? `#sha256=${fp}` : ''}`;
}

// The image of the QR code of `link`, or '' when it is too long to encode.
export function qrSource(link) {
  if (new TextEncoder().encode(link).length > MAX_QR_TEXT) return '';
  return `/qr.svg?text=${encodeURIComponent(link)}`;
}
