//! What one read from a TUN queue with virtio-net headers holds (virtio 1.2 §5.1.6.2,
//! `struct virtio_net_hdr`; Linux `Documentation/networking/segmentation-offloads.rst`):
//! the header is decoded and checked, and then either
//! - a lone packet (`gso_type` none) stays where the read put it, its partial TCP/UDP
//!   checksum completed in place when the header says so (`VIRTIO_NET_HDR_F_NEEDS_CSUM`,
//!   the kernel's `CHECKSUM_PARTIAL`): the caller encrypts it from there, with no copy; or
//! - a segment train (TSO/USO) is split into packets in the caller's buffers by tun-rs's
//!   `gso_split`, after the header lengths are re-derived from the packet itself (on the
//!   forwarding path the kernel's `hdr_len` may span the whole first segment).
//!
//! The bytes come from the kernel, but they are packets someone on the internet sent:
//! nothing here trusts a length field, and every malformed read is a typed error.

use super::checksum::Checksum;
use tun_rs::{VirtioNetHdr, gso_split};

use super::tun_coalesce::{F_NEEDS_CSUM, GSO_TCPV4, GSO_UDP_L4, PROTO_UDP, VIRTIO_NET_HDR_LEN};

/// `VIRTIO_NET_HDR_GSO_NONE`.
const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_ECN`, a flag on the GSO type.
const GSO_ECN: u8 = 0x80;
const UDP_HEADER_LEN: u16 = 8;
const TCP_MIN_HEADER_LEN: u16 = 20;
const TCP_MAX_HEADER_LEN: u16 = 60;

/// What a read turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunRead {
    /// One packet, in place after the virtio-net header; this many bytes.
    Packet(usize),
    /// A segment train, split into this many packets in the caller's buffers.
    Split(usize),
}

/// Why a read was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunReadError {
    /// The read is no longer than the virtio-net header.
    #[error("a read of {0} bytes holds no packet behind its virtio-net header")]
    Short(usize),
    /// The partial checksum's place lies outside the packet.
    #[error("checksum at {start}+{offset} lies outside a {len}-byte packet")]
    ChecksumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The packet's length.
        len: usize,
    },
    /// A GSO type other than TCP over IPv4 or UDP.
    #[error("unsupported GSO type {0:#x}")]
    GsoType(u8),
    /// A train whose headers do not fit the packet.
    #[error("malformed segment train: {0}")]
    Train(&'static str),
    /// tun-rs refused to split the train.
    #[error("segment train not split: {0}")]
    Split(String),
}

/// Most packets one read may split into (tun-rs's batch size; a 64 KiB train of TCP segments
/// fits).
pub const MAX_SPLIT: usize = tun_rs::IDEAL_BATCH_SIZE;

/// Where a train is split: consecutive slots of `slot_size` bytes in `buf`, each packet at
/// `offset` in its slot, its length in `sizes`.
pub struct SplitSlots<'a> {
    /// The slots, back to back.
    pub buf: &'a mut [u8],
    /// Bytes per slot.
    pub slot_size: usize,
    /// Where in its slot each packet starts (room for headers in front).
    pub offset: usize,
    /// The length of the packet in each slot.
    pub sizes: &'a mut [usize],
}

/// Takes the read `read` (virtio-net header and packet): a lone packet stays in place
/// ([`packet`] finds it), a train is split into `slots` (packet `i` at
/// `buf[i * slot_size + offset..][..sizes[i]]`).
pub fn take(read: &mut [u8], slots: SplitSlots<'_>) -> Result<TunRead, TunReadError> {
    if read.len() <= VIRTIO_NET_HDR_LEN {
        return Err(TunReadError::Short(read.len()));
    }
    let (header, packet) = read.split_at_mut(VIRTIO_NET_HDR_LEN);
    let mut hdr = VirtioNetHdr::decode(header).map_err(|_| TunReadError::Short(header.len()))?;
    if hdr.gso_type == GSO_NONE {
        if hdr.flags & F_NEEDS_CSUM != 0 {
            complete_checksum(packet, hdr.csum_start, hdr.csum_offset)?;
        }
        return Ok(TunRead::Packet(packet.len()));
    }
    let gso_type = hdr.gso_type & !GSO_ECN;
    let l4_header_len = match gso_type {
        GSO_UDP_L4 => UDP_HEADER_LEN,
        GSO_TCPV4 => {
            let offset_byte = usize::from(hdr.csum_start) + 12;
            let data_offset = packet
                .get(offset_byte)
                .ok_or(TunReadError::Train("TCP header past the end"))?;
            let len = u16::from(data_offset >> 4) * 4;
            if !(TCP_MIN_HEADER_LEN..=TCP_MAX_HEADER_LEN).contains(&len) {
                return Err(TunReadError::Train("TCP header length out of range"));
            }
            len
        }
        other => return Err(TunReadError::GsoType(other)),
    };
    if packet.first().map(|b| b >> 4) != Some(4) {
        return Err(TunReadError::Train("not IPv4"));
    }
    // The kernel's hdr_len may cover the whole first segment on the forwarding path: the
    // headers end where the TCP/UDP header does.
    hdr.hdr_len = hdr
        .csum_start
        .checked_add(l4_header_len)
        .filter(|&end| usize::from(end) <= packet.len())
        .ok_or(TunReadError::Train("headers past the end"))?;
    if usize::from(hdr.hdr_len) == packet.len() {
        return Err(TunReadError::Train("no payload"));
    }
    // The slice of slots is built for trains only: for a lone packet it would be a 2 KiB
    // copy for nothing.
    let slot_size = slots.slot_size.max(1);
    let mut chunks = slots.buf.chunks_exact_mut(slot_size);
    let mut out: [&mut [u8]; MAX_SPLIT] =
        std::array::from_fn(|_| chunks.next().unwrap_or_default());
    let n = gso_split(packet, hdr, &mut out, slots.sizes, slots.offset, false)
        .map_err(|e| TunReadError::Split(e.to_string()))?;
    Ok(TunRead::Split(n))
}

/// The lone packet a [`TunRead::Packet`] of `len` bytes left in `read`.
pub fn packet(read: &[u8], len: usize) -> Option<&[u8]> {
    read.get(VIRTIO_NET_HDR_LEN..VIRTIO_NET_HDR_LEN.checked_add(len)?)
}

/// Completes a partial checksum as the kernel's `skb_checksum_help` does: the field holds
/// the folded pseudo-header sum; the one's-complement sum from `start` on, complemented,
/// replaces it (0 becomes `ffff` for UDP, where 0 would mean "no checksum").
fn complete_checksum(packet: &mut [u8], start: u16, offset: u16) -> Result<(), TunReadError> {
    let outside = TunReadError::ChecksumOutside {
        start,
        offset,
        len: packet.len(),
    };
    let at = usize::from(start) + usize::from(offset);
    let Some(field) = packet.get_mut(at..at + 2) else {
        return Err(outside);
    };
    let partial = [field[0], field[1]];
    field.fill(0);
    let mut sum = Checksum::new();
    sum.add_bytes(&partial);
    sum.add_bytes(&packet[usize::from(start)..]);
    let mut checksum = sum.checksum();
    if checksum == [0, 0] && packet.get(9) == Some(&PROTO_UDP) {
        checksum = [0xff, 0xff];
    }
    packet[at..at + 2].copy_from_slice(&checksum);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::tun_coalesce::WriteCoalescer;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    const CLIENT: [u8; 4] = [10, 64, 0, 2];
    const SERVER: [u8; 4] = [198, 51, 100, 7];

    fn udp(id: u16, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ (id as u8)).collect();
        let mut out = Vec::new();
        PacketBuilder::ipv4(SERVER, CLIENT, 64)
            .udp(53, 40000)
            .write(&mut out, &payload)
            .unwrap();
        out[4..6].copy_from_slice(&id.to_be_bytes());
        fix_ip_checksum(&mut out);
        out
    }

    fn tcp(seq: u32, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7)).collect();
        let mut out = Vec::new();
        PacketBuilder::ipv4(SERVER, CLIENT, 64)
            .tcp(443, 40000, seq, 1000)
            .ack(77)
            .write(&mut out, &payload)
            .unwrap();
        out
    }

    fn fix_ip_checksum(packet: &mut [u8]) {
        packet[10..12].fill(0);
        let mut sum = Checksum::new();
        sum.add_bytes(&packet[..20]);
        let c = sum.checksum();
        packet[10..12].copy_from_slice(&c);
    }

    fn read_of(header: VirtioNetHdr, packet: &[u8]) -> Vec<u8> {
        let mut read = vec![0u8; VIRTIO_NET_HDR_LEN];
        header.encode(&mut read).unwrap();
        read.extend_from_slice(packet);
        read
    }

    fn take_all(read: &mut [u8]) -> Result<(TunRead, Vec<Vec<u8>>), TunReadError> {
        const OFFSET: usize = 26;
        const SLOT: usize = 2048;
        let mut storage = vec![0u8; SLOT * MAX_SPLIT];
        let mut sizes = [0usize; MAX_SPLIT];
        let slots = SplitSlots {
            buf: &mut storage,
            slot_size: SLOT,
            offset: OFFSET,
            sizes: &mut sizes,
        };
        let what = take(read, slots)?;
        let packets = match what {
            TunRead::Packet(len) => vec![packet(read, len).unwrap().to_vec()],
            TunRead::Split(n) => (0..n)
                .map(|i| storage[i * SLOT + OFFSET..][..sizes[i]].to_vec())
                .collect(),
        };
        Ok((what, packets))
    }

    /// The kernel's own partial checksum: the folded pseudo-header sum, not complemented.
    fn with_partial_checksum(packet: &[u8], checksum_at: usize) -> Vec<u8> {
        let mut partial = packet.to_vec();
        let sum = Checksum::ipv4_pseudo_header(packet, packet[9], packet.len() - 20);
        let folded = !u16::from_be_bytes(sum.checksum());
        partial[20 + checksum_at..22 + checksum_at].copy_from_slice(&folded.to_be_bytes());
        partial
    }

    #[test]
    fn a_lone_packet_stays_in_place_unchanged() {
        let original = udp(1, 1372);
        let mut read = read_of(VirtioNetHdr::default(), &original);
        let (what, packets) = take_all(&mut read).unwrap();
        assert_eq!(what, TunRead::Packet(original.len()));
        assert_eq!(packets, vec![original]);
    }

    #[test]
    fn a_partial_checksum_is_completed_to_the_packets_real_one() {
        for (original, checksum_at) in [(udp(2, 1372), 6), (tcp(9, 1360), 16), (udp(3, 1), 6)] {
            let partial = with_partial_checksum(&original, checksum_at);
            assert_ne!(partial, original);
            let header = VirtioNetHdr {
                flags: F_NEEDS_CSUM,
                csum_start: 20,
                csum_offset: checksum_at as u16,
                ..VirtioNetHdr::default()
            };
            let mut read = read_of(header, &partial);
            let (_, packets) = take_all(&mut read).unwrap();
            assert_eq!(packets, vec![original]);
        }
    }

    #[test]
    fn trains_written_by_the_coalescer_split_back_into_their_packets() {
        let udp_run: Vec<Vec<u8>> = (0..10).map(|_| udp(0, 1372)).collect();
        let tcp_run: Vec<Vec<u8>> = (0..10).map(|i| tcp(1 + i * 1360, 1360)).collect();
        for run in [udp_run, tcp_run] {
            let mut coalescer = WriteCoalescer::new(64);
            for p in &run {
                coalescer.push(p);
            }
            let mut writes = Vec::new();
            coalescer.drain(|w| writes.push(w.to_vec()));
            assert_eq!(writes.len(), 1, "one train");
            // The kernel completes the partial checksum and would hand the same train back.
            let (what, packets) = take_all(&mut writes[0]).unwrap();
            assert_eq!(what, TunRead::Split(run.len()));
            for (got, want) in packets.iter().zip(&run) {
                let got = SlicedPacket::from_ip(got).unwrap();
                let want_sliced = SlicedPacket::from_ip(want).unwrap();
                let payload = |s: &SlicedPacket<'_>| match &s.transport {
                    Some(TransportSlice::Udp(u)) => u.payload().to_vec(),
                    Some(TransportSlice::Tcp(t)) => t.payload().to_vec(),
                    _ => panic!("no transport"),
                };
                assert_eq!(payload(&got), payload(&want_sliced));
            }
            // Every split packet carries valid checksums.
            for p in &packets {
                let mut ip = Checksum::new();
                ip.add_bytes(&p[..20]);
                assert_eq!(ip.checksum(), [0, 0]);
                let mut l4 = Checksum::ipv4_pseudo_header(p, p[9], p.len() - 20);
                l4.add_bytes(&p[20..]);
                assert_eq!(l4.checksum(), [0, 0]);
            }
        }
    }

    #[test]
    fn malformed_reads_are_typed_errors() {
        let mut short = vec![0u8; VIRTIO_NET_HDR_LEN];
        assert_eq!(
            take_all(&mut short).unwrap_err(),
            TunReadError::Short(VIRTIO_NET_HDR_LEN)
        );
        let outside = VirtioNetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 2000,
            ..VirtioNetHdr::default()
        };
        let mut read = read_of(outside, &udp(1, 100));
        assert!(matches!(
            take_all(&mut read).unwrap_err(),
            TunReadError::ChecksumOutside { .. }
        ));
        let ipv6_tcp = VirtioNetHdr {
            gso_type: 4,
            gso_size: 100,
            ..VirtioNetHdr::default()
        };
        let mut read = read_of(ipv6_tcp, &udp(1, 400));
        assert_eq!(take_all(&mut read).unwrap_err(), TunReadError::GsoType(4));
        let past_end = VirtioNetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 100,
            csum_start: 500,
            csum_offset: 16,
            ..VirtioNetHdr::default()
        };
        let mut read = read_of(past_end, &tcp(1, 100));
        assert!(matches!(
            take_all(&mut read).unwrap_err(),
            TunReadError::Train(_)
        ));
        let zero_gso = VirtioNetHdr {
            gso_type: GSO_UDP_L4,
            gso_size: 0,
            csum_start: 20,
            csum_offset: 6,
            ..VirtioNetHdr::default()
        };
        let mut read = read_of(zero_gso, &udp(1, 400));
        assert!(matches!(
            take_all(&mut read).unwrap_err(),
            TunReadError::Split(_)
        ));
        // A train of headers alone (found by the fuzzer: gso_split makes no packets of it).
        let headers_only = VirtioNetHdr {
            gso_size: 100,
            ..zero_gso
        };
        let mut read = read_of(headers_only, &udp(1, 0));
        assert_eq!(
            take_all(&mut read).unwrap_err(),
            TunReadError::Train("no payload")
        );
    }
}
