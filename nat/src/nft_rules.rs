//! Renders an [`EgressPlan`] as nftables JSON (libnftables-json(5)) for `nft -j -f -`.
//!
//! Everything lives in one table, `table ip pptpd_rs`, so that removal is "delete our table" and
//! nothing else on the host is ever flushed or reordered. The `ip` family (not `inet`) because
//! the pool is IPv4 and NAT in `inet` tables needs Linux 5.2. The table holds two base chains:
//!
//! ```text
//! table ip pptpd_rs {
//!   chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!     oifname "eth0" ip saddr { <pool> } masquerade            # or: snat to <EIP>
//!   }
//!   chain mss { type filter hook forward priority mangle; policy accept;
//!     tcp flags & (syn | rst) == syn iifname "pptp0" tcp option maxseg size > 1360 tcp option maxseg size set 1360
//!     tcp flags & (syn | rst) == syn oifname "pptp0" tcp option maxseg size > 1360 tcp option maxseg size set 1360
//!   }
//! }
//! ```
//!
//! No chain of ours accepts forwarded traffic, unlike the iptables backend's `PPTPD_RS_FWD`: in
//! nftables every base chain on a hook sees every packet, and an `accept` ends only the chain it
//! is in, so it can never override a `drop` of another table (the crate docs, "Forward
//! acceptance"). Such a chain changed no verdict and only cost every forwarded packet its
//! interface-name matches (about 2 % of the gateway core in 1400-byte downstream).
//!
//! The nat chain sees only a connection's first packet; the mss chain sees every forwarded
//! packet, so its rules test the TCP flags first: any other protocol, and any TCP segment but a
//! SYN, leaves each rule at its first expression.
//!
//! The install transaction begins with `add table; delete table; add table`: whatever copy of
//! our table exists (a crashed run's, or our own) is replaced in the same atomic commit, so there
//! is never a moment with two copies or with none. `nft` 1.0.6 has no `destroy` command yet.
//!
//! The MSS rule only lowers: `maxseg size set` alone would also raise a smaller MSS, which the
//! iptables `TCPMSS --set-mss` target never does.

use std::borrow::Cow;

use nftables::batch::Batch;
use nftables::expr::{
    BinaryOperation, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
    SetItem, TcpOption,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Mangle, Match, NAT, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::plan::{EgressPlan, SourceNat};

/// Our table's name; never changes between versions, so any version can clean up after another.
pub const NFT_TABLE: &str = "pptpd_rs";
/// The family of our table.
pub const NFT_FAMILY: NfFamily = NfFamily::IP;
/// The source NAT chain.
pub const NFT_POSTROUTING_CHAIN: &str = "postrouting";
/// The MSS clamping chain.
pub const NFT_MSS_CHAIN: &str = "mss";
/// `priority srcnat`.
const PRIORITY_SRCNAT: i32 = 100;
/// `priority mangle`.
const PRIORITY_MANGLE: i32 = -150;

impl EgressPlan {
    /// The complete install transaction: replace our table (if any) by a fresh one with all chains
    /// and rules. Applied with one `nft -j -f -`, it commits atomically or not at all.
    pub fn nft_ruleset(&self) -> Nftables<'static> {
        let mut batch = Batch::new();
        batch.add(NfListObject::Table(our_table()));
        batch.delete(NfListObject::Table(our_table()));
        batch.add(NfListObject::Table(our_table()));
        batch.add(base_chain(
            NFT_POSTROUTING_CHAIN,
            NfChainType::NAT,
            NfHook::Postrouting,
            PRIORITY_SRCNAT,
        ));
        if self.clamp_mss().is_some() {
            batch.add(base_chain(
                NFT_MSS_CHAIN,
                NfChainType::Filter,
                NfHook::Forward,
                PRIORITY_MANGLE,
            ));
        }
        for rule in self.nft_rules() {
            batch.add(NfListObject::Rule(rule));
        }
        batch.to_nftables()
    }

    /// The removal transaction: delete our table and nothing else. `add` first makes it succeed
    /// whether or not the table exists.
    pub fn nft_removal() -> Nftables<'static> {
        nft_removal()
    }

    /// How many rules [`Self::nft_ruleset`] puts into our table.
    pub(crate) fn nft_rule_count(&self) -> usize {
        self.nft_rules().len()
    }

    /// The rules of [`Self::nft_ruleset`], in chain order.
    fn nft_rules(&self) -> Vec<Rule<'static>> {
        let tun = self.tun_interface().to_owned();
        let egress = self.egress_interface().to_owned();
        let nat = match self.source_nat() {
            SourceNat::Masquerade => Statement::Masquerade(None),
            SourceNat::Snat(to) => Statement::SNAT(Some(NAT {
                addr: Some(Expression::String(to.to_string().into())),
                family: None,
                port: None,
                flags: None,
            })),
        };
        let mut rules = vec![rule(
            NFT_POSTROUTING_CHAIN,
            vec![
                interface_is(MetaKey::Oifname, &egress),
                source_in(self.pool_expression()),
                nat,
            ],
            "pptpd-rs: source NAT of the client pool",
        )];
        if let Some(mss) = self.clamp_mss() {
            for key in [MetaKey::Iifname, MetaKey::Oifname] {
                rules.push(rule(
                    NFT_MSS_CHAIN,
                    vec![
                        syn_without_rst(),
                        interface_is(key, &tun),
                        maxseg_above(mss),
                        Statement::Mangle(Mangle {
                            key: maxseg_size(),
                            value: Expression::Number(u32::from(mss)),
                        }),
                    ],
                    "pptpd-rs: TCP MSS clamp",
                ));
            }
        }
        rules
    }

    /// `192.168.1.0/24`, `192.168.0.245`, or an anonymous set of those.
    fn pool_expression(&self) -> Expression<'static> {
        let mut items: Vec<Expression<'static>> = self
            .pool()
            .iter()
            .map(|net| prefix_expression(*net))
            .collect();
        match items.len() {
            1 => items.remove(0),
            _ => Expression::Named(NamedExpression::Set(
                items.into_iter().map(SetItem::Element).collect(),
            )),
        }
    }
}

