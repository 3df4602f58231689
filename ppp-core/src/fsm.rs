//! The option negotiation automaton of RFC 1661 §4, shared by LCP, IPCP and CCP.
//!
//! One [`Fsm`] runs the ten states and the state transition table of RFC 1661 §4.1; what the
//! options mean is left to an [`FsmOptions`] implementation (one per protocol). The automaton
//! is sans-IO: packets it wants to send queue up for [`Fsm::poll_transmit`], the "this layer"
//! actions (tlu/tld/tls/tlf) for [`Fsm::poll_action`], and the Restart timer is a deadline
//! read with [`Fsm::timeout`].
//!
//! Two pppd habits are kept on top of the RFC: a reply (Ack, Nak, Reject) is accepted only once
//! per Configure-Request identifier ("Configure-Ack ... Identifier field MUST match that of the
//! last transmitted Configure-Request", and a duplicate of an accepted reply is discarded), and a
//! peer that keeps Nak'ing our request Max-Failure times has its Naks treated as Rejects, so
//! that a negotiation cannot loop forever.
//!
//! One deliberate deviation, for a transport (GRE) that reorders and sometimes duplicates: a
//! Configure-Request that repeats the one we last acknowledged (same Identifier and options)
//! while we are Opened only gets its Configure-Ack again, and a request carrying one of the
//! [`STALE_WINDOW`] Identifiers before the acknowledged one is a late duplicate and is
//! discarded. The RFC would restart the negotiation (RCR in Opened: tld, scr, sca/nak), which a
//! stray copy of an old packet should not do.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::frame::Protocol;
use crate::packet::{Code, ControlPacket, Identifier, OptionIter};
use crate::reason::Reason;

/// How many Identifiers before the last acknowledged Configure-Request count as late
/// duplicates.
pub const STALE_WINDOW: u8 = 8;

/// The states of RFC 1661 §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open issued, lower layer not yet up.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: negotiation ended (or waiting passively for the peer).
    Stopped,
    /// 4: Terminate-Request sent after a Close.
    Closing,
    /// 5: Terminate-Request sent or received, waiting to stop.
    Stopping,
    /// 6: Configure-Request sent.
    RequestSent,
    /// 7: Configure-Request sent and Configure-Ack received.
    AckReceived,
    /// 8: Configure-Request sent and Configure-Ack sent.
    AckSent,
    /// 9: both sides acknowledged: the layer is up.
    Opened,
}

impl State {
    /// RFC 1661 §4.6: the Restart timer "is used in the Closing, Stopping, Req-Sent, Ack-Rcvd
    /// and Ack-Sent states".
    fn runs_restart_timer(self) -> bool {
        matches!(
            self,
            State::Closing
                | State::Stopping
                | State::RequestSent
                | State::AckReceived
                | State::AckSent
        )
    }

    /// Whether a Configure-Request exchange is under way (pppd's test before resetting options).
    fn negotiating(self) -> bool {
        matches!(
            self,
            State::RequestSent | State::AckReceived | State::AckSent
        )
    }
}

/// The counters and timer of RFC 1661 §4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmConfig {
    /// Restart timer period (default 3 s).
    pub restart_interval: Duration,
    /// Max-Configure: Configure-Requests sent without a valid reply before giving up (10).
    pub max_configure: u32,
    /// Max-Terminate: Terminate-Requests sent without a Terminate-Ack before giving up (2).
    pub max_terminate: u32,
    /// Max-Failure: Configure-Naks sent without an Ack before rejecting instead (5).
    pub max_failure: u32,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
        }
    }
}

/// The reply to a peer's Configure-Request (RFC 1661 §5.2-§5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Every option is recognised and acceptable: Configure-Ack with the options as received.
    Ack,
    /// Some values are unacceptable: Configure-Nak listing them with acceptable values.
    Nak(Vec<u8>),
    /// Some options are unrecognised or not negotiable: Configure-Reject listing them as received.
    Reject(Vec<u8>),
}

impl RequestVerdict {
    /// RFC 1661 §4.1: RCR+ for an Ack, RCR- otherwise.
    pub fn is_ack(&self) -> bool {
        matches!(self, RequestVerdict::Ack)
    }
}

/// Builds verdicts the way RFC 1661 §5 orders them: any Reject wins over Naks, Naks over Ack.
#[derive(Debug, Default)]
pub struct VerdictBuilder {
    naks: Vec<u8>,
    rejects: Vec<u8>,
}

impl VerdictBuilder {
    /// Adds an option (raw, as received) to the Reject list.
    pub fn reject(&mut self, raw: &[u8]) {
        self.rejects.extend_from_slice(raw);
    }

