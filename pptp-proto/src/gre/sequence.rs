//! Sequence and acknowledgement bookkeeping of one call's GRE data channel, RFC 2637 §4.1 to
//! §4.3. Sans-IO and allocation-free: the caller feeds in the numbers it sees and asks what to
//! put in the next header.
//!
//! Sequence numbers are 32-bit and wrap; they are compared with serial-number arithmetic
//! (RFC 1982): `a` is after `b` when `a - b (mod 2^32)` is in `1..2^31`.
//!
//! What the stock stacks do, and so what this module does:
//! - First number sent. RFC 2637 (as poptop's `pptpgre.c` quotes it): "The sequence number
//!   for each user session is set to zero at session startup." poptop's pptpd sends 0 first
//!   (frame 24 of the fixture); the Linux kernel (`pptp_xmit`, `++seq_sent` from 0) and
//!   pptp-linux (`encaps_gre`: "first sequence number sent must be 1", frame 23) send 1 first.
//!   Every receiver accepts either, so [`GreSender::new`] follows the RFC and poptop (0);
//!   [`GreSender::starting_at`] picks another.
//! - Receiving. pptp-linux accepts the first packet whatever its number; the kernel starts from
//!   "expect 0". [`GreReceiver`] accepts the first packet whatever its number, then accepts only
//!   numbers after the highest seen and drops late and duplicate packets, as the kernel and
//!   accel-ppp do (no reordering buffer). MS-PTPT §1.3: Windows does not run the RFC's sliding
//!   window at all and ignores the peer's receive window.
//! - Acknowledging. Both stacks piggy-back the highest number received on the next data packet
//!   and otherwise send an acknowledgement-only packet after a short delay (pptp-linux: 0.5 s;
//!   MS-PTPT: 100 ms). [`GreReceiver::ack_pending`] says when one is owed; the delay is the
//!   caller's choice.

use crate::call_id::CallId;
use crate::gre::GreHeader;

/// True if sequence number `a` comes after `b` in serial-number arithmetic (wraps at 2^32).
pub const fn seq_after(a: u32, b: u32) -> bool {
    let distance = a.wrapping_sub(b);
    distance != 0 && distance < 0x8000_0000
}

/// The sending half of one call's data channel: our sequence numbers and the peer's
/// acknowledgements of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreSender {
    /// The number the next data packet gets.
    next_seq: u32,
    /// How many data packets were numbered so far (saturating).
    sent: u64,
    /// The highest of our numbers the peer acknowledged.
    peer_ack: Option<u32>,
}

impl Default for GreSender {
    fn default() -> Self {
        GreSender::new()
    }
}

impl GreSender {
    /// A sender whose first data packet gets sequence number 0 (RFC 2637, poptop).
    pub const fn new() -> Self {
        GreSender::starting_at(0)
    }

    /// A sender whose first data packet gets sequence number `first` (the Linux kernel and
    /// pptp-linux use 1).
    pub const fn starting_at(first: u32) -> Self {
        GreSender {
            next_seq: first,
            sent: 0,
            peer_ack: None,
        }
    }

