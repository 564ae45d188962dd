//! Who the client is (pure): the socket's peer, or the `X-Forwarded-For` entry added by the
//! nearest untrusted hop when the peer is a trusted proxy. A browser can write anything into
//! `X-Forwarded-For`; only the entries appended by proxies we trust mean something.
//!
//! Every `X-Forwarded-For` header line counts, in order, as one comma-separated list (HAProxy
//! appends its own line rather than extending the browser's). Addresses compare canonically:
//! an IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) is the IPv4 address (`10.0.0.5`).

use std::net::IpAddr;

/// Whether `ip` is one of `trusted`, compared canonically.
pub fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|t| t.to_canonical() == ip)
}

/// The client address for rate limiting and forwarding, canonical. `forwarded_for` holds
/// the `X-Forwarded-For` header lines in the order received.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let lines: Vec<&str> = forwarded_for.into_iter().collect();
    // Walk from the right (the hop nearest to us) past trusted proxies.
    for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip, trusted) => continue,
            Ok(ip) => return ip.to_canonical(),
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof() {
        assert_eq!(
            client_ip(ip("198.51.100.7"), ["1.2.3.4"], &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("198.51.100.7"), ["1.2.3.4"], &[ip("10.0.0.1")]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The browser forged "1.2.3.4"; the load balancer appended the real address.
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["1.2.3.4, 203.0.113.9, 10.0.0.2"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), [], &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["garbage"], &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn every_header_line_counts_and_the_last_is_nearest() {
        // The browser sent its own line; HAProxy appended a second one with the real client.
        let trusted = [ip("10.0.0.1")];
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["6.6.6.6", "203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                ["6.6.6.6", "203.0.113.9, 10.0.0.1"],
                &trusted
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn mapped_addresses_are_the_same_address() {
        let trusted = [ip("10.0.0.5")];
        assert!(is_trusted(ip("::ffff:10.0.0.5"), &trusted));
        assert!(is_trusted(ip("10.0.0.5"), &[ip("::ffff:10.0.0.5")]));
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.5"), ["::ffff:203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:198.51.100.1"), [], &[]),
            ip("198.51.100.1")
        );
    }
}
