//! Test infrastructure for the end-to-end tests of pptpd-rs.
//!
//! - [`netns`]: network namespaces as RAII guards, veth/TAP/bridge helpers, and the
//!   clean-up of namespaces left behind by test processes that died.
//! - [`topology`]: the standard test network (`gw` between a private LAN `vpc` and an
//!   "internet" host `inet` that can only answer NATed traffic).
//! - [`process`]: child processes with captured output, killed with their process
//!   group on drop.
//! - [`tool`] and the `netns-tool` binary: UDP echo, HTTP blob server, verifying
//!   fetcher and UDP checker, run inside the namespaces.
//! - [`blob`]: the deterministic content the HTTP server sends and the fetchers verify.
//! - [`capture`]: reading the guests' Ethernet captures.
//! - [`gateway`]: pptpd-rs itself, configured, started and stopped inside `gw`.
//! - [`gre_counter`]: which way the gateway's GRE left (IP stack or frames).
//! - [`nic_tuning`]: the gateway's veths tuned as an operator tunes a NIC (interrupt
//!   coalescing, GRO for forwarded UDP).
//! - [`vm`]: the stock client (pptp-linux + pppd) in a qemu guest on a TAP device.
//! - [`reference_server`]: poptop pptpd in a qemu guest, the reference the client
//!   harness is checked against.
#![deny(unsafe_code)]

pub mod blob;
pub mod capture;
pub mod error;
pub mod gateway;
pub mod gre_counter;
pub mod netns;
pub mod nic_tuning;
pub mod process;
pub mod reference_server;
pub mod test_client;
pub mod tool;
pub mod topology;
pub mod vm;

pub use error::{Error, Result};
pub use netns::{Netns, cleanup_leftovers, is_root, require_root};
pub use process::Process;
pub use topology::{Topology, TopologyBuilder};