    /// The number the next data packet will get.
    pub const fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Takes the number for the next data packet.
    pub fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.sent = self.sent.saturating_add(1);
        seq
    }

    /// The header for the next data packet of `payload_len` octets to the peer's call
    /// `peer_call_id`, piggy-backing the acknowledgement `receiver` owes (which is then no
    /// longer owed).
    pub fn data_header(
        &mut self,
        peer_call_id: CallId,
        payload_len: u16,
        receiver: &mut GreReceiver,
    ) -> GreHeader {
        let seq = self.take_seq();
        GreHeader::data(peer_call_id, payload_len, seq, receiver.take_ack())
    }

    /// Records an acknowledgement from the peer. Returns false (and changes nothing) if it
    /// acknowledges a number we never sent or is older than one already seen.
    pub fn acknowledged(&mut self, ack: u32) -> bool {
        let Some(last_sent) = self.last_sent() else {
            return false;
        };
        if seq_after(ack, last_sent) {
            return false;
        }
        if self.sent <= 0x8000_0000 {
            // Acks before our first number are bogus too; beyond 2^31 packets every
            // number is "recent" and only the window check above applies.
            let first = last_sent.wrapping_sub((self.sent - 1) as u32);
            if seq_after(first, ack) {
                return false;
            }
        }
        match self.peer_ack {
            Some(previous) if !seq_after(ack, previous) => ack == previous,
            _ => {
                self.peer_ack = Some(ack);
                true
            }
        }
    }

    /// The highest of our sequence numbers the peer acknowledged.
    pub const fn peer_ack(&self) -> Option<u32> {
        self.peer_ack
    }

    /// The number of the last data packet sent, if any.
    pub fn last_sent(&self) -> Option<u32> {
        (self.sent > 0).then(|| self.next_seq.wrapping_sub(1))
    }

    /// Data packets sent and not yet acknowledged (for window accounting).
    pub fn unacknowledged(&self) -> u32 {
        match (self.last_sent(), self.peer_ack) {
            (None, _) => 0,
            (Some(last), Some(acked)) => last.wrapping_sub(acked),
            (Some(_), None) => u32::try_from(self.sent).unwrap_or(u32::MAX),
        }
    }
}

/// How far behind the highest sequence number a packet may arrive and still be delivered.
///
/// Reordering happens (the design notes); the Linux kernel and accel-ppp drop every late packet
/// and poptop buffers 0.3 s. We deliver a late packet within this window once (IP copes with
/// the order, TCP better than with a loss), and drop anything older or already seen, as IPsec's
/// anti-replay window does (RFC 4303 §3.4.3).
pub const REORDER_WINDOW: u32 = 64;

/// What to do with a received data packet, by its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// In order (or after a gap): deliver it.
    Accept,
    /// Behind the highest number but within [`REORDER_WINDOW`] and not seen before: deliver it.
    Reordered,
    /// Older than the window: drop it.
    Late,
    /// A number already received: drop it.
    Duplicate,
}

/// The receiving half of one call's data channel: the highest sequence number received and the
/// acknowledgement owed for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GreReceiver {
    /// The highest sequence number accepted.
    highest: Option<u32>,
    /// The highest number we told the peer about.
    acked: Option<u32>,
    /// Sequence numbers skipped over by accepted packets (lost or reordered).
    gaps: u64,
    /// Bit `k` set: `highest - 1 - k` was received (the reorder window).
    seen: u64,
}

impl GreReceiver {
    /// A receiver that has seen nothing yet.
    pub const fn new() -> Self {
        GreReceiver {
            highest: None,
            acked: None,
            gaps: 0,
            seen: 0,
        }
    }

    /// Judges a received data packet by its sequence number and, if it is accepted, records it
    /// as the highest received (which makes an acknowledgement owed).
    pub fn receive(&mut self, seq: u32) -> SequenceVerdict {
        match self.highest {
            None => {
                self.highest = Some(seq);
                SequenceVerdict::Accept
            }
            Some(highest) if seq == highest => SequenceVerdict::Duplicate,
            Some(highest) if seq_after(seq, highest) => {
                let ahead = seq.wrapping_sub(highest);
                self.gaps = self.gaps.saturating_add(u64::from(ahead - 1));
                // The old highest becomes bit `ahead - 1`; older bits move along with it.
                self.seen = if ahead > REORDER_WINDOW {
                    0
                } else {
                    ((self.seen << 1) | 1).checked_shl(ahead - 1).unwrap_or(0)
                };
                self.highest = Some(seq);
                SequenceVerdict::Accept
            }
            Some(highest) => {
                let behind = highest.wrapping_sub(seq);
                if behind > REORDER_WINDOW {
                    return SequenceVerdict::Late;
                }
                let bit = 1u64 << (behind - 1);
                if self.seen & bit != 0 {
                    return SequenceVerdict::Duplicate;
                }
                self.seen |= bit;
                SequenceVerdict::Reordered
            }
        }
    }

