//! Harnesses for the MPPE cipher (RFC 3078): the receiver on arbitrary packets, and a sender
//! and receiver pair on arbitrary payloads with losses, replays and CCP Reset-Requests.

use std::collections::VecDeque;

use mschap::{
    MPPE_HEADER_LEN, MppeConfig, MppeDecryptor, MppeEncryptor, MppeError, MppeHeader, MppeStrength,
    RECENT_KEYS,
};

use crate::fixture;
use crate::input::Input;

/// The 12-bit coherency count space.
const COUNT_MASK: u16 = 0x0fff;
/// Packets a stateless receiver may skip, and a stateful one may lose, and still be able to
/// resynchronise without ambiguity (half the count space).
const RESYNC_WINDOW: u32 = 2048;
/// Packets `mppe_decrypt` decrypts per input. A stateless packet can cost up to 2049 key
/// changes (a coherency count jump of half the space), so this keeps one input well under
/// libFuzzer's timeout while still covering every path.
const MAX_PACKETS: usize = 64;
/// Packets `mppe_roundtrip` encrypts per input, for the same reason.
const MAX_ENCRYPTIONS: u64 = 8192;

/// The MPPE parameters selected by the first octet: bits 0-1 the strength (0 and 3: 128-bit,
/// 1: 56-bit, 2: 40-bit), bit 2 stateful mode. 0 is the capture's 128-bit stateless.
pub fn mppe_config(selector: u8) -> MppeConfig {
    MppeConfig {
        strength: match selector & 3 {
            1 => MppeStrength::Bits56,
            2 => MppeStrength::Bits40,
            _ => MppeStrength::Bits128,
        },
        stateless: selector & 4 == 0,
    }
}

/// `mppe_decrypt`: an [`MppeDecryptor`] keyed with the capture's client-to-server key (so the
/// capture's packets decrypt) fed a sequence of chunks as received packets.
///
/// Invariants: no panic; a decrypted packet yields exactly the octets after the header, its
/// header had D set and C clear, and the expected count moves to one past the packet's (or, for
/// a stateless packet overtaken by at most [`RECENT_KEYS`] counts, stays); any error other than
/// `ResyncNeeded` leaves the decryptor's counters as they were; only stateful mode ever asks for
/// a resynchronisation.
pub fn mppe_decrypt(data: &[u8]) {
    let mut input = Input::new(data);
    let config = mppe_config(input.byte().unwrap_or(0));
    let mut decryptor = MppeDecryptor::new(&fixture::SERVER_RECV_KEY, config);
    for _ in 0..MAX_PACKETS {
        let Some(chunk) = input.chunk() else { break };
        let mut packet = chunk.to_vec();
        let before = (
            decryptor.expected_coherency_count(),
            decryptor.needs_reset_request(),
        );
        let header = MppeHeader::decode(chunk);
        match decryptor.decrypt(&mut packet) {
            Ok(plain) => {
                assert_eq!(plain.len() + MPPE_HEADER_LEN, chunk.len());
                let header = header.expect("a decrypted packet has a header");
                assert!(
                    header.encrypted && !header.compressed,
                    "accepted {header:?}"
                );
                let count = header.coherency_count;
                let ahead = count.wrapping_sub(before.0) & COUNT_MASK;
                if config.stateless && u32::from(ahead) > RESYNC_WINDOW {
                    // Overtaken: decrypted with a remembered key, the receiver stays put.
                    let behind = before.0.wrapping_sub(1).wrapping_sub(count) & COUNT_MASK;
                    assert!(
                        (1..RECENT_KEYS).contains(&behind),
                        "a packet {behind} behind was decrypted"
                    );
                    assert_eq!(decryptor.expected_coherency_count(), before.0);
                } else {
                    assert_eq!(
                        decryptor.expected_coherency_count(),
                        (count + 1) & COUNT_MASK
                    );
                }
                assert!(!decryptor.needs_reset_request());
            }
            Err(MppeError::ResyncNeeded) => {
                assert!(!config.stateless, "stateless mode asked for a resync");
                assert!(decryptor.needs_reset_request());
            }
            Err(error) => assert_eq!(
                (
                    decryptor.expected_coherency_count(),
                    decryptor.needs_reset_request()
                ),
                before,
                "{error} changed the decryptor's state"
            ),
        }
    }
}

/// Operation codes of the `mppe_roundtrip` script (the operation byte modulo 8).
pub mod op {
    /// Encrypt a payload (a chunk, after `00 21`) and deliver it.
    pub const DELIVER: u8 = 0;
    /// Encrypt a payload (a chunk) and lose it (it may still arrive late, see `DELIVER_LATE`).
    pub const LOSE: u8 = 1;
    /// A CCP Reset-Request reaches the sender.
    pub const RESET: u8 = 2;
    /// Deliver the newest packet the receiver accepted again.
    pub const REPLAY: u8 = 3;
    /// Encrypt and lose as many two-octet payloads as the argument says.
    pub const LOSE_MANY: u8 = 4;
    /// A lost packet arrives after all (argument: which, counting back from the last lost).
    pub const DELIVER_LATE: u8 = 5;
}

