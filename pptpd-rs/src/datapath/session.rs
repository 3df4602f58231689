//! The data-plane half of one call: GRE sequence state, MPPE ciphers and
//! counters, owned by exactly one worker thread, and the pure functions that
//! turn a received GRE payload into an IP packet for the TUN device and an IP
//! packet from the TUN device into a GRE datagram (RFC 2637 §4, RFC 3078 §2).
//!
//! The functions work in place on the caller's buffer and allocate nothing:
//! decryption rewrites the received datagram, encryption writes the PPP, MPPE
//! and GRE headers into the headroom in front of the IP packet.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mschap::{MppeConfig, MppeDecryptor, MppeEncryptor, MppeError};
use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender, SequenceVerdict};

/// PPP protocol number of IPv4 (RFC 1332).
const PROTO_IPV4: u16 = 0x0021;
/// PPP protocol number of a compressed (here: MPPE-encrypted) datagram (RFC 1962).
const PROTO_COMPRESSED: u16 = 0x00fd;
/// Largest enhanced GRE header: 8 bytes + sequence + acknowledgement.
pub const GRE_HEADER_MAX: usize = 16;
/// `FF 03` + a two-byte protocol field (we never compress what we send).
pub const PPP_HEADER_LEN: usize = 4;
/// MPPE header + the uncompressed inner protocol field.
pub const MPPE_OVERHEAD: usize = mschap::MPPE_HEADER_LEN + 2;
/// Room the data path leaves in front of an IP packet read from the TUN device.
pub const HEADROOM: usize = GRE_HEADER_MAX + PPP_HEADER_LEN + MPPE_OVERHEAD;

/// Where the IP packet to encapsulate lies.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// Already in the slot, behind the headroom; this many bytes.
    InSlot(usize),
    /// Elsewhere.
    From(&'a [u8]),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::InSlot(len) => *len,
            Payload::From(packet) => packet.len(),
        }
    }
}

/// Counters of one session, shared with the control plane (relaxed atomics,
/// written by the owning worker only).
#[derive(Debug, Default)]
pub struct SessionStats {
    /// IP packets delivered to the TUN device.
    pub rx_packets: AtomicU64,
    /// Bytes of those packets.
    pub rx_bytes: AtomicU64,
    /// IP packets sent to the client.
    pub tx_packets: AtomicU64,
    /// Bytes of those packets.
    pub tx_bytes: AtomicU64,
    /// Packets dropped (late, undecryptable, cleartext while MPPE is required, ...).
    pub dropped: AtomicU64,
    /// Coarse time (seconds of the worker clock) of the last data packet either way.
    pub last_activity: AtomicU64,
}

impl SessionStats {
    fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The traffic totals as pppd logs them when a link ends (`Sent N bytes, received M bytes`),
/// seen from the gateway: sent = towards the client.
impl std::fmt::Display for SessionStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        write!(
            f,
            "sent {} bytes in {} packets, received {} bytes in {} packets, {} dropped",
            get(&self.tx_bytes),
            get(&self.tx_packets),
            get(&self.rx_bytes),
            get(&self.rx_packets),
            get(&self.dropped)
        )
    }
}

/// Whether and how payloads are encrypted.
enum Crypto {
    /// MPPE was not negotiated and is not required: IPv4 travels in cleartext.
    Clear,
    /// MPPE is required and the keys are not there yet: data is dropped.
    Pending,
    /// MPPE is on.
    Mppe {
        encryptor: Box<MppeEncryptor>,
        decryptor: Box<MppeDecryptor>,
    },
}

/// What a received GRE payload turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Upstream {
    /// An IP packet for the TUN device, at this range of the datagram.
    ToTun {
        /// Offset of the packet.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// A PPP control frame (LCP, CHAP, CCP, IPCP, ...) for the session's control task.
    ToControl {
        /// Offset of the frame.
        start: usize,
        /// Its length.
        len: usize,
    },
    /// An acknowledgement-only packet (or one with nothing else to do).
    Nothing,
    /// The stateful MPPE receiver lost sync: the control task must send a CCP Reset-Request.
    ResyncNeeded,
    /// Discarded, for this reason.
    Drop(DropReason),
}

