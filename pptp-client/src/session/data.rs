//! The client's half of one call's data channel: enhanced GRE framing with sequence and
//! acknowledgement numbers (RFC 2637 §4.1–§4.4) around PPP frames, and MPPE (RFC 3078) around
//! IPv4 datagrams once CCP has handed out the keys. Sans-IO.
//!
//! What pptp-linux does, and so what this does: the first data packet is numbered 1
//! (`encaps_gre`: "first sequence number sent must be 1"); every received data packet is
//! acknowledged, piggy-backed on the next packet we send or, failing that, in an
//! acknowledgement-only packet (S clear, A set, no payload) after a short delay; late and
//! duplicate packets are dropped. Inside MPPE the PPP protocol field is sent uncompressed
//! (`00 21`), and the PPP header is always sent in full (`FF 03`, two protocol octets).

use std::ops::Range;
use std::time::{Duration, Instant};

use mschap::{MPPE_HEADER_LEN, MppeConfig, MppeDecryptor, MppeEncryptor, MppeError};
use ppp_core::{PppFrame, Protocol};
use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender, MAX_HEADER_LEN, SequenceVerdict};

use crate::error::ClientError;

/// `FF 03` + a two-octet protocol field.
const PPP_HEADER_LEN: usize = 4;
/// The largest IPv4 datagram.
const MAX_IP_LEN: usize = 65535;

/// Counters of one session's data channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataStats {
    /// IP packets sent.
    pub ip_sent: u64,
    /// Bytes of IP packets sent.
    pub bytes_sent: u64,
    /// IP packets received and delivered.
    pub ip_received: u64,
    /// Bytes of IP packets delivered.
    pub bytes_received: u64,
    /// GRE packets that arrived late or twice and were dropped.
    pub late: u64,
    /// Packets dropped for any other reason (malformed, undecryptable, cleartext under MPPE,
    /// not IPv4).
    pub dropped: u64,
    /// Acknowledgement-only GRE packets sent.
    pub acks_sent: u64,
}

/// Whether and how IPv4 is protected.
enum Crypto {
    /// No keys yet: data is dropped both ways.
    Pending,
    /// MPPE was not negotiated (and not required): IPv4 travels in cleartext.
    Clear,
    /// MPPE is on.
    Mppe {
        /// Our direction.
        encryptor: Box<MppeEncryptor>,
        /// The server's direction.
        decryptor: Box<MppeDecryptor>,
    },
}

/// What a received GRE packet turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decapsulated {
    /// An IPv4 datagram at this range of the GRE packet (decrypted in place).
    Ip(Range<usize>),
    /// A PPP control frame (LCP, CHAP, CCP, IPCP, ...) at this range.
    Control(Range<usize>),
    /// Nothing to deliver (an acknowledgement only, or a dropped packet).
    Nothing,
}

/// The GRE and MPPE state of one call, client side.
pub(crate) struct DataChannel {
    call_id: CallId,
    peer_call_id: Option<CallId>,
    sender: GreSender,
    receiver: GreReceiver,
    crypto: Crypto,
    ack_delay: Duration,
    ack_deadline: Option<Instant>,
    stats: DataStats,
}

impl DataChannel {
    /// A data channel for our Call ID `call_id`; packets can be sent once the server's Call ID
    /// is known.
    pub(crate) fn new(call_id: CallId, ack_delay: Duration) -> Self {
        DataChannel {
            call_id,
            peer_call_id: None,
            sender: GreSender::starting_at(1),
            receiver: GreReceiver::new(),
            crypto: Crypto::Pending,
            ack_delay,
            ack_deadline: None,
            stats: DataStats::default(),
        }
    }

    /// The server accepted the call under `peer_call_id`: the key of every packet we send.
    pub(crate) fn set_peer_call_id(&mut self, peer_call_id: CallId) {
        self.peer_call_id = Some(peer_call_id);
    }

    /// CCP opened with MPPE: install the start keys.
    pub(crate) fn set_mppe(&mut self, send: &[u8; 16], recv: &[u8; 16], config: MppeConfig) {
        self.crypto = Crypto::Mppe {
            encryptor: Box::new(MppeEncryptor::new(send, config)),
            decryptor: Box::new(MppeDecryptor::new(recv, config)),
        };
    }

