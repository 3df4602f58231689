//! The egress plan: what the firewall must do, computed from the configuration without touching
//! the host. The backends render it as one nftables transaction ([`crate::nft_rules`]) or as
//! `iptables` command lines ([`crate::iptables_rules`]).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::config::EgressConfig;
use crate::detect::Backend;
use crate::error::NatError;

/// RFC 1122 §3.3.2: "Every internet destination must be able to receive a datagram of 576
/// octets"; the smallest TUN MTU we derive an MSS from.
pub const MIN_TUN_MTU: u16 = 576;
/// IPv4 header (20) plus TCP header (20) without options. RFC 879: "The MSS counts only data
/// octets in the segment, it does not count the TCP header or the IP header."
pub const TCP_IPV4_HEADERS: u16 = 40;
/// Linux `IFNAMSIZ` is 16 including the terminating NUL.
const MAX_INTERFACE_NAME: usize = 15;

/// How the pool's source addresses are rewritten on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceNat {
    /// Rewrite to the egress interface's primary address, chosen per packet by the kernel.
    Masquerade,
    /// Rewrite to this fixed address (an EIP that sits on the egress interface).
    Snat(Ipv4Addr),
}

/// The complete, validated description of the egress rules for one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPlan {
    backend: Backend,
    pool: Vec<Ipv4Net>,
    tun_interface: String,
    egress_interface: String,
    source_nat: SourceNat,
    tun_mtu: u16,
    clamp_mss: Option<u16>,
}

impl EgressPlan {
    /// Validates the configuration and computes the plan for `backend`.
    pub fn new(config: &EgressConfig, backend: Backend) -> Result<Self, NatError> {
        check_interface_name(&config.tun_interface)?;
        check_interface_name(&config.egress_interface)?;
        if config.tun_interface == config.egress_interface {
            return Err(NatError::SameInterface {
                name: config.tun_interface.clone(),
            });
        }
        // Normalise: drop host bits, merge overlapping or adjacent prefixes.
        let pool = Ipv4Net::aggregate(&config.pool);
        if pool.is_empty() {
            return Err(NatError::EmptyPool);
        }
        let clamp_mss = if config.mss_clamp {
            if config.tun_mtu < MIN_TUN_MTU {
                return Err(NatError::MtuTooSmall {
                    mtu: config.tun_mtu,
                    min: MIN_TUN_MTU,
                });
            }
            Some(config.tun_mtu - TCP_IPV4_HEADERS)
        } else {
            None
        };
        Ok(EgressPlan {
            backend,
            pool,
            tun_interface: config.tun_interface.clone(),
            egress_interface: config.egress_interface.clone(),
            source_nat: config
                .snat_to
                .map_or(SourceNat::Masquerade, SourceNat::Snat),
            tun_mtu: config.tun_mtu,
            clamp_mss,
        })
    }

    /// The backend this plan is meant for.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool as the minimal list of prefixes, in address order.
    pub fn pool(&self) -> &[Ipv4Net] {
        &self.pool
    }

    /// Whether `address` is in the pool.
    pub fn covers(&self, address: Ipv4Addr) -> bool {
        self.pool.iter().any(|prefix| prefix.contains(&address))
    }

    /// The same plan for a pool that also holds `addresses` (as /32s, merged).
    pub fn with_addresses(&self, addresses: &[Ipv4Addr]) -> EgressPlan {
        let mut pool = self.pool.clone();
        pool.extend(addresses.iter().map(|&a| Ipv4Net::from(a)));
        EgressPlan {
            pool: Ipv4Net::aggregate(&pool),
            ..self.clone()
        }
    }

    /// The TUN device name.
    pub fn tun_interface(&self) -> &str {
        &self.tun_interface
    }

    /// The egress interface name.
    pub fn egress_interface(&self) -> &str {
        &self.egress_interface
    }

    /// Masquerade or SNAT.
    pub fn source_nat(&self) -> SourceNat {
        self.source_nat
    }