    /// The highest sequence number accepted so far.
    pub const fn highest(&self) -> Option<u32> {
        self.highest
    }

    /// The acknowledgement owed to the peer, if any: the highest number received, when it has
    /// not been sent yet.
    pub fn ack_pending(&self) -> Option<u32> {
        match (self.highest, self.acked) {
            (Some(highest), Some(acked)) if highest == acked => None,
            (highest, _) => highest,
        }
    }

    /// Takes the owed acknowledgement to send it (piggy-backed or ack-only); it is no longer
    /// owed afterwards.
    pub fn take_ack(&mut self) -> Option<u32> {
        let ack = self.ack_pending()?;
        self.acked = Some(ack);
        Some(ack)
    }

    /// An acknowledgement-only header for the peer's call `peer_call_id`, if one is owed.
    pub fn ack_header(&mut self, peer_call_id: CallId) -> Option<GreHeader> {
        self.take_ack()
            .map(|ack| GreHeader::ack_only(peer_call_id, ack))
    }

    /// Sequence numbers skipped by accepted packets so far (lost, or arrived late and dropped).
    pub const fn gaps(&self) -> u64 {
        self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(seq_after(1, 0));
        assert!(seq_after(0, u32::MAX));
        assert!(seq_after(5, u32::MAX - 5));
        assert!(!seq_after(u32::MAX, 0));
        assert!(!seq_after(7, 7));
        assert!(seq_after(0x7fff_ffff, 0));
        assert!(!seq_after(0x8000_0000, 0));
    }

    #[test]
    fn sender_starts_at_zero_and_wraps() {
        let mut sender = GreSender::new();
        assert_eq!(sender.last_sent(), None);
        assert_eq!(sender.take_seq(), 0);
        assert_eq!(sender.take_seq(), 1);
        let mut sender = GreSender::starting_at(u32::MAX);
        assert_eq!(sender.take_seq(), u32::MAX);
        assert_eq!(sender.take_seq(), 0);
        assert_eq!(sender.last_sent(), Some(0));
    }

    #[test]
    fn sender_tracks_the_highest_valid_ack() {
        let mut sender = GreSender::starting_at(u32::MAX - 1);
        assert!(!sender.acknowledged(0), "nothing sent yet");
        for _ in 0..4 {
            sender.take_seq(); // MAX-1, MAX, 0, 1
        }
        assert_eq!(sender.unacknowledged(), 4);
        assert!(sender.acknowledged(u32::MAX));
        assert_eq!(sender.unacknowledged(), 2);
        assert!(!sender.acknowledged(2), "never sent");
        assert!(
            !sender.acknowledged(u32::MAX - 2),
            "before the first packet"
        );
        assert!(sender.acknowledged(1));
        assert!(!sender.acknowledged(0), "older than an ack already seen");
        assert!(sender.acknowledged(1), "a repeated ack is valid");
        assert_eq!(sender.peer_ack(), Some(1));
        assert_eq!(sender.unacknowledged(), 0);
    }

    #[test]
    fn receiver_accepts_any_first_number() {
        for first in [0, 1, 0xdead_beef, u32::MAX] {
            let mut receiver = GreReceiver::new();
            assert_eq!(receiver.ack_pending(), None);
            assert_eq!(receiver.receive(first), SequenceVerdict::Accept);
            assert_eq!(receiver.ack_pending(), Some(first));
        }
    }

