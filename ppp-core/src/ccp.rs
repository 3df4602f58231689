//! Compression Control Protocol (RFC 1962) carrying the MPPE option (RFC 3078 §2), negotiated
//! the way pppd's `ccp.c` does it.
//!
//! The MPPE option (type 18) holds 32 bits: H 0x01000000 stateless, M 0x80 56-bit, S 0x40
//! 128-bit, L 0x20 40-bit, D 0x10 obsolete, C 0x01 MPPC. We request every strength the policy
//! allows with H set (pppd always asks for stateless; a peer's stateful request is accepted only
//! when `allow_stateful`). A peer request offering several strengths, or D/C/unknown bits, or
//! stateful mode we do not allow, is Nak'ed down to one strength with H, as RFC 3078 §2
//! describes ("the receiving peer ... MUST send a Configure-Nak containing ... a single
//! encryption-strength bit"). A request with no strength we allow is Rejected, and when MPPE is
//! required that ends the link (pppd: "MPPE required but peer negotiation failed"). Every other
//! CCP option (Deflate, BSD-Compress, Predictor, MPPC-only ...) is Rejected.

use std::fmt;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::error::OptionError;
use crate::frame::Protocol;
use crate::fsm::{Fsm, FsmConfig, FsmOptions, RequestVerdict, State, VerdictBuilder};
use crate::packet::{Code, ConfigOption, ControlPacket, Identifier, OptionIter};
use crate::reason::Reason;

pub use mschap::MppeStrength;

/// CCP option type: Microsoft Point-to-Point Encryption/Compression (RFC 3078 §2).
pub const OPTION_MPPE: u8 = 18;
/// How long a Reset-Request waits for its Reset-Ack before another may be sent (pppd: 1 s).
pub const RESET_ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// The 32 supported-bits of the MPPE option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MppeBits(pub u32);

impl MppeBits {
    /// H: stateless mode.
    pub const STATELESS: u32 = 0x0100_0000;
    /// M: 56-bit keys.
    pub const BITS_56: u32 = 0x80;
    /// S: 128-bit keys.
    pub const BITS_128: u32 = 0x40;
    /// L: 40-bit keys.
    pub const BITS_40: u32 = 0x20;
    /// D: obsolete, must be clear.
    pub const OBSOLETE: u32 = 0x10;
    /// C: MPPC compression.
    pub const MPPC: u32 = 0x01;
    /// All three strengths.
    pub const STRENGTHS: u32 = Self::BITS_128 | Self::BITS_56 | Self::BITS_40;

    /// Whether stateless mode (H) is set.
    pub fn stateless(self) -> bool {
        self.0 & Self::STATELESS != 0
    }

    /// The strength bits.
    pub fn strengths(self) -> u32 {
        self.0 & Self::STRENGTHS
    }

    /// Bits we do not implement or RFC 3078 does not define (D, C, and the rest).
    pub fn unsupported(self) -> u32 {
        self.0 & !(Self::STATELESS | Self::STRENGTHS)
    }

    /// The strongest strength set (128 over 56 over 40).
    pub fn strongest(self) -> Option<MppeStrength> {
        if self.0 & Self::BITS_128 != 0 {
            Some(MppeStrength::Bits128)
        } else if self.0 & Self::BITS_56 != 0 {
            Some(MppeStrength::Bits56)
        } else if self.0 & Self::BITS_40 != 0 {
            Some(MppeStrength::Bits40)
        } else {
            None
        }
    }

    /// The bit of one strength.
    pub fn strength_bit(strength: MppeStrength) -> u32 {
        match strength {
            MppeStrength::Bits128 => Self::BITS_128,
            MppeStrength::Bits56 => Self::BITS_56,
            MppeStrength::Bits40 => Self::BITS_40,
        }
    }
}

impl fmt::Display for MppeBits {
    /// pppd's rendering: `mppe +H -M +S -L -D -C`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |bit: u32, name: char| {
            let sign = if self.0 & bit != 0 { '+' } else { '-' };
            format!("{sign}{name}")
        };
        write!(
            f,
            "mppe {} {} {} {} {} {}",
            flag(Self::STATELESS, 'H'),
            flag(Self::BITS_56, 'M'),
            flag(Self::BITS_128, 'S'),
            flag(Self::BITS_40, 'L'),
            flag(Self::OBSOLETE, 'D'),
            flag(Self::MPPC, 'C'),
        )?;
        let unknown = self.0 & !(Self::STATELESS | Self::STRENGTHS | Self::OBSOLETE | Self::MPPC);
        if unknown != 0 {
            write!(f, " +U ({:08x})", self.0)?;
        }
        Ok(())
    }
}