    /// The MSS written into forwarded SYNs (`tun_mtu - 40`), or `None` without clamping.
    pub fn clamp_mss(&self) -> Option<u16> {
        self.clamp_mss
    }

    /// Human-readable lines for the log, one per effect.
    pub fn describe(&self) -> Vec<String> {
        let tun = &self.tun_interface;
        let egress = &self.egress_interface;
        let mut lines = vec![match self.backend {
            Backend::Nftables => format!(
                "backend nftables: table ip {} (hooks postrouting{})",
                crate::nft_rules::NFT_TABLE,
                if self.clamp_mss.is_some() {
                    ", forward"
                } else {
                    ""
                }
            ),
            Backend::Iptables => format!(
                "backend iptables: chains {} (nat POSTROUTING), {} (filter FORWARD), {} (mangle FORWARD)",
                crate::iptables_rules::POST_CHAIN,
                crate::iptables_rules::FORWARD_CHAIN,
                crate::iptables_rules::MSS_CHAIN
            ),
        }];
        for prefix in &self.pool {
            lines.push(match self.source_nat {
                SourceNat::Masquerade => format!("masquerade {prefix} out {egress}"),
                SourceNat::Snat(to) => format!("snat {prefix} out {egress} to {to}"),
            });
        }
        lines.push(match self.backend {
            Backend::Iptables => format!(
                "forward: accept {tun} -> {egress} from the pool, {egress} -> {tun} established/related"
            ),
            // An accept in our nftables table cannot override another table's drop.
            Backend::Nftables => format!(
                "forward: {tun} <-> {egress} left to the host's forward policy (nftables)"
            ),
        });
        if let Some(mss) = self.clamp_mss {
            lines.push(format!(
                "clamp TCP MSS to {mss} on SYNs in and out of {tun} (TUN MTU {} - 40)",
                self.tun_mtu
            ));
        }
        lines
    }
}

