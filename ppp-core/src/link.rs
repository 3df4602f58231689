//! The whole PPP link: the phases of RFC 1661 §3.2 (Dead, Establish, Authenticate, Network,
//! Terminate) driving LCP, CHAP/MS-CHAPv2, CCP/MPPE and IPCP, sans-IO.
//!
//! Inputs are [`Link::handle_frame`] (every PPP frame except IPv4 and MPPE data, which the
//! daemon's data path owns) and [`Link::handle_timeout`]; commands are [`Link::open`],
//! [`Link::close`], [`Link::set_addresses`] and [`Link::request_mppe_reset`]; outputs are
//! [`Link::poll_transmit`] (complete frames, `FF 03` + protocol + packet),
//! [`Link::poll_timeout`] and [`Link::poll_event`].
//!
//! Randomness is drawn from the caller's RNG in this order: the LCP Magic-Number (4 octets,
//! big-endian, when the first Configure-Request is built in `open`), then, when LCP opens on a
//! server, the CHAP Identifier (1 octet) and Challenge (16 octets); a client draws its 16-octet
//! Peer-Challenge when a Challenge arrives. A new Magic-Number is drawn only after a Nak of ours
//! or to Nak a peer's equal one.
//!
//! RFC 1661 §3.4: during the Establish phase "Any non-LCP packets received during this phase
//! MUST be silently discarded"; likewise NCP packets before the Network phase (§3.5). When MPPE
//! is required the link is never reported up (and so no datagram may flow) before CCP has
//! opened with MPPE and the keys were handed out.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::ccp::{Ccp, CcpSignal, MppeAgreement, MppeNegotiation, MppePolicy, MppeStrength};
use crate::chap::{ChapAuthenticator, ChapOutcome, ChapPacket, ChapPeer, ChapPeerOutcome, Secrets};
use crate::frame::{PppFrame, Protocol, encode_frame};
use crate::fsm::{Fsm, FsmConfig, FsmOptions, LayerAction, State};
use crate::ipcp::{IpcpOptions, IpcpRole};
use crate::lcp::{DEFAULT_MRU, Lcp, LcpConfig, LcpSignal};
use crate::packet::{Code, ControlPacket};
use crate::reason::Reason;
use crate::timer::{Timer, TimerTable};

/// Which end of the link we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The gateway: authenticates the peer, assigns its address.
    Server,
    /// A client (for tests and tools): authenticates itself, asks for an address.
    Client,
}

/// A client's user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name sent in the CHAP Response.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Everything a link needs to know (pppd's options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Server or client.
    pub role: Role,
    /// Our MRU (default 1500, offered only if different).
    pub mru: u16,
    /// Restart timer period of LCP, CCP and IPCP, and of CHAP retransmissions (3 s).
    pub restart_interval: Duration,
    /// Max-Configure (10).
    pub max_configure: u32,
    /// Max-Failure (5).
    pub max_failure: u32,
    /// Max-Terminate (2).
    pub max_terminate: u32,
    /// LCP Echo-Request period in the Opened state (pppd `lcp-echo-interval`); None: no echo.
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the peer is declared dead (`lcp-echo-failure`); 0: never.
    pub echo_failure: u32,
    /// Our CHAP name (pppd `name`), sent in Challenges.
    pub server_name: String,
    /// Client role: who we authenticate as.
    pub credentials: Option<Credentials>,
    /// What MPPE to negotiate.
    pub mppe: MppePolicy,
    /// Server role: primary and secondary DNS servers to hand out.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Server role: primary and secondary NBNS (WINS) servers to hand out.
    pub nbns: [Option<Ipv4Addr>; 2],
    /// Overall limit from LCP Opened to the end of authentication.
    pub auth_timeout: Duration,
}

impl LinkConfig {
    /// A gateway configuration like the capture's poptop: CHAP name `server_name`,
    /// `require-mppe-128`, echo every 30 s, 4 misses allowed.
    pub fn server(server_name: &str) -> Self {
        LinkConfig {
            role: Role::Server,
            mru: DEFAULT_MRU,
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
            max_failure: 5,
            max_terminate: 2,
            echo_interval: Some(Duration::from_secs(30)),
            echo_failure: 4,
            server_name: server_name.to_owned(),
            credentials: None,
            mppe: MppePolicy::require_128(),
            dns: [None; 2],
            nbns: [None; 2],
            auth_timeout: Duration::from_secs(30),
        }
    }

