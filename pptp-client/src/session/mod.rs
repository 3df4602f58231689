//! The sans-IO client session: one PPTP control connection (RFC 2637 §3, PNS role) with one
//! call, the PPP link over it (RFC 1661 phases with MS-CHAPv2, CCP/MPPE and IPCP, client role)
//! and the call's GRE data channel, tied together the way pptp-linux + pppd tie them.
//!
//! No sockets, clock or OS randomness: the IO shell ([`crate::Tunnel`]) feeds in the control
//! connection's TCP bytes, received GRE packets and the time, and sends what comes out of
//! [`ClientSession::poll_control_transmit`] and [`ClientSession::poll_gre_transmit`].
//!
//! ```text
//! open(): SCCRQ --SCCRP--> OCRQ --OCRP--> LCP, MS-CHAPv2, CCP, IPCP --> Up
//! hang_up(): LCP Terminate-Request --Terminate-Ack--> CCRQ --CDN--> StopCCRQ --StopCCRP--> Closed
//! ```
//!
//! Whatever ends the session first (our hang-up, a timeout, an authentication failure, the
//! server's LCP Terminate-Request, Call-Disconnect-Notify or Stop-Control-Connection-Request,
//! the TCP connection closing), the rest of the teardown follows the same order: the link is
//! closed if it is still open, then the call is cleared if it still exists, then the control
//! connection is stopped if it is still established. What the server sent on the way is
//! recorded in the [`Closure`].

mod data;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::time::{Duration, Instant};

use mschap::{MppeConfig, MppeStartKeys};
use ppp_core::chap::ChapPacket;
use ppp_core::{Event as LinkEvent, Link, LinkConfig, MppePolicy, Phase, PppFrame, Protocol};
use pptp_proto::CallId;
use pptp_proto::connection::{
    CallClearReason, ClientConfig, ConnectionState, ControlConnection, ControlEvent,
    Reason as ControlReason, Timeouts,
};
use pptp_proto::control::{CallDisconnectResult, ControlMessage, StopControlReason, frame_len};
use rand::RngCore;

use crate::closure::{ClientSignals, CloseReason, Closure, ServerSignals};
use crate::error::ClientError;
pub use crate::session::data::DataStats;
use crate::session::data::{DataChannel, Decapsulated};

/// LCP Terminate-Request code (RFC 1661 §5.5).
const LCP_TERMINATE_REQUEST: u8 = 5;
/// LCP Terminate-Ack code (RFC 1661 §5.5).
const LCP_TERMINATE_ACK: u8 = 6;
/// What MPPE adds to every datagram: the MPPE header and the inner protocol field. pppd
/// lowers the interface MTU by this much ("MPPE_PAD") when MPPE comes up.
const MPPE_OVERHEAD: u16 = 4;
/// GRE packets kept while the Outgoing-Call-Reply is awaited.
const MAX_EARLY_GRE: usize = 8;
/// pppd's default MTU: the interface MTU is the smaller of this and the peer's MRU.
const DEFAULT_MTU: u16 = 1500;

/// What a client session needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The user name sent in the CHAP Response.
    pub user: String,
    /// The password.
    pub password: String,
    /// What MPPE to negotiate (pptp-linux's `require-mppe-128` by default).
    pub mppe: MppePolicy,
    /// How often we send LCP Echo-Requests ourselves (`lcp-echo-interval`); `None` only
    /// answers the server's.
    pub echo_interval: Option<Duration>,
    /// From [`ClientSession::open`] to the link being up.
    pub connect_timeout: Duration,
    /// From the first cause of the end to the last reply of the teardown.
    pub teardown_timeout: Duration,
    /// When the server ends the control connection before its LCP Terminate-Request arrived
    /// (the two travel on different paths, TCP and GRE), how long to wait for it so that the
    /// [`Closure`] reports it.
    pub linger: Duration,
    /// How long a received data packet may wait for a piggy-backed acknowledgement before an
    /// acknowledgement-only packet is sent.
    pub ack_delay: Duration,
    /// What the control connection announces (pptp-linux's values by default).
    pub control: ClientConfig,
}

