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
    ack_owed: bool,
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
            ack_owed: false,
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
        self.ack_owed
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
                SequenceVerdict::Accept => self.ack_owed = true,
                _ => {
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
                let start = HEADROOM - PPP_HEADER_LEN;
                slot[start..HEADROOM].copy_from_slice(&[0xff, 0x03, 0x00, 0x21]);
                start
            }
            Crypto::Mppe { encryptor, .. } => {
                let inner = HEADROOM - 2;
                slot[inner..HEADROOM].copy_from_slice(&PROTO_IPV4.to_be_bytes());
                let header = encryptor.encrypt(&mut slot[inner..end]);
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
        if !self.ack_owed {
            return None;
        }
        let header = GreHeader {
            payload_len: 0,
            call_id: self.peer_call_id,
            seq: None,
            ack: self.rx.take_ack(),
        };
        self.ack_owed = false;
        let len = header.emit(slot).ok()?;
        Some((0, len))
    }

    fn gre_header_before(
        &mut self,
        slot: &mut [u8],
        payload_start: usize,
        payload_len: usize,
    ) -> Option<(usize, usize)> {
        let ack = if self.ack_owed {
            self.rx.take_ack()
        } else {
            None
        };
        self.ack_owed = false;
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
