//! The sans-IO PPTP control-connection state machine, RFC 2637 §3: the server (PAC) role that
//! pptpd-rs runs, and the client (PNS) role that the tests use to drive it.
//!
//! No sockets, no clock, no OS randomness: the owner feeds in received messages (or bytes) and
//! the current time, and polls for messages to send, the next deadline and events.
//!
//! ```text
//! server: Idle --SCCRQ/SCCRP--> Established --StopCCRQ/StopCCRP--> Closed
//!                                    |  stop(): StopCCRQ --> WaitStopReply --StopCCRP--> Closed
//! client: Idle --open(): SCCRQ--> WaitStartReply --SCCRP--> Established --> ...
//! ```
//!
//! Within Established the server answers Outgoing-Call-Requests (through its owner, who picks
//! the Call ID), Call-Clear-Requests and Echo-Requests, and sends its own Echo-Request after 60
//! seconds of silence (§3.1.4). Every message that is invalid in the current state is either
//! answered with the error code the RFC defines for it or ignored, and reported as a
//! [`ControlEvent::ProtocolViolation`]; the choice for each is documented by the tests in
//! `connection/tests.rs`, grouped by state.
//!
//! When [`ControlEvent::Closed`] comes out, send what `poll_transmit` still holds, then close
//! the TCP connection.

mod calls;
mod client;
pub mod config;
pub mod event;
mod server;
mod timer;

pub use crate::connection::config::{ClientConfig, ServerConfig, Timeouts};
pub use crate::connection::event::{
    CallClearReason, ConnectionState, ControlEvent, PeerInfo, Reason, Violation,
};

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::call_id::CallId;
use crate::connection::calls::{Call, CallState, CallTable};
use crate::connection::timer::{Timer, TimerTable};
use crate::control::{
    BearerType, CallClearRequest, CallDisconnectNotify, CallDisconnectResult, ControlMessage,
    EchoReply, EchoRequest, EchoResult, FramingType, GeneralErrorCode, MessageType,
    OutgoingCallReply, OutgoingCallRequest, OutgoingCallResult, ProtocolVersion,
    StartControlConnectionRequest, StopControlConnectionReply, StopControlConnectionRequest,
    StopControlReason, StopControlResult,
};
use crate::error::{CommandError, ControlError};

/// The random-number generator of a server connection, which draws no randomness: the server
/// gets its Call IDs from its owner. This type has no values, so it can never be called.
#[derive(Debug)]
pub enum NoRng {}

impl RngCore for NoRng {
    fn next_u32(&mut self) -> u32 {
        match *self {}
    }

    fn next_u64(&mut self) -> u64 {
        match *self {}
    }

    fn fill_bytes(&mut self, _dst: &mut [u8]) {
        match *self {}
    }
}

/// Which end of the control connection we are.
#[derive(Debug)]
enum Role<R> {
    /// The PAC: answers the peer's requests.
    Server(ServerConfig),
    /// The PNS: opens the connection and places calls.
    Client {
        /// What we announce.
        config: ClientConfig,
        /// Source of random Call IDs.
        rng: R,
        /// The next Call Serial Number.
        next_serial: u16,
    },
}

/// `now + duration`, or `None` if that is beyond what `Instant` can hold (the timer then
/// never fires).
fn deadline(now: Instant, duration: Duration) -> Option<Instant> {
    now.checked_add(duration)
}

/// One PPTP control connection, in the server (PAC) or client (PNS) role.
#[derive(Debug)]
pub struct ControlConnection<R: RngCore = NoRng> {
    role: Role<R>,
    state: ConnectionState,
    timeouts: Timeouts,
    calls: CallTable,
    timers: TimerTable,
    transmit: VecDeque<ControlMessage>,
    events: VecDeque<ControlEvent>,
    peer: Option<PeerInfo>,
    next_echo_identifier: u32,
    echo_outstanding: Option<u32>,
    stop_reason: StopControlReason,
}

