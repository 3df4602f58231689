//! A userspace PPTP client for pptpd-rs's end-to-end tests and benchmarks.
#![deny(unsafe_code)]

pub mod closure;
pub mod error;
pub mod session;

pub use crate::closure::{ClientSignals, CloseReason, Closure, ServerSignals};
pub use crate::error::ClientError;
pub use crate::session::{ClientSession, LinkInfo, SessionConfig, SessionEvent};
