//! Version 2's sealed payload (docs/PROTOCOL.md, "The sealed payload"): what every
//! version-2 message carries encrypted, `u16be(length of S) ‖ S ‖ E`, with `E` the
//! envelope and `S` its signature over [`envelope_signed_bytes`].

/// The bytes a version-2 envelope's signature covers: a fixed prefix keeps a signature
/// from ever passing for a join proof or a 0.9 message.
pub fn envelope_signed_bytes(envelope: &[u8]) -> Vec<u8> {
    let prefix = b"dyspatcher message v2\n";
    let mut bytes = Vec::with_capacity(prefix.len() + envelope.len());
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(envelope);
    bytes
}

/// `u16be(len(signature)) ‖ signature ‖ body`. `None` if the signature is longer than
/// 65,535 bytes (no RSA signature is).
pub fn seal_payload(signature: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(signature.len()).ok()?;
    let mut out = Vec::with_capacity(2 + signature.len() + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(signature);
    out.extend_from_slice(body);
    Some(out)
}

/// `(signature, body)`, or `None` if the payload is shorter than its length prefix says.
pub fn open_payload(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = payload.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let sealed = seal_payload(b"sig", b"{\"v\":2}").unwrap();
        assert_eq!(&sealed[..2], &[0, 3]);
        assert_eq!(
            open_payload(&sealed),
            Some((&b"sig"[..], &b"{\"v\":2}"[..]))
        );
        assert_eq!(open_payload(&[0, 5, 1, 2]), None);
        assert_eq!(open_payload(&[0]), None);
        assert_eq!(open_payload(&[0, 0]), Some((&b""[..], &b""[..])));
        assert_eq!(
            envelope_signed_bytes(b"E"),
            b"dyspatcher message v2\nE".to_vec()
        );
    }
}
