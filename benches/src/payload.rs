//! The test datagrams: UDP payloads that say which flow sent them and in what order and that
//! carry a checksum, and whole IPv4/UDP datagrams (RFC 791, RFC 768) for the tunnel's packet
//! generator, which builds what a client's kernel would send into its PPP interface.
//!
//! Payload layout (all numbers big-endian):
//! ```text
//! 0..4   magic "PPTB"
//! 4..8   flow (session) index
//! 8..16  sequence number within the flow
//! 16..20 check = fnv1a(filler) XOR fnv1a(bytes 0..16)
//! 20..   filler, a pattern fixed per flow and length
//! ```
//! The filler's hash is computed once per flow, so stamping a new sequence number costs a
//! hash of 16 bytes, not of the whole payload; a receiver that verifies a sample hashes all of
//! it.

use std::net::{Ipv4Addr, SocketAddrV4};

/// The first bytes of every payload.
pub const MAGIC: [u8; 4] = *b"PPTB";
/// Bytes of the payload header (magic, flow, sequence, check).
pub const HEADER_LEN: usize = 20;
/// IPv4 header (no options) plus UDP header.
pub const IP_UDP_HEADERS: usize = 28;
/// The smallest IPv4 datagram that holds a payload header.
pub const MIN_DATAGRAM: usize = IP_UDP_HEADERS + HEADER_LEN;

/// What a payload says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadHeader {
    /// The flow (session) index.
    pub flow: u32,
    /// The sequence number within the flow.
    pub seq: u64,
}

/// Why a payload or datagram failed verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Shorter than the header, or the lengths in the headers disagree.
    #[error("truncated")]
    Truncated,
    /// The magic is wrong: not one of our payloads.
    #[error("bad magic")]
    BadMagic,
    /// The check does not match the content.
    #[error("checksum mismatch")]
    BadCheck,
    /// The IPv4 header checksum is wrong, or it is not IPv4/UDP.
    #[error("bad IPv4 header")]
    BadIpHeader,
    /// The UDP checksum is wrong.
    #[error("bad UDP checksum")]
    BadUdpChecksum,
}

/// 32-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The filler of flow `flow`'s payloads, `len` bytes.
fn filler_byte(flow: u32, i: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (flow as u8) ^ 0x5a
}

/// A payload template for one flow and length: stamp sequence numbers into copies of it.
#[derive(Clone, Debug)]
pub struct PayloadTemplate {
    bytes: Vec<u8>,
    filler_hash: u32,
}

impl PayloadTemplate {
    /// The template for flow `flow`, `len` bytes long (at least [`HEADER_LEN`]).
    pub fn new(flow: u32, len: usize) -> Self {
        let len = len.max(HEADER_LEN);
        let mut bytes = vec![0u8; len];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..8].copy_from_slice(&flow.to_be_bytes());
        for (i, byte) in bytes[HEADER_LEN..].iter_mut().enumerate() {
            *byte = filler_byte(flow, i);
        }
        let filler_hash = fnv1a(&bytes[HEADER_LEN..]);
        PayloadTemplate { bytes, filler_hash }
    }

    /// The payload length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never empty (at least the header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the payload with sequence number `seq` into `out` (which must be [`len`](Self::len)
    /// bytes long).
    pub fn write(&self, seq: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.bytes);
        self.stamp(seq, out);
    }

    /// Rewrites only the sequence number and check of a payload written by [`write`](Self::write).
    pub fn stamp(&self, seq: u64, out: &mut [u8]) {
        if out.len() < HEADER_LEN {
            return;
        }
        out[8..16].copy_from_slice(&seq.to_be_bytes());
        let check = fnv1a(&out[..16]) ^ self.filler_hash;
        out[16..20].copy_from_slice(&check.to_be_bytes());
    }

    /// A payload with sequence number `seq`.
    pub fn payload(&self, seq: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        self.write(seq, &mut out);
        out
    }
}