impl ControlConnection<NoRng> {
    /// A server (PAC) connection for a freshly accepted TCP connection: waits for the peer's
    /// Start-Control-Connection-Request.
    pub fn server(config: ServerConfig, now: Instant) -> Self {
        let timeouts = config.timeouts;
        let mut connection = ControlConnection::new(Role::Server(config), timeouts);
        connection.arm(Timer::Establish, now, timeouts.establish);
        connection
    }
}

impl<R: RngCore> ControlConnection<R> {
    /// A client (PNS) connection; [`open`](Self::open) sends the
    /// Start-Control-Connection-Request. Call IDs are drawn from `rng`.
    pub fn client(config: ClientConfig, _now: Instant, rng: R) -> Self {
        let timeouts = config.timeouts;
        ControlConnection::new(
            Role::Client {
                config,
                rng,
                next_serial: 0,
            },
            timeouts,
        )
    }

    fn new(role: Role<R>, timeouts: Timeouts) -> Self {
        ControlConnection {
            role,
            state: ConnectionState::Idle,
            timeouts,
            calls: CallTable::default(),
            timers: TimerTable::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            peer: None,
            next_echo_identifier: 1,
            echo_outstanding: None,
            stop_reason: StopControlReason::None,
        }
    }

    /// True for the server (PAC) role.
    pub fn is_server(&self) -> bool {
        matches!(self.role, Role::Server(_))
    }

    /// The current state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// What the peer said about itself, once the connection is established.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The number of calls, including calls being set up or cleared.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The peer's Call ID of our call `call_id`, once known.
    pub fn peer_call_id(&self, call_id: CallId) -> Option<CallId> {
        self.calls
            .iter()
            .find(|call| call.ours == Some(call_id))
            .and_then(|call| call.peers)
    }

    // ----- commands -------------------------------------------------------------------------

    /// Client: sends the Start-Control-Connection-Request.
    pub fn open(&mut self, now: Instant) -> Result<(), CommandError> {
        let Role::Client { config, .. } = &self.role else {
            return Err(CommandError::WrongRole("server"));
        };
        if self.state != ConnectionState::Idle {
            return Err(CommandError::WrongState(self.state));
        }
        let request = StartControlConnectionRequest {
            protocol_version: ProtocolVersion::V1_0,
            framing_capabilities: config.framing_capabilities,
            bearer_capabilities: config.bearer_capabilities,
            maximum_channels: config.maximum_channels,
            firmware_revision: config.firmware_revision,
            host_name: config.host_name.clone(),
            vendor: config.vendor.clone(),
        };
        self.send(request);
        self.state = ConnectionState::WaitStartReply;
        self.arm(Timer::Establish, now, self.timeouts.establish);
        Ok(())
    }

    /// Client: sends an Outgoing-Call-Request with a fresh random Call ID and returns it.
    pub fn place_call(&mut self, now: Instant) -> Result<CallId, CommandError> {
        if self.state != ConnectionState::Established {
            return Err(CommandError::WrongState(self.state));
        }
        let Role::Client {
            config,
            rng,
            next_serial,
        } = &mut self.role
        else {
            return Err(CommandError::WrongRole("server"));
        };
        let call_id = fresh_call_id(&self.calls, rng).ok_or(CommandError::NoFreeCall)?;
        let call_serial = *next_serial;
        *next_serial = next_serial.wrapping_add(1);
        let request = OutgoingCallRequest {
            call_id,
            call_serial,
            minimum_bps: config.minimum_bps,
            maximum_bps: config.maximum_bps,
            bearer_type: BearerType::Any,
            framing_type: FramingType::Either,
            recv_window: config.recv_window,
            processing_delay: 0,
            phone_number: Vec::new(),
            subaddress: Vec::new(),
        };
        self.send(request);
        self.calls.insert(Call {
            ours: Some(call_id),
            peers: None,
            state: CallState::WaitReply,
            connect_speed: 0,
            deadline: deadline(now, self.timeouts.call_reply),
        });
        Ok(call_id)
    }