    /// A client configuration authenticating as `user` with `password`, `require-mppe-128`.
    pub fn client(user: &str, password: &str) -> Self {
        LinkConfig {
            role: Role::Client,
            server_name: String::new(),
            credentials: Some(Credentials {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
            ..Self::server("")
        }
    }

    fn fsm_config(&self) -> FsmConfig {
        FsmConfig {
            restart_interval: self.restart_interval,
            max_configure: self.max_configure.max(1),
            max_terminate: self.max_terminate.max(1),
            max_failure: self.max_failure,
        }
    }
}

/// The link phases of RFC 1661 §3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not started, or finished.
    Dead,
    /// LCP is negotiating.
    Establish,
    /// LCP is open; CHAP runs.
    Authenticate,
    /// Authenticated; CCP and IPCP run (and the link is up once they are).
    Network,
    /// LCP is terminating.
    Terminate,
}

/// What the link tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server: the peer authenticated as `user`. The caller MUST now call
    /// [`Link::set_addresses`] (or [`Link::close`]) before feeding more frames.
    Authenticated {
        /// The user name from the CHAP Response.
        user: String,
    },
    /// Server: the peer failed authentication; a Failure was sent and the link is closing.
    AuthFailed {
        /// The user name from the CHAP Response.
        user: String,
    },
    /// Client: the server accepted us and proved it knows our password.
    AuthSucceeded,
    /// CCP opened with MPPE: the start keys for our direction (`send`) and the peer's (`recv`).
    MppeKeys {
        /// Our send start key (server: the server's send key).
        send: [u8; 16],
        /// Our receive start key.
        recv: [u8; 16],
        /// Key strength.
        strength: MppeStrength,
        /// Stateless mode (re-key before every packet).
        stateless: bool,
    },
    /// The peer sent a CCP Reset-Request: our MPPE encryptor must flush (set the A bit).
    MppeResetRequested,
    /// IPCP is open (and MPPE too when required): datagrams may flow.
    LinkUp {
        /// Our address.
        local: Ipv4Addr,
        /// The peer's address.
        peer: Ipv4Addr,
        /// DNS servers (server: those handed out; client: those received).
        dns: [Option<Ipv4Addr>; 2],
    },
    /// The link is down for good; drop it after sending what `poll_transmit` still holds.
    Down(Reason),
}

