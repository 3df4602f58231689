//! Why a client session ended, and what each side sent on the way out (RFC 2637 §3.1.3 and
//! §3.2.4.2 for the control connection and call, RFC 1661 §5.5 for LCP Terminate): data for
//! the tests that check a clean hang-up or a clean server shutdown, not an error.
//!
//! A clean hang-up, as pppd + pptp-linux do it, is: LCP Terminate-Request (answered by a
//! Terminate-Ack), then Call-Clear-Request (answered by a Call-Disconnect-Notify), then
//! Stop-Control-Connection-Request (answered by a Stop-Control-Connection-Reply). A server that
//! shuts down sends its own LCP Terminate-Request, Call-Disconnect-Notify and
//! Stop-Control-Connection-Request; [`ServerSignals`] records which of them arrived.

use std::fmt;

use pptp_proto::connection::Reason as ControlReason;
use pptp_proto::control::{
    CallDisconnectResult, GeneralErrorCode, OutgoingCallResult, StartControlResult,
    StopControlReason,
};

/// What ended a session first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// We hung up.
    HangUp,
    /// The link was not up within the connect timeout.
    Timeout,
    /// MS-CHAPv2 failed: the server's Failure message, e.g.
    /// `E=691 R=1 C=<challenge> V=0 M=Access denied`.
    AuthFailed {
        /// The Failure packet's message, as text.
        message: String,
    },
    /// The server refused the control connection (its Start-Control-Connection-Reply).
    StartRefused {
        /// Its Result Code.
        result: StartControlResult,
        /// Its Error Code.
        error: GeneralErrorCode,
    },
    /// The server refused the call (its Outgoing-Call-Reply).
    CallRefused {
        /// Its Result Code.
        result: OutgoingCallResult,
        /// Its Error Code.
        error: GeneralErrorCode,
    },
    /// No Outgoing-Call-Reply arrived in time.
    CallTimeout,
    /// The PPP link ended first; `PeerTerminated` is the server's LCP Terminate-Request.
    LinkDown(ppp_core::Reason),
    /// The server cleared the call with a Call-Disconnect-Notify.
    CallDisconnected {
        /// Its Result Code.
        result: CallDisconnectResult,
        /// Its Error Code.
        error: GeneralErrorCode,
        /// Its Cause Code.
        cause: u16,
    },
    /// The control connection ended first (the server's Stop-Control-Connection-Request, the
    /// TCP connection closing, an unanswered echo, an undecodable stream).
    ControlClosed(ControlReason),
}

impl CloseReason {
    /// A short kebab-case name for logs and the command line's `reason=` field.
    pub fn name(&self) -> &'static str {
        match self {
            CloseReason::HangUp => "hang-up",
            CloseReason::Timeout => "timeout",
            CloseReason::AuthFailed { .. } => "auth-failed",
            CloseReason::StartRefused { .. } => "start-refused",
            CloseReason::CallRefused { .. } => "call-refused",
            CloseReason::CallTimeout => "call-timeout",
            CloseReason::LinkDown(ppp_core::Reason::PeerTerminated) => "server-terminated",
            CloseReason::LinkDown(ppp_core::Reason::EchoTimeout) => "lcp-echo-timeout",
            CloseReason::LinkDown(ppp_core::Reason::MppeRefused) => "mppe-refused",
            CloseReason::LinkDown(_) => "link-down",
            CloseReason::CallDisconnected { .. } => "call-disconnected",
            CloseReason::ControlClosed(ControlReason::PeerStopped(_)) => "control-stopped",
            CloseReason::ControlClosed(ControlReason::TransportClosed) => "tcp-closed",
            CloseReason::ControlClosed(ControlReason::EchoTimeout) => "control-echo-timeout",
            CloseReason::ControlClosed(_) => "control-closed",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::AuthFailed { message } => write!(f, "auth-failed ({message})"),
            CloseReason::StartRefused { result, error } => {
                write!(f, "start-refused (result {result:?}, error {error:?})")
            }
            CloseReason::CallRefused { result, error } => {
                write!(f, "call-refused (result {result:?}, error {error:?})")
            }
            CloseReason::LinkDown(reason) => write!(f, "{} ({reason})", self.name()),
            CloseReason::CallDisconnected {
                result,
                error,
                cause,
            } => write!(
                f,
                "call-disconnected (result {result:?}, error {error:?}, cause {cause})"
            ),
            CloseReason::ControlClosed(reason) => write!(f, "{} ({reason:?})", self.name()),
            other => f.write_str(other.name()),
        }
    }
}

/// What the server sent while the session ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerSignals {
    /// An LCP Terminate-Request arrived.
    pub lcp_terminate_request: bool,
    /// An LCP Terminate-Ack arrived (the answer to ours).
    pub lcp_terminate_ack: bool,
    /// A Call-Disconnect-Notify arrived, with this Result Code.
    pub call_disconnect: Option<CallDisconnectResult>,
    /// A Stop-Control-Connection-Request arrived, with this Reason.
    pub stop_request: Option<StopControlReason>,
    /// A Stop-Control-Connection-Reply arrived (the answer to ours).
    pub stop_reply: bool,
    /// The server closed the TCP connection before the control connection was over.
    pub tcp_closed: bool,
}

/// What we sent while the session ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientSignals {
    /// We sent an LCP Terminate-Request.
    pub lcp_terminate_request: bool,
    /// We sent a Call-Clear-Request.
    pub call_clear_request: bool,
    /// We sent a Stop-Control-Connection-Request.
    pub stop_request: bool,
}