    /// Server: accepts the call the peer requested with `peer_call_id`, under our Call ID
    /// `our_call_id` (which the owner keeps unique per peer address): sends an
    /// Outgoing-Call-Reply with result Connected, our receive window and processing delay.
    pub fn answer_call(
        &mut self,
        _now: Instant,
        peer_call_id: CallId,
        our_call_id: CallId,
    ) -> Result<(), CommandError> {
        let Role::Server(config) = &self.role else {
            return Err(CommandError::WrongRole("client"));
        };
        if self.state != ConnectionState::Established {
            return Err(CommandError::WrongState(self.state));
        }
        if self.calls.uses_ours(our_call_id) {
            return Err(CommandError::CallIdInUse(our_call_id));
        }
        let (recv_window, processing_delay) = (config.recv_window, config.processing_delay);
        let call = self
            .calls
            .by_peers(peer_call_id)
            .filter(|call| call.state == CallState::PendingAnswer)
            .ok_or(CommandError::UnknownCall(peer_call_id))?;
        call.ours = Some(our_call_id);
        call.state = CallState::Established;
        let reply = OutgoingCallReply {
            call_id: our_call_id,
            peer_call_id,
            result: OutgoingCallResult::Connected,
            error: GeneralErrorCode::None,
            cause: 0,
            connect_speed: call.connect_speed,
            recv_window,
            processing_delay,
            physical_channel_id: 0,
        };
        self.send(reply);
        Ok(())
    }

    /// Server: refuses the call the peer requested with `peer_call_id` (for example
    /// `Busy`, or `GeneralError`, which is sent with error code No-Resource; `Connected` is not
    /// a refusal and is sent as `GeneralError`).
    pub fn refuse_call(
        &mut self,
        _now: Instant,
        peer_call_id: CallId,
        result: OutgoingCallResult,
    ) -> Result<(), CommandError> {
        if !self.is_server() {
            return Err(CommandError::WrongRole("client"));
        }
        if self.state != ConnectionState::Established {
            return Err(CommandError::WrongState(self.state));
        }
        match self.calls.by_peers(peer_call_id) {
            Some(call) if call.state == CallState::PendingAnswer => {}
            _ => return Err(CommandError::UnknownCall(peer_call_id)),
        }
        self.calls.remove_peers(peer_call_id);
        let result = match result {
            OutgoingCallResult::Connected => OutgoingCallResult::GeneralError,
            other => other,
        };
        let error = match result {
            OutgoingCallResult::GeneralError => GeneralErrorCode::NoResource,
            _ => GeneralErrorCode::None,
        };
        self.send(call_refusal(peer_call_id, result, error));
        Ok(())
    }

    /// Ends our call `call_id`. Server: sends a Call-Disconnect-Notify with `result` and
    /// reports [`ControlEvent::CallCleared`] at once. Client: sends a Call-Clear-Request
    /// (`result` is not sent) and reports the clearing when the Call-Disconnect-Notify arrives.
    pub fn clear_call(
        &mut self,
        now: Instant,
        call_id: CallId,
        result: CallDisconnectResult,
    ) -> Result<(), CommandError> {
        if self.state != ConnectionState::Established {
            return Err(CommandError::WrongState(self.state));
        }
        if self.is_server() {
            match self.calls.by_ours(call_id) {
                Some(call) if call.state == CallState::Established => {}
                _ => return Err(CommandError::UnknownCall(call_id)),
            }
            let call = self.calls.remove_ours(call_id);
            self.send(call_disconnect(call_id, result, GeneralErrorCode::None));
            self.events.push_back(ControlEvent::CallCleared {
                call_id,
                peer_call_id: call.and_then(|call| call.peers),
                reason: CallClearReason::Local(result),
            });
        } else {
            let call_reply = self.timeouts.call_reply;
            let call = self
                .calls
                .by_ours(call_id)
                .ok_or(CommandError::UnknownCall(call_id))?;
            call.state = CallState::WaitDisconnect;
            call.deadline = deadline(now, call_reply);
            self.send(CallClearRequest { call_id });
        }
        Ok(())
    }

