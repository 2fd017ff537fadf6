//! The group keys: the version-2 key of the current epoch, which members receive
//! wrapped with their member key, and the 0.9 key, which 0.9 clients receive in clear
//! in `config`. Both change together at a rotation (someone left); they are distinct,
//! so a 0.9 client never holds the version-2 key.

use std::collections::VecDeque;

use crate::crypto::{GroupKey, SECRET_IV_LEN, SecretKey, group_key_aad_into, random_bytes};

use super::v2_frames;

pub struct GroupKeys {
    epoch: u64,
    current: SecretKey,
    legacy: GroupKey,
    legacy_b64: String,
    /// The 0.9 keys before the current one, newest first (at most `legacy_keys_kept`):
    /// 0.9 clients have no epochs, so a message encrypted before their new `config`
    /// arrived is still read, and relayed under the current key. Only connected members
    /// can send, so this lets nobody who left in.
    previous_legacy: VecDeque<GroupKey>,
}

impl GroupKeys {
    /// Epoch 1, with `legacy` as the 0.9 key.
    pub fn new(legacy: GroupKey) -> Self {
        Self {
            epoch: 1,
            current: SecretKey::generate(),
            legacy_b64: legacy.to_b64(),
            legacy,
            previous_legacy: VecDeque::new(),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The version-2 key of the current epoch.
    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// The 0.9 group key, and its base64 for `config`.
    pub fn legacy(&self) -> &GroupKey {
        &self.legacy
    }

    pub fn legacy_b64(&self) -> &str {
        &self.legacy_b64
    }

    /// A new epoch: new random keys for both versions; `keep` old 0.9 keys stay
    /// readable.
    pub fn rotate(&mut self, keep: usize) {
        self.epoch += 1;
        self.current = SecretKey::generate();
        let previous = std::mem::replace(&mut self.legacy, GroupKey::generate());
        self.previous_legacy.push_front(previous);
        self.previous_legacy.truncate(keep);
        self.legacy_b64 = self.legacy.to_b64();
    }

    /// Decrypts a 0.9 `aes` frame: with the current 0.9 key, or a previous one (then
    /// `true`: the frame must be encrypted again for those who have the new key).
    pub fn legacy_decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Option<(Vec<u8>, bool)> {
        if let Some(plain) = self.legacy.decrypt(iv, ciphertext) {
            return Some((plain, false));
        }
        let plain = self
            .previous_legacy
            .iter()
            .find_map(|key| key.decrypt(iv, ciphertext))?;
        Some((plain, true))
    }

    /// The `chat-groupkey` frame of the current epoch for the member called `name`,
    /// wrapped with its member key. One AES-GCM of 32 bytes and one string.
    pub fn wrapped_for(&self, name: &str, member_key: &[u8; 32]) -> String {
        let mut out = String::with_capacity(v2_frames::GROUP_KEY_FRAME_BYTES + 16);
        self.push_wrapped(&mut out, &mut Vec::new(), name, member_key, &random_bytes());
        out
    }

    /// The same appended to `out`, under `iv`, drawn at random by the caller (a
    /// rotation draws every member's at once: one system call rather than one per
    /// member, and writes every member's frame in one buffer, with one `aad` buffer).
    pub fn push_wrapped(
        &self,
        out: &mut String,
        aad: &mut Vec<u8>,
        name: &str,
        member_key: &[u8; 32],
        iv: &[u8; SECRET_IV_LEN],
    ) {
        group_key_aad_into(self.epoch, name, aad);
        let key = SecretKey::wrap_key(member_key, iv, self.current.as_bytes(), aad);
        v2_frames::push_group_key(out, self.epoch, iv, &key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{b64_decode, group_key_aad};
    use serde_json::Value;

    #[test]
    fn a_wrapped_key_opens_only_with_its_member_key_and_name() {
        let mut keys = GroupKeys::new(GroupKey::generate());
        let old_legacy = keys.legacy_b64().to_string();
        let (iv, old_frame) = keys.legacy().encrypt(b"before");
        keys.rotate(1);
        let opened = keys.legacy_decrypt(&iv, &old_frame);
        assert_eq!(opened, Some((b"before".to_vec(), true)));
        keys.rotate(1);
        assert_eq!(
            keys.legacy_decrypt(&iv, &old_frame),
            None,
            "only `keep` kept"
        );
        assert_eq!(keys.epoch(), 3);
        assert_ne!(keys.legacy_b64(), old_legacy);
        let member = SecretKey::generate();
        let wrapped = keys.wrapped_for("alice", member.as_bytes());
        let frame: Value = serde_json::from_str(&wrapped).unwrap();
        let iv = b64_decode(frame["data"]["iv"].as_str().unwrap()).unwrap();
        let key = b64_decode(frame["data"]["key"].as_str().unwrap()).unwrap();
        let opened = member.decrypt(&iv, &key, &group_key_aad(3, "alice"));
        assert_eq!(opened.as_deref(), Some(&keys.current().as_bytes()[..]));
        assert_eq!(member.decrypt(&iv, &key, &group_key_aad(3, "bob")), None);
        assert_eq!(
            SecretKey::generate().decrypt(&iv, &key, &group_key_aad(3, "alice")),
            None
        );
    }
}
