//! An nft counter of the GRE datagrams a namespace's IP stack sends (its output
//! hook): with `gre-direct`, the gateway's downstream data leaves as frames on a
//! packet socket and never passes there, so the counter tells which way it went.

use crate::netns::Netns;
use crate::{Error, Result};

/// The counter, in its own nft table; removed on drop.
pub struct GreOutputCounter<'a> {
    ns: &'a Netns,
}

impl<'a> GreOutputCounter<'a> {
    const TABLE: &'static str = "pptpd_test_gre_out";

    /// Installs the counter in `ns`, at zero.
    pub fn install(ns: &'a Netns) -> Result<Self> {
        let t = Self::TABLE;
        let rules = format!(
            "add table ip {t}; \
             add chain ip {t} out {{ type filter hook output priority 0; }}; \
             add rule ip {t} out ip protocol gre counter"
        );
        ns.run(&["nft", &rules])?;
        Ok(GreOutputCounter { ns })
    }

    /// GRE datagrams counted so far.
    pub fn packets(&self) -> Result<u64> {
        let listing = self.ns.run(&["nft", "list", "table", "ip", Self::TABLE])?;
        let label = "counter packets ";
        listing
            .find(label)
            .and_then(|at| listing[at + label.len()..].split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::InvalidArgument(format!("no counter in {listing}")))
    }
}

impl Drop for GreOutputCounter<'_> {
    fn drop(&mut self) {
        let _ = self.ns.run(&["nft", "delete", "table", "ip", Self::TABLE]);
    }
}