    /// Closes the control connection: clears every call (server: Call-Disconnect-Notify with
    /// Admin Shutdown; client: Call-Clear-Request), sends a Stop-Control-Connection-Request with
    /// `reason` and waits for the reply. Before the connection is established it just closes.
    pub fn stop(&mut self, now: Instant, reason: StopControlReason) {
        match self.state {
            ConnectionState::Idle | ConnectionState::WaitStartReply => {
                self.close(Reason::Stopped(reason));
            }
            ConnectionState::Established => {
                for call in self.calls.drain() {
                    let Some(ours) = call.ours else {
                        if let Some(peer_call_id) = call.peers {
                            self.events
                                .push_back(ControlEvent::CallWithdrawn { peer_call_id });
                        }
                        continue;
                    };
                    if self.is_server() {
                        self.send(call_disconnect(
                            ours,
                            CallDisconnectResult::AdminShutdown,
                            GeneralErrorCode::None,
                        ));
                    } else {
                        self.send(CallClearRequest { call_id: ours });
                    }
                    self.events.push_back(ControlEvent::CallCleared {
                        call_id: ours,
                        peer_call_id: call.peers,
                        reason: CallClearReason::Local(CallDisconnectResult::AdminShutdown),
                    });
                }
                self.send(StopControlConnectionRequest { reason });
                self.stop_reason = reason;
                self.state = ConnectionState::WaitStopReply;
                self.echo_outstanding = None;
                self.timers.stop_all();
                self.arm(Timer::StopReply, now, self.timeouts.stop_reply);
            }
            ConnectionState::WaitStopReply | ConnectionState::Closed => {}
        }
    }

    // ----- inputs ---------------------------------------------------------------------------

