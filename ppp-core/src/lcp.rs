//! Link Control Protocol: options (RFC 1661 §6, RFC 1662 §7.1), the LCP-only codes
//! (Protocol-Reject, Echo, Discard, RFC 1570 Identification/Time-Remaining) and the Echo
//! keepalive of pppd's `lcp-echo-interval` / `lcp-echo-failure`.
//!
//! We request what poptop's pppd requests (capture frame 24: `asyncmap 0, auth chap MS-v2,
//! magic, pcomp, accomp`), plus MRU when it differs from 1500. Of the peer's options we accept
//! MRU, ACCM (no effect on a synchronous GRE link, acknowledged as pppd does), Magic-Number,
//! PFC and ACFC, and the Authentication-Protocol only when we are a client that can answer
//! MS-CHAPv2. Everything else (Quality, Callback 13, MRRU 17, Short-Sequence 18, Endpoint
//! Discriminator 19, ...) is Rejected, as Windows clients expect.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::error::OptionError;
use crate::frame::Protocol;
use crate::fsm::{Fsm, FsmConfig, FsmOptions, RequestVerdict, State, VerdictBuilder};
use crate::packet::{Code, ConfigOption, ControlPacket, OptionIter, Reader};
use crate::reason::Reason;

/// Option type: Maximum-Receive-Unit (RFC 1661 §6.1).
pub const OPTION_MRU: u8 = 1;
/// Option type: Async-Control-Character-Map (RFC 1662 §7.1).
pub const OPTION_ACCM: u8 = 2;
/// Option type: Authentication-Protocol (RFC 1661 §6.2).
pub const OPTION_AUTH_PROTOCOL: u8 = 3;
/// Option type: Quality-Protocol (RFC 1661 §6.3).
pub const OPTION_QUALITY: u8 = 4;
/// Option type: Magic-Number (RFC 1661 §6.4).
pub const OPTION_MAGIC_NUMBER: u8 = 5;
/// Option type: Protocol-Field-Compression (RFC 1661 §6.5).
pub const OPTION_PFC: u8 = 7;
/// Option type: Address-and-Control-Field-Compression (RFC 1661 §6.6).
pub const OPTION_ACFC: u8 = 8;
/// Option type: Callback (RFC 1570 §2.3; Windows sends it).
pub const OPTION_CALLBACK: u8 = 13;
/// Option type: Multilink MRRU (RFC 1990).
pub const OPTION_MRRU: u8 = 17;
/// Option type: Multilink Short-Sequence-Number-Header-Format (RFC 1990).
pub const OPTION_SHORT_SEQUENCE: u8 = 18;
/// Option type: Endpoint Discriminator (RFC 1990).
pub const OPTION_ENDPOINT_DISCRIMINATOR: u8 = 19;

/// The MRU every PPP implementation must accept (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;
/// The smallest MRU we let the peer announce (pppd's MINMRU); smaller ones are Nak'ed.
pub const MIN_MRU: u16 = 128;
/// CHAP algorithm: MS-CHAP-V2 (RFC 2759 §2).
pub const CHAP_ALGORITHM_MS_V2: u8 = 0x81;
/// CHAP algorithm: MS-CHAP (RFC 2433).
pub const CHAP_ALGORITHM_MS: u8 = 0x80;
/// CHAP algorithm: MD5 (RFC 1994).
pub const CHAP_ALGORITHM_MD5: u8 = 0x05;
/// Consecutive Naks of our Magic-Number after which the link is declared looped back
/// (pppd's `lcp-max-loopback` default).
pub const LOOPBACK_LIMIT: u32 = 10;

const AUTH_CHAP_MS_V2: [u8; 3] = [0xC2, 0x23, CHAP_ALGORITHM_MS_V2];