/// Why a packet was discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A sequence number from the past or a duplicate.
    Late,
    /// A malformed PPP frame.
    BadFrame,
    /// Cleartext IP while MPPE is required, or encrypted data before the keys.
    NotEncrypted,
    /// MPPE refused the packet.
    Decrypt,
    /// A protocol we do not route (IPv6 data, for now).
    Protocol,
}

/// The data-plane state of one call.
pub struct DataSession {
    /// Our call ID: the key of GRE packets from the peer.
    pub call_id: CallId,
    /// The peer's call ID: the key of GRE packets we send.
    pub peer_call_id: CallId,
    /// The address of the control connection's peer; GRE from anywhere else is dropped.
    pub peer_addr: Ipv4Addr,
    /// Counters shared with the control plane.
    pub stats: Arc<SessionStats>,
    tx: GreSender,
    rx: GreReceiver,
    crypto: Crypto,
}

impl DataSession {
    /// A new call; data is dropped until [`set_crypto`](Self::set_crypto) or
    /// [`set_cleartext`](Self::set_cleartext).
    pub fn new(
        call_id: CallId,
        peer_call_id: CallId,
        peer_addr: Ipv4Addr,
        stats: Arc<SessionStats>,
    ) -> Self {
        Self {
            call_id,
            peer_call_id,
            peer_addr,
            stats,
            tx: GreSender::new(),
            rx: GreReceiver::new(),
            crypto: Crypto::Pending,
        }
    }

    /// Installs the MPPE start keys negotiated by CCP.
    pub fn set_crypto(&mut self, send_key: &[u8; 16], recv_key: &[u8; 16], config: MppeConfig) {
        self.crypto = Crypto::Mppe {
            encryptor: Box::new(MppeEncryptor::new(send_key, config)),
            decryptor: Box::new(MppeDecryptor::new(recv_key, config)),
        };
    }

    /// MPPE is off by configuration: IPv4 flows in cleartext.
    pub fn set_cleartext(&mut self) {
        self.crypto = Crypto::Clear;
    }

    /// The peer sent a CCP Reset-Request: flush our stateful encryptor.
    pub fn reset_encryptor(&mut self) {
        if let Crypto::Mppe { encryptor, .. } = &mut self.crypto {
            encryptor.reset();
        }
    }

    /// Whether an acknowledgement is owed to the peer.
    pub fn ack_owed(&self) -> bool {
        self.rx.ack_pending().is_some()
    }

    /// Handles the GRE part of a datagram (everything after the IPv4 header).
    /// `now_secs` is the worker's coarse clock, for idle detection.
    pub fn decapsulate(
        &mut self,
        gre: &mut [u8],
        header: &GreHeader,
        header_len: usize,
        now_secs: u64,
    ) -> Upstream {
        if let Some(seq) = header.seq {
            match self.rx.receive(seq) {
                // An acknowledgement becomes owed (the receiver keeps track of it).
                SequenceVerdict::Accept => {}
                // Overtaken on the way but within the window: deliver it (MPPE keeps the keys
                // of recent coherency counts for it).
                SequenceVerdict::Reordered => {}
                SequenceVerdict::Late | SequenceVerdict::Duplicate => {
                    SessionStats::count(&self.stats.dropped, 1);
                    return Upstream::Drop(DropReason::Late);
                }
            }
        }
        if let Some(ack) = header.ack {
            self.tx.acknowledged(ack);
        }
        let payload_len = usize::from(header.payload_len);
        if payload_len == 0 {
            return Upstream::Nothing;
        }
        let Some(frame) = gre.get_mut(header_len..header_len + payload_len) else {
            return Upstream::Drop(DropReason::BadFrame);
        };
        let (protocol, offset) = match ppp_header(frame) {
            Some(v) => v,
            None => return self.drop(DropReason::BadFrame),
        };
        let base = header_len + offset;
        match protocol {
            PROTO_COMPRESSED => {
                let Crypto::Mppe { decryptor, .. } = &mut self.crypto else {
                    return self.drop(DropReason::NotEncrypted);
                };
                let packet = &mut frame[offset..];
                let plain = match decryptor.decrypt(packet) {
                    Ok(plain) => plain,
                    Err(MppeError::ResyncNeeded) => return Upstream::ResyncNeeded,
                    Err(MppeError::Late { .. }) => return self.drop(DropReason::Late),
                    Err(_) => return self.drop(DropReason::Decrypt),
                };
                // Inside MPPE the protocol field is normally uncompressed; accept both.
                let (inner, skip) = match plain {
                    [0x00, p, ..] => (u16::from(*p), 2),
                    [p, ..] if *p & 1 == 1 => (u16::from(*p), 1),
                    _ => return self.drop(DropReason::BadFrame),
                };
                if inner != PROTO_IPV4 {
                    return self.drop(DropReason::Protocol);
                }
                let start = base + mschap::MPPE_HEADER_LEN + skip;
                let len = plain.len() - skip;
                self.count_rx(len, now_secs);
                Upstream::ToTun { start, len }
            }
            PROTO_IPV4 => {
                if !matches!(self.crypto, Crypto::Clear) {
                    return self.drop(DropReason::NotEncrypted);
                }
                let len = frame.len() - offset;
                self.count_rx(len, now_secs);
                Upstream::ToTun { start: base, len }
            }
            p if p & 0x8000 != 0 || p == 0xc021 || p == 0xc223 => Upstream::ToControl {
                start: header_len,
                len: payload_len,
            },
            _ => self.drop(DropReason::Protocol),
        }
    }

