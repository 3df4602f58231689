//! What a control connection reports to its owner (RFC 2637 §3): events, and why a call or the
//! whole control connection ended (as data, not errors).

use crate::call_id::CallId;
use crate::control::{
    BearerCapabilities, BearerType, CallDisconnectResult, FramingCapabilities, FramingType,
    GeneralErrorCode, MessageType, OutgoingCallResult, ProtocolVersion, StartControlResult,
    StopControlReason,
};
use crate::error::ControlError;

/// The states of a control connection, RFC 2637 §3.1.1 and §3.1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Server: waiting for the Start-Control-Connection-Request. Client: not opened yet.
    Idle,
    /// Client: Start-Control-Connection-Request sent, waiting for the reply.
    WaitStartReply,
    /// The control connection is up; calls can be placed.
    Established,
    /// We sent a Stop-Control-Connection-Request and wait for the reply.
    WaitStopReply,
    /// The control connection is over; the TCP connection should be closed.
    Closed,
}

/// What the peer said about itself in its Start-Control-Connection message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The protocol version it uses.
    pub protocol_version: ProtocolVersion,
    /// Its framing capabilities.
    pub framing_capabilities: FramingCapabilities,
    /// Its bearer capabilities.
    pub bearer_capabilities: BearerCapabilities,
    /// Its Maximum Channels.
    pub maximum_channels: u16,
    /// Its firmware revision.
    pub firmware_revision: u16,
    /// Its host name (pptp-linux: "local", Windows: empty).
    pub host_name: Vec<u8>,
    /// Its vendor string (pptp-linux: "cananian").
    pub vendor: Vec<u8>,
}

/// Why the control connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The peer sent a Stop-Control-Connection-Request (and we replied).
    PeerStopped(StopControlReason),
    /// We stopped it: our Stop-Control-Connection-Request was answered, or there was nothing
    /// to stop yet.
    Stopped(StopControlReason),
    /// We sent a Stop-Control-Connection-Request and the reply did not come in time.
    StopReplyTimeout,
    /// No Start-Control-Connection-Request (server) or -Reply (client) in time.
    EstablishTimeout,
    /// The peer did not answer our Echo-Request in time.
    EchoTimeout,
    /// The peer speaks a protocol version other than 1.0.
    UnsupportedVersion(ProtocolVersion),
    /// Client: the server refused the control connection.
    StartRefused {
        /// Its result code.
        result: StartControlResult,
        /// Its error code.
        error: GeneralErrorCode,
    },
    /// The byte stream from the peer could not be framed or decoded.
    BadMessage(ControlError),
    /// The TCP connection went away under us.
    TransportClosed,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallClearReason {
    /// Server: the peer sent a Call-Clear-Request (we answered with Call-Disconnect-Notify).
    PeerRequest,
    /// Client: the server sent a Call-Disconnect-Notify.
    PeerDisconnect {
        /// Its result code.
        result: CallDisconnectResult,
        /// Its error code.
        error: GeneralErrorCode,
        /// Its cause code.
        cause: u16,
    },
    /// We cleared it (server: the Call-Disconnect-Notify carried this result).
    Local(CallDisconnectResult),
    /// Client: the server did not answer our request or clear request in time.
    ReplyTimeout,
    /// The control connection ended while the call was up.
    ControlClosed,
}

/// A protocol rule the peer broke (the message was otherwise ignored or answered with an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The message is not valid in the current state or for our role.
    UnexpectedMessage,
    /// The message names a call that does not exist.
    UnknownCall(CallId),
    /// The peer reused a Call ID of a call that still exists.
    CallIdInUse(CallId),
    /// The peer asked for more calls than the Maximum Channels we announced.
    TooManyCalls,
}

/// Something the owner of a control connection should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlEvent {
    /// The control connection is established.
    Connected {
        /// What the peer said about itself.
        peer: PeerInfo,
    },
    /// Server: the peer asks for a call (Outgoing-Call-Request). Answer with
    /// [`answer_call`](crate::connection::ControlConnection::answer_call) or
    /// [`refuse_call`](crate::connection::ControlConnection::refuse_call).
    CallRequested {
        /// The peer's Call ID: goes into the GRE packets we send for this call.
        peer_call_id: CallId,
        /// The peer's call serial number (for logs).
        call_serial: u16,
        /// Data packets the peer buffers: do not send more unacknowledged than this.
        recv_window: u16,
        /// The peer's packet processing delay, 1/10 s.
        processing_delay: u16,
        /// Requested minimum speed, bits per second.
        minimum_bps: u32,
        /// Requested maximum speed, bits per second.
        maximum_bps: u32,
        /// Requested bearer type.
        bearer_type: BearerType,
        /// Requested framing type.
        framing_type: FramingType,
        /// Requested phone number (empty from VPN clients).
        phone_number: Vec<u8>,
    },
    /// Server: the peer cleared a call we had not answered yet.
    CallWithdrawn {
        /// The peer's Call ID of that request.
        peer_call_id: CallId,
    },
    /// Client: the server accepted our call.
    CallEstablished {
        /// Our Call ID.
        call_id: CallId,
        /// The server's Call ID: goes into the GRE packets we send.
        peer_call_id: CallId,
        /// The server's connect speed.
        connect_speed: u32,
        /// Data packets the server buffers.
        recv_window: u16,
    },
    /// Client: the server refused our call.
    CallRefused {
        /// Our Call ID.
        call_id: CallId,
        /// Its result code.
        result: OutgoingCallResult,
        /// Its error code.
        error: GeneralErrorCode,
    },
    /// A call ended; stop its data path.
    CallCleared {
        /// Our Call ID.
        call_id: CallId,
        /// The peer's Call ID, if the call got that far.
        peer_call_id: Option<CallId>,
        /// Why.
        reason: CallClearReason,
    },
    /// The peer sent Set-Link-Info for a call (informational: the ACCMs PPP negotiated).
    SetLinkInfo {
        /// Our Call ID.
        call_id: CallId,
        /// The send ACCM.
        send_accm: u32,
        /// The receive ACCM.
        recv_accm: u32,
    },
    /// The peer broke a protocol rule; the message was ignored or answered with an error.
    ProtocolViolation {
        /// The offending message's type.
        message_type: MessageType,
        /// Our state when it arrived.
        state: ConnectionState,
        /// Which rule.
        violation: Violation,
    },
    /// The peer sent a control message of a type RFC 2637 does not define; it was ignored.
    UnknownMessage {
        /// Its Control Message Type.
        message_type: u16,
    },
    /// The control connection is over: drain `poll_transmit`, then close the TCP connection.
    Closed(Reason),
}