/// Accepts what Linux accepts as a device name, minus the characters that `iptables` (`+`, `!`)
/// or `nft` (`*`, `\`) would read as a pattern, and minus a leading `-` (an option to `iptables`).
fn check_interface_name(name: &str) -> Result<(), NatError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let valid = !name.is_empty()
        && name.len() <= MAX_INTERFACE_NAME
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name.chars().all(allowed);
    if valid {
        Ok(())
    } else {
        Err(NatError::InvalidInterfaceName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The pool of the brief: `192.168.0.234-238,192.168.0.245`.
    pub(crate) fn sample_config() -> EgressConfig {
        let pool = [
            "192.168.0.234/31",
            "192.168.0.236/31",
            "192.168.0.238/32",
            "192.168.0.245/32",
        ];
        let mut config =
            EgressConfig::new(pool.iter().map(|p| p.parse().unwrap()).collect(), "eth0");
        config.state_dir = "/nonexistent".into();
        config
    }

    #[test]
    fn mss_is_mtu_minus_forty() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        assert_eq!(plan.clamp_mss(), Some(1360));
        let mut config = sample_config();
        config.tun_mtu = 1450;
        let plan = EgressPlan::new(&config, Backend::Nftables).unwrap();
        assert_eq!(plan.clamp_mss(), Some(1410));
        config.mss_clamp = false;
        let plan = EgressPlan::new(&config, Backend::Nftables).unwrap();
        assert_eq!(plan.clamp_mss(), None);
    }

    #[test]
    fn addresses_outside_the_pool_are_added_as_merged_host_prefixes() {
        let plan = EgressPlan::new(&sample_config(), Backend::Nftables).unwrap();
        let outside = Ipv4Addr::new(10, 77, 0, 5);
        assert!(plan.covers(Ipv4Addr::new(192, 168, 0, 235)));
        assert!(!plan.covers(outside));
        assert!(!plan.covers(Ipv4Addr::new(192, 168, 0, 239)));
        let wider = plan.with_addresses(&[outside, Ipv4Addr::new(192, 168, 0, 239)]);
        assert!(wider.covers(outside));
        // .234-.239 now merge into one /29 less .232-.233: .234/31, .236/30.
        let prefixes: Vec<String> = wider.pool().iter().map(ToString::to_string).collect();
        assert_eq!(
            prefixes,
            [
                "10.77.0.5/32",
                "192.168.0.234/31",
                "192.168.0.236/30",
                "192.168.0.245/32"
            ]
        );
        assert_eq!(wider.egress_interface(), plan.egress_interface());
        assert_eq!(wider.clamp_mss(), plan.clamp_mss());
    }

    #[test]
    fn tiny_mtu_is_rejected_only_when_clamping() {
        let mut config = sample_config();
        config.tun_mtu = 575;
        assert!(matches!(
            EgressPlan::new(&config, Backend::Iptables),
            Err(NatError::MtuTooSmall { mtu: 575, min: 576 })
        ));
        config.mss_clamp = false;
        assert!(EgressPlan::new(&config, Backend::Iptables).is_ok());
    }

    #[test]
    fn snat_address_selects_snat() {
        let mut config = sample_config();
        assert_eq!(
            EgressPlan::new(&config, Backend::Nftables)
                .unwrap()
                .source_nat(),
            SourceNat::Masquerade
        );
        config.snat_to = Some(Ipv4Addr::new(203, 0, 113, 7));
        assert_eq!(
            EgressPlan::new(&config, Backend::Nftables)
                .unwrap()
                .source_nat(),
            SourceNat::Snat(Ipv4Addr::new(203, 0, 113, 7))
        );
    }

    #[test]
    fn pool_is_normalised() {
        let mut config = sample_config();
        config.pool = vec![
            "10.1.2.3/24".parse().unwrap(),
            "10.1.3.0/24".parse().unwrap(),
        ];
        let plan = EgressPlan::new(&config, Backend::Nftables).unwrap();
        assert_eq!(plan.pool(), &["10.1.2.0/23".parse::<Ipv4Net>().unwrap()]);
        config.pool.clear();
        assert!(matches!(
            EgressPlan::new(&config, Backend::Nftables),
            Err(NatError::EmptyPool)
        ));
    }

    #[test]
    fn interface_names_are_checked() {
        for good in ["eth0", "ens5", "eth0.100", "veth_a-b", "abcdefghijklmno"] {
            assert!(check_interface_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "abcdefghijklmnop",
            "eth+",
            "eth*",
            "!eth0",
            "-j",
            "a b",
            "a/b",
            "a:1",
            "..",
        ] {
            assert!(check_interface_name(bad).is_err(), "{bad}");
        }
        let mut config = sample_config();
        config.tun_interface = "eth0".into();
        assert!(matches!(
            EgressPlan::new(&config, Backend::Nftables),
            Err(NatError::SameInterface { .. })
        ));
    }

    #[test]
    fn describe_names_every_effect() {
        let mut config = sample_config();
        config.snat_to = Some(Ipv4Addr::new(203, 0, 113, 7));
        let lines = EgressPlan::new(&config, Backend::Nftables)
            .unwrap()
            .describe();
        assert_eq!(
            lines[0],
            "backend nftables: table ip pptpd_rs (hooks postrouting, forward)"
        );
        assert_eq!(lines[1], "snat 192.168.0.234/31 out eth0 to 203.0.113.7");
        assert_eq!(lines[4], "snat 192.168.0.245/32 out eth0 to 203.0.113.7");
        assert_eq!(
            lines[5],
            "forward: pptp0 <-> eth0 left to the host's forward policy (nftables)"
        );
        assert_eq!(
            lines[6],
            "clamp TCP MSS to 1360 on SYNs in and out of pptp0 (TUN MTU 1400 - 40)"
        );
        let masq = EgressPlan::new(&sample_config(), Backend::Iptables)
            .unwrap()
            .describe();
        assert_eq!(masq[1], "masquerade 192.168.0.234/31 out eth0");
    }
}