/// A decoded LCP configuration option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpOption<'a> {
    /// Maximum-Receive-Unit.
    Mru(u16),
    /// Async-Control-Character-Map.
    Accm(u32),
    /// Authentication-Protocol and its data (for CHAP, the algorithm octet).
    AuthProtocol {
        /// The authentication protocol.
        protocol: Protocol,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// Quality-Protocol.
    Quality {
        /// The quality protocol.
        protocol: Protocol,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    Pfc,
    /// Address-and-Control-Field-Compression.
    Acfc,
    /// Callback.
    Callback {
        /// The Operation octet.
        operation: u8,
        /// The Message.
        message: &'a [u8],
    },
    /// Multilink Maximum-Received-Reconstructed-Unit.
    Mrru(u16),
    /// Multilink short sequence number header format.
    ShortSequence,
    /// Multilink Endpoint Discriminator.
    EndpointDiscriminator {
        /// The Class octet.
        class: u8,
        /// The Address.
        address: &'a [u8],
    },
    /// Any other option, kept so that it can be Rejected as received.
    Unknown(ConfigOption<'a>),
}

impl<'a> LcpOption<'a> {
    /// Interprets a raw option, checking the length its type requires.
    pub fn parse(option: &ConfigOption<'a>) -> Result<Self, OptionError> {
        Ok(match option.kind {
            OPTION_MRU => LcpOption::Mru(u16::from_be_bytes(option.fixed()?)),
            OPTION_ACCM => LcpOption::Accm(u32::from_be_bytes(option.fixed()?)),
            OPTION_AUTH_PROTOCOL | OPTION_QUALITY => {
                let [high, low, data @ ..] = option.at_least(2)? else {
                    return Err(too_short(option, 2));
                };
                let protocol = Protocol(u16::from_be_bytes([*high, *low]));
                if option.kind == OPTION_AUTH_PROTOCOL {
                    LcpOption::AuthProtocol { protocol, data }
                } else {
                    LcpOption::Quality { protocol, data }
                }
            }
            OPTION_MAGIC_NUMBER => LcpOption::MagicNumber(u32::from_be_bytes(option.fixed()?)),
            OPTION_PFC => option.empty().map(|()| LcpOption::Pfc)?,
            OPTION_ACFC => option.empty().map(|()| LcpOption::Acfc)?,
            OPTION_CALLBACK => {
                let [operation, message @ ..] = option.at_least(1)? else {
                    return Err(too_short(option, 1));
                };
                LcpOption::Callback {
                    operation: *operation,
                    message,
                }
            }
            OPTION_MRRU => LcpOption::Mrru(u16::from_be_bytes(option.fixed()?)),
            OPTION_SHORT_SEQUENCE => option.empty().map(|()| LcpOption::ShortSequence)?,
            OPTION_ENDPOINT_DISCRIMINATOR => {
                let [class, address @ ..] = option.at_least(1)? else {
                    return Err(too_short(option, 1));
                };
                LcpOption::EndpointDiscriminator {
                    class: *class,
                    address,
                }
            }
            _ => LcpOption::Unknown(*option),
        })
    }

    /// Appends the encoded option to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        let kind = match self {
            LcpOption::Mru(mru) => {
                body.extend_from_slice(&mru.to_be_bytes());
                OPTION_MRU
            }
            LcpOption::Accm(map) => {
                body.extend_from_slice(&map.to_be_bytes());
                OPTION_ACCM
            }
            LcpOption::AuthProtocol { protocol, data } => {
                body.extend_from_slice(&protocol.0.to_be_bytes());
                body.extend_from_slice(data);
                OPTION_AUTH_PROTOCOL
            }
            LcpOption::Quality { protocol, data } => {
                body.extend_from_slice(&protocol.0.to_be_bytes());
                body.extend_from_slice(data);
                OPTION_QUALITY
            }
            LcpOption::MagicNumber(magic) => {
                body.extend_from_slice(&magic.to_be_bytes());
                OPTION_MAGIC_NUMBER
            }
            LcpOption::Pfc => OPTION_PFC,
            LcpOption::Acfc => OPTION_ACFC,
            LcpOption::Callback { operation, message } => {
                body.push(*operation);
                body.extend_from_slice(message);
                OPTION_CALLBACK
            }
            LcpOption::Mrru(mrru) => {
                body.extend_from_slice(&mrru.to_be_bytes());
                OPTION_MRRU
            }
            LcpOption::ShortSequence => OPTION_SHORT_SEQUENCE,
            LcpOption::EndpointDiscriminator { class, address } => {
                body.push(*class);
                body.extend_from_slice(address);
                OPTION_ENDPOINT_DISCRIMINATOR
            }
            LcpOption::Unknown(option) => {
                body.extend_from_slice(option.data);
                option.kind
            }
        };
        ConfigOption::encode(kind, &body, out);
    }
}