impl SessionConfig {
    /// pptp-linux + pppd defaults for `user` and `password`: MPPE-128 required, no LCP echoes
    /// of our own, 10 s to come up, 15 s to tear down, acknowledgements after 100 ms.
    pub fn new(user: &str, password: &str) -> Self {
        let connect_timeout = Duration::from_secs(10);
        SessionConfig {
            user: user.to_owned(),
            password: password.to_owned(),
            mppe: MppePolicy::require_128(),
            echo_interval: None,
            connect_timeout,
            teardown_timeout: Duration::from_secs(15),
            linger: Duration::from_millis(500),
            ack_delay: Duration::from_millis(100),
            control: ClientConfig {
                timeouts: Timeouts {
                    establish: connect_timeout,
                    call_reply: connect_timeout,
                    stop_reply: Duration::from_secs(5),
                    ..Timeouts::default()
                },
                ..ClientConfig::default()
            },
        }
    }

    fn link_config(&self) -> LinkConfig {
        let mut link = LinkConfig::client(&self.user, &self.password);
        link.mppe = self.mppe;
        link.echo_interval = self.echo_interval;
        link
    }
}

/// What the tunnel looks like once the link is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Our address (IPCP).
    pub local: Ipv4Addr,
    /// The server's PPP address.
    pub peer: Ipv4Addr,
    /// DNS servers the server handed out.
    pub dns: [Option<Ipv4Addr>; 2],
    /// The interface MTU pppd would set: the smaller of 1500 and the server's MRU, less 4 for
    /// MPPE.
    pub mtu: u16,
    /// Our Call ID (the key of the GRE packets we receive).
    pub call_id: CallId,
    /// The server's Call ID (the key of the GRE packets we send).
    pub peer_call_id: CallId,
    /// The MPPE mode, if MPPE is on.
    pub mppe: Option<MppeConfig>,
}

/// What a session tells its IO shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The server accepted the call; GRE may flow.
    CallEstablished {
        /// Our Call ID.
        call_id: CallId,
        /// The server's.
        peer_call_id: CallId,
    },
    /// The link is up: IP datagrams may flow.
    Up(LinkInfo),
    /// The session is over: send what the transmit queues still hold, then close the TCP
    /// connection.
    Closed(Closure),
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Not opened yet.
    Idle,
    /// Start-Control-Connection-Request sent.
    Starting,
    /// Outgoing-Call-Request sent.
    Calling,
    /// The call is up and PPP is negotiating.
    Negotiating,
    /// The link is up.
    Up,
    /// Tearing down.
    Closing,
    /// Over.
    Finished,
}

/// The random-number generator of our control connection. The client role draws randomness
/// only for its Call ID, and that Call ID must be unique among every session sharing one GRE
/// socket, so the demultiplexer picks it at random and this hands it over.
#[derive(Debug)]
struct ReservedCallId(u16);

impl RngCore for ReservedCallId {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.0)
    }

    fn next_u64(&mut self) -> u64 {
        u64::from(self.0)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for (byte, value) in dst.iter_mut().zip(self.0.to_le_bytes().iter().cycle()) {
            *byte = *value;
        }
    }
}

/// No secrets: the client role never authenticates anyone.
fn no_secrets(_user: &[u8]) -> Option<[u8; 16]> {
    None
}

/// One PPTP client session, sans-IO.
#[derive(Debug)]
pub struct ClientSession<R: RngCore> {
    config: SessionConfig,
    control: ControlConnection<ReservedCallId>,
    link: Link<R>,
    data: DataChannel,
    call_id: CallId,
    peer_call_id: Option<CallId>,
    stage: Stage,
    stream: Vec<u8>,
    call_active: bool,
    link_finished: bool,
    link_reason: Option<ppp_core::Reason>,
    control_reason: Option<ControlReason>,
    close_reason: Option<CloseReason>,
    auth_failure: Option<String>,
    server: ServerSignals,
    client: ClientSignals,
    link_close_requested: bool,
    call_clear_requested: bool,
    stop_requested: bool,
    connect_deadline: Option<Instant>,
    teardown_deadline: Option<Instant>,
    teardown_timed_out: bool,
    linger_deadline: Option<Instant>,
    lingered: bool,
    mppe: Option<MppeConfig>,
    mppe_keys: Option<MppeStartKeys>,
    info: Option<LinkInfo>,
    early_gre: Vec<Vec<u8>>,
    control_out: VecDeque<Vec<u8>>,
    gre_out: VecDeque<Vec<u8>>,
    events: VecDeque<SessionEvent>,
}

