//! Keys the administrator turns away: `/kick` keeps one out for `Limits::kick_for`,
//! `/ban` for the whole run, `/unban` lets it in again, `/users` lists them. Only the administrator adds entries, one per command, so the
//! tables stay as small as the administrator's patience; expired kicks are dropped
//! whenever a new one is added.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Chat, ConnId, close_code, frames};
use crate::console::ConsoleLine;

/// The notice a banned key gets, at the ban and at each join it tries.
const BANNED: &str =
    "You have been banned by the administrator: you cannot join this chat again while it runs.";

/// The notice a kicked key gets, at the kick and at each join it tries too early.
fn kicked_notice(left: std::time::Duration) -> String {
    format!(
        "You have been disconnected by the administrator: you can join again in {}.",
        spoken(left)
    )
}

impl Chat {
    /// A connected user (or the web administrator) by name, any letter case.
    fn connected_by_name(&self, name: &str) -> Option<ConnId> {
        if name.eq_ignore_ascii_case(&self.settings.admin_name) {
            self.users.web_admin()
        } else {
            self.users
                .by_name(name)
                .or_else(|| self.users.by_name(&name.to_ascii_lowercase()))
        }
    }

    fn nobody_called(&mut self, name: &str) {
        self.console(ConsoleLine::error(format!(
            "nobody called {name:?} is connected (/users lists who is)"
        )));
    }

    /// Disconnects `name`; its key is kept out for `kick_for`, except the web
    /// administrator's: that key is the console's own, and a stale web session is the
    /// usual reason to kick it.
    pub(super) fn kick(&mut self, name: &str) {
        let Some(conn) = self.connected_by_name(name) else {
            return self.nobody_called(name);
        };
        let Some(member) = self.users.member(conn) else {
            return self.nobody_called(name);
        };
        let (key_id, shown, web_admin) = (
            member.identity.key_id().to_string(),
            member.name.clone(),
            member.is_web_admin,
        );
        let kick_for = self.limits.kick_for;
        if web_admin {
            self.send_one(
                conn,
                frames::notice("You have been disconnected by the administrator."),
            );
        } else {
            self.bans
                .kick(&key_id, &shown, self.clock + kick_for, self.clock);
            self.send_one(conn, frames::notice(&kicked_notice(kick_for)));
        }
        self.leave(conn, Some("kicked"));
        self.close(conn, close_code::NORMAL, "kicked by the administrator");
        if !web_admin {
            self.console(ConsoleLine::info(format!(
                "{shown}'s key is kept out for {} (/ban {shown} for the whole run, /unban {shown} to let it in)",
                spoken(kick_for)
            )));
        }
    }

    /// Keeps `name`'s key out for the whole run: a connected user, or one kicked lately.
    pub(super) fn ban(&mut self, name: &str) {
        if name.eq_ignore_ascii_case(&self.settings.admin_name) {
            return self.console(ConsoleLine::error(
                "the administrator's key cannot be banned: /kick ends its web session; restart without --admin-private-key for a new key",
            ));
        }
        let connected = self
            .connected_by_name(name)
            .and_then(|c| self.users.member(c).map(|m| (c, m)))
            .map(|(c, m)| (Some(c), m.identity.key_id().to_string(), m.name.clone()));
        let kicked = || {
            self.bans
                .kicked_by_name(name, self.clock)
                .map(|(key, shown)| (None, key, shown))
        };
        let Some((conn, key_id, shown)) = connected.or_else(kicked) else {
            return self.console(ConsoleLine::error(format!(
                "nobody called {name:?} is connected or was kicked lately (/users lists who is)"
            )));
        };
        self.bans.ban(&key_id, &shown);
        if let Some(conn) = conn {
            self.send_one(conn, frames::notice(BANNED));
            self.leave(conn, Some("banned"));
            self.close(conn, close_code::NORMAL, "banned by the administrator");
        }
        self.console(
            ConsoleLine::new()
                .name(&shown, false)
                .plain(" is banned: Key ID ")
                .key_id(&key_id)
                .plain(format!(
                    " cannot join while the server runs (/unban {shown} lifts it)"
                )),
        );
    }

    pub(super) fn unban(&mut self, who: &str) {
        let lifted = self.bans.unban(who, self.clock);
        if lifted.is_empty() {
            return self.console(ConsoleLine::error(format!(
                "no banned or kicked key is called {who:?} or has a Key ID starting so (/users lists them)"
            )));
        }
        for (name, key_id) in lifted {
            self.console(
                ConsoleLine::new()
                    .name(&name, false)
                    .plain(" may join again: Key ID ")
                    .key_id(&key_id),
            );
        }
    }

