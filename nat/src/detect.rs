//! Which firewall framework the host uses, and so which backend we install into.

use crate::config::BackendChoice;
use crate::error::NatError;
use crate::iptables_process;
use crate::nft_listing::ForeignChain;
use crate::nft_process;

/// The firewall framework our rules are installed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One nftables table, applied as one JSON transaction through `nft`.
    Nftables,
    /// Three chains of our own, managed with the `iptables` binary.
    Iptables,
}

/// Which kernel API the `iptables` binary drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IptablesFlavor {
    /// `iptables-nft` (`iptables v1.8.9 (nf_tables)`): rules land in nftables tables `ip nat`,
    /// `ip filter`, `ip mangle`, visible to `nft list ruleset`.
    Nft,
    /// `iptables-legacy` (`iptables v1.8.9 (legacy)`, or CentOS 7's bare `iptables v1.4.21`):
    /// the old x_tables API, invisible to `nft`.
    Legacy,
}

impl IptablesFlavor {
    /// Reads the flavour from `iptables --version` output.
    pub fn from_version(text: &str) -> Self {
        if text.contains("(nf_tables)") {
            IptablesFlavor::Nft
        } else {
            IptablesFlavor::Legacy
        }
    }
}

/// What the host's firewall looks like, as far as choosing a backend is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFirewall {
    /// `nft -j list tables` works (binary with JSON support, kernel support, privilege).
    pub nft_usable: bool,
    /// The flavour of the `iptables` binary, if installed.
    pub iptables: Option<IptablesFlavor>,
    /// Legacy x_tables tables in use (`/proc/net/ip_tables_names`).
    pub legacy_tables: Vec<String>,
    /// Base chains of other nftables tables that drop forwarded packets by policy.
    pub forward_drop_chains: Vec<ForeignChain>,
}