/// One PPP link, sans-IO.
#[derive(Debug)]
pub struct Link<R: RngCore> {
    config: LinkConfig,
    rng: R,
    phase: Phase,
    lcp: Lcp,
    chap_server: Option<ChapAuthenticator>,
    chap_client: Option<ChapPeer>,
    ccp: Option<Ccp>,
    ipcp: Option<Fsm<IpcpOptions>>,
    ipcp_started: bool,
    addresses: Option<(Ipv4Addr, Ipv4Addr)>,
    awaiting_addresses: bool,
    authenticated: bool,
    auth_deadline: Option<Instant>,
    key_material: Option<([u8; 16], [u8; 24])>,
    mppe: Option<MppeAgreement>,
    link_up: bool,
    reason: Option<Reason>,
    finished: bool,
    timers: TimerTable,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl<R: RngCore> Link<R> {
    /// A link in the Dead phase.
    pub fn new(config: LinkConfig, rng: R) -> Self {
        let server = config.role == Role::Server;
        let lcp = Lcp::new(
            LcpConfig {
                mru: config.mru,
                require_ms_chap_v2: server,
                accept_ms_chap_v2: !server && config.credentials.is_some(),
            },
            config.fsm_config(),
            config.echo_interval.filter(|interval| !interval.is_zero()),
            config.echo_failure,
        );
        let ccp = config
            .mppe
            .enabled()
            .then(|| Ccp::new(config.mppe, config.fsm_config()));
        Link {
            config,
            rng,
            phase: Phase::Dead,
            lcp,
            chap_server: None,
            chap_client: None,
            ccp,
            ipcp: None,
            ipcp_started: false,
            addresses: None,
            awaiting_addresses: false,
            authenticated: false,
            auth_deadline: None,
            key_material: None,
            mppe: None,
            link_up: false,
            reason: None,
            finished: false,
            timers: TimerTable::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The lower layer is up: LCP starts and sends its Configure-Request.
    pub fn open(&mut self, now: Instant) {
        if self.finished || self.phase != Phase::Dead {
            return;
        }
        self.phase = Phase::Establish;
        self.lcp.fsm.open(now, &mut self.rng);
        self.lcp.fsm.up(now, &mut self.rng);
        self.pump(now);
    }

    /// Administrative close: LCP sends Terminate-Request, then [`Event::Down`] with `reason`.
    pub fn close(&mut self, now: Instant, reason: Reason) {
        if self.phase == Phase::Dead && !self.finished {
            // Never opened: nothing to terminate.
            self.reason.get_or_insert(reason);
            return self.finish();
        }
        self.begin_close(now, reason);
        self.pump(now);
    }

    /// The lower layer went away: [`Event::Down`] at once, nothing more is sent.
    pub fn lower_down(&mut self, reason: Reason) {
        if self.finished {
            return;
        }
        self.reason.get_or_insert(reason);
        self.finish();
    }

    /// Handles one received PPP frame (not IPv4/MPPE data, which the caller routes itself).
    /// `secrets` is asked for the NT password hash when a CHAP Response arrives.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8], secrets: &dyn Secrets) {
        if self.finished || self.phase == Phase::Dead {
            return;
        }
        let Ok((protocol, payload)) = PppFrame::decode(frame) else {
            return;
        };
        match protocol {
            Protocol::LCP => self.handle_lcp(now, payload),
            Protocol::IPV4 | Protocol::COMPRESSED => {}
            _ if self.lcp.fsm.state() != State::Opened => {}
            Protocol::CHAP => self.handle_chap(now, payload, secrets),
            Protocol::CCP => self.handle_ccp(now, payload),
            Protocol::IPCP => self.handle_ipcp(now, payload),
            other => self.lcp.reject_protocol(other, payload),
        }
        self.pump(now);
    }

    /// Fires whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each firing disarms or pushes back its own deadline; the bound only guards bugs.
        for _ in 0..64 {
            if self.finished {
                break;
            }
            self.sync_timers();
            let Some(timer) = self.timers.take_expired(now) else {
                break;
            };
            self.fire(now, timer);
            self.pump(now);
        }
        self.sync_timers();
    }

    /// Server: answers [`Event::Authenticated`] with our and the peer's address, and starts the
    /// Network phase (CCP, and IPCP once MPPE is up when it is required).
    pub fn set_addresses(&mut self, now: Instant, local: Ipv4Addr, peer: Ipv4Addr) {
        if self.finished || !self.awaiting_addresses || self.phase != Phase::Authenticate {
            return;
        }
        self.awaiting_addresses = false;
        self.addresses = Some((local, peer));
        self.ipcp = Some(Fsm::new(
            Protocol::IPCP,
            IpcpOptions::new(IpcpRole::Server {
                local,
                peer,
                dns: self.config.dns,
                nbns: self.config.nbns,
            }),
            self.config.fsm_config(),
        ));
        self.start_network(now);
        self.pump(now);
    }

    /// Stateful MPPE: our decryptor lost sync; send a CCP Reset-Request.
    pub fn request_mppe_reset(&mut self, now: Instant) {
        if self.finished || self.mppe.is_none() {
            return;
        }
        if let Some(ccp) = &mut self.ccp {
            ccp.request_reset(now);
        }
        self.pump(now);
    }

    /// The next frame to send: `FF 03`, the protocol, the packet.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When [`Link::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.timers.next_timeout()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The largest frame payload the peer can receive (its MRU, 1500 by default).
    pub fn peer_mru(&self) -> u16 {
        self.lcp.fsm.options().peer_mru()
    }

    /// Whether MPPE is negotiated and CCP is open.
    pub fn mppe_active(&self) -> bool {
        self.mppe.is_some()
            && self
                .ccp
                .as_ref()
                .is_some_and(|ccp| ccp.fsm.state() == State::Opened)
    }

    /// Whether [`Event::Down`] was emitted.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The LCP automaton state (for logs and tests).
    pub fn lcp_state(&self) -> State {
        self.lcp.fsm.state()
    }

    // ---- input dispatch ---------------------------------------------------------------------

    fn handle_lcp(&mut self, now: Instant, payload: &[u8]) {
        let Ok(packet) = ControlPacket::decode(payload) else {
            return;
        };
        let signal = self.lcp.handle_packet(now, &packet, &mut self.rng);
        self.flush();
        match signal {
            Some(LcpSignal::ProtocolRejected(Protocol::CCP)) => {
                // pppd: "MPPE required but peer negotiation failed" when CCP is refused.
                if self.config.mppe.required {
                    self.begin_close(now, Reason::MppeRefused);
                } else if let Some(ccp) = &mut self.ccp {
                    ccp.fsm.protocol_rejected(now);
                }
            }
            Some(LcpSignal::ProtocolRejected(Protocol::IPCP)) => {
                self.begin_close(now, Reason::NegotiationFailed(Protocol::IPCP));
            }
            Some(LcpSignal::ProtocolRejected(Protocol::CHAP)) => {
                self.begin_close(now, Reason::AuthRefused);
            }
            Some(LcpSignal::ProtocolRejected(_)) | None => {}
        }
    }

    fn handle_chap(&mut self, now: Instant, payload: &[u8], secrets: &dyn Secrets) {
        if !matches!(self.phase, Phase::Authenticate | Phase::Network) {
            return;
        }
        let Ok(packet) = ChapPacket::decode(payload) else {
            return;
        };
        if let Some(server) = &mut self.chap_server {
            let outcome = server.handle_packet(&packet, secrets);
            self.flush();
            match outcome {
                Some(ChapOutcome::Authenticated {
                    user,
                    password_hash,
                    nt_response,
                }) => {
                    self.authenticated = true;
                    self.auth_deadline = None;
                    self.key_material = Some((password_hash, nt_response));
                    self.awaiting_addresses = true;
                    self.events.push_back(Event::Authenticated { user });
                }
                Some(ChapOutcome::Failed { user }) => {
                    self.auth_deadline = None;
                    self.events.push_back(Event::AuthFailed { user });
                    // pppd terminates LCP after sending the Failure.
                    self.begin_close(now, Reason::AuthFailed);
                }
                Some(ChapOutcome::TimedOut) => self.begin_close(now, Reason::AuthTimeout),
                None => {}
            }
        } else if let Some(client) = &mut self.chap_client {
            let outcome = client.handle_packet(now, &packet, &mut self.rng);
            self.flush();
            match outcome {
                Some(ChapPeerOutcome::Succeeded {
                    password_hash,
                    nt_response,
                }) => {
                    self.authenticated = true;
                    self.auth_deadline = None;
                    self.key_material = Some((password_hash, nt_response));
                    self.events.push_back(Event::AuthSucceeded);
                    self.start_network(now);
                }
                Some(ChapPeerOutcome::Failed) => {
                    self.auth_deadline = None;
                    self.begin_close(now, Reason::AuthFailed);
                }
                None => {}
            }
        }
    }

    fn handle_ccp(&mut self, now: Instant, payload: &[u8]) {
        let Some(ccp) = &mut self.ccp else {
            // nomppe: CCP is not spoken at all (pppd `noccp`): Protocol-Reject it.
            self.lcp.reject_protocol(Protocol::CCP, payload);
            return;
        };
        if self.phase != Phase::Network {
            return;
        }
        let Ok(packet) = ControlPacket::decode(payload) else {
            return;
        };
        let signal = ccp.handle_packet(now, &packet, &mut self.rng);
        self.flush();
        if packet.code == Code::TERMINATE_REQUEST && self.mppe.is_some() {
            // The peer shuts encryption off: we never fall back to cleartext, so the link
            // ends (pppd: "MPPE disabled by peer"), most likely because the peer hangs up.
            self.reason.get_or_insert(Reason::PeerTerminated);
        }
        if signal == Some(CcpSignal::ResetRequested) {
            self.events.push_back(Event::MppeResetRequested);
        }
    }

    fn handle_ipcp(&mut self, now: Instant, payload: &[u8]) {
        if self.phase != Phase::Network || self.ipcp.is_none() {
            return;
        }
        let Ok(packet) = ControlPacket::decode(payload) else {
            return;
        };
        // A Windows peer starts IPCP without waiting for CCP: answer it at once (the link is
        // still not reported up before MPPE is).
        self.start_ipcp(now);
        let terminate = packet.code == Code::TERMINATE_REQUEST;
        if let Some(ipcp) = &mut self.ipcp
            && !ipcp.handle_packet(now, &packet, &mut self.rng)
        {
            ipcp.reject_code(&packet);
        }
        self.flush();
        if terminate && self.link_up {
            self.reason.get_or_insert(Reason::PeerTerminated);
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::LcpRestart => self.lcp.fsm.handle_timeout(now, &mut self.rng),
            Timer::CcpRestart => {
                if let Some(ccp) = &mut self.ccp {
                    ccp.fsm.handle_timeout(now, &mut self.rng);
                }
            }
            Timer::IpcpRestart => {
                if let Some(ipcp) = &mut self.ipcp {
                    ipcp.handle_timeout(now, &mut self.rng);
                }
            }
            Timer::ChapRestart => {
                if let Some(server) = &mut self.chap_server {
                    let outcome = server.handle_timeout(now);
                    self.flush();
                    if outcome == Some(ChapOutcome::TimedOut) {
                        self.begin_close(now, Reason::AuthTimeout);
                    }
                }
                if let Some(client) = &mut self.chap_client {
                    client.handle_timeout(now);
                }
            }
            Timer::Echo => {
                if !self.lcp.handle_echo_timeout(now) {
                    self.begin_close(now, Reason::EchoTimeout);
                }
            }
            Timer::Auth => {
                if self.auth_deadline.is_some_and(|deadline| deadline <= now) {
                    self.auth_deadline = None;
                    if !self.authenticated {
                        self.begin_close(now, Reason::AuthTimeout);
                    }
                }
            }
        }
    }

    // ---- phase logic ------------------------------------------------------------------------

    fn begin_close(&mut self, now: Instant, reason: Reason) {
        if self.finished {
            return;
        }
        self.reason.get_or_insert(reason);
        self.stop_auth();
        if self.phase != Phase::Dead {
            self.phase = Phase::Terminate;
        }
        let text = self.reason.unwrap_or(reason).to_string();
        self.lcp.fsm.close(now, text.as_bytes());
    }

    fn stop_auth(&mut self) {
        self.auth_deadline = None;
        if let Some(server) = &mut self.chap_server {
            server.stop();
        }
        if let Some(client) = &mut self.chap_client {
            client.stop();
        }
    }

    fn on_lcp(&mut self, now: Instant, action: LayerAction) {
        match action {
            LayerAction::Up => self.lcp_up(now),
            LayerAction::Down => {
                self.lcp.stop_echo();
                self.stop_auth();
                if let Some(ccp) = &mut self.ccp {
                    ccp.fsm.down();
                }
                if let Some(ipcp) = &mut self.ipcp {
                    ipcp.down();
                }
                self.mppe = None;
                match self.lcp.fsm.state() {
                    State::Closing => {}
                    State::Stopping => {
                        self.reason.get_or_insert(Reason::PeerTerminated);
                        self.phase = Phase::Terminate;
                    }
                    State::Starting | State::Initial => {
                        self.reason.get_or_insert(Reason::LowerLayerDown);
                    }
                    // The peer restarted negotiation on an open link: end the session rather
                    // than authenticate again.
                    _ => self.begin_close(now, Reason::LcpRenegotiated),
                }
            }
            LayerAction::Started => {}
            LayerAction::Finished => self.finish(),
        }
    }

    fn lcp_up(&mut self, now: Instant) {
        let peer_mru = self.lcp.fsm.options().peer_mru();
        self.lcp.fsm.set_peer_mru(peer_mru);
        self.lcp.start_echo(now);
        self.phase = Phase::Authenticate;
        self.auth_deadline = Some(crate::timer::deadline(now, self.config.auth_timeout));
        match self.config.role {
            Role::Server => {
                let mut server = ChapAuthenticator::new(
                    &self.config.server_name,
                    self.config.restart_interval,
                    crate::chap::MAX_CHALLENGES,
                );
                server.start(now, &mut self.rng);
                self.chap_server = Some(server);
                self.flush();
            }
            Role::Client => {
                let asked = self.lcp.fsm.options().local().auth_ms_chap_v2
                    || self.lcp.fsm.options().peer().auth_ms_chap_v2;
                match (&self.config.credentials, asked) {
                    (Some(credentials), true) => {
                        self.chap_client = Some(ChapPeer::new(
                            &credentials.user,
                            &credentials.password,
                            self.config.restart_interval,
                            self.config.max_configure.max(1),
                        ));
                    }
                    _ => {
                        // The server did not ask us to authenticate.
                        self.auth_deadline = None;
                        self.start_network(now);
                    }
                }
            }
        }
    }

    fn start_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        if self.ipcp.is_none() && self.config.role == Role::Client {
            self.ipcp = Some(Fsm::new(
                Protocol::IPCP,
                IpcpOptions::new(IpcpRole::Client),
                self.config.fsm_config(),
            ));
        }
        match &mut self.ccp {
            Some(ccp) => {
                ccp.fsm.up(now, &mut self.rng);
                ccp.fsm.open(now, &mut self.rng);
                self.flush();
                // pppd with MPPE required starts the other NCPs only once CCP is up.
                if !self.config.mppe.required {
                    self.start_ipcp(now);
                }
            }
            None => self.start_ipcp(now),
        }
    }