/// How a session ended: the first cause and everything both sides sent on the way out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure {
    /// What ended it first.
    pub reason: CloseReason,
    /// What the server sent.
    pub server: ServerSignals,
    /// What we sent.
    pub client: ClientSignals,
    /// Why the PPP link reported itself down, if it got that far.
    pub link: Option<ppp_core::Reason>,
    /// Why the control connection closed.
    pub control: Option<ControlReason>,
    /// The teardown did not finish in time and was cut short.
    pub teardown_timed_out: bool,
}

impl Closure {
    /// True if we hung up and the server answered every step: LCP Terminate-Ack,
    /// Call-Disconnect-Notify, and the control connection ended by a Stop exchange (its reply
    /// to our Stop-Control-Connection-Request, or its own request once the call was gone,
    /// which we answered).
    pub fn is_clean_hang_up(&self) -> bool {
        self.reason == CloseReason::HangUp
            && self.server.lcp_terminate_ack
            && self.server.call_disconnect.is_some()
            && (self.server.stop_reply || self.server.stop_request.is_some())
            && !self.server.tcp_closed
            && !self.teardown_timed_out
    }

    /// True if the server ended the session the way a shutting-down pptpd does: LCP
    /// Terminate-Request, Call-Disconnect-Notify and Stop-Control-Connection-Request all arrived.
    pub fn is_clean_server_shutdown(&self) -> bool {
        self.server.lcp_terminate_request
            && self.server.call_disconnect.is_some()
            && self.server.stop_request.is_some()
    }
}

/// `yes` or `no`.
fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

impl fmt::Display for Closure {
    /// One line of `key=value` fields, e.g. `reason=hang-up lcp-term-ack=yes cdn=request ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = &self.server;
        write!(f, "reason={}", self.reason.name())?;
        if let CloseReason::AuthFailed { message } = &self.reason {
            write!(f, " message={message:?}")?;
        }
        write!(
            f,
            " lcp-term-req={} lcp-term-ack={}",
            yes_no(server.lcp_terminate_request),
            yes_no(server.lcp_terminate_ack)
        )?;
        match server.call_disconnect {
            Some(result) => write!(f, " cdn={}", disconnect_name(result))?,
            None => f.write_str(" cdn=no")?,
        }
        write!(
            f,
            " stop-req={} stop-reply={} tcp-closed={}",
            yes_no(server.stop_request.is_some()),
            yes_no(server.stop_reply),
            yes_no(server.tcp_closed)
        )?;
        write!(
            f,
            " sent=lcp-term-req:{},ccrq:{},stopccrq:{}",
            yes_no(self.client.lcp_terminate_request),
            yes_no(self.client.call_clear_request),
            yes_no(self.client.stop_request)
        )?;
        if let Some(link) = self.link {
            write!(f, " link={:?}", link.to_string())?;
        }
        if self.teardown_timed_out {
            f.write_str(" teardown=timed-out")?;
        }
        Ok(())
    }
}

/// The Call-Disconnect-Notify result as one word.
fn disconnect_name(result: CallDisconnectResult) -> String {
    match result {
        CallDisconnectResult::LostCarrier => "lost-carrier".into(),
        CallDisconnectResult::GeneralError => "general-error".into(),
        CallDisconnectResult::AdminShutdown => "admin-shutdown".into(),
        CallDisconnectResult::Request => "request".into(),
        CallDisconnectResult::Unknown(value) => format!("result-{value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_machine_readable_line() {
        let closure = Closure {
            reason: CloseReason::HangUp,
            server: ServerSignals {
                lcp_terminate_ack: true,
                call_disconnect: Some(CallDisconnectResult::Request),
                stop_reply: true,
                ..ServerSignals::default()
            },
            client: ClientSignals {
                lcp_terminate_request: true,
                call_clear_request: true,
                stop_request: true,
            },
            link: Some(ppp_core::Reason::AdminClose),
            control: Some(ControlReason::Stopped(StopControlReason::None)),
            teardown_timed_out: false,
        };
        assert!(closure.is_clean_hang_up());
        assert!(!closure.is_clean_server_shutdown());
        // A server that stops the control connection itself once the call is cleared.
        let server_stopped = Closure {
            server: ServerSignals {
                stop_reply: false,
                stop_request: Some(StopControlReason::None),
                ..closure.server
            },
            ..closure.clone()
        };
        assert!(server_stopped.is_clean_hang_up());
        let cut = Closure {
            teardown_timed_out: true,
            ..closure.clone()
        };
        assert!(!cut.is_clean_hang_up());
        assert_eq!(
            closure.to_string(),
            "reason=hang-up lcp-term-req=no lcp-term-ack=yes cdn=request stop-req=no \
             stop-reply=yes tcp-closed=no sent=lcp-term-req:yes,ccrq:yes,stopccrq:yes \
             link=\"administrative close\""
        );
        assert!(!closure.to_string().contains('\n'));
    }

    #[test]
    fn names_say_which_side_ended_it() {
        assert_eq!(
            CloseReason::LinkDown(ppp_core::Reason::PeerTerminated).name(),
            "server-terminated"
        );
        assert_eq!(
            CloseReason::ControlClosed(ControlReason::PeerStopped(StopControlReason::None)).name(),
            "control-stopped"
        );
        let failed = CloseReason::AuthFailed {
            message: "E=691 R=1 C=00 V=0 M=Access denied".into(),
        };
        assert_eq!(failed.name(), "auth-failed");
        assert!(failed.to_string().contains("M=Access denied"));
    }
}