    fn drop(&mut self, reason: DropReason) -> Upstream {
        SessionStats::count(&self.stats.dropped, 1);
        Upstream::Drop(reason)
    }

    fn count_rx(&self, len: usize, now_secs: u64) {
        SessionStats::count(&self.stats.rx_packets, 1);
        SessionStats::count(&self.stats.rx_bytes, len as u64);
        self.stats.last_activity.store(now_secs, Ordering::Relaxed);
    }

    /// Encapsulates the IP packet at `slot[HEADROOM..HEADROOM + ip_len]` in
    /// place; returns the range of the finished GRE datagram, or `None` when it
    /// must be dropped (no keys yet while MPPE is required).
    pub fn encapsulate(
        &mut self,
        slot: &mut [u8],
        ip_len: usize,
        now_secs: u64,
    ) -> Option<(usize, usize)> {
        self.encapsulate_payload(slot, Payload::InSlot(ip_len), now_secs)
    }

    /// [`DataSession::encapsulate`] of `packet`, which lies elsewhere: it is
    /// encrypted straight into `slot` behind the headroom (one pass over the
    /// bytes instead of a copy and then the cipher).
    pub fn encapsulate_from(
        &mut self,
        slot: &mut [u8],
        packet: &[u8],
        now_secs: u64,
    ) -> Option<(usize, usize)> {
        self.encapsulate_payload(slot, Payload::From(packet), now_secs)
    }

    fn encapsulate_payload(
        &mut self,
        slot: &mut [u8],
        payload: Payload<'_>,
        now_secs: u64,
    ) -> Option<(usize, usize)> {
        let ip_len = payload.len();
        let end = HEADROOM + ip_len;
        if end > slot.len() {
            return None;
        }
        let ppp_start = match &mut self.crypto {
            Crypto::Pending => {
                SessionStats::count(&self.stats.dropped, 1);
                return None;
            }
            Crypto::Clear => {
                if let Payload::From(packet) = payload {
                    slot[HEADROOM..end].copy_from_slice(packet);
                }
                let start = HEADROOM - PPP_HEADER_LEN;
                slot[start..HEADROOM].copy_from_slice(&[0xff, 0x03, 0x00, 0x21]);
                start
            }
            Crypto::Mppe { encryptor, .. } => {
                let inner = HEADROOM - 2;
                let header = match payload {
                    Payload::InSlot(_) => {
                        slot[inner..HEADROOM].copy_from_slice(&PROTO_IPV4.to_be_bytes());
                        encryptor.encrypt(&mut slot[inner..end])
                    }
                    Payload::From(packet) => {
                        encryptor.encrypt_to(PROTO_IPV4, packet, &mut slot[inner..end])?
                    }
                };
                let mppe = inner - mschap::MPPE_HEADER_LEN;
                slot[mppe..inner].copy_from_slice(&header);
                let start = mppe - PPP_HEADER_LEN;
                slot[start..mppe].copy_from_slice(&[0xff, 0x03, 0x00, 0xfd]);
                start
            }
        };
        SessionStats::count(&self.stats.tx_packets, 1);
        SessionStats::count(&self.stats.tx_bytes, ip_len as u64);
        self.stats.last_activity.store(now_secs, Ordering::Relaxed);
        self.gre_header_before(slot, ppp_start, end - ppp_start)
    }

