//! The links people open to join, as the banner prints them and the console draws
//! them as QR codes (at start and on `/qr`): the chat page, on each of this machine's
//! addresses when it listens on all of them (a phone cannot open 0.0.0.0), and
//! through the SSH tunnel. With `--self-signed`, each ends in `#sha256=<hex>`, the
//! certificate's fingerprint, for the page to show beside what the browser shows
//! (docs/PROTOCOL.md, "Comparing keys").

use std::net::{IpAddr, SocketAddr};

/// At most this many addresses of this machine get a link of their own: a machine
/// with more (containers, VPNs) would fill the screen with codes.
const MAX_ADDRESS_LINKS: usize = 4;

/// A link to join, and what it is (the caption over its QR code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    pub caption: String,
    pub url: String,
    /// One of this machine's addresses (when listening on all of them): the banner
    /// lists these links, besides the page's own.
    pub on_this_network: bool,
}

/// `#sha256=<lowercase hex>` of a certificate whose fingerprint is `AB:CD:…`.
pub fn fingerprint_fragment(fingerprint: &str) -> String {
    format!(
        "#sha256={}",
        fingerprint.replace(':', "").to_ascii_lowercase()
    )
}

/// The links: `page_url` (already with its fragment) unless the server listens on all
/// addresses, then one per address in `addresses` (this machine's, IPv4 first),
/// then the tunnel's page.
pub fn join_links(
    page_url: &str,
    web_addr: SocketAddr,
    addresses: &[IpAddr],
    scheme: &str,
    fragment: &str,
    tunnel_page: Option<&str>,
) -> Vec<JoinLink> {
    let mut links = Vec::new();
    if web_addr.ip().is_unspecified() {
        let mut ips: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
            .collect();
        ips.sort_by_key(|ip| ip.is_ipv6());
        for ip in ips.into_iter().take(MAX_ADDRESS_LINKS) {
            let host = SocketAddr::new(ip, web_addr.port());
            let host = match host {
                SocketAddr::V4(a) => a.to_string(),
                SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            };
            links.push(JoinLink {
                caption: format!("Chat page on this network ({ip})"),
                url: format!("{scheme}://{host}/{fragment}"),
                on_this_network: true,
            });
        }
    } else {
        links.push(JoinLink {
            caption: "Chat page".into(),
            url: page_url.to_string(),
            on_this_network: false,
        });
    }
    if let Some(url) = tunnel_page {
        links.push(JoinLink {
            caption: "Chat page from the internet (SSH tunnel)".into(),
            url: format!("{url}{fragment}"),
            on_this_network: false,
        });
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_goes_in_the_fragment_as_lowercase_hex() {
        assert_eq!(fingerprint_fragment("AB:0C:FF"), "#sha256=ab0cff");
    }

    #[test]
    fn one_link_per_address_when_listening_on_all() {
        let addresses: Vec<IpAddr> = ["127.0.0.1", "2001:db8::5", "192.168.1.20", "::1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let links = join_links(
            "https://0.0.0.0:8443/#sha256=ab",
            "0.0.0.0:8443".parse().unwrap(),
            &addresses,
            "https",
            "#sha256=ab",
            Some("https://example.org:9000/"),
        );
        let urls: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://192.168.1.20:8443/#sha256=ab",
                "https://[2001:db8::5]:8443/#sha256=ab",
                "https://example.org:9000/#sha256=ab"
            ]
        );
        assert_eq!(links[0].caption, "Chat page on this network (192.168.1.20)");
        let many: Vec<IpAddr> = (1..=9).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let links = join_links("x", "0.0.0.0:80".parse().unwrap(), &many, "http", "", None);
        assert_eq!(links.len(), MAX_ADDRESS_LINKS);
    }

    #[test]
    fn one_address_one_link() {
        let links = join_links(
            "http://127.0.0.1:8080/",
            "127.0.0.1:8080".parse().unwrap(),
            &[],
            "http",
            "",
            None,
        );
        assert_eq!(
            links,
            [JoinLink {
                caption: "Chat page".into(),
                url: "http://127.0.0.1:8080/".into(),
                on_this_network: false,
            }]
        );
    }
}
