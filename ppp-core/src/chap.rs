//! CHAP (RFC 1994) with the MS-CHAPv2 algorithm (RFC 2759): the packet codec, the
//! authenticator (server) side and, for our own tests and a future client, the peer side.
//!
//! Server: once LCP is Opened (a pppd client discards CHAP before that) we send a Challenge of
//! 16 random octets with our name, retransmitted on the restart timer up to 10 times (pppd's
//! `chap-max-challenge`). Like pppd's `chap_server_timeout` we retransmit the very same packet,
//! Identifier included, although RFC 1994 §4.1 says "The Identifier field MUST be changed each
//! time a Challenge is sent": a pppd client caches its MS-CHAPv2 response per (Identifier,
//! challenge) and derives its MPPE keys from the last response it computed, so a new
//! Identifier would make it compute a second response and, if the Success for the first one
//! arrives, key MPPE differently from us. The Response's Name is the user name; its NT
//! password hash comes from [`Secrets`], asked at each authentication. A good response gets
//! `S=<authenticator response> M=Access granted`, a bad one `E=691 R=1 C=<challenge> V=0
//! M=Access denied`; a duplicate Response for the same Identifier gets the same answer again
//! (pppd does this for clients whose Success was lost).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::error::ChapError;
use crate::packet::{ControlPacket, Identifier, Reader};

/// Length of an MS-CHAPv2 challenge (RFC 2759 §4).
pub const CHALLENGE_LEN: usize = 16;
/// Length of an MS-CHAPv2 Response value (RFC 2759 §4: 16 + 8 + 24 + 1).
pub const RESPONSE_VALUE_LEN: usize = 49;
/// Challenges sent before giving up (pppd's `chap-max-challenge`).
pub const MAX_CHALLENGES: u32 = 10;

/// Where the authenticator finds the NT password hash (MD4 of the UTF-16LE password) of a user.
///
/// Passed to each [`crate::Link::handle_frame`] call, so the daemon may re-read its secrets
/// file at each authentication.
pub trait Secrets {
    /// The NT password hash of `user` (the Name of the peer's Response), if the user exists.
    fn password_hash(&self, user: &[u8]) -> Option<[u8; 16]>;
}

impl<F> Secrets for F
where
    F: Fn(&[u8]) -> Option<[u8; 16]>,
{
    fn password_hash(&self, user: &[u8]) -> Option<[u8; 16]> {
        self(user)
    }
}

/// A CHAP Code (RFC 1994 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChapCode(pub u8);

impl ChapCode {
    /// Challenge.
    pub const CHALLENGE: ChapCode = ChapCode(1);
    /// Response.
    pub const RESPONSE: ChapCode = ChapCode(2);
    /// Success.
    pub const SUCCESS: ChapCode = ChapCode(3);
    /// Failure.
    pub const FAILURE: ChapCode = ChapCode(4);
}

/// A decoded CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChapPacket<'a> {
    /// Challenge: a value and the authenticator's name.
    Challenge {
        /// Identifier.
        identifier: Identifier,
        /// The challenge value.
        value: &'a [u8],
        /// The authenticator's name.
        name: &'a [u8],
    },
    /// Response: a value and the peer's (user) name.
    Response {
        /// Identifier (that of the Challenge).
        identifier: Identifier,
        /// The response value.
        value: &'a [u8],
        /// The user name.
        name: &'a [u8],
    },
    /// Success with a message.
    Success {
        /// Identifier (that of the Response).
        identifier: Identifier,
        /// The message (for MS-CHAPv2 `S=... M=...`).
        message: &'a [u8],
    },
    /// Failure with a message.
    Failure {
        /// Identifier (that of the Response).
        identifier: Identifier,
        /// The message (for MS-CHAPv2 `E=... R=... C=... V=... M=...`).
        message: &'a [u8],
    },
}