    fn start_ipcp(&mut self, now: Instant) {
        if self.ipcp_started {
            return;
        }
        if let Some(ipcp) = &mut self.ipcp {
            self.ipcp_started = true;
            ipcp.up(now, &mut self.rng);
            ipcp.open(now, &mut self.rng);
        }
        self.flush();
    }

    fn on_ccp(&mut self, now: Instant, action: LayerAction) {
        match action {
            LayerAction::Up => {
                let negotiation = self.ccp.as_ref().map(|ccp| ccp.fsm.options().negotiation());
                match negotiation {
                    Some(MppeNegotiation::Agreed(agreement)) => {
                        let Some((password_hash, nt_response)) = self.key_material else {
                            // No MS-CHAPv2 happened: there is nothing to derive keys from.
                            return self.begin_close(now, Reason::MppeRefused);
                        };
                        let role = match self.config.role {
                            Role::Server => mschap::KeyRole::Server,
                            Role::Client => mschap::KeyRole::Client,
                        };
                        let keys = mschap::start_keys(role, &password_hash, &nt_response);
                        self.mppe = Some(agreement);
                        self.events.push_back(Event::MppeKeys {
                            send: keys.send,
                            recv: keys.recv,
                            strength: agreement.strength,
                            stateless: agreement.stateless,
                        });
                        self.start_ipcp(now);
                        self.check_link_up();
                    }
                    Some(MppeNegotiation::Off) if !self.config.mppe.required => {
                        self.start_ipcp(now);
                        self.check_link_up();
                    }
                    _ => self.begin_close(now, Reason::MppeRefused),
                }
            }
            LayerAction::Down => {
                // pppd: "MPPE disabled" closes LCP; we never fall back to cleartext.
                if self.mppe.take().is_some() || self.config.mppe.required {
                    self.begin_close(now, Reason::MppeRefused);
                }
            }
            LayerAction::Finished => {
                if self.config.mppe.required {
                    self.begin_close(now, Reason::MppeRefused);
                } else if self.phase == Phase::Network {
                    self.start_ipcp(now);
                    self.check_link_up();
                }
            }
            LayerAction::Started => {}
        }
    }

