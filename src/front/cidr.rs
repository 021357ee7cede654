//! [`Cidr`]: a block of IP addresses, as auth's `register_cidrs` and the active health
//! checks' deny list (`nacre::probe`, feature `http`) name them.
//!
//! ```
//! use nacre::front::cidr::Cidr;
//!
//! let link_local = Cidr::parse("169.254.0.0/16").expect("a block");
//! assert!(link_local.contains("169.254.169.254".parse()?));
//! assert!(!link_local.contains("10.0.0.1".parse()?));
//! assert_eq!(Cidr::parse("10.0.0.0/33"), None);
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use super::gate::canonical;
use std::net::IpAddr;

/// A block of addresses, `10.1.0.0/16` or `fd00::/8` (a bare address is its own block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Reads `text`; `None` when it is not an address with an optional prefix length that fits
    /// it.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network = canonical(addr.parse().ok()?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Self { network, bits })
    }

    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(bytes: &[u8], bits: u8) -> impl Iterator<Item = u8> + '_ {
            bytes.iter().enumerate().map(move |(i, b)| {
                let keep = (usize::from(bits)).saturating_sub(i * 8).min(8);
                // `keep` high bits of the byte; 0 bits keeps nothing.
                let mask = if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
                b & mask
            })
        }
        match (self.network, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix(&n.octets(), self.bits).eq(prefix(&a.octets(), self.bits))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix(&n.octets(), self.bits).eq(prefix(&a.octets(), self.bits))
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.bits)
    }
}
