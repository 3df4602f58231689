//! Reads `nft -j list tables` / `nft -j list chains` output (libnftables-json(5)): whether our
//! table exists, and which base chains of *other* tables would drop forwarded packets.
//!
//! Parsed as plain JSON rather than with the typed `nftables` schema: the listing includes other
//! programs' tables (iptables-nft, firewalld, Docker), and a field the schema does not know
//! should not make us blind to our own table.

use std::fmt;

use serde_json::Value;

use crate::error::NatError;
use crate::nft_rules::NFT_TABLE;

/// A base chain of another table, hooked at `forward` with policy `drop`.
///
/// In nftables every base chain on a hook sees the packet: an `accept` in our table ends only
/// our chain, and a `drop` in any other chain on the same hook still drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignChain {
    /// The table's family (`ip`, `inet`, ...).
    pub family: String,
    /// The table's name.
    pub table: String,
    /// The chain's name.
    pub chain: String,
}

impl ForeignChain {
    /// Is this the `FORWARD` chain of iptables-nft's `filter` table (the one Docker sets to DROP)?
    /// Only an `iptables` rule inside it can let our traffic through.
    pub fn is_iptables_filter_forward(&self) -> bool {
        self.family == "ip" && self.table == "filter" && self.chain == "FORWARD"
    }
}

impl fmt::Display for ForeignChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table {} {} chain {}",
            self.family, self.table, self.chain
        )
    }
}

/// Does a `nft -j list tables` listing contain `table ip pptpd_rs`?
pub(crate) fn lists_our_table(json: &str) -> Result<bool, NatError> {
    Ok(objects(json, "table")?
        .iter()
        .any(|table| table["family"] == "ip" && table["name"] == NFT_TABLE))
}

/// How many rules of `table ip pptpd_rs` a `nft -j list table ip pptpd_rs` listing holds.
pub(crate) fn count_our_rules(json: &str) -> Result<usize, NatError> {
    Ok(objects(json, "rule")?
        .iter()
        .filter(|rule| rule["family"] == "ip" && rule["table"] == NFT_TABLE)
        .count())
}

/// The forward base chains with policy `drop` outside our table, from `nft -j list chains`.
pub(crate) fn forward_drop_chains(json: &str) -> Result<Vec<ForeignChain>, NatError> {
    Ok(objects(json, "chain")?
        .iter()
        .filter(|chain| chain["hook"] == "forward" && chain["policy"] == "drop")
        .filter(|chain| matches!(chain["family"].as_str(), Some("ip" | "inet")))
        .filter(|chain| !(chain["family"] == "ip" && chain["table"] == NFT_TABLE))
        .map(|chain| ForeignChain {
            family: text(&chain["family"]),
            table: text(&chain["table"]),
            chain: text(&chain["name"]),
        })
        .collect())
}

/// The values under `kind` ("table", "chain") of the listing's `nftables` array.
fn objects(json: &str, kind: &str) -> Result<Vec<Value>, NatError> {
    let bad = |detail: String| NatError::BadOutput {
        program: "nft".to_owned(),
        detail,
    };
    let document: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let array = document["nftables"]
        .as_array()
        .ok_or_else(|| bad("no \"nftables\" array".to_owned()))?;
    Ok(array.iter().filter_map(|o| o.get(kind).cloned()).collect())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
        {"table": {"family": "ip", "name": "filter", "handle": 1}},
        {"table": {"family": "inet", "name": "pptpd_rs", "handle": 2}},
        {"table": {"family": "ip", "name": "pptpd_rs", "handle": 3}}]}"#;

    #[test]
    fn finds_our_table_by_family_and_name() {
        assert!(lists_our_table(TABLES).unwrap());
        let without = TABLES.replace(
            r#""family": "ip", "name": "pptpd_rs""#,
            r#""family": "ip", "name": "other""#,
        );
        assert!(!lists_our_table(&without).unwrap());
        let empty = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#;
        assert!(!lists_our_table(empty).unwrap());
        assert!(matches!(
            lists_our_table("nope"),
            Err(NatError::BadOutput { .. })
        ));
        assert!(matches!(
            lists_our_table("{}"),
            Err(NatError::BadOutput { .. })
        ));
    }

    #[test]
    fn counts_the_rules_of_our_table_only() {
        let listing = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
          {"table": {"family": "ip", "name": "pptpd_rs", "handle": 7}},
          {"chain": {"family": "ip", "table": "pptpd_rs", "name": "forward", "handle": 2}},
          {"rule": {"family": "ip", "table": "pptpd_rs", "chain": "forward", "handle": 4, "expr": []}},
          {"rule": {"family": "ip", "table": "pptpd_rs", "chain": "postrouting", "handle": 5, "expr": []}},
          {"rule": {"family": "inet", "table": "pptpd_rs", "chain": "x", "handle": 6, "expr": []}},
          {"rule": {"family": "ip", "table": "filter", "chain": "forward", "handle": 8, "expr": []}}]}"#;
        assert_eq!(count_our_rules(listing).unwrap(), 2);
        assert!(count_our_rules("[]").is_err());
    }

    #[test]
    fn reports_foreign_forward_drop_chains_only() {
        // Docker on iptables-nft, an nftables.conf inet filter, an accepting chain, ours.
        let chains = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
          {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
          {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 9}},
          {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
          {"chain": {"family": "inet", "table": "fw", "name": "fwd", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
          {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
          {"chain": {"family": "bridge", "table": "br", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
          {"chain": {"family": "ip", "table": "pptpd_rs", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}]}"#;
        let found = forward_drop_chains(chains).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].is_iptables_filter_forward());
        assert_eq!(found[0].to_string(), "table ip filter chain FORWARD");
        assert!(!found[1].is_iptables_filter_forward());
        assert_eq!(found[1].to_string(), "table inet filter chain forward");
    }
}
