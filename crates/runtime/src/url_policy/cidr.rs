//! CIDR ranges (`169.254.0.0/16`, `fd00:ec2::254/128`) and whether an address is in one.
//! An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is the IPv4 address it maps, so a
//! range written in either family catches both spellings.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address range: a network address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `addr` is in the range. IPv4-mapped IPv6 addresses count as their IPv4
    /// address, and an IPv4 address as its mapped IPv6 form for IPv6 ranges.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => v4_in(net, self.prefix, a),
            (IpAddr::V6(net), IpAddr::V6(a)) => v6_in(net, self.prefix, a),
            (IpAddr::V6(net), IpAddr::V4(a)) => v6_in(net, self.prefix, a.to_ipv6_mapped()),
            // A v6 address that is not v4-mapped is never in a v4 range.
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; every other address as it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn v4_in(net: Ipv4Addr, prefix: u8, addr: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(net) & mask == u32::from(addr) & mask
}

fn v6_in(net: Ipv6Addr, prefix: u8, addr: Ipv6Addr) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(net) & mask == u128::from(addr) & mask
}

impl FromStr for Cidr {
    type Err = String;

    /// `addr/prefix`, or a bare address (a single-address range).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IPv4 or IPv6 address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    format!("prefix length '{p}' is not a number from 0 to {max}")
                })?,
            };
        // A v4-mapped v6 range is the v4 range it maps (so `contains` compares like with like).
        let (network, prefix) = match network {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
                IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
                prefix - 96,
            ),
            other => (other, prefix),
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_ranges() {
        let link_local = cidr("169.254.0.0/16");
        assert!(link_local.contains(ip("169.254.169.254")));
        assert!(link_local.contains(ip("169.254.0.0")));
        assert!(!link_local.contains(ip("169.255.0.1")));
        assert!(!link_local.contains(ip("10.0.0.1")));
        let one = cidr("127.0.0.2/32");
        assert!(one.contains(ip("127.0.0.2")));
        assert!(!one.contains(ip("127.0.0.1")));
        assert_eq!(cidr("127.0.0.2"), one, "a bare address is a /32");
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_ranges() {
        let metadata = cidr("fd00:ec2::254/128");
        assert!(metadata.contains(ip("fd00:ec2::254")));
        assert!(!metadata.contains(ip("fd00:ec2::253")));
        let ula = cidr("fc00::/7");
        assert!(ula.contains(ip("fd12:3456::1")));
        assert!(!ula.contains(ip("fe80::1")));
        assert!(cidr("::/0").contains(ip("::1")));
        assert!(!cidr("::1/128").contains(ip("127.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let link_local = cidr("169.254.0.0/16");
        assert!(link_local.contains(ip("::ffff:169.254.169.254")));
        assert!(link_local.contains(ip("::ffff:a9fe:a9fe")));
        assert!(!link_local.contains(ip("::ffff:10.0.0.1")));
        // A range written in the mapped form catches the plain IPv4 address too.
        let mapped = cidr("::ffff:127.0.0.0/104");
        assert_eq!(mapped, cidr("127.0.0.0/8"));
        assert!(mapped.contains(ip("127.0.0.2")));
        assert!(mapped.contains(ip("::ffff:127.0.0.2")));
        // An IPv6 range covering the mapped block covers IPv4 addresses.
        assert!(cidr("::ffff:0:0/96").contains(ip("192.0.2.1")));
        assert!(cidr("::/0").contains(ip("192.0.2.1")));
    }

    #[test]
    fn malformed_ranges_say_why() {
        for (text, needle) in [
            ("169.254.0.0/33", "prefix length '33'"),
            ("fd00::/129", "0 to 128"),
            ("nope/8", "'nope' is not"),
            ("10.0.0.0/x", "prefix length 'x'"),
            ("", "is not"),
        ] {
            let err = text.parse::<Cidr>().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.1.2.3/8");
    }
}