impl<'a> ChapPacket<'a> {
    /// Decodes the payload of a CHAP frame.
    pub fn decode(payload: &'a [u8]) -> Result<Self, ChapError> {
        let packet = ControlPacket::decode(payload)?;
        let identifier = packet.identifier;
        match ChapCode(packet.code.0) {
            ChapCode::CHALLENGE | ChapCode::RESPONSE => {
                let what = if packet.code.0 == 1 {
                    "Challenge"
                } else {
                    "Response"
                };
                let mut reader = Reader::new(packet.data);
                let size = reader.u8().map_err(|_| ChapError::MissingValueSize(what))?;
                let available = reader.remaining();
                let value = reader
                    .take(usize::from(size))
                    .map_err(|_| ChapError::ValueOverrun { size, available })?;
                let name = reader.rest();
                Ok(if packet.code.0 == 1 {
                    ChapPacket::Challenge {
                        identifier,
                        value,
                        name,
                    }
                } else {
                    ChapPacket::Response {
                        identifier,
                        value,
                        name,
                    }
                })
            }
            ChapCode::SUCCESS => Ok(ChapPacket::Success {
                identifier,
                message: packet.data,
            }),
            ChapCode::FAILURE => Ok(ChapPacket::Failure {
                identifier,
                message: packet.data,
            }),
            ChapCode(other) => Err(ChapError::UnknownCode(other)),
        }
    }

    /// The Identifier.
    pub fn identifier(&self) -> Identifier {
        match self {
            ChapPacket::Challenge { identifier, .. }
            | ChapPacket::Response { identifier, .. }
            | ChapPacket::Success { identifier, .. }
            | ChapPacket::Failure { identifier, .. } => *identifier,
        }
    }

    /// Appends the encoded packet (without the PPP header) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        let code = match self {
            ChapPacket::Challenge { value, name, .. }
            | ChapPacket::Response { value, name, .. } => {
                let value = value.get(..usize::from(u8::MAX)).unwrap_or(value);
                data.push(value.len() as u8);
                data.extend_from_slice(value);
                data.extend_from_slice(name);
                if matches!(self, ChapPacket::Challenge { .. }) {
                    ChapCode::CHALLENGE
                } else {
                    ChapCode::RESPONSE
                }
            }
            ChapPacket::Success { message, .. } => {
                data.extend_from_slice(message);
                ChapCode::SUCCESS
            }
            ChapPacket::Failure { message, .. } => {
                data.extend_from_slice(message);
                ChapCode::FAILURE
            }
        };
        ControlPacket::encode(crate::packet::Code(code.0), self.identifier(), &data, out);
    }

    /// Encodes into a fresh vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// The MS-CHAPv2 Response value (RFC 2759 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV2Response {
    /// Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// Reserved, zero.
    pub reserved: [u8; 8],
    /// NT-Response.
    pub nt_response: [u8; 24],
    /// Flags, zero (Windows 98 sets 0x04).
    pub flags: u8,
}

impl MsChapV2Response {
    /// Parses a 49-octet Response value.
    pub fn parse(value: &[u8]) -> Result<Self, ChapError> {
        if value.len() != RESPONSE_VALUE_LEN {
            return Err(ChapError::BadValueSize {
                got: value.len(),
                expected: RESPONSE_VALUE_LEN,
            });
        }
        let mut reader = Reader::new(value);
        Ok(MsChapV2Response {
            peer_challenge: reader.array()?,
            reserved: reader.array()?,
            nt_response: reader.array()?,
            flags: reader.u8()?,
        })
    }

    /// The 49-octet value.
    pub fn to_bytes(&self) -> [u8; RESPONSE_VALUE_LEN] {
        let mut out = [0u8; RESPONSE_VALUE_LEN];
        let parts = self
            .peer_challenge
            .iter()
            .chain(&self.reserved)
            .chain(&self.nt_response)
            .chain(std::iter::once(&self.flags));
        for (slot, byte) in out.iter_mut().zip(parts) {
            *slot = *byte;
        }
        out
    }
}

