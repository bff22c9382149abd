//! Where a request comes from: the client address (from the socket, or
//! from `X-Forwarded-For` behind a trusted proxy) and its address range,
//! which the spam defence counts registrations and code requests by.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::App;

/// The client's address.
pub fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if app.config.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
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
}