fn too_short(option: &ConfigOption<'_>, expected: usize) -> OptionError {
    OptionError::BadLength {
        kind: option.kind,
        length: option.data.len(),
        expected,
    }
}

/// Appends pppd's rendering of one LCP option (without the angle brackets).
pub(crate) fn describe_option(option: &ConfigOption<'_>, out: &mut String) {
    let Ok(parsed) = LcpOption::parse(option) else {
        return crate::describe::raw_option(option, out);
    };
    let _ = match parsed {
        LcpOption::Mru(mru) => write!(out, "mru {mru}"),
        LcpOption::Accm(map) => write!(out, "asyncmap 0x{map:x}"),
        LcpOption::AuthProtocol { protocol, data } => {
            out.push_str("auth ");
            match (protocol, data) {
                (Protocol::PAP, _) => out.push_str("pap"),
                (Protocol::EAP, _) => out.push_str("eap"),
                (Protocol::CHAP, [algorithm, ..]) => {
                    out.push_str("chap");
                    match *algorithm {
                        CHAP_ALGORITHM_MD5 => out.push_str(" MD5"),
                        CHAP_ALGORITHM_MS => out.push_str(" MS"),
                        CHAP_ALGORITHM_MS_V2 => out.push_str(" MS-v2"),
                        other => {
                            let _ = write!(out, " 0x{other:x}");
                        }
                    }
                }
                (Protocol::CHAP, []) => out.push_str("chap"),
                (other, _) => {
                    let _ = write!(out, "0x{:x}", other.0);
                }
            }
            Ok(())
        }
        LcpOption::Quality { protocol, .. } if protocol == Protocol::LQR => {
            write!(out, "quality lqr")
        }
        LcpOption::Quality { protocol, .. } => write!(out, "quality 0x{:x}", protocol.0),
        LcpOption::MagicNumber(magic) => write!(out, "magic 0x{magic:x}"),
        LcpOption::Pfc => write!(out, "pcomp"),
        LcpOption::Acfc => write!(out, "accomp"),
        LcpOption::Callback { operation: 6, .. } => write!(out, "callback CBCP"),
        LcpOption::Callback { operation, .. } => write!(out, "callback 0x{operation:x}"),
        LcpOption::Mrru(mrru) => write!(out, "mrru {mrru}"),
        LcpOption::ShortSequence => write!(out, "ssnhf"),
        LcpOption::EndpointDiscriminator { class, address } => {
            let _ = write!(out, "endpoint [class {class}");
            for byte in address {
                let _ = write!(out, " {byte:02x}");
            }
            write!(out, "]")
        }
        LcpOption::Unknown(option) => {
            crate::describe::raw_option(&option, out);
            Ok(())
        }
    };
}

/// Our side of LCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpConfig {
    /// Our MRU; requested only when it differs from 1500.
    pub mru: u16,
    /// Server: ask the peer to authenticate with CHAP/MS-CHAPv2.
    pub require_ms_chap_v2: bool,
    /// Client: accept the peer's request that we authenticate with CHAP/MS-CHAPv2.
    pub accept_ms_chap_v2: bool,
}