/// Lost packets remembered for late delivery.
const LOST_KEPT: usize = 128;

/// A packet as sent: its index in the stream (not wrapped at 4096), bytes and plaintext.
#[derive(Clone)]
struct Sent {
    index: u64,
    packet: Vec<u8>,
    plain: Vec<u8>,
}

/// The sender, the receiver, and what the harness knows about the path between them.
struct Pair {
    encryptor: MppeEncryptor,
    decryptor: MppeDecryptor,
    stateless: bool,
    /// Packets encrypted so far.
    sent: u64,
    /// The newest packet the receiver moved forward to (decrypted in order or after a gap).
    newest: Option<Sent>,
    /// The receiver's key can no longer be predicted: stateful mode lost a packet that the
    /// sender had flushed for a CCP Reset-Request (a key change the receiver cannot count, as in
    /// Linux `ppp_mppe`), or a packet outside the count window was taken as current.
    diverged: bool,
    /// Recently lost packets.
    lost: VecDeque<Sent>,
}

impl Pair {
    /// Encrypts `payload` (after `00 21`) into a packet.
    fn encrypt(&mut self, payload: &[u8]) -> Sent {
        let mut plain = Vec::with_capacity(2 + payload.len());
        plain.extend_from_slice(&[0x00, 0x21]);
        plain.extend_from_slice(payload);
        let mut body = plain.clone();
        let header = self.encryptor.encrypt(&mut body);
        if plain.len() > 8 {
            assert_ne!(plain, body, "the ciphertext is the plaintext");
        }
        let mut packet = header.to_vec();
        packet.extend_from_slice(&body);
        let index = self.sent;
        self.sent += 1;
        assert_eq!(
            MppeHeader::decode(&packet).map(|h| h.coherency_count),
            Some((index & u64::from(COUNT_MASK)) as u16),
            "coherency counts run 0, 1, 2, ..."
        );
        Sent {
            index,
            packet,
            plain,
        }
    }

    /// Whether a receiver that never decrypts a packet with `header` misses a key change it
    /// cannot count: stateful mode, the A bit of a CCP reset (a flag packet's key change is
    /// counted from the coherency counts).
    fn uncountable_key_change(&self, header: &MppeHeader) -> bool {
        let flag_packet = header.coherency_count & 0x00ff == 0x00ff;
        !self.stateless && header.flushed && !flag_packet
    }

    /// Encrypts `payload` and loses the packet.
    fn lose(&mut self, payload: &[u8]) {
        let sent = self.encrypt(payload);
        let header = MppeHeader::decode(&sent.packet).expect("we built the header");
        if self.uncountable_key_change(&header) {
            self.diverged = true;
        }
        if self.lost.len() == LOST_KEPT {
            self.lost.pop_front();
        }
        self.lost.push_back(sent);
    }

    /// Hands `packet` to the receiver; the plaintext if it was accepted.
    fn receive(&mut self, packet: &[u8]) -> Result<Vec<u8>, MppeError> {
        let mut received = packet.to_vec();
        self.decryptor
            .decrypt(&mut received)
            .map(|plain| plain.to_vec())
    }

    /// Delivers `sent`, which is ahead of the newest packet the receiver has.
    fn deliver(&mut self, sent: Sent) {
        let header = MppeHeader::decode(&sent.packet).expect("we built the header");
        let gap = sent.index - self.newest.as_ref().map_or(0, |newest| newest.index + 1);
        let strict = !self.diverged && gap < u64::from(RESYNC_WINDOW);
        // Stateful: after a loss everything is discarded until a flushed packet, even a packet
        // that happens to be next in line.
        let in_line = gap == 0 && !self.decryptor.needs_reset_request();
        let expect_plain = self.stateless || in_line || header.flushed;
        let result = self.receive(&sent.packet);
        if result.is_err() && self.uncountable_key_change(&header) {
            // Refused (too far ahead to tell from a late packet, say): to the receiver the
            // reset's key change is as lost as the packet.
            self.diverged = true;
        }
        match result {
            Ok(plain) => {
                if strict {
                    assert_eq!(plain, sent.plain, "decrypt(encrypt(x)) != x ({header:?})");
                } else if plain != sent.plain {
                    self.diverged = true;
                }
                self.newest = Some(sent);
            }
            Err(error) if strict && expect_plain => {
                panic!("{error} for {header:?}, {gap} packets lost since the newest")
            }
            Err(MppeError::ResyncNeeded) => assert!(!self.stateless),
            Err(error) if strict => panic!("{error}, expected ResyncNeeded for {header:?}"),
            Err(_) => {}
        }
    }