/// A decoded CCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcpOption<'a> {
    /// The MPPE/MPPC option.
    Mppe(MppeBits),
    /// Any other compression method (kept to be Rejected as received).
    Other(ConfigOption<'a>),
}

impl<'a> CcpOption<'a> {
    /// Interprets a raw option.
    pub fn parse(option: &ConfigOption<'a>) -> Result<Self, OptionError> {
        match option.kind {
            OPTION_MPPE => Ok(CcpOption::Mppe(MppeBits(u32::from_be_bytes(
                option.fixed()?,
            )))),
            _ => Ok(CcpOption::Other(*option)),
        }
    }

    /// Appends the encoded option.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CcpOption::Mppe(bits) => ConfigOption::encode(OPTION_MPPE, &bits.0.to_be_bytes(), out),
            CcpOption::Other(option) => ConfigOption::encode(option.kind, option.data, out),
        }
    }
}

/// Appends pppd's rendering of one CCP option.
pub(crate) fn describe_option(option: &ConfigOption<'_>, out: &mut String) {
    match CcpOption::parse(option) {
        Ok(CcpOption::Mppe(bits)) => out.push_str(&bits.to_string()),
        _ => {
            let name = match option.kind {
                1 => Some("predictor 1"),
                2 => Some("predictor 2"),
                21 => Some("bsd"),
                24 => Some("deflate(old#)"),
                26 => Some("deflate"),
                _ => None,
            };
            match name {
                Some(name) => {
                    out.push_str(name);
                    for byte in option.data {
                        out.push_str(&format!(" {byte:02x}"));
                    }
                }
                None => crate::describe::raw_option(option, out),
            }
        }
    }
}

/// What MPPE we accept, after pppd's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MppePolicy {
    /// Close the link unless MPPE comes up (`require-mppe*`); no cleartext ever flows.
    pub required: bool,
    /// Allow 128-bit keys.
    pub allow_128: bool,
    /// Allow 56-bit keys.
    pub allow_56: bool,
    /// Allow 40-bit keys.
    pub allow_40: bool,
    /// Accept stateful mode when the peer asks for it (`mppe-stateful`).
    pub allow_stateful: bool,
}

impl MppePolicy {
    /// `nomppe`: no CCP at all (the link Protocol-Rejects CCP).
    pub fn disabled() -> Self {
        MppePolicy {
            required: false,
            allow_128: false,
            allow_56: false,
            allow_40: false,
            allow_stateful: false,
        }
    }

    /// `require-mppe-128`: the poptop default of the capture.
    pub fn require_128() -> Self {
        MppePolicy {
            required: true,
            allow_128: true,
            ..Self::disabled()
        }
    }

    /// `require-mppe`: any strength, stateless.
    pub fn require_any() -> Self {
        MppePolicy {
            required: true,
            allow_128: true,
            allow_56: true,
            allow_40: true,
            allow_stateful: false,
        }
    }

    /// MPPE offered and accepted but not required.
    pub fn optional() -> Self {
        MppePolicy {
            required: false,
            ..Self::require_any()
        }
    }

    /// The strength bits this policy allows.
    pub fn allowed_strengths(&self) -> u32 {
        let mut bits = 0;
        if self.allow_128 {
            bits |= MppeBits::BITS_128;
        }
        if self.allow_56 {
            bits |= MppeBits::BITS_56;
        }
        if self.allow_40 {
            bits |= MppeBits::BITS_40;
        }
        bits
    }

    /// Whether CCP runs at all.
    pub fn enabled(&self) -> bool {
        self.allowed_strengths() != 0
    }

    /// The single-strength, stateless value we Nak a peer to.
    fn preferred(&self) -> MppeBits {
        let strongest = MppeBits(self.allowed_strengths()).strongest();
        MppeBits(strongest.map(MppeBits::strength_bit).unwrap_or(0) | MppeBits::STATELESS)
    }
}