    /// `/users`, continued: the banned keys and the kicks that still last.
    pub(super) fn list_kept_out(&mut self) {
        let kept = self.bans.kept_out(self.clock);
        if kept.is_empty() {
            return;
        }
        let mut lines = vec![ConsoleLine::info(format!(
            "{} kept out (/unban NAME lets one in):",
            kept.len()
        ))];
        for k in &kept {
            let why = match k.left {
                None => "  banned".to_string(),
                Some(left) => format!("  kicked, for {} more", spoken(left)),
            };
            lines.push(
                ConsoleLine::new()
                    .plain("  ")
                    .name(k.name, false)
                    .plain(" ".repeat(16 - k.name.len().min(15)))
                    .key_id(k.key_id)
                    .plain(why),
            );
        }
        for line in lines {
            self.console(line);
        }
    }

    /// Turns a join away if its key is kicked or banned: `true` when it did. The
    /// console hears of the first refusal after each kick or ban only, so a page
    /// retrying in a loop cannot flood it.
    pub(super) fn refuse_kept_out(
        &mut self,
        conn: ConnId,
        name: &str,
        key_id: &str,
        now: Instant,
    ) -> bool {
        let Some(refusal) = self.bans.refuse(key_id, now) else {
            return false;
        };
        let (notice, why, count) = match refusal {
            Refusal::Kicked { left, count } => (
                kicked_notice(left),
                format!("kicked, kept out for {} more", spoken(left)),
                count,
            ),
            Refusal::Banned { count } => (BANNED.to_string(), "banned".to_string(), count),
        };
        self.send_one(conn, frames::notice(&notice));
        self.users.remove(conn);
        self.close(conn, close_code::POLICY, "join refused");
        if count == 1 {
            let shown: String = name.chars().take(32).collect();
            self.console(ConsoleLine::warning(format!(
                "join refused for {shown:?}: {why} (said once per kick or ban)"
            )));
        }
        true
    }
}

/// Why a key may not join now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Kicked {
        left: Duration,
        /// Refusals since the kick, this one included: the console says the first only.
        count: u32,
    },
    Banned {
        count: u32,
    },
}

#[derive(Debug)]
struct Entry {
    name: String,
    refused: u32,
}

#[derive(Debug, Default)]
pub struct Bans {
    kicked: HashMap<String, (Entry, Instant)>,
    banned: HashMap<String, Entry>,
}

/// One kept-out key, as `/users` shows it.
pub struct KeptOut<'a> {
    pub name: &'a str,
    pub key_id: &'a str,
    /// `None`: banned; otherwise how long the kick still lasts.
    pub left: Option<Duration>,
}

impl Bans {
    pub fn kick(&mut self, key_id: &str, name: &str, until: Instant, now: Instant) {
        self.kicked.retain(|_, (_, until)| *until > now);
        let entry = Entry {
            name: name.to_string(),
            refused: 0,
        };
        self.kicked.insert(key_id.to_string(), (entry, until));
    }

    pub fn ban(&mut self, key_id: &str, name: &str) {
        self.kicked.remove(key_id);
        let entry = Entry {
            name: name.to_string(),
            refused: 0,
        };
        self.banned.insert(key_id.to_string(), entry);
    }

    /// A kicked key still kept out, by the name it had (any letter case): what `/ban`
    /// can name once its user is gone.
    pub fn kicked_by_name(&self, name: &str, now: Instant) -> Option<(String, String)> {
        self.kicked
            .iter()
            .find(|(_, (e, until))| *until > now && e.name.eq_ignore_ascii_case(name))
            .map(|(key, (e, _))| (key.clone(), e.name.clone()))
    }

    /// Lifts the ban and the kick of the keys named by `who`: the name they had (any
    /// letter case) or the start of their Key ID. The names and Key IDs lifted.
    pub fn unban(&mut self, who: &str, now: Instant) -> Vec<(String, String)> {
        let matches = |key: &str, e: &Entry| {
            e.name.eq_ignore_ascii_case(who) || (who.len() >= 4 && key.starts_with(who))
        };
        let mut lifted = Vec::new();
        self.banned.retain(|key, e| {
            let hit = matches(key, e);
            if hit {
                lifted.push((e.name.clone(), key.clone()));
            }
            !hit
        });
        self.kicked.retain(|key, (e, until)| {
            let hit = matches(key, e) && *until > now;
            if hit {
                lifted.push((e.name.clone(), key.clone()));
            }
            !hit && *until > now
        });
        lifted
    }