impl<R: RngCore> ClientSession<R> {
    /// A session whose call will use our Call ID `call_id` (reserved by the GRE
    /// demultiplexer); `rng` supplies the LCP Magic-Number and the MS-CHAPv2 Peer-Challenge.
    pub fn new(config: SessionConfig, call_id: CallId, now: Instant, rng: R) -> Self {
        let control =
            ControlConnection::client(config.control.clone(), now, ReservedCallId(call_id.0));
        let link = Link::new(config.link_config(), rng);
        let data = DataChannel::new(call_id, config.ack_delay);
        ClientSession {
            config,
            control,
            link,
            data,
            call_id,
            peer_call_id: None,
            stage: Stage::Idle,
            stream: Vec::new(),
            call_active: false,
            link_finished: false,
            link_reason: None,
            control_reason: None,
            close_reason: None,
            auth_failure: None,
            server: ServerSignals::default(),
            client: ClientSignals::default(),
            link_close_requested: false,
            call_clear_requested: false,
            stop_requested: false,
            connect_deadline: None,
            teardown_deadline: None,
            teardown_timed_out: false,
            linger_deadline: None,
            lingered: false,
            mppe: None,
            mppe_keys: None,
            info: None,
            early_gre: Vec::new(),
            control_out: VecDeque::new(),
            gre_out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ----- commands -------------------------------------------------------------------------

    /// The TCP connection is up: sends the Start-Control-Connection-Request and starts the
    /// connect timer.
    pub fn open(&mut self, now: Instant) {
        if self.stage != Stage::Idle {
            return;
        }
        if self.control.open(now).is_ok() {
            self.stage = Stage::Starting;
            self.connect_deadline = now.checked_add(self.config.connect_timeout);
        }
        self.advance(now);
    }

    /// Hangs up as pppd + pptp-linux do: LCP Terminate-Request, then Call-Clear-Request, then
    /// Stop-Control-Connection-Request, each after the previous one was answered (or timed
    /// out). [`SessionEvent::Closed`] reports the end.
    pub fn hang_up(&mut self, now: Instant) {
        self.begin_close(now, CloseReason::HangUp);
        self.advance(now);
    }

    /// Builds the GRE packet that carries the IPv4 datagram `packet` into `out` (MPPE-encrypted
    /// when negotiated). Fails unless the link is up.
    pub fn encapsulate_ip(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), ClientError> {
        if self.stage != Stage::Up {
            return Err(ClientError::NotUp);
        }
        self.data.encapsulate_ip(packet, out)
    }

    // ----- inputs ---------------------------------------------------------------------------

    /// Bytes read from the control connection's TCP stream (any amount, cut anywhere).
    pub fn handle_control_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.control.state() == ConnectionState::Closed {
            return;
        }
        self.stream.extend_from_slice(bytes);
        let mut consumed = 0;
        loop {
            let rest = self.stream.get(consumed..).unwrap_or_default();
            match frame_len(rest) {
                Ok(Some(len)) if rest.len() >= len => {
                    let message = rest.get(..len).unwrap_or_default();
                    // Undecodable messages are reported (and acted on) by the machine itself.
                    let _ = self.control.handle_bytes(now, message);
                    consumed += len;
                }
                Ok(_) => break,
                Err(error) => {
                    self.control.handle_stream_error(now, error);
                    consumed = self.stream.len();
                    break;
                }
            }
        }
        self.stream.drain(..consumed);
        self.advance(now);
    }

    /// The TCP connection was closed by the server or failed.
    pub fn handle_control_closed(&mut self, now: Instant) {
        self.control.handle_transport_closed(now);
        self.advance(now);
    }

    /// A GRE packet from the server for our call (its IPv4 header removed). Returns where the
    /// delivered IPv4 datagram lies in `gre` (decrypted in place), if it carried one.
    pub fn handle_gre(&mut self, now: Instant, gre: &mut [u8]) -> Option<Range<usize>> {
        match self.stage {
            Stage::Finished => return None,
            Stage::Idle | Stage::Starting | Stage::Calling => {
                // The server may start LCP as soon as it answers the call, and its first GRE
                // packet can overtake the Outgoing-Call-Reply on the TCP connection: keep a
                // few and replay them once the call is established.
                if self.early_gre.len() < MAX_EARLY_GRE {
                    self.early_gre.push(gre.to_vec());
                }
                return None;
            }
            _ => {}
        }
        let delivered = self.process_gre(now, gre);
        self.advance(now);
        delivered
    }

    /// Fires whatever timers are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stage == Stage::Finished {
            return;
        }
        self.control.handle_timeout(now);
        self.link.handle_timeout(now);
        if let Some(ack) = self.data.poll_ack(now) {
            self.gre_out.push_back(ack);
        }
        if self
            .connect_deadline
            .is_some_and(|deadline| deadline <= now)
        {
            self.connect_deadline = None;
            if self.stage != Stage::Up {
                self.begin_close(now, CloseReason::Timeout);
            }
        }
        if self.linger_deadline.is_some_and(|deadline| deadline <= now) {
            self.linger_deadline = None;
        }
        if self
            .teardown_deadline
            .is_some_and(|deadline| deadline <= now)
        {
            self.teardown_deadline = None;
            self.teardown_timed_out = true;
            if self.control.state() != ConnectionState::Closed {
                self.control.handle_transport_closed(now);
            }
            if !self.link.is_finished() {
                self.link.lower_down(ppp_core::Reason::LowerLayerDown);
            }
        }
        self.advance(now);
    }

    // ----- outputs --------------------------------------------------------------------------

    /// The next control message to write to the TCP connection.
    pub fn poll_control_transmit(&mut self) -> Option<Vec<u8>> {
        self.control_out.pop_front()
    }

    /// The next GRE packet to send to the server (without IPv4 header).
    pub fn poll_gre_transmit(&mut self) -> Option<Vec<u8>> {
        self.gre_out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stage == Stage::Finished {
            return None;
        }
        [
            self.control.poll_timeout(),
            self.link.poll_timeout(),
            self.data.poll_timeout(),
            self.connect_deadline,
            self.teardown_deadline,
            self.linger_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    // ----- accessors ------------------------------------------------------------------------

    /// Where the session is.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether IP datagrams may flow.
    pub fn is_up(&self) -> bool {
        self.stage == Stage::Up
    }

    /// Whether [`SessionEvent::Closed`] was emitted.
    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Finished
    }

    /// Our Call ID.
    pub fn call_id(&self) -> CallId {
        self.call_id
    }

    /// The server's Call ID, once the call is accepted.
    pub fn peer_call_id(&self) -> Option<CallId> {
        self.peer_call_id
    }

    /// Addresses, MTU and Call IDs, once the link is up.
    pub fn link_info(&self) -> Option<LinkInfo> {
        self.info
    }

    /// The PPP link phase.
    pub fn link_phase(&self) -> Phase {
        self.link.phase()
    }

    /// The control connection state.
    pub fn control_state(&self) -> ConnectionState {
        self.control.state()
    }

    /// Data channel counters.
    pub fn stats(&self) -> DataStats {
        self.data.stats()
    }

    /// Our MPPE start keys (RFC 3079 §3.3; `send` keys what we send, `recv` what the server
    /// sends), once CCP has opened with MPPE. For benchmarks and tests that build or check data
    /// packets outside the session: with [`mppe_coherency_count`](Self::mppe_coherency_count)
    /// and [`reserve_gre_sequence`](Self::reserve_gre_sequence) they can continue our side of
    /// the data channel exactly where the session stands.
    pub fn mppe_start_keys(&self) -> Option<MppeStartKeys> {
        self.mppe_keys
    }

    /// The coherency count our next MPPE packet will carry (0 until we send data), once MPPE
    /// is on.
    pub fn mppe_coherency_count(&self) -> Option<u16> {
        self.data.coherency_count()
    }

    /// Sets aside `count` GRE sequence numbers, starting with the returned one, for data
    /// packets the caller sends itself on this call (a benchmark's packet generator); the
    /// session's own next packet is numbered after them, so that the server, which drops
    /// numbers from the past (RFC 2637 §4.2), still accepts it. `count` must stay below 2^31.
    pub fn reserve_gre_sequence(&mut self, count: u32) -> u32 {
        self.data.reserve_sequence(count)
    }

    // ----- internals ------------------------------------------------------------------------

    /// Handles one GRE packet of the established call (without reacting to the outcome).
    fn process_gre(&mut self, now: Instant, gre: &mut [u8]) -> Option<Range<usize>> {
        let delivered = match self.data.decapsulate(now, gre) {
            Decapsulated::Ip(range) => (self.stage == Stage::Up).then_some(range),
            Decapsulated::Control(range) => {
                let frame = gre.get(range).unwrap_or_default();
                self.inspect_incoming(now, frame);
                self.link.handle_frame(now, frame, &no_secrets);
                None
            }
            Decapsulated::Nothing => None,
        };
        if self.data.needs_reset_request() {
            self.link.request_mppe_reset(now);
        }
        delivered
    }

    /// Replays the GRE packets that arrived before the call was established.
    fn replay_early_gre(&mut self, now: Instant) {
        for mut packet in std::mem::take(&mut self.early_gre) {
            let _ = self.process_gre(now, &mut packet);
        }
    }

    /// Notes what the server's control frames say about the end of the session, before the
    /// link handles them: LCP Terminate-Request/-Ack, and the text of an MS-CHAPv2 Failure
    /// (which the link does not report).
    fn inspect_incoming(&mut self, now: Instant, frame: &[u8]) {
        let Ok((protocol, payload)) = PppFrame::decode(frame) else {
            return;
        };
        match (protocol, payload.first()) {
            (Protocol::LCP, Some(&LCP_TERMINATE_REQUEST)) => {
                self.server.lcp_terminate_request = true;
                // A link already terminating on its own (authentication or MPPE failed) reports
                // its own reason when it is down.
                if !matches!(self.link.phase(), Phase::Dead | Phase::Terminate) {
                    let reason = self.link_cause(ppp_core::Reason::PeerTerminated);
                    self.begin_close(now, reason);
                }
            }
            (Protocol::LCP, Some(&LCP_TERMINATE_ACK)) => self.server.lcp_terminate_ack = true,
            (Protocol::CHAP, _) => {
                if let Ok(ChapPacket::Failure { message, .. }) = ChapPacket::decode(payload) {
                    let message = String::from_utf8_lossy(message).into_owned();
                    self.auth_failure = Some(message.clone());
                    self.begin_close(now, CloseReason::AuthFailed { message });
                }
            }
            _ => {}
        }
    }

    /// The first cause for a link that ends with `reason`: an MS-CHAPv2 Failure seen earlier
    /// wins.
    fn link_cause(&self, reason: ppp_core::Reason) -> CloseReason {
        match &self.auth_failure {
            Some(message) => CloseReason::AuthFailed {
                message: message.clone(),
            },
            None => CloseReason::LinkDown(reason),
        }
    }

    /// Records the first cause of the end and starts the teardown.
    fn begin_close(&mut self, now: Instant, reason: CloseReason) {
        if self.close_reason.is_some() || self.stage == Stage::Finished {
            return;
        }
        tracing::debug!(call_id = self.call_id.0, %reason, "session closing");
        self.close_reason = Some(reason);
        self.stage = Stage::Closing;
        self.connect_deadline = None;
        self.teardown_deadline = now.checked_add(self.config.teardown_timeout);
    }

    /// Reacts to everything the machines reported until nothing more happens.
    fn advance(&mut self, now: Instant) {
        for _ in 0..64 {
            let mut busy = self.drain_transmit();
            while let Some(event) = self.control.poll_event() {
                busy = true;
                self.on_control_event(now, event);
            }
            while let Some(event) = self.link.poll_event() {
                busy = true;
                self.on_link_event(now, event);
            }
            busy |= self.teardown_step(now);
            if !busy {
                break;
            }
        }
        self.drain_transmit();
    }

    /// Moves what the machines want to send into our queues, noting the teardown messages.
    fn drain_transmit(&mut self) -> bool {
        let mut moved = false;
        while let Some(message) = self.control.poll_transmit() {
            moved = true;
            match message {
                ControlMessage::CallClearRequest(_) => self.client.call_clear_request = true,
                ControlMessage::StopControlConnectionRequest(_) => self.client.stop_request = true,
                _ => {}
            }
            self.control_out.push_back(message.to_bytes());
        }
        while let Some(frame) = self.link.poll_transmit() {
            moved = true;
            if let Ok((Protocol::LCP, [LCP_TERMINATE_REQUEST, ..])) = PppFrame::decode(&frame) {
                self.client.lcp_terminate_request = true;
            }
            if let Some(packet) = self.data.encapsulate_frame(&frame) {
                self.gre_out.push_back(packet);
            }
        }
        moved
    }

    fn on_control_event(&mut self, now: Instant, event: ControlEvent) {
        match event {
            ControlEvent::Connected { peer } => {
                tracing::debug!(
                    call_id = self.call_id.0,
                    vendor = %String::from_utf8_lossy(&peer.vendor),
                    "control connection established"
                );
                if self.stage == Stage::Starting {
                    match self.control.place_call(now) {
                        Ok(_) => self.stage = Stage::Calling,
                        Err(error) => {
                            tracing::warn!(%error, "cannot place the call");
                            self.begin_close(now, CloseReason::CallTimeout);
                        }
                    }
                }
            }
            ControlEvent::CallEstablished {
                call_id,
                peer_call_id,
                ..
            } if call_id == self.call_id => {
                self.peer_call_id = Some(peer_call_id);
                self.data.set_peer_call_id(peer_call_id);
                self.call_active = true;
                self.events.push_back(SessionEvent::CallEstablished {
                    call_id,
                    peer_call_id,
                });
                if self.stage == Stage::Calling {
                    self.stage = Stage::Negotiating;
                    self.link.open(now);
                    self.replay_early_gre(now);
                }
            }
            ControlEvent::CallRefused { result, error, .. } => {
                self.begin_close(now, CloseReason::CallRefused { result, error });
            }
            ControlEvent::CallCleared { reason, .. } => {
                self.call_active = false;
                match reason {
                    CallClearReason::PeerDisconnect {
                        result,
                        error,
                        cause,
                    } => {
                        self.server.call_disconnect = Some(result);
                        self.begin_close(
                            now,
                            CloseReason::CallDisconnected {
                                result,
                                error,
                                cause,
                            },
                        );
                    }
                    CallClearReason::ReplyTimeout => {
                        self.begin_close(now, CloseReason::CallTimeout);
                    }
                    _ => {}
                }
                // The call is gone: nothing more can be sent on the link.
                self.link.lower_down(ppp_core::Reason::LowerLayerDown);
            }
            ControlEvent::Closed(reason) => {
                match &reason {
                    ControlReason::PeerStopped(stop) => self.server.stop_request = Some(*stop),
                    ControlReason::Stopped(_) => self.server.stop_reply = self.client.stop_request,
                    ControlReason::TransportClosed if !self.teardown_timed_out => {
                        self.server.tcp_closed = true;
                    }
                    ControlReason::StartRefused { result, error } => {
                        let (result, error) = (*result, *error);
                        self.begin_close(now, CloseReason::StartRefused { result, error });
                    }
                    ControlReason::EstablishTimeout => self.begin_close(now, CloseReason::Timeout),
                    _ => {}
                }
                self.begin_close(now, CloseReason::ControlClosed(reason.clone()));
                self.control_reason = Some(reason);
                self.call_active = false;
                self.link.lower_down(ppp_core::Reason::LowerLayerDown);
            }
            ControlEvent::ProtocolViolation {
                message_type,
                state,
                violation,
            } => tracing::debug!(?message_type, ?state, ?violation, "server broke a rule"),
            other => tracing::trace!(?other, "control event"),
        }
    }

    fn on_link_event(&mut self, now: Instant, event: LinkEvent) {
        match event {
            LinkEvent::MppeKeys {
                send,
                recv,
                strength,
                stateless,
            } => {
                let config = MppeConfig {
                    strength,
                    stateless,
                };
                self.data.set_mppe(&send, &recv, config);
                self.mppe = Some(config);
                self.mppe_keys = Some(MppeStartKeys { send, recv });
            }
            LinkEvent::MppeResetRequested => self.data.reset_encryptor(),
            LinkEvent::LinkUp { local, peer, dns } => {
                if !self.data.is_encrypted() {
                    self.data.set_cleartext();
                }
                let mppe = self.data.is_encrypted();
                let mru = self.link.peer_mru().min(DEFAULT_MTU);
                let mtu = if mppe { mru - MPPE_OVERHEAD } else { mru };
                let info = LinkInfo {
                    local,
                    peer,
                    dns,
                    mtu,
                    call_id: self.call_id,
                    peer_call_id: self.peer_call_id.unwrap_or(CallId(0)),
                    mppe: self.mppe.filter(|_| mppe),
                };
                self.info = Some(info);
                if self.close_reason.is_none() {
                    self.stage = Stage::Up;
                    self.connect_deadline = None;
                    self.events.push_back(SessionEvent::Up(info));
                }
            }
            LinkEvent::Down(reason) => {
                self.link_finished = true;
                self.link_reason = Some(reason);
                let cause = self.link_cause(reason);
                self.begin_close(now, cause);
            }
            LinkEvent::AuthSucceeded => {
                tracing::debug!(call_id = self.call_id.0, "authenticated");
            }
            other => tracing::trace!(?other, "link event"),
        }
    }

    /// One step of the teardown, if one is due; true if something changed.
    fn teardown_step(&mut self, now: Instant) -> bool {
        if self.close_reason.is_none() || self.stage == Stage::Finished {
            return false;
        }
        if !self.link_finished {
            if !self.link_close_requested && self.link.phase() != Phase::Terminate {
                self.link_close_requested = true;
                self.link.close(now, ppp_core::Reason::AdminClose);
                return true;
            }
            return false;
        }
        let state = self.control.state();
        if self.call_active && state == ConnectionState::Established {
            if !self.call_clear_requested {
                self.call_clear_requested = true;
                // The result is not sent by a client (its Call-Clear-Request has none).
                let _ = self
                    .control
                    .clear_call(now, self.call_id, CallDisconnectResult::Request);
                return true;
            }
            return false;
        }
        if state != ConnectionState::Closed {
            if !self.stop_requested && state != ConnectionState::WaitStopReply {
                self.stop_requested = true;
                self.control.stop(now, StopControlReason::None);
                return true;
            }
            return false;
        }
        if self.should_linger() {
            if !self.lingered {
                self.lingered = true;
                self.linger_deadline = now.checked_add(self.config.linger);
            }
            if self.linger_deadline.is_some() {
                return false;
            }
        }
        self.finish();
        true
    }

    /// Whether to wait for an LCP Terminate-Request still in flight: the server ended the
    /// session through the control connection (CDN, StopCCRQ, TCP closed) while the link it
    /// had started was not being closed by us, and no Terminate-Request arrived yet.
    fn should_linger(&self) -> bool {
        let server_ended = matches!(
            self.close_reason,
            Some(CloseReason::ControlClosed(_) | CloseReason::CallDisconnected { .. })
        );
        server_ended
            && self.peer_call_id.is_some()
            && !self.link_close_requested
            && !self.server.lcp_terminate_request
            && !self.teardown_timed_out
    }

    fn finish(&mut self) {
        self.stage = Stage::Finished;
        self.teardown_deadline = None;
        self.linger_deadline = None;
        let closure = Closure {
            reason: self.close_reason.clone().unwrap_or(CloseReason::HangUp),
            server: self.server,
            client: self.client,
            link: self.link_reason,
            control: self.control_reason.clone(),
            teardown_timed_out: self.teardown_timed_out,
        };
        tracing::debug!(call_id = self.call_id.0, %closure, "session over");
        self.events.push_back(SessionEvent::Closed(closure));
    }
}