/// The user name that enters the MS-CHAPv2 hashes: RFC 2759 §8.2 ChallengeHash takes "the user
/// name ... excluding any prepended domain name", i.e. what follows the last backslash.
pub fn user_name_for_hash(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|byte| *byte == b'\\') {
        Some(position) => name.get(position + 1..).unwrap_or_default(),
        None => name,
    }
}

/// The authenticator's decision, for the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChapOutcome {
    /// The peer proved it knows the password; the material MPPE keys derive from.
    Authenticated {
        /// The user name, as the peer sent it.
        user: String,
        /// The user's NT password hash.
        password_hash: [u8; 16],
        /// The NT-Response the peer sent.
        nt_response: [u8; 24],
    },
    /// Unknown user or wrong response; a Failure was sent.
    Failed {
        /// The user name, as the peer sent it.
        user: String,
    },
    /// No Response after [`MAX_CHALLENGES`] Challenges.
    TimedOut,
}

#[derive(Debug, Clone)]
enum ServerState {
    Idle,
    Challenging {
        identifier: Identifier,
        challenge: [u8; CHALLENGE_LEN],
        transmissions: u32,
    },
    Done {
        identifier: Identifier,
        success: bool,
        message: Vec<u8>,
    },
}

/// The CHAP authenticator (server) with MS-CHAPv2.
#[derive(Debug)]
pub struct ChapAuthenticator {
    name: Vec<u8>,
    restart_interval: Duration,
    max_challenges: u32,
    state: ServerState,
    deadline: Option<Instant>,
    transmit: VecDeque<Vec<u8>>,
}

impl ChapAuthenticator {
    /// An authenticator that calls itself `name` (pppd's `name`).
    pub fn new(name: &str, restart_interval: Duration, max_challenges: u32) -> Self {
        ChapAuthenticator {
            name: name.as_bytes().to_vec(),
            restart_interval,
            max_challenges: max_challenges.max(1),
            state: ServerState::Idle,
            deadline: None,
            transmit: VecDeque::new(),
        }
    }

