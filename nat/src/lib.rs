//! Egress for the PPTP gateway: lets the clients of the address pool reach the internet through
//! the egress interface, and takes it all back at exit.
//!
//! At install ([`Egress::install`]) and removed at exit (drop or [`Egress::remove`]):
//! 1. `net.ipv4.ip_forward = 1`, with the old value restored at removal and kept in a state file
//!    so that the next start can restore it after a crash (semantics in [`ip_forward`]).
//! 2. Source NAT of the pool out of the egress interface: masquerade, or SNAT to a configured
//!    address (below).
//! 3. Forward acceptance (iptables only): TUN → egress from the pool, and egress → TUN for
//!    established/related replies. nftables needs none (below).
//! 4. TCP MSS clamping of forwarded SYNs in both directions through the TUN device to
//!    `tun_mtu - 40`, so that servers never send segments that do not fit through the tunnel
//!    (the "some sites do not load" complaint).
//!
//! Only our own objects are touched: nftables `table ip pptpd_rs`, or iptables chains
//! `PPTPD_RS_POST` (nat), `PPTPD_RS_FWD` (filter), `PPTPD_RS_MSS` (mangle) and one jump to
//! each. Nothing of the host is flushed or reordered. At start, [`cleanup_stale`] (called by
//! `install`) removes leftovers of a crashed run for both backends.
//!
//! The rules are computed as a pure [`EgressPlan`] (testable without root), then applied by a
//! small process module per backend.
//!
//! # Why these libraries
//! - `nftnl` + `mnl` (Mullvad): netlink from Rust, but links the C libraries libnftnl and libmnl
//!   (`-dev` packages at build, shared libraries at run time) and is low level (raw expressions).
//! - `rustables`: pure Rust netlink, but GPL-3.0 (our crates are MIT/Apache-2.0) and needs
//!   bindgen/libclang at build time.
//! - **`nftables` (chosen for nftables hosts)**: typed builders for the libnftables JSON schema,
//!   applied through the `nft` binary (`nft -j -f -`) that every nftables host has. A whole
//!   install is one transaction: atomic, all or nothing. No C build dependencies. (We spawn
//!   `nft -j -f -` ourselves rather than through `helper::apply_ruleset`, which in 0.6.3 does
//!   not capture nft's error text.)
//! - **the `iptables` binary (chosen for the rest)**: the only firewall interface CentOS 7 has
//!   (iptables 1.4.21, no nftables). Called through `std::process` with `-w`, one command at a
//!   time with rollback; no crate needed (the `iptables` crate is a thin wrapper around the same
//!   binary).
//!
//! # Masquerade or SNAT ("EIP direct" hosts)
//! Masquerade rewrites the source to the egress interface's primary address, chosen per packet.
//! On "EIP direct" cloud hosts the public EIP is configured on `eth0` beside the private address
//! and policy routing sends traffic from the EIP out directly; masquerade would pick the private
//! primary address and the replies would never come back the same way. Setting
//! [`EgressConfig::snat_to`] to the EIP installs SNAT to that fixed address instead. SNAT is also
//! cheaper (no per-packet address lookup) but does not follow address changes: use it only with
//! a static address.
//!
//! # Forward acceptance and a host that drops forwarded packets
//! - iptables: our `FORWARD` jump is inserted at position 1, so our ACCEPTs are evaluated before
//!   the host's rules and its `-P FORWARD DROP` policy.
//! - nftables: every base chain on the forward hook sees every packet, in priority order. An
//!   `accept` in our table would only end *our* chain; a `drop` (rule or policy) in any other
//!   table still drops the packet. No rule in our table can override it, so our table has no
//!   accept rules at all (they would change no verdict and cost every forwarded packet).
//!   Typical culprits: Docker on iptables-nft (`table ip filter`, chain `FORWARD`, policy drop)
//!   and an `/etc/nftables.conf`
//!   with `policy drop` in `inet filter forward`. [`detect_backend`] picks iptables in the Docker
//!   case (so our accept sits inside that chain); a pure nftables drop must be opened by the
//!   operator, and [`Egress::install`] logs a warning naming the chain
//!   ([`Egress::forward_blockers`]).
//!
//! # MSS clamping
//! Both directions are clamped to a fixed `tun_mtu - 40` rather than "to PMTU": the clamp to
//! the route MTU uses the interface the SYN *leaves* by, which for a client's SYN is the egress
//! interface (1500) and would not lower the MSS that the server uses towards the client. The
//! rules never raise an MSS that is already smaller.

mod config;
mod detect;
mod egress;
mod error;
pub mod ip_forward;
mod iptables_process;
mod iptables_rules;
mod nft_listing;
mod nft_process;
mod nft_rules;
mod plan;
mod prefixes;
mod route;

pub use config::{
    BackendChoice, DEFAULT_STATE_DIR, DEFAULT_TUN_INTERFACE, DEFAULT_TUN_MTU, EgressConfig,
    IP_FORWARD_STATE_FILE,
};
pub use detect::{Backend, HostFirewall, IptablesFlavor, detect_backend};
pub use egress::{Egress, cleanup_stale};
pub use error::NatError;
pub use iptables_rules::{FORWARD_CHAIN, IPTABLES, MSS_CHAIN, POST_CHAIN};
pub use nft_listing::ForeignChain;
pub use nft_rules::{NFT_FAMILY, NFT_MSS_CHAIN, NFT_POSTROUTING_CHAIN, NFT_TABLE};
pub use plan::{EgressPlan, MIN_TUN_MTU, SourceNat, TCP_IPV4_HEADERS};
pub use prefixes::ranges_to_prefixes;
pub use route::{default_route_interface, parse_default_route};
