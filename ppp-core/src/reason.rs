//! Why a link ended: data carried by [`crate::Event::Down`], not an error.

use std::fmt;

use crate::frame::Protocol;

/// Why a PPP link went (or is going) down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The peer sent an LCP Terminate-Request.
    PeerTerminated,
    /// We were told to close the link ([`crate::Link::close`]).
    AdminClose,
    /// The peer failed authentication (unknown user, wrong password, bad MS-CHAPv2 response),
    /// or, as a client, the server rejected us or failed mutual authentication.
    AuthFailed,
    /// The peer would not authenticate with MS-CHAPv2 (rejected or Nak'ed the
    /// Authentication-Protocol option, or Protocol-Rejected CHAP).
    AuthRefused,
    /// Authentication did not finish within the configured time.
    AuthTimeout,
    /// MPPE is required but the peer refused it or CCP failed (pppd: "MPPE required but peer
    /// negotiation failed").
    MppeRefused,
    /// The peer did not answer `echo_failure` consecutive LCP Echo-Requests.
    EchoTimeout,
    /// A control protocol gave up (Max-Configure reached, or a fatal Code/Protocol-Reject).
    NegotiationFailed(Protocol),
    /// LCP detected a looped-back link (RFC 1661 §6.4).
    LoopbackDetected,
    /// The lower layer (the PPTP call) went away.
    LowerLayerDown,
    /// The peer restarted LCP negotiation on an established link; we end the session rather
    /// than re-authenticate.
    LcpRenegotiated,
    /// No address could be assigned to the peer (for the daemon's use with `close`).
    NoAddress,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PeerTerminated => f.write_str("peer requested termination"),
            Reason::AdminClose => f.write_str("administrative close"),
            Reason::AuthFailed => f.write_str("authentication failed"),
            Reason::AuthRefused => f.write_str("peer refused to authenticate"),
            Reason::AuthTimeout => f.write_str("authentication timed out"),
            Reason::MppeRefused => f.write_str("MPPE required but peer negotiation failed"),
            Reason::EchoTimeout => f.write_str("peer not responding"),
            Reason::NegotiationFailed(protocol) => write!(f, "{protocol} negotiation failed"),
            Reason::LoopbackDetected => f.write_str("loopback detected"),
            Reason::LowerLayerDown => f.write_str("lower layer down"),
            Reason::LcpRenegotiated => f.write_str("peer restarted LCP negotiation"),
            Reason::NoAddress => f.write_str("no address available for peer"),
        }
    }
}