    /// The link is up without MPPE: IPv4 in cleartext.
    pub(crate) fn set_cleartext(&mut self) {
        if matches!(self.crypto, Crypto::Pending) {
            self.crypto = Crypto::Clear;
        }
    }

    /// The coherency count of our next MPPE packet, if MPPE is on.
    pub(crate) fn coherency_count(&self) -> Option<u16> {
        match &self.crypto {
            Crypto::Mppe { encryptor, .. } => Some(encryptor.coherency_count()),
            _ => None,
        }
    }

    /// Hands the next `count` sequence numbers to the caller (returns the first); our own next
    /// packet gets the number after them.
    pub(crate) fn reserve_sequence(&mut self, count: u32) -> u32 {
        let first = self.sender.next_seq();
        // The acknowledgement bookkeeping restarts; the client does not use it for a window.
        self.sender = GreSender::starting_at(first.wrapping_add(count));
        first
    }

    /// Whether MPPE protects the data.
    pub(crate) fn is_encrypted(&self) -> bool {
        matches!(self.crypto, Crypto::Mppe { .. })
    }

    /// The server sent a CCP Reset-Request: flush our (stateful) encryptor.
    pub(crate) fn reset_encryptor(&mut self) {
        if let Crypto::Mppe { encryptor, .. } = &mut self.crypto {
            encryptor.reset();
        }
    }

