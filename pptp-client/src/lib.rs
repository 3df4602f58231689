//! A userspace PPTP client for pptpd-rs's end-to-end tests and benchmarks: it speaks exactly
//! what pptp-linux + pppd speak (RFC 2637 control connection and enhanced GRE; PPP with LCP,
//! MS-CHAPv2, CCP/MPPE-128 stateless and IPCP; RFC 3078 MPPE), entirely in userspace, built
//! on the client roles of `pptp-proto`, `ppp-core` and `mschap`.
//!
//! - [`session`]: [`ClientSession`], the sans-IO heart (control connection + PPP link + GRE and
//!   MPPE framing), testable in memory against the server roles of the same crates.
//! - [`mux`]: [`GreMux`], one raw GRE socket demultiplexed by Call ID for thousands of
//!   sessions.
//! - [`tunnel`]: [`Tunnel`], one session on tokio (TCP 1723 + the shared GRE socket), with
//!   a driver task that answers echoes while idle.
//! - [`bridge`]: [`TunBridge`], a TUN device forwarding to a tunnel, like pppd's `ppp0`.
//! - [`cli`]: the `pptp-client` program (also built into the end-to-end tests' package).
//! - [`closure`]: how a session ended and what each side sent ([`Closure`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), pptp_client::ClientError> {
//! use pptp_client::{ConnectOptions, GreMux, Tunnel};
//!
//! let mux = GreMux::open()?;
//! let options = ConnectOptions::new("10.100.100.1:1723".parse().unwrap(), "root", "123456");
//! let tunnel = Tunnel::connect(&mux, &options).await?;
//! println!("up: {} -> {}", tunnel.local_ip(), tunnel.peer_ip());
//! let closure = tunnel.hang_up().await;
//! assert!(closure.is_clean_hang_up());
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod bridge;
pub mod cli;
pub mod closure;
pub mod error;
pub mod mux;
pub mod session;
pub mod tunnel;

pub use crate::bridge::{BridgeConfig, BridgeStats, RoutePrefix, TunBridge};
pub use crate::closure::{ClientSignals, CloseReason, Closure, ServerSignals};
pub use crate::error::ClientError;
pub use crate::mux::{CallRegistration, GreMux, MuxStats};
pub use crate::session::{ClientSession, DataStats, LinkInfo, SessionConfig, SessionEvent, Stage};
pub use crate::tunnel::{ConnectOptions, IpPacket, Tunnel, TunnelSender};