/// What one side asks for in its Configure-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcpRequest {
    /// Maximum-Receive-Unit.
    pub mru: Option<u16>,
    /// Async-Control-Character-Map.
    pub accm: Option<u32>,
    /// Authentication with CHAP/MS-CHAPv2.
    pub auth_ms_chap_v2: bool,
    /// Magic-Number.
    pub magic: Option<u32>,
    /// Protocol-Field-Compression.
    pub pfc: bool,
    /// Address-and-Control-Field-Compression.
    pub acfc: bool,
}

impl LcpRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        if let Some(mru) = self.mru {
            LcpOption::Mru(mru).encode(out);
        }
        if let Some(map) = self.accm {
            LcpOption::Accm(map).encode(out);
        }
        if self.auth_ms_chap_v2 {
            ConfigOption::encode(OPTION_AUTH_PROTOCOL, &AUTH_CHAP_MS_V2, out);
        }
        if let Some(magic) = self.magic {
            LcpOption::MagicNumber(magic).encode(out);
        }
        if self.pfc {
            LcpOption::Pfc.encode(out);
        }
        if self.acfc {
            LcpOption::Acfc.encode(out);
        }
    }
}

/// The LCP option logic plugged into the automaton.
#[derive(Debug, Clone)]
pub struct LcpOptions {
    config: LcpConfig,
    magic_enabled: bool,
    want: LcpRequest,
    local: LcpRequest,
    peer: LcpRequest,
    magic_naks: u32,
    sent: Vec<u8>,
    failure: Option<Reason>,
}

impl LcpOptions {
    /// Option logic for the given configuration.
    pub fn new(config: LcpConfig) -> Self {
        let mut options = LcpOptions {
            config,
            magic_enabled: true,
            want: LcpRequest::default(),
            local: LcpRequest::default(),
            peer: LcpRequest::default(),
            magic_naks: 0,
            sent: Vec::new(),
            failure: None,
        };
        options.reset();
        options
    }

    /// Our options as the peer acknowledged them.
    pub fn local(&self) -> &LcpRequest {
        &self.local
    }

    /// The peer's options as we acknowledged them.
    pub fn peer(&self) -> &LcpRequest {
        &self.peer
    }

    /// The MRU the peer can receive (1500 unless it announced another).
    pub fn peer_mru(&self) -> u16 {
        self.peer.mru.unwrap_or(DEFAULT_MRU)
    }

    /// Our Magic-Number as acknowledged (0 when not negotiated, RFC 1661 §5.8).
    pub fn local_magic(&self) -> u32 {
        self.local.magic.unwrap_or(0)
    }

    fn draw_magic(rng: &mut dyn RngCore) -> u32 {
        // RFC 1661 §6.4: "A Magic-Number of zero is illegal"; draw again on the unlikely zero.
        for _ in 0..8 {
            let mut bytes = [0u8; 4];
            rng.fill_bytes(&mut bytes);
            let magic = u32::from_be_bytes(bytes);
            if magic != 0 {
                return magic;
            }
        }
        0x5050_5044
    }
}

impl FsmOptions for LcpOptions {
    fn reset(&mut self) {
        self.want = LcpRequest {
            mru: (self.config.mru != DEFAULT_MRU).then_some(self.config.mru),
            accm: Some(0),
            auth_ms_chap_v2: self.config.require_ms_chap_v2,
            magic: None,
            pfc: true,
            acfc: true,
        };
        self.magic_enabled = true;
        self.magic_naks = 0;
    }

    fn build_request(&mut self, rng: &mut dyn RngCore, out: &mut Vec<u8>) {
        if self.magic_enabled && self.want.magic.is_none() {
            self.want.magic = Some(Self::draw_magic(rng));
        }
        let start = out.len();
        self.want.encode(out);
        self.sent = out.get(start..).unwrap_or_default().to_vec();
    }