    /// A lost packet arrives late.
    fn deliver_late(&mut self, which: u8) {
        let Some(at) = usize::from(which)
            .checked_rem(self.lost.len())
            .map(|back| self.lost.len() - 1 - back)
        else {
            return;
        };
        let Some(sent) = self.lost.remove(at) else {
            return;
        };
        let newest = self.newest.as_ref().map(|newest| newest.index);
        let Some(behind) = newest
            .filter(|newest| sent.index < *newest)
            .map(|newest| newest - sent.index)
        else {
            // Not overtaken: an ordinary delivery after a gap.
            return self.deliver(sent);
        };
        let expected_before = self.decryptor.expected_coherency_count();
        let discarding = self.decryptor.needs_reset_request();
        let result = self.receive(&sent.packet);
        let remembered = behind < u64::from(RECENT_KEYS) && behind <= newest.unwrap_or(0);
        match result {
            // Stateless mode keeps the keys of the last RECENT_KEYS counts for overtaken packets.
            Ok(plain) if self.stateless && remembered && !self.diverged => {
                assert_eq!(
                    plain, sent.plain,
                    "a packet {behind} behind decrypted wrongly"
                );
                assert_eq!(self.decryptor.expected_coherency_count(), expected_before);
            }
            Err(error) if self.stateless && remembered && !self.diverged => {
                panic!("{error} for a packet {behind} behind, whose key is remembered")
            }
            Ok(_) if behind < u64::from(RESYNC_WINDOW) && !discarding && !self.diverged => {
                panic!(
                    "a packet {behind} behind was accepted (stateless: {})",
                    self.stateless
                )
            }
            Ok(plain) => {
                // Stateful and discarding: any flushed packet resynchronises, even an old one.
                if plain != sent.plain {
                    self.diverged = true;
                }
            }
            Err(_) => {}
        }
    }

    /// Delivers the newest accepted packet again: it must be refused.
    fn replay(&mut self) {
        let Some(newest) = &self.newest else {
            return;
        };
        let mut packet = newest.packet.clone();
        let before = self.decryptor.expected_coherency_count();
        let discarding = self.decryptor.needs_reset_request();
        match self.decryptor.decrypt(&mut packet) {
            Ok(_) if discarding || self.diverged => self.diverged = true,
            Ok(_) => panic!("a replayed packet was accepted"),
            Err(MppeError::ResyncNeeded) => {}
            Err(_) => assert_eq!(self.decryptor.expected_coherency_count(), before),
        }
    }
}

/// `mppe_roundtrip`: an [`MppeEncryptor`] and [`MppeDecryptor`] for one direction, with the
/// first octet selecting the mode (see [`mppe_config`]) and operations (see [`op`]).
///
/// Invariants: what is delivered in step decrypts to exactly what was encrypted; in stateless
/// mode every delivered packet does, whatever was lost before (within half the count space),
/// and so does a lost packet arriving up to [`RECENT_KEYS`] counts late, without moving the
/// receiver; in stateful mode after a loss a packet without the A bit asks for a resync and one
/// with it resynchronises, unless a lost packet carried the A bit of a CCP reset (then no
/// receiver can know the sender's key, and the harness stops expecting plaintext); a replay of
/// the newest packet and a late packet beyond the remembered keys are refused.
pub fn mppe_roundtrip(data: &[u8]) {
    let mut input = Input::new(data);
    let config = mppe_config(input.byte().unwrap_or(0));
    let mut pair = Pair {
        encryptor: MppeEncryptor::new(&fixture::SERVER_SEND_KEY, config),
        decryptor: MppeDecryptor::new(&fixture::SERVER_SEND_KEY, config),
        stateless: config.stateless,
        sent: 0,
        newest: None,
        diverged: false,
        lost: VecDeque::new(),
    };
    while let Some(code) = input.byte() {
        if pair.sent >= MAX_ENCRYPTIONS {
            break;
        }
        match code % 8 {
            op::LOSE => {
                let Some(payload) = input.chunk() else { break };
                pair.lose(payload);
            }
            op::RESET => pair.encryptor.reset(),
            op::REPLAY => pair.replay(),
            op::LOSE_MANY => {
                for _ in 0..input.byte().unwrap_or(0) {
                    pair.lose(&[]);
                }
            }
            op::DELIVER_LATE => pair.deliver_late(input.byte().unwrap_or(0)),
            _ => {
                let Some(payload) = input.chunk() else { break };
                let sent = pair.encrypt(payload);
                pair.deliver(sent);
            }
        }
    }
}