    /// Starts authentication: draws the Identifier (1 octet) then the challenge (16 octets)
    /// from `rng`, in that order, and sends the Challenge.
    pub fn start(&mut self, now: Instant, rng: &mut dyn RngCore) {
        let mut identifier = [0u8; 1];
        rng.fill_bytes(&mut identifier);
        let [identifier] = identifier;
        let mut challenge = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut challenge);
        self.state = ServerState::Challenging {
            identifier: Identifier(identifier),
            challenge,
            transmissions: 0,
        };
        self.send_challenge(now);
    }

    /// Stops any retransmission (the link is going down).
    pub fn stop(&mut self) {
        self.deadline = None;
        if matches!(self.state, ServerState::Challenging { .. }) {
            self.state = ServerState::Idle;
        }
    }

    /// The retransmission deadline.
    pub fn timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next CHAP packet to send (without the PPP header).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The retransmission timer fired.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<ChapOutcome> {
        match self.deadline {
            Some(deadline) if deadline <= now => self.deadline = None,
            _ => return None,
        }
        let ServerState::Challenging { transmissions, .. } = &self.state else {
            return None;
        };
        if *transmissions >= self.max_challenges {
            self.state = ServerState::Idle;
            return Some(ChapOutcome::TimedOut);
        }
        self.send_challenge(now);
        None
    }

    /// A received CHAP packet; only Responses matter to the authenticator.
    pub fn handle_packet(
        &mut self,
        packet: &ChapPacket<'_>,
        secrets: &dyn Secrets,
    ) -> Option<ChapOutcome> {
        let ChapPacket::Response {
            identifier: response_identifier,
            value,
            name,
        } = *packet
        else {
            return None;
        };
        match &self.state {
            ServerState::Challenging {
                identifier,
                challenge,
                ..
            } if *identifier == response_identifier => {
                let challenge = *challenge;
                let (outcome, message) = self.judge(&challenge, value, name, secrets);
                let success = matches!(outcome, ChapOutcome::Authenticated { .. });
                self.send_reply(response_identifier, success, &message);
                self.deadline = None;
                self.state = ServerState::Done {
                    identifier: response_identifier,
                    success,
                    message,
                };
                Some(outcome)
            }
            ServerState::Done {
                identifier,
                success,
                message,
            } if *identifier == response_identifier => {
                // pppd answers a repeated Response with the same Success/Failure.
                let (success, message) = (*success, message.clone());
                self.send_reply(response_identifier, success, &message);
                None
            }
            // A Response before we challenged, or to another Identifier: discard.
            _ => None,
        }
    }

    fn send_reply(&mut self, identifier: Identifier, success: bool, message: &[u8]) {
        let packet = if success {
            ChapPacket::Success {
                identifier,
                message,
            }
        } else {
            ChapPacket::Failure {
                identifier,
                message,
            }
        };
        self.transmit.push_back(packet.to_vec());
    }

    fn judge(
        &self,
        challenge: &[u8; CHALLENGE_LEN],
        value: &[u8],
        name: &[u8],
        secrets: &dyn Secrets,
    ) -> (ChapOutcome, Vec<u8>) {
        let user = String::from_utf8_lossy(name).into_owned();
        let failed = || {
            (
                ChapOutcome::Failed { user: user.clone() },
                mschap::failure_message(challenge).into_bytes(),
            )
        };
        let Ok(response) = MsChapV2Response::parse(value) else {
            return failed();
        };
        // Look the name up as sent; a `DOMAIN\user` name falls back to the bare user.
        let hash_name = user_name_for_hash(name);
        let Some(password_hash) = secrets
            .password_hash(name)
            .or_else(|| (hash_name != name).then(|| secrets.password_hash(hash_name))?)
        else {
            return failed();
        };
        if !mschap::verify_nt_response(
            challenge,
            &response.peer_challenge,
            hash_name,
            &password_hash,
            &response.nt_response,
        ) {
            return failed();
        }
        let authenticator = mschap::authenticator_response(
            &password_hash,
            &response.nt_response,
            &response.peer_challenge,
            challenge,
            hash_name,
        );
        // pppd: Windows 98 sets Flags and rejects the " M=" part, so it gets "S=..." alone.
        let message = if response.flags == 0 {
            mschap::success_message(&authenticator)
        } else {
            let mut message = String::from("S=");
            for byte in authenticator {
                let _ = write!(message, "{byte:02X}");
            }
            message
        };
        (
            ChapOutcome::Authenticated {
                user,
                password_hash,
                nt_response: response.nt_response,
            },
            message.into_bytes(),
        )
    }

    fn send_challenge(&mut self, now: Instant) {
        let ServerState::Challenging {
            identifier,
            challenge,
            transmissions,
            ..
        } = &mut self.state
        else {
            return;
        };
        *transmissions = transmissions.saturating_add(1);
        let packet = ChapPacket::Challenge {
            identifier: *identifier,
            value: challenge,
            name: &self.name,
        };
        self.transmit.push_back(packet.to_vec());
        self.deadline = Some(crate::timer::deadline(now, self.restart_interval));
    }
}

/// The peer's (client's) result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChapPeerOutcome {
    /// Success with a valid authenticator response (mutual authentication).
    Succeeded {
        /// Our NT password hash.
        password_hash: [u8; 16],
        /// The NT-Response we sent.
        nt_response: [u8; 24],
    },
    /// Failure, or a Success whose `S=` value does not prove the server knows our password.
    Failed,
}

#[derive(Debug, Clone)]
enum PeerState {
    Waiting,
    Responded {
        identifier: Identifier,
        challenge: [u8; CHALLENGE_LEN],
        packet: Vec<u8>,
        expected: [u8; 20],
        nt_response: [u8; 24],
        transmissions: u32,
    },
    Done,
}