/// Reads the flow and sequence number without checking anything else (the cheap per-packet path
/// of a receiver).
pub fn peek(payload: &[u8]) -> Option<PayloadHeader> {
    if payload.len() < HEADER_LEN || payload[..4] != MAGIC {
        return None;
    }
    let flow = u32::from_be_bytes(payload[4..8].try_into().ok()?);
    let seq = u64::from_be_bytes(payload[8..16].try_into().ok()?);
    Some(PayloadHeader { flow, seq })
}

/// Verifies a whole payload: magic, check over header and filler, and the filler pattern of
/// its flow.
pub fn verify(payload: &[u8]) -> Result<PayloadHeader, PayloadError> {
    if payload.len() < HEADER_LEN {
        return Err(PayloadError::Truncated);
    }
    let header = peek(payload).ok_or(PayloadError::BadMagic)?;
    let check = u32::from_be_bytes([payload[16], payload[17], payload[18], payload[19]]);
    if check != fnv1a(&payload[..16]) ^ fnv1a(&payload[HEADER_LEN..]) {
        return Err(PayloadError::BadCheck);
    }
    let pattern_ok = payload[HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &byte)| byte == filler_byte(header.flow, i));
    if !pattern_ok {
        return Err(PayloadError::BadCheck);
    }
    Ok(header)
}

/// The Internet checksum (RFC 1071) of `bytes`, folded, not yet complemented, added to `sum`.
fn ones_complement_sum(bytes: &[u8], mut sum: u32) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    !(ones_complement_sum(bytes, 0) as u16)
}

/// The UDP checksum (RFC 768) of `udp` (header and data) between `src` and `dst`.
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = 17;
    pseudo[10..12].copy_from_slice(&(udp.len() as u16).to_be_bytes());
    let sum = ones_complement_sum(udp, ones_complement_sum(&pseudo, 0));
    match !(sum as u16) {
        // RFC 768: an all-zero checksum is sent as all ones.
        0 => 0xffff,
        checksum => checksum,
    }
}

/// An IPv4/UDP datagram of `size` bytes in total (at least [`MIN_DATAGRAM`]) from `src` to
/// `dst`, carrying `template`'s payload with sequence number `seq` (the template must be
/// `size - 28` bytes long), with correct header and UDP checksums.
pub fn udp_datagram(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    template: &PayloadTemplate,
    seq: u64,
) -> Vec<u8> {
    let size = IP_UDP_HEADERS + template.len();
    let mut out = vec![0u8; size];
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    out[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
    out[6] = 0x40; // DF, as a Linux UDP socket with path-MTU discovery sends
    out[8] = 64;
    out[9] = 17;
    out[12..16].copy_from_slice(&src.ip().octets());
    out[16..20].copy_from_slice(&dst.ip().octets());
    let header_checksum = internet_checksum(&out[..20]);
    out[10..12].copy_from_slice(&header_checksum.to_be_bytes());
    out[20..22].copy_from_slice(&src.port().to_be_bytes());
    out[22..24].copy_from_slice(&dst.port().to_be_bytes());
    out[24..26].copy_from_slice(&((size - 20) as u16).to_be_bytes());
    template.write(seq, &mut out[IP_UDP_HEADERS..]);
    let checksum = udp_checksum(*src.ip(), *dst.ip(), &out[20..]);
    out[26..28].copy_from_slice(&checksum.to_be_bytes());
    out
}

/// A verified IPv4/UDP datagram: its addresses and what its payload says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedDatagram {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// The payload header.
    pub payload: PayloadHeader,
}

