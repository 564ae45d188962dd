//! Who the client is (pure): the socket's peer, or the `X-Forwarded-For` entry added by the
//! nearest untrusted hop when the peer is a trusted proxy. A browser can write anything into
//! `X-Forwarded-For`; only the entries appended by proxies we trust mean something.

use std::net::IpAddr;

/// The client address for rate limiting and forwarding.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Walk from the right (the hop nearest to us) past trusted proxies.
    for entry in header.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
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
            client_ip(ip("198.51.100.7"), Some("1.2.3.4"), &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("198.51.100.7"), Some("1.2.3.4"), &[ip("10.0.0.1")]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        // The browser forged "1.2.3.4"; the load balancer appended the real address.
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                Some("1.2.3.4, 203.0.113.9, 10.0.0.2"),
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("garbage"), &trusted),
            ip("10.0.0.1")
        );
    }
}