/// The CHAP peer (client) side with MS-CHAPv2.
#[derive(Debug)]
pub struct ChapPeer {
    user: String,
    password_hash: [u8; 16],
    restart_interval: Duration,
    max_transmissions: u32,
    state: PeerState,
    deadline: Option<Instant>,
    transmit: VecDeque<Vec<u8>>,
}

impl ChapPeer {
    /// A peer that authenticates as `user` with `password`.
    pub fn new(
        user: &str,
        password: &str,
        restart_interval: Duration,
        max_transmissions: u32,
    ) -> Self {
        ChapPeer {
            user: user.to_owned(),
            password_hash: mschap::nt_password_hash(password),
            restart_interval,
            max_transmissions: max_transmissions.max(1),
            state: PeerState::Waiting,
            deadline: None,
            transmit: VecDeque::new(),
        }
    }

    /// The retransmission deadline of our Response.
    pub fn timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Stops retransmitting.
    pub fn stop(&mut self) {
        self.deadline = None;
    }

    /// The next CHAP packet to send (without the PPP header).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Retransmits our Response, as Windows clients do, until the server answers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(deadline) if deadline <= now => self.deadline = None,
            _ => return,
        }
        if let PeerState::Responded {
            packet,
            transmissions,
            ..
        } = &mut self.state
            && *transmissions < self.max_transmissions
        {
            *transmissions += 1;
            self.transmit.push_back(packet.clone());
            self.deadline = Some(crate::timer::deadline(now, self.restart_interval));
        }
    }

    /// A received CHAP packet. A Challenge draws the 16-octet Peer-Challenge from `rng`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: &ChapPacket<'_>,
        rng: &mut dyn RngCore,
    ) -> Option<ChapPeerOutcome> {
        match *packet {
            ChapPacket::Challenge {
                identifier, value, ..
            } => {
                if matches!(self.state, PeerState::Done) {
                    return None;
                }
                let Ok(challenge) = <[u8; CHALLENGE_LEN]>::try_from(value) else {
                    return None;
                };
                if let PeerState::Responded {
                    identifier: ours,
                    challenge: answered,
                    packet,
                    ..
                } = &self.state
                    && *ours == identifier
                    && *answered == challenge
                {
                    // A duplicate of the Challenge we answered: the same Response again, so
                    // that the server's Success still matches what we expect.
                    self.transmit.push_back(packet.clone());
                    return None;
                }
                let mut peer_challenge = [0u8; 16];
                rng.fill_bytes(&mut peer_challenge);
                let user = user_name_for_hash(self.user.as_bytes());
                let nt_response = mschap::generate_nt_response(
                    &challenge,
                    &peer_challenge,
                    user,
                    &self.password_hash,
                );
                let expected = mschap::authenticator_response(
                    &self.password_hash,
                    &nt_response,
                    &peer_challenge,
                    &challenge,
                    user,
                );
                let value = MsChapV2Response {
                    peer_challenge,
                    reserved: [0; 8],
                    nt_response,
                    flags: 0,
                }
                .to_bytes();
                let packet = ChapPacket::Response {
                    identifier,
                    value: &value,
                    name: self.user.as_bytes(),
                }
                .to_vec();
                self.transmit.push_back(packet.clone());
                self.deadline = Some(crate::timer::deadline(now, self.restart_interval));
                self.state = PeerState::Responded {
                    identifier,
                    challenge,
                    packet,
                    expected,
                    nt_response,
                    transmissions: 1,
                };
                None
            }
            ChapPacket::Success {
                identifier,
                message,
            } => {
                let PeerState::Responded {
                    identifier: ours,
                    expected,
                    nt_response,
                    ..
                } = &self.state
                else {
                    return None;
                };
                if *ours != identifier {
                    return None;
                }
                let outcome = if mschap::verify_authenticator_response(expected, message) {
                    ChapPeerOutcome::Succeeded {
                        password_hash: self.password_hash,
                        nt_response: *nt_response,
                    }
                } else {
                    ChapPeerOutcome::Failed
                };
                self.finish();
                Some(outcome)
            }
            ChapPacket::Failure { identifier, .. } => {
                match &self.state {
                    PeerState::Responded {
                        identifier: ours, ..
                    } if *ours == identifier => {}
                    _ => return None,
                }
                self.finish();
                Some(ChapPeerOutcome::Failed)
            }
            ChapPacket::Response { .. } => None,
        }
    }

    fn finish(&mut self) {
        self.state = PeerState::Done;
        self.deadline = None;
    }
}