    /// Copies a PPP control frame into `slot` behind a GRE header (control
    /// frames are never encrypted); returns the datagram's range.
    pub fn encapsulate_frame(&mut self, slot: &mut [u8], frame: &[u8]) -> Option<(usize, usize)> {
        let end = GRE_HEADER_MAX + frame.len();
        slot.get_mut(GRE_HEADER_MAX..end)?.copy_from_slice(frame);
        self.gre_header_before(slot, GRE_HEADER_MAX, frame.len())
    }

    /// Builds an acknowledgement-only datagram in `slot` if one is owed.
    pub fn ack_only(&mut self, slot: &mut [u8]) -> Option<(usize, usize)> {
        let header = self.rx.ack_header(self.peer_call_id)?;
        let len = header.emit(slot).ok()?;
        Some((0, len))
    }

    fn gre_header_before(
        &mut self,
        slot: &mut [u8],
        payload_start: usize,
        payload_len: usize,
    ) -> Option<(usize, usize)> {
        let ack = self.rx.take_ack();
        let header = GreHeader {
            payload_len: u16::try_from(payload_len).ok()?,
            call_id: self.peer_call_id,
            seq: Some(self.tx.take_seq()),
            ack,
        };
        let header_len = header.len();
        let start = payload_start.checked_sub(header_len)?;
        header.emit(&mut slot[start..payload_start]).ok()?;
        Some((start, header_len + payload_len))
    }
}

/// Reads the PPP address/control and protocol fields, tolerating ACFC and PFC
/// (RFC 1661 §6.5-6.6): returns the protocol and where the information field starts.
fn ppp_header(frame: &[u8]) -> Option<(u16, usize)> {
    let offset = if frame.starts_with(&[0xff, 0x03]) {
        2
    } else {
        0
    };
    let first = *frame.get(offset)?;
    if first & 1 == 1 {
        return Some((u16::from(first), offset + 1));
    }
    let second = *frame.get(offset + 1)?;
    Some((u16::from_be_bytes([first, second]), offset + 2))
}

#[cfg(test)]
mod tests {
    //! Real bytes: GRE datagrams of the poptop ⇄ pptp-linux capture in
    //! `../shared/fixtures` (client → server frames 47, 49 and 52), decrypted with
    //! the server's start keys of that exchange.
    use super::*;
    use hex_literal::hex;
    use mschap::MppeStrength;
    use pptp_proto::gre::Ipv4Envelope;