    fn handle_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
        rng: &mut dyn RngCore,
    ) -> RequestVerdict {
        if self.want.magic.is_some() && options == self.sent.as_slice() {
            // Our own request, random Magic-Number included, came back: the link is looped
            // back (RFC 1661 §6.4). A server would otherwise first see its Authentication-
            // Protocol option rejected by itself and call it a refusal.
            self.failure.get_or_insert(Reason::LoopbackDetected);
        }
        let mut verdict = VerdictBuilder::default();
        let mut peer = LcpRequest::default();
        let mut seen = [false; 256];
        let mut iter = OptionIter::new(options);
        while let Some(item) = iter.next() {
            let Ok(option) = item else {
                // A malformed option: reject it and everything after it (pppd does the same).
                verdict.reject(iter.remainder());
                break;
            };
            let seen_before = seen
                .get_mut(usize::from(option.kind))
                .map(|seen| std::mem::replace(seen, true))
                .unwrap_or(false);
            if seen_before {
                // pppd: "ignoring duplicate configuration option(s)".
                continue;
            }
            match LcpOption::parse(&option) {
                Ok(LcpOption::Mru(mru)) if mru < MIN_MRU => {
                    let mut suggestion = Vec::new();
                    LcpOption::Mru(MIN_MRU).encode(&mut suggestion);
                    verdict.nak(option.raw, &suggestion, reject_if_disagree);
                }
                Ok(LcpOption::Mru(mru)) => peer.mru = Some(mru),
                // RFC 1662 §7.1; on a synchronous link the map has no effect: acknowledge it.
                Ok(LcpOption::Accm(map)) => peer.accm = Some(map),
                Ok(LcpOption::AuthProtocol { protocol, data }) => {
                    if !self.config.accept_ms_chap_v2 {
                        // We never authenticate ourselves as a server: like pppd ("No auth is
                        // possible") the option is Rejected, not Nak'ed.
                        verdict.reject(option.raw);
                    } else if protocol == Protocol::CHAP && data == [CHAP_ALGORITHM_MS_V2] {
                        peer.auth_ms_chap_v2 = true;
                    } else {
                        let mut suggestion = Vec::new();
                        ConfigOption::encode(
                            OPTION_AUTH_PROTOCOL,
                            &AUTH_CHAP_MS_V2,
                            &mut suggestion,
                        );
                        verdict.nak(option.raw, &suggestion, reject_if_disagree);
                    }
                }
                Ok(LcpOption::MagicNumber(magic)) => {
                    // RFC 1661 §6.4: "If the two Magic-Numbers are equal, then it is possible,
                    // but not certain, that the link is looped-back ... a Configure-Nak MUST be
                    // sent specifying a different Magic-Number value." Zero is illegal.
                    if magic == 0 || Some(magic) == self.want.magic {
                        let mut suggestion = Vec::new();
                        LcpOption::MagicNumber(Self::draw_magic(rng)).encode(&mut suggestion);
                        verdict.nak(option.raw, &suggestion, reject_if_disagree);
                    } else {
                        peer.magic = Some(magic);
                    }
                }
                Ok(LcpOption::Pfc) => peer.pfc = true,
                Ok(LcpOption::Acfc) => peer.acfc = true,
                // Quality, Callback, multilink, endpoint, unknown, or a bad length: Reject.
                Ok(_) | Err(_) => verdict.reject(option.raw),
            }
        }
        let verdict = verdict.finish();
        if verdict.is_ack() {
            self.peer = peer;
        }
        verdict
    }

    fn handle_ack(&mut self, _options: &[u8]) {
        self.local = self.want;
        self.magic_naks = 0;
    }

    fn handle_nak(&mut self, options: &[u8], treat_as_reject: bool, rng: &mut dyn RngCore) -> bool {
        let Ok(options) = crate::packet::parse_options(options) else {
            return false;
        };
        let mut magic_nak = false;
        for option in &options {
            match LcpOption::parse(option) {
                Ok(LcpOption::Mru(mru)) if self.want.mru.is_some() || mru < DEFAULT_MRU => {
                    // The peer suggests a smaller MRU for us: take it if it is sane.
                    if treat_as_reject || mru < MIN_MRU {
                        self.want.mru = None;
                    } else if mru <= self.config.mru.max(DEFAULT_MRU) {
                        self.want.mru = Some(mru);
                    }
                }
                Ok(LcpOption::Accm(map)) if self.want.accm.is_some() => {
                    self.want.accm = (!treat_as_reject).then_some(map);
                }
                Ok(LcpOption::AuthProtocol { protocol, data })
                    if self.want.auth_ms_chap_v2
                        && (protocol != Protocol::CHAP || data != [CHAP_ALGORITHM_MS_V2]) =>
                {
                    // We only authenticate peers with MS-CHAPv2 (pppd: "peer refused to
                    // authenticate" once no allowed method is left).
                    self.failure.get_or_insert(Reason::AuthRefused);
                }
                Ok(LcpOption::MagicNumber(_)) if self.want.magic.is_some() => {
                    // RFC 1661 §6.4: on a Nak of our Magic-Number "a new Magic-Number MUST be
                    // chosen"; repeated Naks mean the link is most likely looped back.
                    magic_nak = true;
                    self.magic_naks = self.magic_naks.saturating_add(1);
                    if self.magic_naks >= LOOPBACK_LIMIT {
                        self.failure.get_or_insert(Reason::LoopbackDetected);
                    }
                    self.want.magic = Some(Self::draw_magic(rng));
                }
                Ok(LcpOption::Pfc) if self.want.pfc => self.want.pfc = false,
                Ok(LcpOption::Acfc) if self.want.acfc => self.want.acfc = false,
                // Options we did not ask for: nothing we want to add.
                _ => {}
            }
        }
        if !magic_nak {
            self.magic_naks = 0;
        }
        true
    }

    fn handle_reject(&mut self, options: &[u8]) -> bool {
        for option in OptionIter::new(options).flatten() {
            match option.kind {
                OPTION_MRU => self.want.mru = None,
                OPTION_ACCM => self.want.accm = None,
                OPTION_AUTH_PROTOCOL => {
                    self.failure.get_or_insert(Reason::AuthRefused);
                }
                OPTION_MAGIC_NUMBER => {
                    self.magic_enabled = false;
                    self.want.magic = None;
                }
                OPTION_PFC => self.want.pfc = false,
                OPTION_ACFC => self.want.acfc = false,
                _ => {}
            }
        }
        true
    }

    fn take_failure(&mut self) -> Option<Reason> {
        self.failure.take()
    }
}

