//! The control plane: the TCP 1723 listener (RFC 2637 §3.1) and one task per
//! control connection, which drives the pptp-proto control-connection machine
//! and the ppp-core link of each of its calls.

pub mod call;
pub mod connection;
pub mod listener;
pub mod session_table;
pub mod shared;

pub use listener::serve;
pub use shared::{Shared, SharedEgress};
