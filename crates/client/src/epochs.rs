//! Version 2's group keys: the member key from the config, and the group key of the
//! current epoch plus the previous one (for frames already on their way at a rotation).

use dyspatcher_crypto::{SecretKey, group_key_aad};

#[derive(Default)]
pub struct Epochs {
    member: Option<SecretKey>,
    current: Option<(u64, SecretKey)>,
    previous: Option<(u64, SecretKey)>,
}

impl Epochs {
    pub fn set_member_key(&mut self, key: SecretKey) {
        self.member = Some(key);
    }

    /// Unwraps a `chat-groupkey` for `name` (AAD binds the epoch and our name). `Err` when
    /// it is not ours or not newer than what we hold.
    pub fn take_wrapped(
        &mut self,
        name: &str,
        epoch: u64,
        iv: &[u8],
        wrapped: &[u8],
    ) -> Result<(), &'static str> {
        let member = self.member.as_ref().ok_or("no member key yet")?;
        let raw = member
            .decrypt(iv, wrapped, &group_key_aad(epoch, name))
            .ok_or("the group key does not open with our member key")?;
        let key = SecretKey::from_slice(&raw).ok_or("the group key is not 32 bytes")?;
        if self.current.as_ref().is_some_and(|(e, _)| *e >= epoch) {
            return Err("not newer than the epoch we have");
        }
        self.previous = self.current.replace((epoch, key));
        Ok(())
    }

    /// The epoch we encrypt with.
    pub fn current(&self) -> Option<(u64, &SecretKey)> {
        self.current.as_ref().map(|(e, k)| (*e, k))
    }

    /// The key of `epoch`, if it is the current or the previous one.
    pub fn key(&self, epoch: u64) -> Option<&SecretKey> {
        [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|(e, _)| *e == epoch)
            .map(|(_, k)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_current_and_the_previous_epoch() {
        let member = SecretKey::generate();
        let mut epochs = Epochs::default();
        let wrap = |epoch: u64, name: &str, key: &SecretKey| {
            member.encrypt(key.as_bytes(), &group_key_aad(epoch, name))
        };
        let keys: Vec<SecretKey> = (0..4).map(|_| SecretKey::generate()).collect();
        let (iv, w) = wrap(1, "alice", &keys[1]);
        assert!(
            epochs.take_wrapped("alice", 1, &iv, &w).is_err(),
            "no member key"
        );
        epochs.set_member_key(member.clone());
        epochs.take_wrapped("alice", 1, &iv, &w).unwrap();
        assert!(
            epochs.take_wrapped("alice", 1, &iv, &w).is_err(),
            "not newer"
        );

        let (iv, w) = wrap(2, "bobby", &keys[2]);
        assert!(
            epochs.take_wrapped("alice", 2, &iv, &w).is_err(),
            "someone else's"
        );
        let (iv, w) = wrap(2, "alice", &keys[2]);
        assert!(
            epochs.take_wrapped("alice", 3, &iv, &w).is_err(),
            "epoch is in the AAD"
        );
        epochs.take_wrapped("alice", 2, &iv, &w).unwrap();
        let (iv, w) = wrap(3, "alice", &keys[3]);
        epochs.take_wrapped("alice", 3, &iv, &w).unwrap();

        assert_eq!(epochs.current().unwrap().0, 3);
        assert_eq!(epochs.key(3).unwrap().as_bytes(), keys[3].as_bytes());
        assert_eq!(epochs.key(2).unwrap().as_bytes(), keys[2].as_bytes());
        assert!(epochs.key(1).is_none(), "only one epoch back");
    }
}
