//! Where a request comes from: the client address (from the socket, or
//! from `X-Forwarded-For` behind trusted proxies) and its address range,
//! which the spam defence counts registrations and code requests by.
//!
//! Every per-address limit takes its address from [`ClientAddr`], so that
//! behind a proxy each client is counted on its own (not all of them as the
//! proxy) and no client can pick its address by sending the header itself.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::App;

/// The client address of a request, as every per-address limit counts it:
/// see [`client_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: the socket peer's, or, with `trust_forwarded_for`,
/// the one [`forwarded_client`] picks from `X-Forwarded-For`.
pub fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if !app.config.connections.trust_forwarded_for {
        return peer.ip();
    }
    let values: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    forwarded_client(peer.ip(), &values, app.config.connections.trusted_proxies)
}

/// The client address behind `proxies` trusted reverse proxies, from the
/// `X-Forwarded-For` header lines `values` (in order; several lines are one
/// comma-separated list).
///
/// Each proxy appends the address it received the request from, so the
/// right-most `proxies` entries were written by our proxies and everything
/// to their left by whoever sent the request, who can write anything. The
/// client is therefore the `proxies`-th entry from the right. With fewer
/// entries than proxies (a request that entered past the outer proxies),
/// every entry was written by a trusted proxy and the left-most one is the
/// client. With no header, or when the chosen entry is not an address, the
/// socket peer (`peer`) is all that is known.
pub fn forwarded_client(peer: IpAddr, values: &[&str], proxies: u32) -> IpAddr {
    let entries: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if entries.iter().all(|e| e.is_empty()) {
        return peer;
    }
    let from_right = usize::try_from(proxies.max(1)).unwrap_or(usize::MAX);
    let chosen = entries[entries.len().saturating_sub(from_right)];
    match parse_entry(chosen) {
        Some(ip) => ip,
        None => {
            tracing::debug!("X-Forwarded-For entry of a trusted proxy is not an address");
            peer
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) as some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<IpAddr>().ok().map(canonical)
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they are, so that one
/// client is counted once whichever way a proxy writes it.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The range an address belongs to: its IPv4 /24 or IPv6 /48, which one
/// operator usually hands out together.
pub fn range(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const PROXY: &str = "10.0.0.9";

    #[test]
    fn ranges_group_neighbours() {
        let a: IpAddr = "10.1.2.3".parse().expect("ip");
        let b: IpAddr = "10.1.2.200".parse().expect("ip");
        let c: IpAddr = "10.1.3.3".parse().expect("ip");
        assert_eq!(range(a), range(b));
        assert_ne!(range(a), range(c));
        let v6: IpAddr = "2001:db8:1:2::5".parse().expect("ip");
        assert_eq!(range(v6), "2001:db8:1::/48");
    }

    #[test]
    fn the_client_is_counted_from_the_right() {
        let peer = ip(PROXY);
        // One proxy: it appended the client's address last.
        assert_eq!(
            forwarded_client(peer, &["198.51.100.7"], 1),
            ip("198.51.100.7")
        );
        // Two proxies: the outer one's address is last, the client's before.
        assert_eq!(
            forwarded_client(peer, &["198.51.100.7, 203.0.113.1"], 2),
            ip("198.51.100.7")
        );
        // Several header lines are one list.
        assert_eq!(
            forwarded_client(peer, &["198.51.100.7", "203.0.113.1"], 2),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn spoofed_left_entries_are_ignored() {
        let peer = ip(PROXY);
        // The client sent `X-Forwarded-For: 1.2.3.4, 5.6.7.8`; our proxy
        // appended the address it really came from.
        let spoofed = ["1.2.3.4, 5.6.7.8, 198.51.100.7"];
        assert_eq!(forwarded_client(peer, &spoofed, 1), ip("198.51.100.7"));
        let spoofed_lines = ["1.2.3.4", "198.51.100.7"];
        assert_eq!(
            forwarded_client(peer, &spoofed_lines, 1),
            ip("198.51.100.7")
        );
        // Garbage on the left changes nothing either.
        let garbage = ["<script>, unknown,, 198.51.100.7"];
        assert_eq!(forwarded_client(peer, &garbage, 1), ip("198.51.100.7"));
    }

    #[test]
    fn too_few_entries_take_the_left_most() {
        let peer = ip(PROXY);
        // Two proxies configured, but the request entered at the inner one,
        // which wrote the one entry there is.
        assert_eq!(
            forwarded_client(peer, &["198.51.100.7"], 2),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn no_header_or_garbage_falls_back_to_the_peer() {
        let peer = ip(PROXY);
        assert_eq!(forwarded_client(peer, &[], 1), peer);
        assert_eq!(forwarded_client(peer, &[""], 1), peer);
        assert_eq!(forwarded_client(peer, &[" , "], 1), peer);
        assert_eq!(forwarded_client(peer, &["unknown"], 1), peer);
        assert_eq!(forwarded_client(peer, &["1.2.3.4, not-an-ip"], 1), peer);
        assert_eq!(forwarded_client(peer, &["1.2.3.4, 999.1.1.1"], 1), peer);
        assert_eq!(forwarded_client(peer, &["1.2.3.4,"], 1), peer);
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let peer = ip(PROXY);
        assert_eq!(
            forwarded_client(peer, &["198.51.100.7:4711"], 1),
            ip("198.51.100.7")
        );
        assert_eq!(
            forwarded_client(peer, &["[2001:db8::1]:4711"], 1),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(peer, &["[2001:db8::1]"], 1),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(peer, &["2001:db8::1"], 1),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(peer, &["::ffff:198.51.100.7"], 1),
            ip("198.51.100.7")
        );
    }
}