    /// Our stateful decryptor lost packets and wants a CCP Reset-Request sent.
    pub(crate) fn needs_reset_request(&self) -> bool {
        match &self.crypto {
            Crypto::Mppe { decryptor, .. } => decryptor.needs_reset_request(),
            _ => false,
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> DataStats {
        self.stats
    }

    /// When an acknowledgement-only packet is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.ack_deadline
    }

    /// Handles a received GRE packet (IPv4 header already removed), decrypting MPPE data in
    /// place.
    pub(crate) fn decapsulate(&mut self, now: Instant, gre: &mut [u8]) -> Decapsulated {
        let Ok((header, header_len)) = GreHeader::parse(gre) else {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        };
        if header.call_id != self.call_id {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        }
        if let Some(ack) = header.ack {
            self.sender.acknowledged(ack);
        }
        if let Some(seq) = header.seq {
            // Overtaken packets within the window are delivered, as the gateway does.
            if !matches!(
                self.receiver.receive(seq),
                SequenceVerdict::Accept | SequenceVerdict::Reordered
            ) {
                self.stats.late += 1;
                return Decapsulated::Nothing;
            }
            if self.ack_deadline.is_none() {
                self.ack_deadline = now.checked_add(self.ack_delay);
            }
        }
        let end = header_len + usize::from(header.payload_len);
        let Some(frame) = gre.get_mut(header_len..end) else {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        };
        if frame.is_empty() {
            return Decapsulated::Nothing;
        }
        let Ok(parsed) = PppFrame::parse(frame) else {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        };
        let protocol = parsed.protocol;
        // The information field is a suffix of the frame.
        let info_start = frame.len() - parsed.payload.len();
        match protocol {
            Protocol::COMPRESSED => self.decrypt(frame, info_start, header_len),
            Protocol::IPV4 => {
                if matches!(self.crypto, Crypto::Clear) {
                    self.count_received(frame.len() - info_start);
                    Decapsulated::Ip(header_len + info_start..end)
                } else {
                    // MPPE is on or pending: cleartext is never accepted (pppd drops it too).
                    self.stats.dropped += 1;
                    Decapsulated::Nothing
                }
            }
            // Data protocols (high octet below 0x40) other than these are not routed; every
            // control protocol goes to the link, which Protocol-Rejects what it does not speak.
            Protocol(value) if value < 0x4000 => {
                self.stats.dropped += 1;
                Decapsulated::Nothing
            }
            _ => Decapsulated::Control(header_len..end),
        }
    }

    /// Decrypts the MPPE packet at `frame[info_start..]`.
    fn decrypt(&mut self, frame: &mut [u8], info_start: usize, header_len: usize) -> Decapsulated {
        let Crypto::Mppe { decryptor, .. } = &mut self.crypto else {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        };
        let Some(packet) = frame.get_mut(info_start..) else {
            self.stats.dropped += 1;
            return Decapsulated::Nothing;
        };
        let plain = match decryptor.decrypt(packet) {
            Ok(plain) => plain,
            Err(MppeError::Late { .. }) => {
                self.stats.late += 1;
                return Decapsulated::Nothing;
            }
            Err(_) => {
                self.stats.dropped += 1;
                return Decapsulated::Nothing;
            }
        };
        // Inside MPPE the protocol field is normally uncompressed; accept both forms.
        let skip = match *plain {
            [0x00, 0x21, ..] => 2,
            [0x21, ..] => 1,
            _ => {
                self.stats.dropped += 1;
                return Decapsulated::Nothing;
            }
        };
        let len = plain.len() - skip;
        self.count_received(len);
        let start = header_len + info_start + MPPE_HEADER_LEN + skip;
        Decapsulated::Ip(start..start + len)
    }

    fn count_received(&mut self, len: usize) {
        self.stats.ip_received += 1;
        self.stats.bytes_received += len as u64;
    }

    /// A GRE packet carrying the PPP control frame `frame` (never encrypted).
    pub(crate) fn encapsulate_frame(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let payload_len = u16::try_from(frame.len()).ok()?;
        let mut out = Vec::with_capacity(MAX_HEADER_LEN + frame.len());
        self.push_header(payload_len, &mut out)?;
        out.extend_from_slice(frame);
        Some(out)
    }

    /// Builds the GRE packet carrying the IPv4 datagram `packet` into `out` (cleared first),
    /// encrypting it with MPPE when that was negotiated.
    pub(crate) fn encapsulate_ip(
        &mut self,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ClientError> {
        if packet.len() > MAX_IP_LEN {
            return Err(ClientError::PacketTooLarge(packet.len()));
        }
        let encrypted = match self.crypto {
            Crypto::Pending => return Err(ClientError::NotUp),
            Crypto::Clear => false,
            Crypto::Mppe { .. } => true,
        };
        let overhead = if encrypted {
            PPP_HEADER_LEN + MPPE_HEADER_LEN + 2
        } else {
            PPP_HEADER_LEN
        };
        let payload_len = u16::try_from(packet.len() + overhead)
            .map_err(|_| ClientError::PacketTooLarge(packet.len()))?;
        out.clear();
        out.reserve(MAX_HEADER_LEN + usize::from(payload_len));
        self.push_header(payload_len, out)
            .ok_or(ClientError::NotUp)?;
        match &mut self.crypto {
            Crypto::Mppe { encryptor, .. } => {
                out.extend_from_slice(&[0xff, 0x03, 0x00, 0xfd]);
                let mppe_at = out.len();
                out.extend_from_slice(&[0, 0, 0x00, 0x21]);
                let inner = mppe_at + MPPE_HEADER_LEN;
                out.extend_from_slice(packet);
                let plain = out.get_mut(inner..).ok_or(ClientError::NotUp)?;
                let header = encryptor.encrypt(plain);
                if let Some(slot) = out.get_mut(mppe_at..inner) {
                    slot.copy_from_slice(&header);
                }
            }
            _ => {
                out.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
                out.extend_from_slice(packet);
            }
        }
        self.stats.ip_sent += 1;
        self.stats.bytes_sent += packet.len() as u64;
        Ok(())
    }

    /// The acknowledgement-only packet, if its delay has passed and one is still owed.
    pub(crate) fn poll_ack(&mut self, now: Instant) -> Option<Vec<u8>> {
        let deadline = self.ack_deadline?;
        if deadline > now {
            return None;
        }
        self.ack_deadline = None;
        let peer_call_id = self.peer_call_id?;
        let header = self.receiver.ack_header(peer_call_id)?;
        let mut out = vec![0; header.len()];
        header.emit(&mut out).ok()?;
        self.stats.acks_sent += 1;
        Some(out)
    }

    /// Appends the header of the next data packet (piggy-backing the owed acknowledgement).
    fn push_header(&mut self, payload_len: u16, out: &mut Vec<u8>) -> Option<()> {
        let peer_call_id = self.peer_call_id?;
        let header = self
            .sender
            .data_header(peer_call_id, payload_len, &mut self.receiver);
        if self.receiver.ack_pending().is_none() {
            self.ack_deadline = None;
        }
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let len = header.emit(&mut bytes).ok()?;
        out.extend_from_slice(bytes.get(..len)?);
        Some(())
    }
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataChannel")
            .field("call_id", &self.call_id)
            .field("peer_call_id", &self.peer_call_id)
            .field("encrypted", &self.is_encrypted())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use mschap::MppeStrength;

    const OURS: CallId = CallId(27020);
    const THEIRS: CallId = CallId(7);

    fn channel() -> DataChannel {
        let mut channel = DataChannel::new(OURS, Duration::from_millis(100));
        channel.set_peer_call_id(THEIRS);
        channel
    }

    fn gre(seq: Option<u32>, ack: Option<u32>, payload: &[u8]) -> Vec<u8> {
        let header = GreHeader {
            payload_len: payload.len() as u16,
            call_id: OURS,
            seq,
            ack,
        };
        let mut out = vec![0; header.len()];
        header.emit(&mut out).unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn first_packet_is_numbered_one_like_pptp_linux() {
        let mut channel = channel();
        let packet = channel
            .encapsulate_frame(&hex!("ff03c021 01010004"))
            .unwrap();
        let (header, payload) = GreHeader::parse_packet(&packet).unwrap();
        assert_eq!(header, GreHeader::data(THEIRS, 8, 1, None));
        assert_eq!(payload, hex!("ff03c021 01010004"));
    }

    #[test]
    fn received_data_is_acknowledged_piggy_backed_or_alone() {
        let mut channel = channel();
        let now = Instant::now();
        let mut packet = gre(Some(5), None, &hex!("ff03c021 09010008 00000000"));
        assert_eq!(
            channel.decapsulate(now, &mut packet),
            Decapsulated::Control(12..24)
        );
        // Not due yet; then due, as an acknowledgement-only packet.
        assert_eq!(channel.poll_ack(now), None);
        let ack = channel.poll_ack(now + Duration::from_millis(100)).unwrap();
        assert_eq!(
            GreHeader::parse(&ack).unwrap().0,
            GreHeader::ack_only(THEIRS, 5)
        );
        assert_eq!(channel.poll_timeout(), None);
        // The next one is piggy-backed on our data and no acknowledgement-only packet follows.
        let mut packet = gre(Some(6), Some(0), &hex!("ff03c021 09020008 00000000"));
        channel.decapsulate(now, &mut packet);
        let data = channel
            .encapsulate_frame(&hex!("ff03c021 0a020008 00000000"))
            .unwrap();
        assert_eq!(GreHeader::parse(&data).unwrap().0.ack, Some(6));
        assert_eq!(channel.poll_timeout(), None);
        assert_eq!(channel.poll_ack(now + Duration::from_secs(1)), None);
    }

    #[test]
    fn late_duplicate_foreign_and_malformed_packets_are_dropped() {
        let mut channel = channel();
        let now = Instant::now();
        let mut first = gre(Some(100), None, &hex!("ff03c021 09010008 00000000"));
        assert!(matches!(
            channel.decapsulate(now, &mut first.clone()),
            Decapsulated::Control(_)
        ));
        assert_eq!(channel.decapsulate(now, &mut first), Decapsulated::Nothing);
        // Overtaken within the reorder window: delivered once.
        let mut reordered = gre(Some(99), None, &hex!("ff03c021 09010008 00000000"));
        assert!(matches!(
            channel.decapsulate(now, &mut reordered.clone()),
            Decapsulated::Control(_)
        ));
        assert_eq!(
            channel.decapsulate(now, &mut reordered),
            Decapsulated::Nothing
        );
        let mut late = gre(Some(100 - 65), None, &hex!("ff03c021 09010008 00000000"));
        assert_eq!(channel.decapsulate(now, &mut late), Decapsulated::Nothing);
        assert_eq!(channel.stats().late, 3);
        let mut foreign = gre(Some(101), None, &hex!("ff03c021 09010008 00000000"));
        foreign[7] ^= 1; // another Call ID
        assert_eq!(
            channel.decapsulate(now, &mut foreign),
            Decapsulated::Nothing
        );
        let mut truncated = gre(Some(102), None, &hex!("ff03c021 09010008 00000000"));
        truncated.truncate(14);
        assert_eq!(
            channel.decapsulate(now, &mut truncated),
            Decapsulated::Nothing
        );
        assert_eq!(channel.stats().dropped, 2);
    }

    #[test]
    fn cleartext_ip_is_refused_until_the_link_says_so() {
        let mut channel = channel();
        let now = Instant::now();
        let mut out = Vec::new();
        assert!(matches!(
            channel.encapsulate_ip(&[0x45; 20], &mut out),
            Err(ClientError::NotUp)
        ));
        let mut packet = gre(
            Some(1),
            None,
            &[&hex!("ff030021")[..], &[0x45; 20]].concat(),
        );
        assert_eq!(
            channel.decapsulate(now, &mut packet.clone()),
            Decapsulated::Nothing
        );
        channel.set_cleartext();
        packet[11] = 2; // the next sequence number
        assert_eq!(
            channel.decapsulate(now, &mut packet),
            Decapsulated::Ip(16..36)
        );
        channel.encapsulate_ip(&[0x45; 20], &mut out).unwrap();
        let (header, payload) = GreHeader::parse_packet(&out).unwrap();
        assert_eq!(header, GreHeader::data(THEIRS, 24, 1, Some(2)));
        assert_eq!(&payload[..4], hex!("ff030021"));
    }

    #[test]
    fn mppe_round_trip_between_two_channels() {
        let config = MppeConfig {
            strength: MppeStrength::Bits128,
            stateless: true,
        };
        let (a_key, b_key) = ([1u8; 16], [2u8; 16]);
        let mut client = channel();
        client.set_mppe(&a_key, &b_key, config);
        // The "server" is a second channel whose Call IDs are swapped.
        let mut server = DataChannel::new(THEIRS, Duration::from_millis(100));
        server.set_peer_call_id(OURS);
        server.set_mppe(&b_key, &a_key, config);
        let now = Instant::now();
        let datagram: Vec<u8> = (0..100u8).collect();
        let mut out = Vec::new();
        for _ in 0..3 {
            client.encapsulate_ip(&datagram, &mut out).unwrap();
            let (_, payload) = GreHeader::parse_packet(&out).unwrap();
            assert_eq!(&payload[..4], hex!("ff0300fd"));
            assert_ne!(&payload[8..], &datagram[..], "encrypted");
            let range = match server.decapsulate(now, &mut out) {
                Decapsulated::Ip(range) => range,
                other => panic!("{other:?}"),
            };
            assert_eq!(&out[range], &datagram[..]);
            server.encapsulate_ip(&datagram, &mut out).unwrap();
            let Decapsulated::Ip(range) = client.decapsulate(now, &mut out) else {
                panic!("not delivered");
            };
            assert_eq!(&out[range], &datagram[..]);
        }
        assert_eq!(client.stats().ip_sent, 3);
        assert_eq!(client.stats().ip_received, 3);
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand_chacha::ChaCha8Rng;
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut channel = channel();
        channel.set_mppe(
            &[3; 16],
            &[4; 16],
            MppeConfig {
                strength: MppeStrength::Bits128,
                stateless: true,
            },
        );
        let now = Instant::now();
        for round in 0..5000 {
            let len = (rng.next_u32() % 64) as usize;
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            if round % 2 == 0 && len >= 8 {
                // Mostly-valid headers reach the deeper layers.
                bytes[..8].copy_from_slice(&hex!("3001880b 0000698c"));
                let payload = (len - 8).saturating_sub(4) as u16;
                bytes[4..6].copy_from_slice(&payload.to_be_bytes());
            }
            let _ = channel.decapsulate(now, &mut bytes);
        }
    }
}