    /// Adds an option with a suggested value to the Nak list; with `reject_if_disagree`
    /// (Max-Failure reached) the original option is rejected instead.
    pub fn nak(&mut self, raw: &[u8], suggestion: &[u8], reject_if_disagree: bool) {
        if reject_if_disagree {
            self.reject(raw);
        } else {
            self.naks.extend_from_slice(suggestion);
        }
    }

    /// Whether anything was rejected so far.
    pub fn has_rejects(&self) -> bool {
        !self.rejects.is_empty()
    }

    /// Whether anything was Nak'ed so far.
    pub fn has_naks(&self) -> bool {
        !self.naks.is_empty()
    }

    /// The verdict.
    pub fn finish(self) -> RequestVerdict {
        if !self.rejects.is_empty() {
            RequestVerdict::Reject(self.rejects)
        } else if !self.naks.is_empty() {
            RequestVerdict::Nak(self.naks)
        } else {
            RequestVerdict::Ack
        }
    }
}

/// What a protocol's option logic provides to the automaton.
///
/// Randomness comes from the caller's RNG (LCP Magic-Numbers); `take_failure` lets the option
/// logic ask the link to close (MPPE refused, loop-back, authentication refused).
pub trait FsmOptions {
    /// Start of a negotiation (pppd's `resetci`): go back to the options we want initially.
    fn reset(&mut self);

    /// Appends the options of our next Configure-Request to `out`.
    fn build_request(&mut self, rng: &mut dyn RngCore, out: &mut Vec<u8>);

    /// Judges the peer's Configure-Request options. `reject_if_disagree` is set once Max-Failure
    /// Naks were sent: Naks must then become Rejects.
    fn handle_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
        rng: &mut dyn RngCore,
    ) -> RequestVerdict;

    /// A valid Configure-Ack of our request (already checked to match it exactly).
    fn handle_ack(&mut self, options: &[u8]);

    /// A Configure-Nak of our request; `false` if it is malformed (it is then discarded).
    /// With `treat_as_reject`, stop requesting the Nak'ed options.
    fn handle_nak(&mut self, options: &[u8], treat_as_reject: bool, rng: &mut dyn RngCore) -> bool;

    /// A Configure-Reject of our request (already checked to be a subset of it); `false` if it
    /// cannot be honoured (it is then discarded).
    fn handle_reject(&mut self, options: &[u8]) -> bool;

    /// A fatal negotiation result the link must act on by closing, taken once.
    fn take_failure(&mut self) -> Option<Reason> {
        None
    }
}

/// A "this layer" action for the owner of the automaton (RFC 1661 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerAction {
    /// tlu: this layer is up.
    Up,
    /// tld: this layer is leaving the Opened state.
    Down,
    /// tls: this layer needs the lower layer.
    Started,
    /// tlf: this layer no longer needs the lower layer.
    Finished,
}

/// The RFC 1661 automaton for one control protocol.
#[derive(Debug)]
pub struct Fsm<O> {
    protocol: Protocol,
    state: State,
    options: O,
    config: FsmConfig,
    restart_count: u32,
    deadline: Option<Instant>,
    last_identifier: Identifier,
    request_identifier: Identifier,
    request: Vec<u8>,
    reply_seen: bool,
    naks_sent: u32,
    naks_received: u32,
    last_acked: Option<(Identifier, Vec<u8>)>,
    terminate_data: Vec<u8>,
    max_reject_len: usize,
    transmit: VecDeque<Vec<u8>>,
    actions: VecDeque<LayerAction>,
}