    fn on_ipcp(&mut self, now: Instant, action: LayerAction) {
        match action {
            LayerAction::Up => self.check_link_up(),
            LayerAction::Down | LayerAction::Finished => {
                if self.phase == Phase::Network {
                    let reason = match self.reason {
                        Some(reason) => reason,
                        None => Reason::NegotiationFailed(Protocol::IPCP),
                    };
                    self.begin_close(now, reason);
                }
            }
            LayerAction::Started => {}
        }
    }

    fn check_link_up(&mut self) {
        if self.link_up || self.phase != Phase::Network {
            return;
        }
        let Some(ipcp) = &self.ipcp else { return };
        if ipcp.state() != State::Opened {
            return;
        }
        if self.config.mppe.required && self.mppe.is_none() {
            return;
        }
        let options = ipcp.options();
        let (local, peer) = match self.addresses {
            Some(addresses) => addresses,
            None => (
                options.local_address().unwrap_or(Ipv4Addr::UNSPECIFIED),
                options.peer_address().unwrap_or(Ipv4Addr::UNSPECIFIED),
            ),
        };
        self.link_up = true;
        self.events.push_back(Event::LinkUp {
            local,
            peer,
            dns: options.dns(),
        });
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.phase = Phase::Dead;
        self.stop_auth();
        self.lcp.stop_echo();
        self.mppe = None;
        self.timers.clear();
        let reason = self
            .reason
            .unwrap_or(Reason::NegotiationFailed(Protocol::LCP));
        self.events.push_back(Event::Down(reason));
    }