/// The MPPE parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MppeAgreement {
    /// Key strength.
    pub strength: MppeStrength,
    /// Stateless mode (a re-key before every packet).
    pub stateless: bool,
}

/// The MPPE outcome of an opened CCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MppeNegotiation {
    /// Neither direction uses MPPE.
    Off,
    /// Both directions use MPPE with these parameters.
    Agreed(MppeAgreement),
    /// One direction only, or different strengths or modes.
    Mismatch,
}

/// The CCP option logic.
#[derive(Debug, Clone)]
pub struct CcpOptions {
    policy: MppePolicy,
    want: Option<MppeBits>,
    local: Option<MppeBits>,
    peer: Option<MppeBits>,
    failure: Option<Reason>,
}

impl CcpOptions {
    /// Option logic for `policy`.
    pub fn new(policy: MppePolicy) -> Self {
        let mut options = CcpOptions {
            policy,
            want: None,
            local: None,
            peer: None,
            failure: None,
        };
        options.reset();
        options
    }

    /// Our MPPE option as the peer acknowledged it.
    pub fn local(&self) -> Option<MppeBits> {
        self.local
    }

    /// The peer's MPPE option as we acknowledged it.
    pub fn peer(&self) -> Option<MppeBits> {
        self.peer
    }

    /// What was agreed once CCP is Opened. We require the same strength and mode in both
    /// directions, like pppd's symmetric MPPE options.
    pub fn negotiation(&self) -> MppeNegotiation {
        match (self.local, self.peer) {
            (None, None) => MppeNegotiation::Off,
            (Some(local), Some(peer)) => {
                let common = MppeBits(local.strengths() & peer.strengths());
                match common.strongest() {
                    Some(strength) if local.stateless() == peer.stateless() => {
                        MppeNegotiation::Agreed(MppeAgreement {
                            strength,
                            stateless: local.stateless(),
                        })
                    }
                    _ => MppeNegotiation::Mismatch,
                }
            }
            _ => MppeNegotiation::Mismatch,
        }
    }

    fn refuse(&mut self) {
        if self.policy.required {
            self.failure.get_or_insert(Reason::MppeRefused);
        }
    }

    /// Whether `bits` (from a peer's Nak of our request) is something we can use.
    fn acceptable(&self, bits: MppeBits) -> bool {
        bits.unsupported() == 0
            && bits.strengths() != 0
            && bits.strengths() & !self.policy.allowed_strengths() == 0
            && (bits.stateless() || self.policy.allow_stateful)
    }
}

impl FsmOptions for CcpOptions {
    fn reset(&mut self) {
        let strengths = self.policy.allowed_strengths();
        self.want = (strengths != 0).then_some(MppeBits(strengths | MppeBits::STATELESS));
        self.local = None;
        self.peer = None;
    }

    fn build_request(&mut self, _rng: &mut dyn RngCore, out: &mut Vec<u8>) {
        if let Some(bits) = self.want {
            CcpOption::Mppe(bits).encode(out);
        }
    }

    fn handle_request(
        &mut self,
        options: &[u8],
        reject_if_disagree: bool,
        _rng: &mut dyn RngCore,
    ) -> RequestVerdict {
        let mut verdict = VerdictBuilder::default();
        let mut accepted = None;
        let mut saw_mppe = false;
        let mut iter = OptionIter::new(options);
        while let Some(item) = iter.next() {
            let Ok(option) = item else {
                verdict.reject(iter.remainder());
                break;
            };
            let Ok(CcpOption::Mppe(bits)) = CcpOption::parse(&option) else {
                verdict.reject(option.raw);
                continue;
            };
            if saw_mppe {
                continue;
            }
            saw_mppe = true;
            let allowed = self.policy.allowed_strengths();
            let offered = bits.strengths();
            if offered != 0 && offered & allowed == 0 {
                // Only strengths we refuse: pppd Rejects, and ends the link if MPPE is required.
                verdict.reject(option.raw);
                self.refuse();
                continue;
            }
            let mut suggestion = MppeBits(bits.0 & (MppeBits::STATELESS | MppeBits::STRENGTHS));
            if !bits.stateless() && !self.policy.allow_stateful {
                suggestion.0 |= MppeBits::STATELESS;
            }
            let strength = MppeBits(offered & allowed)
                .strongest()
                .or(MppeBits(allowed).strongest());
            suggestion.0 = (suggestion.0 & !MppeBits::STRENGTHS)
                | strength.map(MppeBits::strength_bit).unwrap_or(0);
            if suggestion == bits {
                accepted = Some(bits);
            } else {
                let mut nak = Vec::new();
                CcpOption::Mppe(suggestion).encode(&mut nak);
                verdict.nak(option.raw, &nak, reject_if_disagree);
                if reject_if_disagree {
                    self.refuse();
                }
            }
        }
        if !saw_mppe && self.policy.required && !reject_if_disagree && !verdict.has_rejects() {
            // The peer asks for no MPPE at all: suggest ours (RFC 1661 §5.3 lets a Nak
            // include options the peer did not send).
            let mut nak = Vec::new();
            CcpOption::Mppe(self.policy.preferred()).encode(&mut nak);
            verdict.nak(&[], &nak, false);
        }
        let verdict = verdict.finish();
        if verdict.is_ack() {
            self.peer = accepted;
        }
        verdict
    }

