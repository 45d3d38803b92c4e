//! What failed authentications count against: the source address, IPv6 grouped by network.

use std::net::{IpAddr, Ipv6Addr};

use crate::limits::FAILED_AUTH_IPV6_PREFIX;

/// What failed authentications count against: the peer address, with IPv6 peers grouped by
/// their /64 (a single host can hold all of it, so single addresses cost an attacker nothing).
pub fn source(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(FAILED_AUTH_IPV6_PREFIX))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_are_grouped_by_their_64() {
        let a = source("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = source("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = source("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            source("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