    /// Decodes one complete control message (cut from the stream with
    /// [`frame_len`](crate::control::frame_len)) and handles it.
    ///
    /// A message that cannot be decoded is returned as the error. If the stream itself is
    /// broken (bad Length, PPTP Message Type or Magic Cookie) the connection is closed as by
    /// [`handle_stream_error`](Self::handle_stream_error); a well-framed message with a bad
    /// field (a non-zero reserved field, a wrong fixed length) is only ignored.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), ControlError> {
        match ControlMessage::decode(bytes) {
            Ok(message) => {
                self.handle_message(now, message);
                Ok(())
            }
            Err(error) => {
                if error.is_framing_error() {
                    self.handle_stream_error(now, error);
                } else {
                    self.peer_alive(now);
                }
                Err(error)
            }
        }
    }

    /// The TCP byte stream from the peer cannot be framed (for example
    /// [`frame_len`](crate::control::frame_len) failed): synchronisation is lost. Sends a
    /// Stop-Control-Connection-Request (Stop-Protocol) if established, and closes.
    pub fn handle_stream_error(&mut self, _now: Instant, error: ControlError) {
        match self.state {
            ConnectionState::Closed => {}
            ConnectionState::Established => {
                self.send(StopControlConnectionRequest {
                    reason: StopControlReason::StopProtocol,
                });
                self.close(Reason::BadMessage(error));
            }
            _ => self.close(Reason::BadMessage(error)),
        }
    }

    /// The TCP connection was closed or failed: every call and the connection end.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        if self.state != ConnectionState::Closed {
            self.close(Reason::TransportClosed);
        }
    }

    /// Handles one received control message.
    pub fn handle_message(&mut self, now: Instant, message: ControlMessage) {
        if self.state == ConnectionState::Closed {
            return;
        }
        match message {
            ControlMessage::Unknown { message_type, .. } => {
                self.events
                    .push_back(ControlEvent::UnknownMessage { message_type });
            }
            ControlMessage::StopControlConnectionRequest(request) => self.on_stop_request(request),
            ControlMessage::StopControlConnectionReply(_) => self.on_stop_reply(),
            ControlMessage::EchoRequest(request) => self.on_echo_request(request),
            ControlMessage::EchoReply(reply) => self.on_echo_reply(now, reply),
            other if self.is_server() => self.server_message(other),
            other => self.client_message(other),
        }
        self.peer_alive(now);
    }

    /// Fires the timers whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.state != ConnectionState::Closed {
            let Some(timer) = self.timers.take_expired(now) else {
                break;
            };
            match (timer, self.state) {
                (Timer::Establish, ConnectionState::Idle | ConnectionState::WaitStartReply) => {
                    self.close(Reason::EstablishTimeout);
                }
                (Timer::Keepalive, ConnectionState::Established) => {
                    let identifier = self.next_echo_identifier;
                    self.next_echo_identifier = identifier.wrapping_add(1);
                    self.echo_outstanding = Some(identifier);
                    self.send(EchoRequest { identifier });
                    self.arm(Timer::EchoReply, now, self.timeouts.echo_reply);
                }
                (Timer::EchoReply, ConnectionState::Established) => {
                    self.close(Reason::EchoTimeout);
                }
                (Timer::StopReply, ConnectionState::WaitStopReply) => {
                    self.close(Reason::StopReplyTimeout);
                }
                _ => {}
            }
        }
        if self.state == ConnectionState::Closed {
            return;
        }
        for call in self.calls.take_expired(now) {
            let Some(ours) = call.ours else { continue };
            if call.state == CallState::WaitReply {
                self.send(CallClearRequest { call_id: ours });
            }
            self.events.push_back(ControlEvent::CallCleared {
                call_id: ours,
                peer_call_id: call.peers,
                reason: CallClearReason::ReplyTimeout,
            });
        }
    }

    // ----- outputs --------------------------------------------------------------------------

    /// The next control message to send.
    pub fn poll_transmit(&mut self) -> Option<ControlMessage> {
        self.transmit.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == ConnectionState::Closed {
            return None;
        }
        match (self.timers.next(), self.calls.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ControlEvent> {
        self.events.pop_front()
    }

    // ----- handlers common to both roles ----------------------------------------------------

    /// A message arrived: the peer is alive, restart the keep-alive timer.
    fn peer_alive(&mut self, now: Instant) {
        if self.state == ConnectionState::Established && self.echo_outstanding.is_none() {
            self.arm(Timer::Keepalive, now, self.timeouts.keepalive);
        }
    }

    /// Stop-Control-Connection-Request: reply and close (also when both sides stop at once).
    fn on_stop_request(&mut self, request: StopControlConnectionRequest) {
        if !self.is_server() && self.state == ConnectionState::Idle {
            self.violation(
                MessageType::StopControlConnectionRequest,
                Violation::UnexpectedMessage,
            );
            return;
        }
        self.send(StopControlConnectionReply {
            result: StopControlResult::Ok,
            error: GeneralErrorCode::None,
        });
        self.close(Reason::PeerStopped(request.reason));
    }

    /// Stop-Control-Connection-Reply: the end of our stop.
    fn on_stop_reply(&mut self) {
        if self.state == ConnectionState::WaitStopReply {
            self.close(Reason::Stopped(self.stop_reason));
        } else {
            self.violation(
                MessageType::StopControlConnectionReply,
                Violation::UnexpectedMessage,
            );
        }
    }

    /// Echo-Request: answer with the same identifier once established.
    fn on_echo_request(&mut self, request: EchoRequest) {
        match self.state {
            ConnectionState::Established | ConnectionState::WaitStopReply => {
                self.send(EchoReply {
                    identifier: request.identifier,
                    result: EchoResult::Ok,
                    error: GeneralErrorCode::None,
                });
            }
            _ => self.violation(MessageType::EchoRequest, Violation::UnexpectedMessage),
        }
    }

    /// Echo-Reply: if it answers our outstanding request, the keep-alive succeeded.
    fn on_echo_reply(&mut self, now: Instant, reply: EchoReply) {
        if self.state == ConnectionState::Established
            && self.echo_outstanding == Some(reply.identifier)
        {
            self.echo_outstanding = None;
            self.timers.stop(Timer::EchoReply);
            self.arm(Timer::Keepalive, now, self.timeouts.keepalive);
        }
    }

    // ----- helpers --------------------------------------------------------------------------

    /// Enters Established and reports it.
    fn establish(&mut self, peer: PeerInfo) {
        self.state = ConnectionState::Established;
        self.timers.stop(Timer::Establish);
        self.peer = Some(peer.clone());
        self.events.push_back(ControlEvent::Connected { peer });
    }

    /// Ends the connection: every remaining call is reported cleared, then `Closed`.
    fn close(&mut self, reason: Reason) {
        for call in self.calls.drain() {
            match (call.ours, call.peers) {
                (Some(call_id), peer_call_id) => {
                    self.events.push_back(ControlEvent::CallCleared {
                        call_id,
                        peer_call_id,
                        reason: CallClearReason::ControlClosed,
                    });
                }
                (None, Some(peer_call_id)) => {
                    self.events
                        .push_back(ControlEvent::CallWithdrawn { peer_call_id });
                }
                (None, None) => {}
            }
        }
        self.state = ConnectionState::Closed;
        self.timers.stop_all();
        self.echo_outstanding = None;
        self.events.push_back(ControlEvent::Closed(reason));
    }

    /// Queues a message.
    fn send(&mut self, message: impl Into<ControlMessage>) {
        self.transmit.push_back(message.into());
    }

    /// Reports a protocol violation in the current state.
    fn violation(&mut self, message_type: MessageType, violation: Violation) {
        self.events.push_back(ControlEvent::ProtocolViolation {
            message_type,
            state: self.state,
            violation,
        });
    }

    /// Arms `timer` for `duration` from `now`.
    fn arm(&mut self, timer: Timer, now: Instant, duration: Duration) {
        match deadline(now, duration) {
            Some(at) => self.timers.set(timer, at),
            None => self.timers.stop(timer),
        }
    }
}

/// A refusing Outgoing-Call-Reply (we have no Call ID for the call, so ours is 0).
fn call_refusal(
    peer_call_id: CallId,
    result: OutgoingCallResult,
    error: GeneralErrorCode,
) -> OutgoingCallReply {
    OutgoingCallReply {
        call_id: CallId(0),
        peer_call_id,
        result,
        error,
        cause: 0,
        connect_speed: 0,
        recv_window: 0,
        processing_delay: 0,
        physical_channel_id: 0,
    }
}

/// A Call-Disconnect-Notify for our call `call_id`, without statistics.
fn call_disconnect(
    call_id: CallId,
    result: CallDisconnectResult,
    error: GeneralErrorCode,
) -> CallDisconnectNotify {
    CallDisconnectNotify {
        call_id,
        result,
        error,
        cause: 0,
        call_statistics: Vec::new(),
    }
}

/// A random non-zero Call ID not used by any call in `calls` (the Linux kernel treats Call ID
/// 0 as "pick one for me", so it is never chosen). `None` if every Call ID is taken.
fn fresh_call_id<R: RngCore>(calls: &CallTable, rng: &mut R) -> Option<CallId> {
    for _ in 0..64 {
        let candidate = CallId((rng.next_u32() & 0xffff) as u16);
        if candidate.0 != 0 && !calls.uses_ours(candidate) {
            return Some(candidate);
        }
    }
    (1..=u16::MAX)
        .map(CallId)
        .find(|candidate| !calls.uses_ours(*candidate))
}

#[cfg(test)]
mod tests;