/// Appends pppd's rendering of a CHAP packet (after the protocol name).
pub(crate) fn describe_packet(payload: &[u8], out: &mut String) -> bool {
    let Ok(packet) = ChapPacket::decode(payload) else {
        return false;
    };
    let (name, identifier) = match packet {
        ChapPacket::Challenge { identifier, .. } => ("Challenge", identifier),
        ChapPacket::Response { identifier, .. } => ("Response", identifier),
        ChapPacket::Success { identifier, .. } => ("Success", identifier),
        ChapPacket::Failure { identifier, .. } => ("Failure", identifier),
    };
    let _ = write!(out, " {name} id=0x{:x}", identifier.0);
    match packet {
        ChapPacket::Challenge { value, name, .. } | ChapPacket::Response { value, name, .. } => {
            out.push_str(" <");
            for byte in value {
                let _ = write!(out, "{byte:02x}");
            }
            out.push_str(">, name = ");
            crate::describe::quoted(name, out);
        }
        ChapPacket::Success { message, .. } | ChapPacket::Failure { message, .. } => {
            out.push(' ');
            crate::describe::quoted(message, out);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn decodes_captured_challenge_and_response() {
        // Capture frames 27 and 29 (PPP header removed).
        let challenge = hex!("0157001a10c8197cc8a3afa2abe302902be73a89907070747064");
        assert_eq!(
            ChapPacket::decode(&challenge),
            Ok(ChapPacket::Challenge {
                identifier: Identifier(0x57),
                value: &hex!("c8197cc8a3afa2abe302902be73a8990"),
                name: b"pptpd",
            })
        );
        let response = hex!(
            "0257003a3180f2e5f061cfd051c5ea7e09bbf7fccf00000000000000002dabe7d546f99fd7"
            "f263860dae4d26a53275f1b640857e0700726f6f74"
        );
        let ChapPacket::Response { value, name, .. } = ChapPacket::decode(&response).unwrap()
        else {
            panic!("not a response");
        };
        assert_eq!(name, b"root");
        let parsed = MsChapV2Response::parse(value).unwrap();
        assert_eq!(
            parsed.peer_challenge,
            hex!("80f2e5f061cfd051c5ea7e09bbf7fccf")
        );
        assert_eq!(parsed.reserved, [0; 8]);
        assert_eq!(parsed.flags, 0);
        assert_eq!(parsed.to_bytes(), value);
        assert_eq!(ChapPacket::decode(&response).unwrap().to_vec(), response);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            ChapPacket::decode(&hex!("01010004")),
            Err(ChapError::MissingValueSize("Challenge"))
        );
        assert_eq!(
            ChapPacket::decode(&hex!("0101000610aa")),
            Err(ChapError::ValueOverrun {
                size: 16,
                available: 1
            })
        );
        assert_eq!(
            ChapPacket::decode(&hex!("09010004")),
            Err(ChapError::UnknownCode(9))
        );
        assert!(MsChapV2Response::parse(&[0; 48]).is_err());
    }

    #[test]
    fn strips_domain_for_hashes() {
        assert_eq!(user_name_for_hash(b"CORP\\alice"), b"alice");
        assert_eq!(user_name_for_hash(b"alice"), b"alice");
        assert_eq!(user_name_for_hash(b"a\\"), b"");
    }
}
