//! Sans-IO PPTP, RFC 2637: the control messages of §2, the enhanced GRE header and sequence
//! bookkeeping of §4, and the control-connection state machine of §3.
//!
//! Nothing here touches a socket, a clock or the OS random-number generator: the daemon moves
//! bytes and time in and out.
//!
//! - [`control`]: decode and encode every control message; frame the TCP stream.
//! - [`gre`]: parse and emit the enhanced GRE header, parse the IPv4 envelope of a raw-socket
//!   datagram, and track sequence and acknowledgement numbers per call.
//! - [`connection`]: the control connection, as server (PAC) or client (PNS).

#![deny(unsafe_code)]

pub mod call_id;
pub mod connection;
pub mod control;
pub mod error;
pub mod gre;

pub use crate::call_id::CallId;
pub use crate::connection::{ControlConnection, ControlEvent};
pub use crate::control::ControlMessage;
pub use crate::error::{CommandError, ControlError, GreError};
pub use crate::gre::{GreHeader, Ipv4Envelope};