    fn handle_ack(&mut self, _options: &[u8]) {
        self.local = self.want;
    }

    fn handle_nak(
        &mut self,
        options: &[u8],
        treat_as_reject: bool,
        _rng: &mut dyn RngCore,
    ) -> bool {
        let Ok(options) = crate::packet::parse_options(options) else {
            return false;
        };
        for option in &options {
            let Ok(CcpOption::Mppe(bits)) = CcpOption::parse(option) else {
                continue;
            };
            if self.want.is_none() {
                continue;
            }
            if treat_as_reject || !self.acceptable(bits) {
                // pppd: "MPPE required but peer negotiation failed".
                self.want = None;
                self.refuse();
            } else {
                self.want = Some(bits);
            }
        }
        true
    }

    fn handle_reject(&mut self, options: &[u8]) -> bool {
        for option in OptionIter::new(options).flatten() {
            if option.kind == OPTION_MPPE {
                // pppd: "MPPE required but peer refused".
                self.want = None;
                self.refuse();
            }
        }
        true
    }

    fn take_failure(&mut self) -> Option<Reason> {
        self.failure.take()
    }
}

/// What a CCP-only packet means for the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcpSignal {
    /// The peer's decryptor lost sync (stateful mode): our encryptor must flush.
    ResetRequested,
}

/// CCP: the automaton plus Reset-Request/Reset-Ack (RFC 1962 §1.2).
#[derive(Debug)]
pub struct Ccp {
    /// The RFC 1661 automaton with the CCP options.
    pub fsm: Fsm<CcpOptions>,
    reset_pending: Option<(Identifier, Instant)>,
}

impl Ccp {
    /// CCP under `policy`.
    pub fn new(policy: MppePolicy, fsm: FsmConfig) -> Self {
        Ccp {
            fsm: Fsm::new(Protocol::CCP, CcpOptions::new(policy), fsm),
            reset_pending: None,
        }
    }

    /// Handles a CCP packet.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: &ControlPacket<'_>,
        rng: &mut dyn RngCore,
    ) -> Option<CcpSignal> {
        if self.fsm.handle_packet(now, packet, rng) {
            return None;
        }
        match packet.code {
            Code::RESET_REQUEST => {
                if self.fsm.state() == State::Opened {
                    // "send a reset-ack, which the transmitter will see and reset its state".
                    self.fsm.send(Code::RESET_ACK, packet.identifier, &[]);
                    return Some(CcpSignal::ResetRequested);
                }
            }
            Code::RESET_ACK => {
                if matches!(self.reset_pending, Some((id, _)) if id == packet.identifier) {
                    self.reset_pending = None;
                }
            }
            _ => self.fsm.reject_code(packet),
        }
        None
    }

    /// Sends a Reset-Request (our decryptor lost sync), unless one is still waiting for its
    /// Reset-Ack.
    pub fn request_reset(&mut self, now: Instant) {
        if self.fsm.state() != State::Opened {
            return;
        }
        if matches!(self.reset_pending, Some((_, sent)) if now < sent + RESET_ACK_TIMEOUT) {
            return;
        }
        let identifier = self.fsm.next_identifier();
        self.fsm.send(Code::RESET_REQUEST, identifier, &[]);
        self.reset_pending = Some((identifier, now));
    }
}