/// Verifies an IPv4/UDP datagram end to end: IPv4 header checksum, lengths, UDP checksum and
/// the payload.
pub fn verify_udp_datagram(datagram: &[u8]) -> Result<VerifiedDatagram, PayloadError> {
    if datagram.len() < IP_UDP_HEADERS {
        return Err(PayloadError::Truncated);
    }
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    if datagram[0] >> 4 != 4 || header_len < 20 || datagram[9] != 17 {
        return Err(PayloadError::BadIpHeader);
    }
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    if total > datagram.len() || total < header_len + 8 {
        return Err(PayloadError::Truncated);
    }
    if internet_checksum(&datagram[..header_len]) != 0 {
        return Err(PayloadError::BadIpHeader);
    }
    let ip = |at: usize| {
        Ipv4Addr::new(
            datagram[at],
            datagram[at + 1],
            datagram[at + 2],
            datagram[at + 3],
        )
    };
    let (src_ip, dst_ip) = (ip(12), ip(16));
    let udp = &datagram[header_len..total];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len != udp.len() {
        return Err(PayloadError::Truncated);
    }
    let sent_checksum = u16::from_be_bytes([udp[6], udp[7]]);
    if sent_checksum != 0 {
        let sum = ones_complement_sum(udp, {
            let mut pseudo = [0u8; 12];
            pseudo[..4].copy_from_slice(&src_ip.octets());
            pseudo[4..8].copy_from_slice(&dst_ip.octets());
            pseudo[9] = 17;
            pseudo[10..12].copy_from_slice(&(udp.len() as u16).to_be_bytes());
            ones_complement_sum(&pseudo, 0)
        });
        if sum != 0xffff {
            return Err(PayloadError::BadUdpChecksum);
        }
    }
    let payload = verify(&udp[8..])?;
    Ok(VerifiedDatagram {
        src: SocketAddrV4::new(src_ip, u16::from_be_bytes([udp[0], udp[1]])),
        dst: SocketAddrV4::new(dst_ip, u16::from_be_bytes([udp[2], udp[3]])),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_checksum_matches_a_known_ipv4_header() {
        // A textbook header whose checksum field holds 0xb861.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&header), 0xb861);
        header[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(internet_checksum(&header), 0);
    }

    #[test]
    fn stamped_payloads_verify_and_say_who_sent_them() {
        let template = PayloadTemplate::new(7, 1372);
        let mut buf = template.payload(0);
        for seq in [1u64, 2, 1 << 40, u64::MAX] {
            template.stamp(seq, &mut buf);
            assert_eq!(verify(&buf), Ok(PayloadHeader { flow: 7, seq }));
            assert_eq!(peek(&buf), Some(PayloadHeader { flow: 7, seq }));
        }
    }

    #[test]
    fn any_flipped_bit_or_swapped_flow_is_caught() {
        let template = PayloadTemplate::new(3, 100);
        let good = template.payload(42);
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert!(verify(&bad).is_err(), "flip at {at}");
        }
        // A payload of flow 4 claiming to be flow 3 (header rewritten, check recomputed).
        let mut other = PayloadTemplate::new(4, 100).payload(42);
        other[4..8].copy_from_slice(&3u32.to_be_bytes());
        let check = fnv1a(&other[..16]) ^ fnv1a(&other[HEADER_LEN..]);
        other[16..20].copy_from_slice(&check.to_be_bytes());
        assert_eq!(verify(&other), Err(PayloadError::BadCheck));
        assert_eq!(verify(&good[..10]), Err(PayloadError::Truncated));
    }

    #[test]
    fn datagrams_carry_valid_checksums_and_round_trip() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 64, 0, 1), 40000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 2), 9000);
        for size in [MIN_DATAGRAM, 64, 512, 1400] {
            let template = PayloadTemplate::new(5, size - IP_UDP_HEADERS);
            let datagram = udp_datagram(src, dst, &template, 99);
            assert_eq!(datagram.len(), size);
            assert_eq!(
                verify_udp_datagram(&datagram),
                Ok(VerifiedDatagram {
                    src,
                    dst,
                    payload: PayloadHeader { flow: 5, seq: 99 }
                })
            );
            let mut bad = datagram.clone();
            bad[size - 1] ^= 1;
            assert!(verify_udp_datagram(&bad).is_err());
            let mut bad = datagram.clone();
            bad[8] = 1; // TTL changed without fixing the header checksum
            assert_eq!(verify_udp_datagram(&bad), Err(PayloadError::BadIpHeader));
        }
    }
}