impl HostFirewall {
    /// Looks at the host (runs `nft list tables`, `nft list chains`, `iptables --version`, reads
    /// `/proc/net/ip_tables_names`); changes nothing. Failures count as "not there".
    pub fn probe() -> Self {
        let nft_usable = nft_process::usable();
        let iptables = iptables_process::flavor().ok().flatten();
        let legacy_tables = iptables_process::legacy_tables()
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        let forward_drop_chains = if nft_usable {
            nft_process::forward_drop_chains().unwrap_or_else(|error| {
                tracing::debug!(%error, "cannot list nftables chains");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        HostFirewall {
            nft_usable,
            iptables,
            legacy_tables,
            forward_drop_chains,
        }
    }

    /// Chooses the backend; see [`detect_backend`] for the rule.
    pub fn choose(&self) -> Result<Backend, NatError> {
        let Some(flavor) = self.iptables else {
            return if self.nft_usable {
                Ok(Backend::Nftables)
            } else {
                Err(NatError::NoBackend {
                    detail: "`nft list tables` fails and `iptables` is not installed".to_owned(),
                })
            };
        };
        if !self.nft_usable {
            return Ok(Backend::Iptables);
        }
        let legacy_firewall = flavor == IptablesFlavor::Legacy && !self.legacy_tables.is_empty();
        let iptables_forward_drop = flavor == IptablesFlavor::Nft
            && self
                .forward_drop_chains
                .iter()
                .any(ForeignChain::is_iptables_filter_forward);
        if legacy_firewall || iptables_forward_drop {
            Ok(Backend::Iptables)
        } else {
            Ok(Backend::Nftables)
        }
    }
}

/// Chooses the backend for this host (`BackendChoice::Auto`):
///
/// 1. `nft -j list tables` fails (CentOS 7 has no nftables; a kernel without nf_tables; an `nft`
///    built without JSON support) → iptables.
/// 2. The host's firewall is legacy iptables (`iptables` is the legacy flavour and
///    `/proc/net/ip_tables_names` lists tables: CentOS 7 with `nft` installed, Ubuntu 18.04,
///    Debian set to `iptables-legacy`) → iptables. Legacy rules are invisible to nftables, and a
///    legacy `FORWARD DROP` can only be overridden by a rule inside that chain.
/// 3. `iptables` is the nf_tables flavour and its `filter FORWARD` chain has policy DROP (Docker
///    does this) → iptables, for the same reason: our ACCEPT must sit inside that chain. An
///    accept in our own nftables table ends only our chain; the packet still meets the drop.
/// 4. Otherwise → nftables: one table of our own, atomic transactions.
///
/// A drop policy in a pure nftables table (e.g. an `inet filter` from `/etc/nftables.conf`)
/// cannot be overridden by any backend; [`crate::Egress::install`] logs a warning naming it.
pub fn detect_backend() -> Result<Backend, NatError> {
    HostFirewall::probe().choose()
}

impl BackendChoice {
    /// The backend to use: the forced one, or [`detect_backend`] for `Auto`.
    pub fn resolve(self) -> Result<Backend, NatError> {
        match self {
            BackendChoice::Auto => detect_backend(),
            BackendChoice::Nftables => Ok(Backend::Nftables),
            BackendChoice::Iptables => Ok(Backend::Iptables),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_forward() -> ForeignChain {
        ForeignChain {
            family: "ip".into(),
            table: "filter".into(),
            chain: "FORWARD".into(),
        }
    }

    #[test]
    fn flavour_from_version_text() {
        assert_eq!(
            IptablesFlavor::from_version("iptables v1.8.9 (nf_tables)\n"),
            IptablesFlavor::Nft
        );
        assert_eq!(
            IptablesFlavor::from_version("iptables v1.8.9 (legacy)\n"),
            IptablesFlavor::Legacy
        );
        assert_eq!(
            IptablesFlavor::from_version("iptables v1.4.21\n"),
            IptablesFlavor::Legacy
        );
    }

    #[test]
    fn plain_modern_host_gets_nftables() {
        let host = HostFirewall {
            nft_usable: true,
            iptables: Some(IptablesFlavor::Nft),
            ..HostFirewall::default()
        };
        assert_eq!(host.choose().unwrap(), Backend::Nftables);
        let nft_only = HostFirewall {
            nft_usable: true,
            ..HostFirewall::default()
        };
        assert_eq!(nft_only.choose().unwrap(), Backend::Nftables);
    }

    #[test]
    fn centos7_gets_iptables() {
        let host = HostFirewall {
            nft_usable: false,
            iptables: Some(IptablesFlavor::Legacy),
            legacy_tables: vec!["filter".into(), "nat".into()],
            ..HostFirewall::default()
        };
        assert_eq!(host.choose().unwrap(), Backend::Iptables);
    }

    #[test]
    fn legacy_firewall_beside_working_nft_gets_iptables() {
        let mut host = HostFirewall {
            nft_usable: true,
            iptables: Some(IptablesFlavor::Legacy),
            legacy_tables: vec!["filter".into()],
            ..HostFirewall::default()
        };
        assert_eq!(host.choose().unwrap(), Backend::Iptables);
        // Legacy binary but no legacy table in use: nothing to coexist with.
        host.legacy_tables.clear();
        assert_eq!(host.choose().unwrap(), Backend::Nftables);
    }

    #[test]
    fn docker_forward_drop_gets_iptables_but_a_pure_nft_drop_does_not() {
        let mut host = HostFirewall {
            nft_usable: true,
            iptables: Some(IptablesFlavor::Nft),
            forward_drop_chains: vec![docker_forward()],
            ..HostFirewall::default()
        };
        assert_eq!(host.choose().unwrap(), Backend::Iptables);
        host.forward_drop_chains = vec![ForeignChain {
            family: "inet".into(),
            table: "filter".into(),
            chain: "forward".into(),
        }];
        assert_eq!(host.choose().unwrap(), Backend::Nftables);
    }

    #[test]
    fn nothing_usable_is_an_error() {
        assert!(matches!(
            HostFirewall::default().choose(),
            Err(NatError::NoBackend { .. })
        ));
    }

    #[test]
    fn forced_choices_skip_detection() {
        assert_eq!(
            BackendChoice::Nftables.resolve().unwrap(),
            Backend::Nftables
        );
        assert_eq!(
            BackendChoice::Iptables.resolve().unwrap(),
            Backend::Iptables
        );
    }
}
