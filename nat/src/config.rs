//! What the operator configures for the egress: the pool, the two interfaces, the source NAT
//! mode, MSS clamping, `ip_forward` management and the firewall backend.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;

/// The TUN device the daemon creates when the configuration names none.
pub const DEFAULT_TUN_INTERFACE: &str = "pptp0";
/// The TUN MTU assumed when the configuration names none (leaves room for IP + GRE + PPP + MPPE
/// headers inside a 1500-byte underlay).
pub const DEFAULT_TUN_MTU: u16 = 1400;
/// Where the state file lives by default: on tmpfs, so that a reboot forgets it together with
/// the `ip_forward` value it describes.
pub const DEFAULT_STATE_DIR: &str = "/run/pptpd-rs";
/// The file in [`EgressConfig::state_dir`] that records `ip_forward` as it was before we set it.
pub const IP_FORWARD_STATE_FILE: &str = "ip_forward.orig";

/// Which firewall framework the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Let [`crate::detect_backend`] decide.
    #[default]
    Auto,
    /// Force nftables (`nft`).
    Nftables,
    /// Force iptables (the `iptables` binary, legacy or nf_tables flavour).
    Iptables,
}

/// Everything [`crate::Egress::install`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// The client address pool as a list of prefixes (see [`crate::ranges_to_prefixes`]).
    pub pool: Vec<Ipv4Net>,
    /// The TUN device that carries the clients' packets (default `pptp0`).
    pub tun_interface: String,
    /// The interface towards the internet (default: the interface of the default route).
    pub egress_interface: String,
    /// `None`: masquerade (the egress interface's primary address); `Some(addr)`: SNAT to `addr`.
    pub snat_to: Option<Ipv4Addr>,
    /// The TUN MTU; the MSS clamp is `tun_mtu - 40`.
    pub tun_mtu: u16,
    /// Clamp the TCP MSS of SYNs forwarded through the TUN device.
    pub mss_clamp: bool,
    /// Set `net.ipv4.ip_forward = 1` at install and restore the old value at removal.
    pub ip_forward: bool,
    /// Which firewall framework to use.
    pub backend: BackendChoice,
    /// Directory for the crash-recovery state file (default `/run/pptpd-rs`).
    pub state_dir: PathBuf,
}

impl EgressConfig {
    /// A configuration with the defaults: TUN `pptp0`, MTU 1400, masquerade, MSS clamping,
    /// managed `ip_forward`, automatic backend, state in `/run/pptpd-rs`.
    pub fn new(pool: Vec<Ipv4Net>, egress_interface: impl Into<String>) -> Self {
        EgressConfig {
            pool,
            tun_interface: DEFAULT_TUN_INTERFACE.to_owned(),
            egress_interface: egress_interface.into(),
            snat_to: None,
            tun_mtu: DEFAULT_TUN_MTU,
            mss_clamp: true,
            ip_forward: true,
            backend: BackendChoice::Auto,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }

    /// The path of the file that records the original `ip_forward` value.
    pub fn ip_forward_state_path(&self) -> PathBuf {
        self.state_dir.join(IP_FORWARD_STATE_FILE)
    }
}