/// The removal transaction: `add table ip pptpd_rs; delete table ip pptpd_rs`.
pub(crate) fn nft_removal() -> Nftables<'static> {
    let mut batch = Batch::new();
    batch.add(NfListObject::Table(our_table()));
    batch.delete(NfListObject::Table(our_table()));
    batch.to_nftables()
}

fn our_table() -> Table<'static> {
    Table {
        family: NFT_FAMILY,
        name: NFT_TABLE.into(),
        handle: None,
    }
}

fn base_chain(
    name: &'static str,
    kind: NfChainType,
    hook: NfHook,
    prio: i32,
) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NFT_FAMILY,
        table: NFT_TABLE.into(),
        name: name.into(),
        newname: None,
        handle: None,
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        dev: None,
        policy: Some(NfChainPolicy::Accept),
    })
}

fn rule(
    chain: &'static str,
    expr: Vec<Statement<'static>>,
    comment: &'static str,
) -> Rule<'static> {
    Rule {
        family: NFT_FAMILY,
        table: NFT_TABLE.into(),
        chain: chain.into(),
        expr: Cow::Owned(expr),
        handle: None,
        index: None,
        comment: Some(comment.into()),
    }
}

fn prefix_expression(net: ipnet::Ipv4Net) -> Expression<'static> {
    let addr = Expression::String(net.network().to_string().into());
    if net.prefix_len() == 32 {
        addr
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: u32::from(net.prefix_len()),
        }))
    }
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn interface_is(key: MetaKey, name: &str) -> Statement<'static> {
    matches(
        Expression::Named(NamedExpression::Meta(Meta { key })),
        Operator::EQ,
        Expression::String(name.to_owned().into()),
    )
}

fn source_in(pool: Expression<'static>) -> Statement<'static> {
    matches(payload("ip", "saddr"), Operator::EQ, pool)
}

/// `tcp flags & (syn | rst) == syn`: SYN and SYN-ACK, never a RST.
fn syn_without_rst() -> Statement<'static> {
    matches(
        Expression::BinaryOperation(Box::new(BinaryOperation::AND(
            payload("tcp", "flags"),
            Expression::List(vec![
                Expression::String("syn".into()),
                Expression::String("rst".into()),
            ]),
        ))),
        Operator::EQ,
        Expression::String("syn".into()),
    )
}

/// `tcp option maxseg size > mss`. (nftables 0.6 calls the `>` operator `Operator::LT`; the
/// unit test pins the serialised `">"`.)
fn maxseg_above(mss: u16) -> Statement<'static> {
    matches(
        maxseg_size(),
        Operator::LT,
        Expression::Number(u32::from(mss)),
    )
}