    // ---- plumbing -------------------------------------------------------------------------

    /// Frames everything the sub-machines queued, in the order they queued it.
    fn flush(&mut self) {
        while let Some(packet) = self.lcp.fsm.poll_transmit() {
            push_frame(&mut self.transmit, Protocol::LCP, &packet);
        }
        if let Some(server) = &mut self.chap_server {
            while let Some(packet) = server.poll_transmit() {
                push_frame(&mut self.transmit, Protocol::CHAP, &packet);
            }
        }
        if let Some(client) = &mut self.chap_client {
            while let Some(packet) = client.poll_transmit() {
                push_frame(&mut self.transmit, Protocol::CHAP, &packet);
            }
        }
        if let Some(ccp) = &mut self.ccp {
            while let Some(packet) = ccp.fsm.poll_transmit() {
                push_frame(&mut self.transmit, Protocol::CCP, &packet);
            }
        }
        if let Some(ipcp) = &mut self.ipcp {
            while let Some(packet) = ipcp.poll_transmit() {
                push_frame(&mut self.transmit, Protocol::IPCP, &packet);
            }
        }
    }

    /// Sends what was queued and reacts to layer actions and option failures until quiet.
    fn pump(&mut self, now: Instant) {
        for _ in 0..64 {
            self.flush();
            let mut busy = false;
            while let Some(action) = self.lcp.fsm.poll_action() {
                busy = true;
                self.on_lcp(now, action);
                self.flush();
            }
            while let Some(action) = self.ccp.as_mut().and_then(|ccp| ccp.fsm.poll_action()) {
                busy = true;
                self.on_ccp(now, action);
                self.flush();
            }
            while let Some(action) = self.ipcp.as_mut().and_then(|ipcp| ipcp.poll_action()) {
                busy = true;
                self.on_ipcp(now, action);
                self.flush();
            }
            let failure = self.lcp.fsm.options_mut().take_failure().or_else(|| {
                self.ccp
                    .as_mut()
                    .and_then(|ccp| ccp.fsm.options_mut().take_failure())
            });
            if let Some(reason) = failure {
                busy = true;
                self.begin_close(now, reason);
            }
            if !busy {
                break;
            }
        }
        self.flush();
        if !self.finished
            && self.phase != Phase::Dead
            && matches!(
                self.lcp.fsm.state(),
                State::Initial | State::Closed | State::Stopped
            )
        {
            // Closed without a tlf (closed before it ever opened, or a Close in Stopped).
            self.finish();
        }
        self.sync_timers();
    }

    fn sync_timers(&mut self) {
        if self.finished {
            self.timers.clear();
            return;
        }
        self.timers.set(Timer::LcpRestart, self.lcp.fsm.timeout());
        self.timers.set(Timer::Echo, self.lcp.echo_timeout());
        let chap = self
            .chap_server
            .as_ref()
            .and_then(ChapAuthenticator::timeout)
            .or_else(|| self.chap_client.as_ref().and_then(ChapPeer::timeout));
        self.timers.set(Timer::ChapRestart, chap);
        self.timers.set(
            Timer::CcpRestart,
            self.ccp.as_ref().and_then(|ccp| ccp.fsm.timeout()),
        );
        self.timers.set(
            Timer::IpcpRestart,
            self.ipcp.as_ref().and_then(Fsm::timeout),
        );
        self.timers.set(Timer::Auth, self.auth_deadline);
    }
}

fn push_frame(queue: &mut VecDeque<Vec<u8>>, protocol: Protocol, packet: &[u8]) {
    let mut frame = Vec::with_capacity(4 + packet.len());
    encode_frame(protocol, packet, &mut frame);
    queue.push_back(frame);
}