    #[test]
    fn receiver_drops_late_and_duplicate_packets_across_the_wrap() {
        let mut receiver = GreReceiver::new();
        assert_eq!(receiver.receive(u32::MAX - 1), SequenceVerdict::Accept);
        assert_eq!(receiver.receive(u32::MAX), SequenceVerdict::Accept);
        assert_eq!(receiver.receive(1), SequenceVerdict::Accept);
        assert_eq!(receiver.gaps(), 1, "0 was skipped");
        // 0 arrives late but within the window: delivered once.
        assert_eq!(receiver.receive(0), SequenceVerdict::Reordered);
        assert_eq!(receiver.receive(0), SequenceVerdict::Duplicate);
        assert_eq!(receiver.receive(u32::MAX), SequenceVerdict::Duplicate);
        assert_eq!(receiver.receive(1), SequenceVerdict::Duplicate);
        assert_eq!(receiver.receive(2), SequenceVerdict::Accept);
        assert_eq!(receiver.highest(), Some(2));
        // Older than the window: late.
        assert_eq!(
            receiver.receive(2u32.wrapping_sub(REORDER_WINDOW + 1)),
            SequenceVerdict::Late
        );
    }

    #[test]
    fn the_reorder_window_delivers_each_late_packet_once() {
        let mut receiver = GreReceiver::new();
        assert_eq!(receiver.receive(100), SequenceVerdict::Accept);
        assert_eq!(receiver.receive(110), SequenceVerdict::Accept);
        for seq in (101..110).rev() {
            assert_eq!(receiver.receive(seq), SequenceVerdict::Reordered, "{seq}");
        }
        for seq in 100..=110 {
            assert_eq!(receiver.receive(seq), SequenceVerdict::Duplicate, "{seq}");
        }
        // The window follows the highest number: 110 + 64 makes 110 the oldest remembered.
        assert_eq!(
            receiver.receive(110 + REORDER_WINDOW),
            SequenceVerdict::Accept
        );
        assert_eq!(receiver.receive(110), SequenceVerdict::Duplicate);
        assert_eq!(receiver.receive(109), SequenceVerdict::Late);
        assert_eq!(receiver.receive(111), SequenceVerdict::Reordered);
        // A jump past the whole window forgets it.
        assert_eq!(receiver.receive(1000), SequenceVerdict::Accept);
        assert_eq!(receiver.receive(999), SequenceVerdict::Reordered);
        assert_eq!(
            receiver.receive(1000 - REORDER_WINDOW),
            SequenceVerdict::Reordered
        );
        assert_eq!(
            receiver.receive(1000 - REORDER_WINDOW - 1),
            SequenceVerdict::Late
        );
        assert_eq!(receiver.highest(), Some(1000));
    }

    #[test]
    fn ack_is_owed_until_taken_and_again_after_new_data() {
        let mut receiver = GreReceiver::new();
        receiver.receive(1);
        receiver.receive(2);
        assert_eq!(receiver.ack_pending(), Some(2));
        assert_eq!(
            receiver.ack_header(CallId(9)),
            Some(GreHeader::ack_only(CallId(9), 2))
        );
        assert_eq!(receiver.ack_pending(), None);
        assert_eq!(receiver.ack_header(CallId(9)), None);
        assert_eq!(receiver.receive(2), SequenceVerdict::Duplicate);
        assert_eq!(receiver.ack_pending(), None, "a duplicate owes nothing new");
        receiver.receive(3);
        assert_eq!(receiver.ack_pending(), Some(3));
    }

    #[test]
    fn data_header_piggy_backs_the_owed_ack() {
        let mut sender = GreSender::new();
        let mut receiver = GreReceiver::new();
        let first = sender.data_header(CallId(27020), 24, &mut receiver);
        assert_eq!(first, GreHeader::data(CallId(27020), 24, 0, None));
        receiver.receive(1);
        let second = sender.data_header(CallId(27020), 24, &mut receiver);
        assert_eq!(second, GreHeader::data(CallId(27020), 24, 1, Some(1)));
        assert_eq!(receiver.ack_pending(), None);
    }
}