    /// Whether `key_id` is kept out at `now`; counts the refusal.
    pub fn refuse(&mut self, key_id: &str, now: Instant) -> Option<Refusal> {
        if let Some(e) = self.banned.get_mut(key_id) {
            e.refused += 1;
            return Some(Refusal::Banned { count: e.refused });
        }
        let (e, until) = self.kicked.get_mut(key_id)?;
        if *until <= now {
            return None;
        }
        e.refused += 1;
        Some(Refusal::Kicked {
            left: *until - now,
            count: e.refused,
        })
    }

    /// Banned keys first, then kicks that still last; each group by name.
    pub fn kept_out(&self, now: Instant) -> Vec<KeptOut<'_>> {
        let mut banned: Vec<KeptOut> = self
            .banned
            .iter()
            .map(|(key, e)| KeptOut {
                name: &e.name,
                key_id: key,
                left: None,
            })
            .collect();
        banned.sort_by_key(|k| k.name);
        let mut kicked: Vec<KeptOut> = self
            .kicked
            .iter()
            .filter(|(_, (_, until))| *until > now)
            .map(|(key, (e, until))| KeptOut {
                name: &e.name,
                key_id: key,
                left: Some(*until - now),
            })
            .collect();
        kicked.sort_by_key(|k| k.name);
        banned.extend(kicked);
        banned
    }
}

/// A duration as people say it: "10 minutes", "1 minute", "45 seconds" (rounded up, so
/// that "join again in 1 minute" is never too early).
pub fn spoken(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (n, unit) = match secs {
        0..=59 => (secs.max(1), "second"),
        60..=7199 => (secs.div_ceil(60), "minute"),
        _ => (secs.div_ceil(3600), "hour"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef";

    #[test]
    fn a_kick_lasts_its_time_and_the_first_refusal_is_counted() {
        let t0 = Instant::now();
        let mut bans = Bans::default();
        bans.kick(KEY, "bobby", t0 + Duration::from_secs(600), t0);
        assert_eq!(
            bans.refuse(KEY, t0 + Duration::from_secs(1)),
            Some(Refusal::Kicked {
                left: Duration::from_secs(599),
                count: 1
            })
        );
        assert!(matches!(
            bans.refuse(KEY, t0 + Duration::from_secs(2)),
            Some(Refusal::Kicked { count: 2, .. })
        ));
        assert_eq!(bans.refuse(KEY, t0 + Duration::from_secs(600)), None);
        assert_eq!(bans.refuse("other", t0), None);
    }

    #[test]
    fn a_ban_lasts_until_lifted_by_name_or_key_id() {
        let t0 = Instant::now();
        let mut bans = Bans::default();
        bans.kick(KEY, "bobby", t0 + Duration::from_secs(60), t0);
        assert_eq!(
            bans.kicked_by_name("BOBBY", t0),
            Some((KEY.into(), "bobby".into()))
        );
        bans.ban(KEY, "bobby");
        let far = t0 + Duration::from_secs(1_000_000);
        assert!(matches!(
            bans.refuse(KEY, far),
            Some(Refusal::Banned { .. })
        ));
        assert_eq!(bans.kept_out(far).len(), 1);
        assert!(bans.unban("012", far).is_empty(), "too short a prefix");
        assert_eq!(bans.unban("0123", far), [("bobby".into(), KEY.into())]);
        assert_eq!(bans.refuse(KEY, far), None);
        bans.ban(KEY, "bobby");
        assert_eq!(bans.unban("Bobby", far).len(), 1);
        assert!(bans.kept_out(far).is_empty());
    }

    #[test]
    fn expired_kicks_are_dropped_when_another_comes() {
        let t0 = Instant::now();
        let mut bans = Bans::default();
        bans.kick("a", "alice", t0 + Duration::from_secs(1), t0);
        bans.kick(
            "b",
            "bobby",
            t0 + Duration::from_secs(99),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(bans.kicked.len(), 1);
        assert_eq!(bans.kept_out(t0 + Duration::from_secs(2))[0].name, "bobby");
    }

    #[test]
    fn durations_are_spoken_rounded_up() {
        assert_eq!(spoken(Duration::from_secs(600)), "10 minutes");
        assert_eq!(spoken(Duration::from_secs(61)), "2 minutes");
        assert_eq!(spoken(Duration::from_secs(60)), "1 minute");
        assert_eq!(spoken(Duration::from_millis(59_500)), "1 minute");
        assert_eq!(spoken(Duration::from_secs(45)), "45 seconds");
        assert_eq!(spoken(Duration::from_millis(200)), "1 second");
        assert_eq!(spoken(Duration::from_secs(7200)), "2 hours");
    }
}
