//! [`DenyList`]: the addresses the prober never connects to.
//!
//! A registered instance names any address it likes, and an active check connects to it: left
//! open, that lets whoever may register make the server reach addresses only the server can,
//! such as a cloud's metadata service. The deny list closes that. By default it holds the
//! link-local blocks (`169.254.0.0/16`, which holds the metadata address `169.254.169.254`, and
//! `fe80::/10`) and AWS' IPv6 metadata address `fd00:ec2::254`; the operator adds blocks
//! (`nacre-server --probe-deny`). An instance on a denied address is not probed and keeps the
//! health it has. A host name is resolved first, and denied when any of its addresses is.
//!
//! ```
//! use nacre::probe::DenyList;
//! use nacre::front::cidr::Cidr;
//!
//! let mut deny = DenyList::default();
//! assert!(deny.denies("169.254.169.254".parse()?));
//! assert!(!deny.denies("10.0.0.7".parse()?));
//! deny.add(Cidr::parse("10.0.0.0/8").expect("a block"));
//! assert!(deny.denies("10.0.0.7".parse()?));
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::net::IpAddr;

use crate::front::cidr::Cidr;

/// The blocks denied by default: link-local IPv4 (with the metadata address), link-local IPv6,
/// and AWS' IPv6 metadata address.
pub const DEFAULT_DENIED: [&str; 3] = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"];

/// Blocks of addresses never probed: see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyList {
    blocks: Vec<Cidr>,
}

impl Default for DenyList {
    /// The [`DEFAULT_DENIED`] blocks.
    fn default() -> Self {
        DenyList {
            blocks: DEFAULT_DENIED
                .iter()
                .filter_map(|b| Cidr::parse(b))
                .collect(),
        }
    }
}

impl DenyList {
    /// A list with no block at all (not even the defaults).
    pub fn empty() -> Self {
        DenyList { blocks: Vec::new() }
    }

    /// Adds a block.
    pub fn add(&mut self, block: Cidr) {
        self.blocks.push(block);
    }

    /// Whether `ip` lies in a denied block.
    pub fn denies(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The blocks, in the order they were added.
    pub fn blocks(&self) -> &[Cidr] {
        &self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_addresses_are_denied_by_default() {
        let deny = DenyList::default();
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(deny.denies(ip.parse().expect("an address")), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.7", "fd00:ec2::253", "::1"] {
            assert!(!deny.denies(ip.parse().expect("an address")), "{ip}");
        }
        assert!(!DenyList::empty().denies("169.254.169.254".parse().expect("an address")));
    }
}
