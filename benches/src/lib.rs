//! The throughput and session benchmark of pptpd-rs (`pptpd-bench`): pptpd-rs beside the
//! limits of the machine, measured in one run on the pptpd-tests namespaces.
//!
//! - [`core_latency`]: how far apart the gateway's and the generator's cores are.
//! - [`cpu`]: pinning, and CPU time and memory from `/proc`.
//! - [`namespace`]: entering namespaces from threads, receive steering (RPS).
//! - [`payload`]: the test datagrams and their checks.
//! - [`gre_frame`]: GRE/PPP/MPPE data packets and the socket filters that split them.
//! - [`mmsg`]: batched `sendmmsg`/`recvmmsg`.
//! - [`crypto_bound`]: limit (b), MPPE encryption on one core.
#![deny(unsafe_code)]

pub mod clients;
pub mod core_latency;
pub mod cpu;
pub mod crypto_bound;
pub mod drops;
pub mod error;
pub mod gateway_run;
pub mod gre_frame;
pub mod interrupt;
pub mod mmsg;
pub mod mppe_chain;
pub mod namespace;
pub mod payload;
pub mod report;
pub mod sessions;
pub mod throughput;
pub mod traffic;
pub mod tunnel_flows;
pub mod udp_flows;

pub use error::{BenchError, Result};
