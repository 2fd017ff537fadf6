//! The naming rules of the chat: users are lower case, the administrator upper case, so
//! the two are never the same string. "admin" would still pass for ADMIN in a list, so a
//! join refuses user names equal to the administrator's in any letter case (chat/join.rs).

pub const MIN_NAME_LEN: usize = 4;
pub const MAX_NAME_LEN: usize = 15;

/// `^[a-z0-9]{4,15}$`
pub fn is_valid_user_name(name: &str) -> bool {
    valid_with(name, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `^[A-Z0-9]{4,15}$` with at least one letter: an all-digit name is also a valid user
/// name, and the two would collide.
pub fn is_valid_admin_name(name: &str) -> bool {
    valid_with(name, |b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && name.bytes().any(|b| b.is_ascii_uppercase())
}

/// A DNS host name for a certificate (`--hostname`): labels of letters, digits and
/// hyphens, separated by dots.
pub fn is_valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn valid_with(name: &str, allowed: impl Fn(u8) -> bool) -> bool {
    (MIN_NAME_LEN..=MAX_NAME_LEN).contains(&name.len()) && name.bytes().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["alice", "bob1", "a1b2c3d4e5f6g7h"] {
            assert!(is_valid_user_name(ok), "{ok}");
        }
        for bad in [
            "bob",
            "Alice",
            "ADMIN",
            "al ice",
            "alice!",
            "a1b2c3d4e5f6g7h8",
            "",
            "élise",
        ] {
            assert!(!is_valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        for ok in ["chat.lan", "localhost", "my-pi", "a.b.c"] {
            assert!(is_valid_hostname(ok), "{ok}");
        }
        for bad in ["", "a b", "-x.lan", "x..lan", "x_y", "a/b", &"a".repeat(64)] {
            assert!(!is_valid_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn admin_names() {
        assert!(is_valid_admin_name("ADMIN"));
        assert!(is_valid_admin_name("OPS24"));
        assert!(!is_valid_admin_name("admin"));
        assert!(!is_valid_admin_name("ADM"));
        assert!(!is_valid_admin_name("ADMIN_1"));
        assert!(
            !is_valid_admin_name("1234"),
            "a user could take the same digits"
        );
        assert!(is_valid_admin_name("1234A"));
    }
}
