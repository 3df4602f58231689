//! Errors of the client: why a tunnel could not be set up or a packet not sent.
//!
//! Why an established tunnel ended is not an error: see [`Closure`].

use std::io;

use pptp_proto::control::{GeneralErrorCode, OutgoingCallResult, StartControlResult};

use crate::closure::{CloseReason, Closure};

/// A tunnel could not be set up, or an operation on it failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection to the server's port 1723 could not be made.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// The server address.
        server: std::net::SocketAddrV4,
        /// The socket error.
        source: io::Error,
    },
    /// A socket or device operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// MS-CHAPv2 failed; `message` is the server's Failure text
    /// (`E=691 R=1 C=... V=0 M=Access denied`).
    #[error("authentication failed: {message}")]
    AuthFailed {
        /// The Failure message.
        message: String,
        /// The whole ending, for tests that check the teardown after the failure.
        closure: Box<Closure>,
    },
    /// The server refused the control connection.
    #[error("control connection refused: result {result:?}, error {error:?}")]
    StartRefused {
        /// Its Start-Control-Connection-Reply Result Code.
        result: StartControlResult,
        /// Its Error Code.
        error: GeneralErrorCode,
    },
    /// The server refused the call.
    #[error("call refused: result {result:?}, error {error:?}")]
    CallRefused {
        /// Its Outgoing-Call-Reply Result Code.
        result: OutgoingCallResult,
        /// Its Error Code.
        error: GeneralErrorCode,
    },
    /// The link was not up in time.
    #[error("timed out before the link came up")]
    Timeout,
    /// The server closed the control connection or cleared the call before the link was up.
    #[error("control connection closed before the link came up: {0}")]
    ControlClosed(Box<Closure>),
    /// PPP negotiation failed (MPPE refused, LCP/IPCP gave up, the server did not prove it
    /// knows our password).
    #[error("PPP negotiation failed: {0}")]
    LinkFailed(Box<Closure>),
    /// Every Call ID of the GRE demultiplexer is in use.
    #[error("no free Call ID on this GRE socket")]
    NoCallId,
    /// The tunnel is not up (not yet, or no more).
    #[error("the tunnel is not up")]
    NotUp,
    /// The IP packet does not fit in one GRE packet.
    #[error("IP packet of {0} bytes is too large")]
    PacketTooLarge(usize),
}

impl ClientError {
    /// The error for a session that ended before its link came up.
    pub fn from_closure(closure: Closure) -> Self {
        match &closure.reason {
            CloseReason::AuthFailed { message } => ClientError::AuthFailed {
                message: message.clone(),
                closure: Box::new(closure),
            },
            CloseReason::StartRefused { result, error } => ClientError::StartRefused {
                result: *result,
                error: *error,
            },
            CloseReason::CallRefused { result, error } => ClientError::CallRefused {
                result: *result,
                error: *error,
            },
            CloseReason::Timeout | CloseReason::CallTimeout => ClientError::Timeout,
            CloseReason::LinkDown(_) => ClientError::LinkFailed(Box::new(closure)),
            CloseReason::HangUp
            | CloseReason::CallDisconnected { .. }
            | CloseReason::ControlClosed(_) => ClientError::ControlClosed(Box::new(closure)),
        }
    }
}
