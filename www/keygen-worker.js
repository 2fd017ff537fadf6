// Generates an RSA-OAEP key pair off the page's thread: WebKit (WebKitGTK at least) holds
// the thread that calls generateKey for the whole generation, a second or more for 4096
// bits, and the page would freeze (no typing, no progress) meanwhile.
self.onmessage = async (ev) => {
  try {
    const pair = await crypto.subtle.generateKey(
      { name: 'RSA-OAEP', hash: 'SHA-256', modulusLength: ev.data.bits, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ['encrypt', 'decrypt'],
    );
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', pair.privateKey);
    const spki = await crypto.subtle.exportKey('spki', pair.publicKey);
    self.postMessage({ pkcs8, spki }, [pkcs8, spki]);
  } catch (e) {
    self.postMessage({ error: String((e && e.message) || e) });
  }
};