fn maxseg_size() -> Expression<'static> {
    Expression::Named(NamedExpression::TcpOption(TcpOption {
        name: "maxseg".into(),
        field: Some("size".into()),
    }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use serde_json::{Value, json};

    use super::*;
    use crate::detect::Backend;
    use crate::plan::tests::sample_config;

    fn commands(plan: &EgressPlan) -> Vec<Value> {
        let value = serde_json::to_value(plan.nft_ruleset()).unwrap();
        value["nftables"].as_array().unwrap().clone()
    }

    fn rules_of(commands: &[Value], chain: &str) -> Vec<Value> {
        commands
            .iter()
            .filter_map(|c| c.get("add").and_then(|a| a.get("rule")))
            .filter(|r| r["chain"] == chain)
            .map(|r| r["expr"].clone())
            .collect()
    }

    #[test]
    fn transaction_replaces_our_table_and_only_ours() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let commands = commands(&plan);
        let table = json!({"table": {"family": "ip", "name": "pptpd_rs"}});
        assert_eq!(commands[0], json!({"add": table}));
        assert_eq!(commands[1], json!({"delete": table}));
        assert_eq!(commands[2], json!({"add": table}));
        for command in &commands[3..] {
            let (verb, object) = command.as_object().unwrap().iter().next().unwrap();
            assert_eq!(verb, "add");
            let object = object.as_object().unwrap().values().next().unwrap();
            assert_eq!(object["family"], "ip");
            assert_eq!(object["table"], "pptpd_rs");
        }
        let removal = serde_json::to_value(EgressPlan::nft_removal()).unwrap();
        assert_eq!(
            removal,
            json!({"nftables": [{"add": table}, {"delete": table}]})
        );
    }

    #[test]
    fn base_chains_are_nat_postrouting_and_the_mss_clamp() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let chains: Vec<Value> = commands(&plan)
            .iter()
            .filter_map(|c| c["add"].get("chain").cloned())
            .collect();
        assert_eq!(
            chains,
            vec![
                json!({"family": "ip", "table": "pptpd_rs", "name": "postrouting", "type": "nat",
                       "hook": "postrouting", "prio": 100, "policy": "accept"}),
                json!({"family": "ip", "table": "pptpd_rs", "name": "mss", "type": "filter",
                       "hook": "forward", "prio": -150, "policy": "accept"}),
            ]
        );
    }

    #[test]
    fn masquerade_matches_the_pool_prefixes_out_of_egress() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let rules = rules_of(&commands(&plan), "postrouting");
        assert_eq!(
            rules,
            vec![json!([
                {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                           "right": {"set": [
                               {"prefix": {"addr": "192.168.0.234", "len": 31}},
                               {"prefix": {"addr": "192.168.0.236", "len": 31}},
                               "192.168.0.238",
                               "192.168.0.245"]}}},
                {"masquerade": null}
            ])]
        );
    }

    #[test]
    fn snat_uses_the_configured_address_and_single_prefix_needs_no_set() {
        let mut config = sample_config();
        config.pool = vec!["192.168.1.0/24".parse().unwrap()];
        config.snat_to = Some(Ipv4Addr::new(203, 0, 113, 7));
        let plan = EgressPlan::new(&config, Backend::Nftables).unwrap();
        let rules = rules_of(&commands(&plan), "postrouting");
        assert_eq!(
            rules[0][1],
            json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                             "right": {"prefix": {"addr": "192.168.1.0", "len": 24}}}})
        );
        assert_eq!(rules[0][2], json!({"snat": {"addr": "203.0.113.7"}}));
    }

    /// An accept in our table could not override another table's drop, so there is none: no
    /// rule of ours but the clamp is evaluated for every forwarded packet.
    #[test]
    fn no_chain_accepts_forwarded_traffic() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let commands = commands(&plan);
        assert!(rules_of(&commands, "forward").is_empty());
        let rules = serde_json::to_string(&commands).unwrap();
        assert!(!rules.contains("accept\":null"), "{rules}");
        assert!(!rules.contains("\"ct\""), "{rules}");
    }

    /// The TCP flags come first: every other forwarded packet leaves each rule at its first match.
    #[test]
    fn mss_clamp_lowers_syns_both_ways_to_mtu_minus_forty() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let rules = rules_of(&commands(&plan), "mss");
        assert_eq!(rules.len(), 2);
        for (rule, direction) in rules.iter().zip(["iifname", "oifname"]) {
            assert_eq!(
                *rule,
                json!([
                    {"match": {"op": "==",
                               "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}},
                                              ["syn", "rst"]]},
                               "right": "syn"}},
                    {"match": {"op": "==", "left": {"meta": {"key": direction}}, "right": "pptp0"}},
                    {"match": {"op": ">",
                               "left": {"tcp option": {"name": "maxseg", "field": "size"}},
                               "right": 1360}},
                    {"mangle": {"key": {"tcp option": {"name": "maxseg", "field": "size"}},
                                "value": 1360}}
                ])
            );
        }
    }

    #[test]
    fn no_mss_chain_without_clamping() {
        let mut config = sample_config();
        config.mss_clamp = false;
        let plan = EgressPlan::new(&config, Backend::Nftables).unwrap();
        let commands = commands(&plan);
        assert!(rules_of(&commands, "mss").is_empty());
        assert!(!commands.iter().any(|c| c["add"]["chain"]["name"] == "mss"));
    }
}
