//! The web client (www/), embedded at build time plain and gzip-compressed.

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub plain: &'static [u8],
    pub gzip: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset served at `path` (`/` is the page itself).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded_both_ways() {
        let page = find("/").expect("www/index.html is embedded");
        assert!(page.content_type.starts_with("text/html"));
        assert!(!page.plain.is_empty());
        assert_eq!(&page.gzip[..2], &[0x1f, 0x8b], "gzip magic");
        assert!(find("/../Cargo.toml").is_none());
        assert!(find("/nope.js").is_none());
    }

    #[test]
    fn the_page_modules_are_served_but_not_their_unit_tests() {
        let session = find("/session.js").expect("www/session.js is embedded");
        assert!(session.content_type.starts_with("text/javascript"));
        assert!(find("/session.test.mjs").is_none());
        assert!(find("/package.json").is_none());
    }
}