impl<O: FsmOptions> Fsm<O> {
    /// A new automaton in the Initial state.
    pub fn new(protocol: Protocol, options: O, config: FsmConfig) -> Self {
        Fsm {
            protocol,
            state: State::Initial,
            options,
            config,
            restart_count: 0,
            deadline: None,
            last_identifier: Identifier(0),
            request_identifier: Identifier(0),
            request: Vec::new(),
            reply_seen: false,
            naks_sent: 0,
            naks_received: 0,
            last_acked: None,
            terminate_data: Vec::new(),
            max_reject_len: 1500 - crate::packet::HEADER_LEN,
            transmit: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// The protocol this automaton negotiates.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The protocol's option logic.
    pub fn options(&self) -> &O {
        &self.options
    }

    /// The protocol's option logic, mutably.
    pub fn options_mut(&mut self) -> &mut O {
        &mut self.options
    }

    /// The Restart timer deadline, if running.
    pub fn timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next packet to send (a whole control packet, without the PPP header).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next this-layer action for the owner.
    pub fn poll_action(&mut self) -> Option<LayerAction> {
        self.actions.pop_front()
    }

    /// Limits the size of Code-Rejects we send to fit the peer's MRU.
    pub fn set_peer_mru(&mut self, mru: u16) {
        self.max_reject_len = usize::from(mru).saturating_sub(crate::packet::HEADER_LEN);
    }

    /// A fresh identifier for a packet we originate (echo, reset, reject).
    pub fn next_identifier(&mut self) -> Identifier {
        self.last_identifier = self.last_identifier.next();
        self.last_identifier
    }

    /// Queues a packet of a protocol-specific code (e.g. Echo-Reply, Reset-Ack).
    pub fn send(&mut self, code: Code, identifier: Identifier, data: &[u8]) {
        self.transmit
            .push_back(ControlPacket::to_vec(code, identifier, data));
    }

    // ---- events from the owner -------------------------------------------------------------

    /// Up: the lower layer is ready to carry packets.
    pub fn up(&mut self, now: Instant, rng: &mut dyn RngCore) {
        match self.state {
            State::Initial => self.enter(State::Closed),
            State::Starting => {
                self.irc_configure();
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            // "-": cannot happen; ignore.
            _ => {}
        }
    }

    /// Down: the lower layer is no longer ready.
    pub fn down(&mut self) {
        match self.state {
            State::Closed | State::Closing => self.enter(State::Initial),
            State::Stopped => {
                self.tls();
                self.enter(State::Starting);
            }
            State::Stopping | State::RequestSent | State::AckReceived | State::AckSent => {
                self.enter(State::Starting)
            }
            State::Opened => {
                self.tld();
                self.enter(State::Starting);
            }
            State::Initial | State::Starting => {}
        }
    }

    /// Open: the administrator allows the link to come up.
    pub fn open(&mut self, now: Instant, rng: &mut dyn RngCore) {
        match self.state {
            State::Initial => {
                self.tls();
                self.enter(State::Starting);
            }
            State::Closed => {
                self.irc_configure();
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            State::Closing => self.enter(State::Stopping),
            // Starting, Stopped, Stopping and the negotiating/opened states stay (no 'r' option).
            _ => {}
        }
    }

    /// Close: the administrator wants the link down; `data` goes in the Terminate-Request.
    pub fn close(&mut self, now: Instant, data: &[u8]) {
        self.terminate_data = data.to_vec();
        match self.state {
            State::Starting => {
                self.tlf();
                self.enter(State::Initial);
            }
            State::Stopped => self.enter(State::Closed),
            State::Stopping => self.enter(State::Closing),
            State::RequestSent | State::AckReceived | State::AckSent => {
                self.irc_terminate();
                self.str(now);
                self.enter(State::Closing);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.enter(State::Closing);
            }
            State::Initial | State::Closed | State::Closing => {}
        }
    }

    /// The Restart timer: TO+ while the restart counter is positive, TO- once it is exhausted.
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut dyn RngCore) {
        match self.deadline {
            Some(deadline) if deadline <= now => self.deadline = None,
            _ => return,
        }
        if self.restart_count > 0 {
            // TO+
            match self.state {
                State::Closing | State::Stopping => self.str(now),
                State::RequestSent | State::AckReceived => {
                    self.scr(now, rng, true);
                    self.enter(State::RequestSent);
                }
                State::AckSent => self.scr(now, rng, true),
                _ => {}
            }
        } else {
            // TO-
            match self.state {
                State::Closing => {
                    self.tlf();
                    self.enter(State::Closed);
                }
                State::Stopping | State::RequestSent | State::AckReceived | State::AckSent => {
                    self.tlf();
                    self.enter(State::Stopped);
                }
                _ => {}
            }
        }
    }

    /// A received packet. Returns `false` for a code this automaton does not know (8 and up):
    /// the protocol wrapper handles it or calls [`Fsm::reject_code`].
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: &ControlPacket<'_>,
        rng: &mut dyn RngCore,
    ) -> bool {
        match packet.code {
            Code::CONFIGURE_REQUEST => self.rcr(now, packet, rng),
            Code::CONFIGURE_ACK => self.rca(now, packet, rng),
            Code::CONFIGURE_NAK | Code::CONFIGURE_REJECT => self.rcn(now, packet, rng),
            Code::TERMINATE_REQUEST => self.rtr(now, packet.identifier),
            Code::TERMINATE_ACK => self.rta(now, rng),
            Code::CODE_REJECT => {
                // RFC 1661 §5.6: rejecting one of the codes the automaton needs is fatal.
                match packet.data.first() {
                    Some(code) if (1..=7).contains(code) => self.protocol_rejected(now),
                    _ => {}
                }
            }
            _ => return false,
        }
        true
    }

    /// RUC: a packet with an unknown code; answer with a Code-Reject (scj).
    pub fn reject_code(&mut self, packet: &ControlPacket<'_>) {
        if matches!(self.state, State::Initial | State::Starting) {
            return;
        }
        let identifier = self.next_identifier();
        let limit = self.max_reject_len.min(packet.raw.len());
        let rejected = packet.raw.get(..limit).unwrap_or(packet.raw);
        self.send(Code::CODE_REJECT, identifier, rejected);
    }

    /// RXJ-: the peer rejected something this protocol cannot do without (a required code,
    /// or the whole protocol through an LCP Protocol-Reject).
    pub fn protocol_rejected(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Closing => {
                self.tlf();
                self.enter(State::Closed);
            }
            State::Stopped
            | State::Stopping
            | State::RequestSent
            | State::AckReceived
            | State::AckSent => {
                self.tlf();
                self.enter(State::Stopped);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.enter(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }

    // ---- receive events ---------------------------------------------------------------------

    fn rcr(&mut self, now: Instant, packet: &ControlPacket<'_>, rng: &mut dyn RngCore) {
        let identifier = packet.identifier;
        if let Some((acked, options)) = &self.last_acked {
            let behind = acked.0.wrapping_sub(identifier.0);
            if (1..=STALE_WINDOW).contains(&behind) {
                return;
            }
            if behind == 0 && packet.data == options.as_slice() && self.state == State::Opened {
                self.send(Code::CONFIGURE_ACK, identifier, packet.data);
                return;
            }
        }
        match self.state {
            State::Initial | State::Starting | State::Closing | State::Stopping => return,
            State::Closed => return self.sta(identifier),
            State::Stopped => {
                self.irc_configure();
                self.scr(now, rng, false);
            }
            State::Opened => {
                self.tld();
                self.scr(now, rng, false);
            }
            State::RequestSent | State::AckReceived | State::AckSent => {}
        }
        let reject_if_disagree = self.naks_sent >= self.config.max_failure;
        let verdict = self
            .options
            .handle_request(packet.data, reject_if_disagree, rng);
        let good = verdict.is_ack();
        match &verdict {
            RequestVerdict::Ack => {
                self.naks_sent = 0;
                self.last_acked = Some((identifier, packet.data.to_vec()));
                self.send(Code::CONFIGURE_ACK, identifier, packet.data);
            }
            RequestVerdict::Nak(options) => {
                self.naks_sent = self.naks_sent.saturating_add(1);
                self.send(Code::CONFIGURE_NAK, identifier, options);
            }
            RequestVerdict::Reject(options) => {
                self.send(Code::CONFIGURE_REJECT, identifier, options);
            }
        }
        let next = match (self.state, good) {
            (State::AckReceived, true) => {
                self.tlu();
                State::Opened
            }
            (State::AckReceived, false) => State::AckReceived,
            (_, true) => State::AckSent,
            (_, false) => State::RequestSent,
        };
        self.enter(next);
    }

    fn rca(&mut self, now: Instant, packet: &ControlPacket<'_>, rng: &mut dyn RngCore) {
        if !self.is_reply_to_request(packet.identifier) {
            return;
        }
        // RFC 1661 §5.2: "The Configuration Options ... MUST exactly match those of the last
        // transmitted Configure-Request. Invalid packets are silently discarded."
        if packet.data != self.request.as_slice() {
            return;
        }
        self.reply_seen = true;
        self.naks_received = 0;
        self.options.handle_ack(packet.data);
        match self.state {
            State::Closed | State::Stopped => self.sta(packet.identifier),
            State::RequestSent => {
                self.irc_configure();
                self.enter(State::AckReceived);
            }
            State::AckReceived => {
                // 'x': crossed connection.
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            State::AckSent => {
                self.irc_configure();
                self.tlu();
                self.enter(State::Opened);
            }
            State::Opened => {
                self.tld();
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            State::Initial | State::Starting | State::Closing | State::Stopping => {}
        }
    }

    fn rcn(&mut self, now: Instant, packet: &ControlPacket<'_>, rng: &mut dyn RngCore) {
        if !self.is_reply_to_request(packet.identifier) {
            return;
        }
        let accepted = if packet.code == Code::CONFIGURE_NAK {
            let treat_as_reject = self.naks_received >= self.config.max_failure;
            let accepted = self.options.handle_nak(packet.data, treat_as_reject, rng);
            if accepted {
                self.naks_received = self.naks_received.saturating_add(1);
            }
            accepted
        } else {
            // RFC 1661 §5.4: the rejected options "MUST NOT be reordered or modified in any way".
            is_subsequence(packet.data, &self.request) && self.options.handle_reject(packet.data)
        };
        if !accepted {
            return;
        }
        self.reply_seen = true;
        match self.state {
            State::Closed | State::Stopped => self.sta(packet.identifier),
            State::RequestSent => {
                self.irc_configure();
                self.scr(now, rng, false);
            }
            State::AckReceived => {
                // 'x': crossed connection.
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            State::AckSent => {
                self.irc_configure();
                self.scr(now, rng, false);
            }
            State::Opened => {
                self.tld();
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            State::Initial | State::Starting | State::Closing | State::Stopping => {}
        }
    }

    fn rtr(&mut self, now: Instant, identifier: Identifier) {
        match self.state {
            State::Initial | State::Starting => {}
            State::Closed | State::Stopped | State::Closing | State::Stopping => {
                self.sta(identifier)
            }
            State::RequestSent | State::AckReceived | State::AckSent => {
                self.sta(identifier);
                self.enter(State::RequestSent);
            }
            State::Opened => {
                self.tld();
                self.zrc(now);
                self.sta(identifier);
                self.enter(State::Stopping);
            }
        }
    }

    fn rta(&mut self, now: Instant, rng: &mut dyn RngCore) {
        match self.state {
            State::Closing => {
                self.tlf();
                self.enter(State::Closed);
            }
            State::Stopping => {
                self.tlf();
                self.enter(State::Stopped);
            }
            State::AckReceived => self.enter(State::RequestSent),
            State::Opened => {
                self.tld();
                self.scr(now, rng, false);
                self.enter(State::RequestSent);
            }
            _ => {}
        }
    }

    // ---- actions (RFC 1661 §4.4) --------------------------------------------------------------

    fn tlu(&mut self) {
        self.actions.push_back(LayerAction::Up);
    }

    fn tld(&mut self) {
        self.actions.push_back(LayerAction::Down);
    }

    fn tls(&mut self) {
        self.actions.push_back(LayerAction::Started);
    }

    fn tlf(&mut self) {
        self.actions.push_back(LayerAction::Finished);
    }

    fn irc_configure(&mut self) {
        self.restart_count = self.config.max_configure;
    }

    fn irc_terminate(&mut self) {
        self.restart_count = self.config.max_terminate;
    }

    fn zrc(&mut self, now: Instant) {
        self.restart_count = 0;
        self.start_timer(now);
    }

    /// scr: send a Configure-Request; a retransmission (TO+) keeps the identifier and options.
    fn scr(&mut self, now: Instant, rng: &mut dyn RngCore, retransmit: bool) {
        if !self.state.negotiating() {
            self.options.reset();
            self.naks_sent = 0;
            self.naks_received = 0;
        }
        if !retransmit {
            // RFC 1661 §5.1: "the Identifier field MUST be changed whenever the contents of the
            // Options field changes, and whenever a valid reply has been received".
            self.request_identifier = self.next_identifier();
            self.request.clear();
            let mut request = Vec::new();
            self.options.build_request(rng, &mut request);
            self.request = request;
        }
        self.reply_seen = false;
        let request = std::mem::take(&mut self.request);
        self.send(Code::CONFIGURE_REQUEST, self.request_identifier, &request);
        self.request = request;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.start_timer(now);
    }

    fn str(&mut self, now: Instant) {
        let identifier = self.next_identifier();
        let data = std::mem::take(&mut self.terminate_data);
        self.send(Code::TERMINATE_REQUEST, identifier, &data);
        self.terminate_data = data;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.start_timer(now);
    }

    fn sta(&mut self, identifier: Identifier) {
        self.send(Code::TERMINATE_ACK, identifier, &[]);
    }

    // ---- helpers ------------------------------------------------------------------------------

    fn is_reply_to_request(&self, identifier: Identifier) -> bool {
        identifier == self.request_identifier && !self.reply_seen
    }

    fn start_timer(&mut self, now: Instant) {
        self.deadline = Some(crate::timer::deadline(now, self.config.restart_interval));
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        if !state.runs_restart_timer() {
            self.deadline = None;
        }
    }
}

/// Whether every option of `rejected` appears in `request`, unmodified and in order.
fn is_subsequence(rejected: &[u8], request: &[u8]) -> bool {
    let mut requested = OptionIter::new(request).filter_map(Result::ok);
    OptionIter::new(rejected).all(|option| match option {
        Ok(option) => requested.any(|candidate| candidate.raw == option.raw),
        Err(_) => false,
    })
}