    const SERVER_SEND: [u8; 16] = hex!("855a5718ed3c745cb819b80fbda807e8");
    const SERVER_RECV: [u8; 16] = hex!("dfba1760c6137d9e399600038be96236");
    const MPPE_128: MppeConfig = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };
    const FRAME_47: [u8; 89] = hex!(
        "45000059078e4000402f561d0a6464020a6464013081880b003500000000000b0000000bfd900048d73d1e76"
        "0c3675e3da146c20ab80227642472cb7242ddd1e9da09428db1be33b32f9e639732bb4e9295cd33ddbb592a185"
    );
    const FRAME_49: [u8; 121] = hex!(
        "45000079078f4000402f55fc0a6464020a6464013001880b005900000000000cfd90014b59e83556f819fa31"
        "ef10de33a91691ec55021b6526bfaca4eae4b2dfb212fd6ed4d76952d3ea3591d6320ec2763687e17f3391ea"
        "6f4fc0442904f06f6de1862892213efa9d0bb8f69b234cd33238f9939c807fc883"
    );
    const FRAME_52: [u8; 121] = hex!(
        "4500007907914000402f55fa0a6464020a6464013001880b005900000000000dfd90029d309f569fef0f415c"
        "b7a776c0f2afeceaa129f9945a6573482d0647f01cb2327c3c6bb4a81067922b71e22ccc34164684449a5811"
        "83fde825b0731c3814e9d75909f3c199b65bba6e8a903f8cdb5b5a34e5cb5547a6"
    );

    fn server_session() -> DataSession {
        let stats = Arc::new(SessionStats::default());
        let mut s = DataSession::new(
            CallId(0),
            CallId(27020),
            Ipv4Addr::new(10, 100, 100, 2),
            stats,
        );
        s.set_crypto(&SERVER_SEND, &SERVER_RECV, MPPE_128);
        s
    }

    /// Runs a captured IPv4 datagram through the session; returns the verdict and the GRE part.
    fn feed(session: &mut DataSession, datagram: &[u8]) -> (Upstream, Vec<u8>) {
        let mut buf = datagram.to_vec();
        let (envelope, ip_len) = Ipv4Envelope::parse(&buf).unwrap();
        assert_eq!(envelope.src, session.peer_addr);
        let gre = &mut buf[ip_len..];
        let (header, header_len) = GreHeader::parse(gre).unwrap();
        assert_eq!(header.call_id, session.call_id);
        let verdict = session.decapsulate(gre, &header, header_len, 7);
        (verdict, gre.to_vec())
    }

    #[test]
    fn captured_client_frames_decrypt_to_the_icmp_echo_requests() {
        let mut session = server_session();
        // Frame 47 (coherency count 0) carries IPv6, which we do not route.
        assert_eq!(
            feed(&mut session, &FRAME_47).0,
            Upstream::Drop(DropReason::Protocol)
        );
        for frame in [&FRAME_49[..], &FRAME_52[..]] {
            let (verdict, gre) = feed(&mut session, frame);
            let Upstream::ToTun { start, len } = verdict else {
                panic!("{verdict:?}")
            };
            let ip = &gre[start..start + len];
            assert_eq!(&ip[..4], &hex!("45000054"), "IPv4, 84 bytes");
            assert_eq!(
                &ip[12..20],
                &hex!("c0a800eac0a80001"),
                "192.168.0.234 -> 192.168.0.1"
            );
            assert_eq!(ip[9], 1, "ICMP");
            assert_eq!(ip[20], 8, "echo request");
        }
        assert_eq!(session.stats.rx_packets.load(Ordering::Relaxed), 2);
        assert_eq!(session.stats.last_activity.load(Ordering::Relaxed), 7);
        assert!(
            session.ack_owed(),
            "sequence numbers were accepted, an ack is owed"
        );
    }

    #[test]
    fn a_reordered_packet_is_delivered_once_and_a_replay_never() {
        let mut session = server_session();
        assert!(matches!(
            feed(&mut session, &FRAME_52).0,
            Upstream::ToTun { .. }
        ));
        // Frame 49 was overtaken by 52 (older sequence number and coherency count).
        let (verdict, gre) = feed(&mut session, &FRAME_49);
        let Upstream::ToTun { start, .. } = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(&gre[start + 12..start + 20], &hex!("c0a800eac0a80001"));
        assert_eq!(
            feed(&mut session, &FRAME_49).0,
            Upstream::Drop(DropReason::Late)
        );
        assert_eq!(
            feed(&mut session, &FRAME_52).0,
            Upstream::Drop(DropReason::Late)
        );
        assert_eq!(session.stats.rx_packets.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn data_before_the_keys_and_cleartext_while_mppe_is_required_are_dropped() {
        let stats = Arc::new(SessionStats::default());
        let mut pending = DataSession::new(
            CallId(0),
            CallId(27020),
            Ipv4Addr::new(10, 100, 100, 2),
            stats,
        );
        assert_eq!(
            feed(&mut pending, &FRAME_49).0,
            Upstream::Drop(DropReason::NotEncrypted)
        );
        let mut slot = [0u8; 256];
        assert_eq!(pending.encapsulate(&mut slot, 20, 0), None);

        // A cleartext IPv4 frame (protocol 0x0021) on an encrypted session.
        let mut session = server_session();
        let mut gre = hex!("3001880b00060000 00000001 ff0300214500").to_vec();
        let (header, header_len) = GreHeader::parse(&gre).unwrap();
        assert_eq!(
            session.decapsulate(&mut gre, &header, header_len, 0),
            Upstream::Drop(DropReason::NotEncrypted)
        );
    }

    #[test]
    fn control_frames_and_ack_only_packets_are_told_apart() {
        let mut session = server_session();
        // LCP Echo-Request, with address/control, sequence 5.
        let mut gre = hex!("3001880b000c0000 00000005 ff03c021 0901000800000000").to_vec();
        let (header, header_len) = GreHeader::parse(&gre).unwrap();
        assert_eq!(
            session.decapsulate(&mut gre, &header, header_len, 0),
            Upstream::ToControl { start: 12, len: 12 }
        );
        // Ack-only: A set, S clear, no payload.
        let mut ack = hex!("2081880b00000000 00000003").to_vec();
        let (header, header_len) = GreHeader::parse(&ack).unwrap();
        assert_eq!(
            session.decapsulate(&mut ack, &header, header_len, 0),
            Upstream::Nothing
        );
    }

    #[test]
    fn encapsulated_packets_decrypt_at_the_client_and_carry_the_owed_ack() {
        let mut session = server_session();
        let _ = feed(&mut session, &FRAME_49);
        let mut client = MppeDecryptor::new(&SERVER_SEND, MPPE_128);
        for n in 0..3u8 {
            let packet: Vec<u8> = (0..100u8).map(|b| b ^ n).collect();
            let mut slot = [0u8; 2048];
            slot[HEADROOM..HEADROOM + packet.len()].copy_from_slice(&packet);
            let (start, len) = session.encapsulate(&mut slot, packet.len(), 0).unwrap();
            let datagram = &mut slot[start..start + len];
            let (header, header_len) = GreHeader::parse(datagram).unwrap();
            assert_eq!(header.call_id, CallId(27020));
            assert_eq!(header.seq, Some(u32::from(n)));
            // The first packet carries the ack of sequence 12 (frame 49); the others owe none.
            assert_eq!(header.ack, if n == 0 { Some(12) } else { None });
            let ppp = &mut datagram[header_len..];
            assert_eq!(&ppp[..4], &[0xff, 0x03, 0x00, 0xfd]);
            let plain = client.decrypt(&mut ppp[4..]).unwrap();
            assert_eq!(&plain[..2], &[0x00, 0x21]);
            assert_eq!(&plain[2..], &packet[..]);
        }
        assert_eq!(session.stats.tx_packets.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn encapsulating_from_elsewhere_builds_the_same_datagram_as_in_place() {
        let mut in_place = server_session();
        let mut from = server_session();
        let _ = feed(&mut in_place, &FRAME_49);
        let _ = feed(&mut from, &FRAME_49);
        for n in 0..3u8 {
            let packet: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(n + 1)).collect();
            let mut expected = [0u8; 2048];
            expected[HEADROOM..HEADROOM + packet.len()].copy_from_slice(&packet);
            let (start, len) = in_place
                .encapsulate(&mut expected, packet.len(), 0)
                .unwrap();
            let mut slot = [0xaau8; 2048];
            assert_eq!(
                from.encapsulate_from(&mut slot, &packet, 0),
                Some((start, len))
            );
            assert_eq!(&slot[start..start + len], &expected[start..start + len]);
        }
        // A packet that does not fit the slot is refused.
        let mut small = [0u8; 64];
        assert_eq!(from.encapsulate_from(&mut small, &[0x45; 60], 0), None);
        assert_eq!(from.stats.tx_packets.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn an_ack_only_packet_is_built_when_owed_and_only_then() {
        let mut session = server_session();
        let mut slot = [0u8; 64];
        assert_eq!(session.ack_only(&mut slot), None);
        let _ = feed(&mut session, &FRAME_49);
        let (start, len) = session.ack_only(&mut slot).unwrap();
        let (header, header_len) = GreHeader::parse(&slot[start..start + len]).unwrap();
        assert_eq!(
            (header.seq, header.ack, header.payload_len, header_len),
            (None, Some(12), 0, len)
        );
        assert!(!session.ack_owed());
    }

    #[test]
    fn ppp_header_accepts_compressed_and_full_forms() {
        assert_eq!(
            ppp_header(&[0xff, 0x03, 0x00, 0x21, 0x45]),
            Some((0x0021, 4))
        );
        assert_eq!(ppp_header(&[0x00, 0xfd, 0x90]), Some((0x00fd, 2)));
        assert_eq!(ppp_header(&[0xfd, 0x90]), Some((0x00fd, 1)));
        assert_eq!(ppp_header(&[0xc0, 0x21, 0x01]), Some((0xc021, 2)));
        assert_eq!(ppp_header(&[0xff, 0x03]), None);
        assert_eq!(ppp_header(&[0x00]), None);
    }
}