/// What an LCP-only packet means for the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpSignal {
    /// The peer Protocol-Rejected one of our protocols.
    ProtocolRejected(Protocol),
}

/// LCP: the automaton plus the LCP-only codes and the Echo keepalive.
#[derive(Debug)]
pub struct Lcp {
    /// The RFC 1661 automaton with the LCP options.
    pub fsm: Fsm<LcpOptions>,
    echo_interval: Option<Duration>,
    echo_failure: u32,
    echo_outstanding: u32,
    echo_deadline: Option<Instant>,
}

impl Lcp {
    /// LCP with the given option and timer configuration; `echo_interval` None disables
    /// keepalives, `echo_failure` 0 never declares the peer dead.
    pub fn new(
        config: LcpConfig,
        fsm: FsmConfig,
        echo_interval: Option<Duration>,
        echo_failure: u32,
    ) -> Self {
        Lcp {
            fsm: Fsm::new(Protocol::LCP, LcpOptions::new(config), fsm),
            echo_interval,
            echo_failure,
            echo_outstanding: 0,
            echo_deadline: None,
        }
    }

    /// Handles an LCP packet; returns what the link must act on.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: &ControlPacket<'_>,
        rng: &mut dyn RngCore,
    ) -> Option<LcpSignal> {
        if self.fsm.handle_packet(now, packet, rng) {
            return None;
        }
        let opened = self.fsm.state() == State::Opened;
        match packet.code {
            Code::PROTOCOL_REJECT => {
                // RFC 1661 §5.7: only meaningful in the Opened state.
                if !opened {
                    return None;
                }
                let protocol = Reader::new(packet.data).u16().ok().map(Protocol)?;
                if protocol == Protocol::LCP {
                    self.fsm.protocol_rejected(now);
                    return None;
                }
                return Some(LcpSignal::ProtocolRejected(protocol));
            }
            Code::ECHO_REQUEST => {
                // RFC 1661 §5.8: "Echo-Request packets received in any state other than the
                // Opened state SHOULD be silently discarded." The reply carries our magic.
                if opened && packet.data.len() >= 4 {
                    let mut reply = self.fsm.options().local_magic().to_be_bytes().to_vec();
                    reply.extend_from_slice(packet.data.get(4..).unwrap_or_default());
                    self.fsm.send(Code::ECHO_REPLY, packet.identifier, &reply);
                }
            }
            Code::ECHO_REPLY => {
                if opened {
                    let magic = Reader::new(packet.data).u32().ok();
                    let ours = self.fsm.options().local_magic();
                    // Our own magic back means a looped link, not a live peer (pppd ignores it).
                    if ours == 0 || magic != Some(ours) {
                        self.echo_outstanding = 0;
                    }
                }
            }
            // Discard-Request, Identification, Time-Remaining: accepted and ignored.
            Code::DISCARD_REQUEST | Code::IDENTIFICATION | Code::TIME_REMAINING => {}
            _ => self.fsm.reject_code(packet),
        }
        None
    }

    /// Starts the keepalive (LCP reached Opened).
    pub fn start_echo(&mut self, now: Instant) {
        self.echo_outstanding = 0;
        self.echo_deadline = self
            .echo_interval
            .map(|interval| crate::timer::deadline(now, interval));
    }

    /// Stops the keepalive.
    pub fn stop_echo(&mut self) {
        self.echo_deadline = None;
    }

    /// When the next Echo-Request is due.
    pub fn echo_timeout(&self) -> Option<Instant> {
        self.echo_deadline
    }

    /// The keepalive timer fired: sends an Echo-Request, or returns `false` when
    /// `echo_failure` requests in a row went unanswered (pppd: "No response to N
    /// echo-requests").
    pub fn handle_echo_timeout(&mut self, now: Instant) -> bool {
        if self.fsm.state() != State::Opened {
            self.echo_deadline = None;
            return true;
        }
        if self.echo_failure > 0 && self.echo_outstanding >= self.echo_failure {
            self.echo_deadline = None;
            return false;
        }
        let identifier = self.fsm.next_identifier();
        let magic = self.fsm.options().local_magic().to_be_bytes();
        self.fsm.send(Code::ECHO_REQUEST, identifier, &magic);
        self.echo_outstanding = self.echo_outstanding.saturating_add(1);
        self.echo_deadline = self
            .echo_interval
            .map(|interval| crate::timer::deadline(now, interval));
        true
    }

    /// Sends a Protocol-Reject for a frame of an unsupported protocol (RFC 1661 §5.7),
    /// truncated to the peer's MRU.
    pub fn reject_protocol(&mut self, protocol: Protocol, payload: &[u8]) {
        if self.fsm.state() != State::Opened {
            return;
        }
        let limit = usize::from(self.fsm.options().peer_mru())
            .saturating_sub(crate::packet::HEADER_LEN + 2);
        let mut data = protocol.0.to_be_bytes().to_vec();
        data.extend_from_slice(payload.get(..limit.min(payload.len())).unwrap_or(payload));
        let identifier = self.fsm.next_identifier();
        self.fsm.send(Code::PROTOCOL_REJECT, identifier, &data);
    }
}
