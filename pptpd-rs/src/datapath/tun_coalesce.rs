//! Coalescing of the packets written to the TUN device, generic receive offload done in
//! userspace: consecutive TCP or UDP segments of one flow in a write round become one
//! "train" behind a virtio-net header (virtio 1.2 §5.1.6.2, `struct virtio_net_hdr`; Linux
//! `Documentation/networking/segmentation-offloads.rst`), so that the kernel routes, filters
//! and NATs the train once and splits it again on the way out.
//!
//! The rules follow the kernel's own GRO (`tcp_gro_receive`, `udp_gro_receive`), on the
//! safe side:
//! - IPv4 without options, not fragmented; TCP or UDP with a payload;
//! - a segment joins only the newest train of its flow (5-tuple), so no flow is reordered;
//!   a packet of a flow that cannot join (a SYN, a pure ACK, a bad checksum, ...) starts a
//!   train of its own that nothing joins after it;
//! - every segment's IPv4 and TCP/UDP checksums are verified before it joins: the kernel
//!   computes the train's checksums anew, which must not launder a corrupt packet;
//! - IPv4 TOS, TTL and DF equal; TCP: consecutive sequence numbers, the same
//!   acknowledgement, window and options, flags ACK or ACK+PSH, and PSH ends a train;
//! - payloads no larger than the first one's; a shorter one ends the train; at most
//!   [`MAX_SEGMENTS`] segments and 64 KiB.
//!
//! A train of one packet is written as it came, behind an empty header. Buffers are
//! allocated once, with room for a whole train: nothing is allocated per packet.

use super::checksum::Checksum;

/// Length of `struct virtio_net_hdr` (without `num_buffers`), what the TUN device expects.
pub const VIRTIO_NET_HDR_LEN: usize = 10;

/// Most segments in one train: the kernel refuses UDP trains of more (`UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: u16 = 64;

/// Largest IPv4 packet, the limit of a train's total length.
const MAX_IPV4_LEN: usize = 65535;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub(super) const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub(super) const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`.
pub(super) const GSO_UDP_L4: u8 = 5;

const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub(super) const PROTO_UDP: u8 = 17;
const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const TCP_MIN_HEADER_LEN: usize = 20;
const TCP_FLAG_PSH: u8 = 0x08;
const TCP_FLAG_ACK: u8 = 0x10;
/// Offset of the checksum in the UDP header.
const UDP_CHECKSUM_AT: usize = 6;
/// Offset of the checksum in the TCP header.
const TCP_CHECKSUM_AT: usize = 16;
/// Offset of the flags byte in the TCP header.
const TCP_FLAGS_AT: usize = 13;

/// A flow: addresses, ports and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    addresses: [u8; 8],
    ports: [u8; 4],
    protocol: u8,
}

/// The IPv4 fields every segment of a train must share: TOS, TTL and the DF flag.
type IpFields = [u8; 3];

/// What a TCP segment adds to the flow rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpFields {
    seq: u32,
    ack: u32,
    window: u16,
    header_len: usize,
    flags: u8,
}

/// A packet that may join or start a train.
#[derive(Debug, Clone, Copy)]
struct Segment {
    key: FlowKey,
    ip: IpFields,
    /// `None` for UDP.
    tcp: Option<TcpFields>,
    /// Bytes of IPv4 and TCP/UDP header.
    header_len: usize,
    payload_len: usize,
}

/// How a packet takes part in coalescing.
#[derive(Debug, Clone, Copy)]
enum Class {
    /// Not TCP or UDP over plain IPv4: written alone, no flow.
    Other,
    /// A TCP or UDP packet that cannot join a train; later packets of its flow must not
    /// join an earlier train either.
    Barrier(FlowKey),
    /// A segment that may join or start a train.
    Segment(Segment),
}

impl Class {
    fn of(packet: &[u8]) -> Class {
        let Some(header) = packet.get(..IPV4_HEADER_LEN) else {
            return Class::Other;
        };
        let protocol = header[9];
        let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let fragment = u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0;
        if header[0] != 0x45
            || total_len != packet.len()
            || fragment
            || !matches!(protocol, PROTO_TCP | PROTO_UDP)
        {
            return Class::Other;
        }
        let l4 = &packet[IPV4_HEADER_LEN..];
        let Some(ports) = l4.get(..4) else {
            return Class::Other;
        };
        let key = FlowKey {
            addresses: header[12..20].try_into().unwrap_or_default(),
            ports: ports.try_into().unwrap_or_default(),
            protocol,
        };
        let barrier = Class::Barrier(key);
        let (tcp, l4_header_len) = if protocol == PROTO_UDP {
            let udp_len = l4
                .get(4..6)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
            let checksum = l4.get(6..8);
            // A zero UDP checksum means "none": nothing to verify, so nothing to coalesce.
            if udp_len != Some(l4.len()) || checksum == Some(&[0, 0]) || checksum.is_none() {
                return barrier;
            }
            (None, UDP_HEADER_LEN)
        } else {
            let Some(fixed) = l4.get(..TCP_MIN_HEADER_LEN) else {
                return barrier;
            };
            let header_len = usize::from(fixed[12] >> 4) * 4;
            let flags = fixed[TCP_FLAGS_AT];
            // Only ACK, with or without PSH (no SYN, FIN, RST, URG, ECE, CWR).
            if header_len < TCP_MIN_HEADER_LEN
                || header_len > l4.len()
                || flags & !TCP_FLAG_PSH != TCP_FLAG_ACK
            {
                return barrier;
            }
            let word = |at: usize| {
                u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
            };
            let tcp = TcpFields {
                seq: word(4),
                ack: word(8),
                window: u16::from_be_bytes([fixed[14], fixed[15]]),
                header_len,
                flags,
            };
            (Some(tcp), header_len)
        };
        let payload_len = l4.len() - l4_header_len;
        if payload_len == 0 || !checksums_valid(packet, protocol) {
            return barrier;
        }
        Class::Segment(Segment {
            key,
            ip: [header[1], header[8], header[6] & 0x40],
            tcp,
            header_len: IPV4_HEADER_LEN + l4_header_len,
            payload_len,
        })
    }
}

/// Whether the IPv4 header checksum and the TCP/UDP checksum (with the pseudo-header) of
/// `packet` (plain IPv4, lengths already checked) are right.
fn checksums_valid(packet: &[u8], protocol: u8) -> bool {
    let (header, l4) = packet.split_at(IPV4_HEADER_LEN);
    let mut ip = Checksum::new();
    ip.add_bytes(header);
    if ip.checksum() != [0, 0] {
        return false;
    }
    let mut sum = Checksum::ipv4_pseudo_header(header, protocol, l4.len());
    sum.add_bytes(l4);
    sum.checksum() == [0, 0]
}

/// One write to the TUN device: a virtio-net header and a packet or a train.
struct Train {
    buf: Vec<u8>,
    key: Option<FlowKey>,
    /// Whether a segment may still join.
    open: bool,
    ip: IpFields,
    tcp: Option<TcpFields>,
    header_len: usize,
    gso_size: usize,
    segments: u16,
    /// TCP: the sequence number the next segment must carry.
    next_seq: u32,
}

impl Train {
    fn with_capacity(capacity: usize) -> Train {
        Train {
            buf: Vec::with_capacity(capacity),
            key: None,
            open: false,
            ip: [0; 3],
            tcp: None,
            header_len: 0,
            gso_size: 0,
            segments: 0,
            next_seq: 0,
        }
    }

    /// Starts the train with `packet`, classified as `class`.
    fn start(&mut self, packet: &[u8], class: Class) {
        self.buf.clear();
        self.buf.resize(VIRTIO_NET_HDR_LEN, 0);
        self.buf.extend_from_slice(packet);
        self.segments = 1;
        self.open = false;
        self.key = None;
        match class {
            Class::Other => {}
            Class::Barrier(key) => self.key = Some(key),
            Class::Segment(s) => {
                self.key = Some(s.key);
                self.ip = s.ip;
                self.tcp = s.tcp;
                self.header_len = s.header_len;
                self.gso_size = s.payload_len;
                self.next_seq = s
                    .tcp
                    .map_or(0, |t| t.seq.wrapping_add(s.payload_len as u32));
                self.open = s.tcp.is_none_or(|t| t.flags & TCP_FLAG_PSH == 0);
            }
        }
    }

    /// The packet as written so far (after the virtio-net header).
    fn packet(&self) -> &[u8] {
        &self.buf[VIRTIO_NET_HDR_LEN..]
    }

    /// Whether `s` (the bytes `packet`) may be appended.
    fn accepts(&self, s: &Segment, packet: &[u8]) -> bool {
        if !self.open
            || self.ip != s.ip
            || s.payload_len > self.gso_size
            || self.segments >= MAX_SEGMENTS
            // Within the buffer's capacity too (allocated for the largest packet).
            || self.packet().len() + s.payload_len > MAX_IPV4_LEN
        {
            return false;
        }
        match (self.tcp, s.tcp) {
            (None, None) => true,
            (Some(mine), Some(theirs)) => {
                theirs.seq == self.next_seq
                    && theirs.ack == mine.ack
                    && theirs.window == mine.window
                    && theirs.header_len == mine.header_len
                    // The options (timestamps) must be the same bytes.
                    && packet[IPV4_HEADER_LEN + TCP_MIN_HEADER_LEN..s.header_len]
                        == self.packet()[IPV4_HEADER_LEN + TCP_MIN_HEADER_LEN..self.header_len]
            }
            _ => false,
        }
    }

    /// Appends the payload of `s` (the bytes `packet`).
    fn append(&mut self, s: &Segment, packet: &[u8]) {
        self.buf.extend_from_slice(&packet[s.header_len..]);
        self.segments += 1;
        if s.payload_len < self.gso_size {
            self.open = false;
        }
        if let Some(t) = s.tcp {
            self.next_seq = t.seq.wrapping_add(s.payload_len as u32);
            if t.flags & TCP_FLAG_PSH != 0 {
                self.buf[VIRTIO_NET_HDR_LEN + IPV4_HEADER_LEN + TCP_FLAGS_AT] |= TCP_FLAG_PSH;
                self.open = false;
            }
        }
    }

    /// Fills in the virtio-net header and, for a train of several segments, the IPv4 total
    /// length and checksum and the partial TCP/UDP checksum the kernel completes.
    fn finish(&mut self) -> &[u8] {
        let (header, packet) = self.buf.split_at_mut(VIRTIO_NET_HDR_LEN);
        if self.segments < 2 {
            header.fill(0);
            return &self.buf;
        }
        let total = packet.len();
        let l4_len = total - IPV4_HEADER_LEN;
        packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        packet[10..12].fill(0);
        let mut ip = Checksum::new();
        ip.add_bytes(&packet[..IPV4_HEADER_LEN]);
        packet[10..12].copy_from_slice(&ip.checksum());
        let (gso_type, checksum_at, protocol) = match self.tcp {
            Some(_) => (GSO_TCPV4, TCP_CHECKSUM_AT, PROTO_TCP),
            None => {
                let udp_len = &mut packet[IPV4_HEADER_LEN + 4..IPV4_HEADER_LEN + 6];
                udp_len.copy_from_slice(&(l4_len as u16).to_be_bytes());
                (GSO_UDP_L4, UDP_CHECKSUM_AT, PROTO_UDP)
            }
        };
        // The pseudo-header sum, folded but not complemented: the kernel adds the rest.
        let partial = !u16::from_be_bytes(
            Checksum::ipv4_pseudo_header(&packet[..IPV4_HEADER_LEN], protocol, l4_len).checksum(),
        );
        let at = IPV4_HEADER_LEN + checksum_at;
        packet[at..at + 2].copy_from_slice(&partial.to_be_bytes());
        // struct virtio_net_hdr, in the host's byte order (a legacy TUN device's).
        header[0] = F_NEEDS_CSUM;
        header[1] = gso_type;
        header[2..4].copy_from_slice(&(self.header_len as u16).to_ne_bytes());
        header[4..6].copy_from_slice(&(self.gso_size as u16).to_ne_bytes());
        header[6..8].copy_from_slice(&(IPV4_HEADER_LEN as u16).to_ne_bytes());
        header[8..10].copy_from_slice(&(checksum_at as u16).to_ne_bytes());
        &self.buf
    }
}

/// The packets of one write round, coalesced into trains.
pub struct WriteCoalescer {
    trains: Vec<Train>,
    used: usize,
    packets: usize,
}

impl WriteCoalescer {
    /// A coalescer for rounds of at most `max_packets` packets.
    pub fn new(max_packets: usize) -> WriteCoalescer {
        // Room for a whole train; pages are only touched as far as trains grow.
        let capacity = VIRTIO_NET_HDR_LEN + MAX_IPV4_LEN;
        WriteCoalescer {
            trains: (0..max_packets.max(1))
                .map(|_| Train::with_capacity(capacity))
                .collect(),
            used: 0,
            packets: 0,
        }
    }

    /// Packets pushed since the last [`drain`](Self::drain).
    pub fn packets(&self) -> usize {
        self.packets
    }

    /// Whether the round is full: [`drain`](Self::drain) before the next push.
    pub fn is_full(&self) -> bool {
        self.packets >= self.trains.len()
    }

    /// Adds one IP packet to the round (a full round drops it: drain first).
    pub fn push(&mut self, packet: &[u8]) {
        if self.is_full() || packet.len() > MAX_IPV4_LEN {
            return;
        }
        self.packets += 1;
        let class = Class::of(packet);
        let key = match class {
            Class::Other => None,
            Class::Barrier(key) => Some(key),
            Class::Segment(s) => Some(s.key),
        };
        if let Some(key) = key {
            let newest = self.trains[..self.used]
                .iter_mut()
                .rev()
                .find(|t| t.key == Some(key));
            if let (Some(train), Class::Segment(s)) = (newest, class)
                && train.accepts(&s, packet)
            {
                train.append(&s, packet);
                return;
            }
        }
        self.trains[self.used].start(packet, class);
        self.used += 1;
    }

    /// Hands each train of the round, virtio-net header first, to `write`, in the order
    /// the trains were started, and empties the round.
    pub fn drain(&mut self, mut write: impl FnMut(&[u8])) {
        let used = std::mem::take(&mut self.used);
        self.packets = 0;
        for train in &mut self.trains[..used] {
            write(train.finish());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Ipv4Header, PacketBuilder, SlicedPacket, TransportSlice};

    const CLIENT: [u8; 4] = [10, 64, 0, 2];
    const SERVER: [u8; 4] = [198, 51, 100, 2];

    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
    }

    fn udp(src_port: u16, len: usize, seed: u8) -> Vec<u8> {
        let builder = PacketBuilder::ipv4(CLIENT, SERVER, 64).udp(src_port, 53);
        let data = payload(len, seed);
        let mut out = Vec::new();
        builder.write(&mut out, &data).unwrap();
        out
    }

    fn tcp(seq: u32, len: usize, psh: bool) -> Vec<u8> {
        let mut builder = PacketBuilder::ipv4(CLIENT, SERVER, 64)
            .tcp(40000, 80, seq, 502)
            .ack(777);
        if psh {
            builder = builder.psh();
        }
        let data = payload(len, seq as u8);
        let mut out = Vec::new();
        builder.write(&mut out, &data).unwrap();
        out
    }

    /// The trains of one round, headers split off.
    fn round(packets: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut c = WriteCoalescer::new(64);
        for p in packets {
            c.push(p);
        }
        let mut out = Vec::new();
        c.drain(|buf| {
            let (h, p) = buf.split_at(VIRTIO_NET_HDR_LEN);
            out.push((h.to_vec(), p.to_vec()));
        });
        out
    }

    fn u16_ne(b: &[u8]) -> u16 {
        u16::from_ne_bytes([b[0], b[1]])
    }

    /// Splits a train as the kernel would (`gso_size` payload per segment, headers copied,
    /// sequence numbers advanced, PSH on the last only) and fills in the checksums: the
    /// packets that went in must come out byte for byte.
    fn segment(header: &[u8], train: &[u8]) -> Vec<Vec<u8>> {
        if header[1] == 0 {
            assert_eq!(
                header, [0; VIRTIO_NET_HDR_LEN],
                "a single packet has an empty header"
            );
            return vec![train.to_vec()];
        }
        assert_eq!(header[0], F_NEEDS_CSUM);
        let hdr_len = usize::from(u16_ne(&header[2..]));
        let gso_size = usize::from(u16_ne(&header[4..]));
        assert_eq!(usize::from(u16_ne(&header[6..])), IPV4_HEADER_LEN);
        let csum_at = IPV4_HEADER_LEN + usize::from(u16_ne(&header[8..]));
        // The partial checksum is the pseudo-header sum over the whole train.
        let protocol = train[9];
        let partial = !u16::from_be_bytes(
            Checksum::ipv4_pseudo_header(&train[..20], protocol, train.len() - 20).checksum(),
        );
        assert_eq!(train[csum_at..csum_at + 2], partial.to_be_bytes());
        let mut ip = Checksum::new();
        ip.add_bytes(&train[..20]);
        assert_eq!(ip.checksum(), [0, 0], "the train's IPv4 checksum is right");
        let chunks: Vec<&[u8]> = train[hdr_len..].chunks(gso_size).collect();
        let mut seq = u32::from_be_bytes(train[24..28].try_into().unwrap());
        let last_flags = train[IPV4_HEADER_LEN + TCP_FLAGS_AT];
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = train[..hdr_len].to_vec();
                p.extend_from_slice(chunk);
                let len = p.len();
                p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                p[10..12].fill(0);
                let mut ip = Checksum::new();
                ip.add_bytes(&p[..20]);
                p[10..12].copy_from_slice(&ip.checksum());
                if protocol == PROTO_UDP {
                    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
                } else {
                    p[24..28].copy_from_slice(&seq.to_be_bytes());
                    seq = seq.wrapping_add(chunk.len() as u32);
                    let last = i + 1 == chunks.len();
                    p[IPV4_HEADER_LEN + TCP_FLAGS_AT] = if last {
                        last_flags
                    } else {
                        last_flags & !TCP_FLAG_PSH
                    };
                }
                p[csum_at..csum_at + 2].fill(0);
                let mut l4 = Checksum::ipv4_pseudo_header(&p[..20], protocol, len - 20);
                l4.add_bytes(&p[20..]);
                p[csum_at..csum_at + 2].copy_from_slice(&l4.checksum());
                p
            })
            .collect()
    }

    fn segmented(trains: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
        trains.iter().flat_map(|(h, t)| segment(h, t)).collect()
    }

    #[test]
    fn a_udp_flow_becomes_one_train_that_splits_back_into_the_same_packets() {
        let packets: Vec<_> = (0..10).map(|i| udp(5000, 1372, i)).collect();
        let trains = round(&packets);
        assert_eq!(trains.len(), 1);
        assert_eq!(trains[0].0[1], GSO_UDP_L4);
        assert_eq!(
            u16_ne(&trains[0].0[4..]),
            1372,
            "gso_size is the payload length"
        );
        assert_eq!(u16_ne(&trains[0].0[2..]), 28, "hdr_len covers IPv4 and UDP");
        assert_eq!(segmented(&trains), packets);
    }

    #[test]
    fn a_tcp_flow_becomes_one_train_and_psh_ends_it() {
        let mss = 1360;
        let mut packets: Vec<_> = (0..5)
            .map(|i| tcp(1000 + i * mss as u32, mss, i == 4))
            .collect();
        packets.push(tcp(1000 + 5 * mss as u32, mss, false));
        let trains = round(&packets);
        assert_eq!(trains.len(), 2, "the segment after PSH starts a new train");
        assert_eq!(trains[0].0[1], GSO_TCPV4);
        assert_eq!(u16_ne(&trains[0].0[2..]), 40);
        assert_eq!(trains[1].0, [0; VIRTIO_NET_HDR_LEN]);
        assert_eq!(segmented(&trains), packets);
    }

    #[test]
    fn a_shorter_segment_is_the_last_of_its_train() {
        let packets = vec![udp(5000, 500, 1), udp(5000, 200, 2), udp(5000, 500, 3)];
        let trains = round(&packets);
        assert_eq!(trains.len(), 2);
        assert_eq!(segmented(&trains), packets);
    }

    #[test]
    fn interleaved_flows_keep_their_own_order() {
        let mut packets = Vec::new();
        for i in 0..8u8 {
            packets.push(udp(5000 + u16::from(i % 3), 600, i));
        }
        let trains = round(&packets);
        assert_eq!(trains.len(), 3, "one train per flow");
        let out = segmented(&trains);
        for port in 5000..5003u16 {
            let of_flow = |ps: &[Vec<u8>]| -> Vec<Vec<u8>> {
                ps.iter()
                    .filter(|p| u16::from_be_bytes([p[20], p[21]]) == port)
                    .cloned()
                    .collect()
            };
            assert_eq!(of_flow(&out), of_flow(&packets));
        }
    }

    #[test]
    fn a_gap_in_the_sequence_or_a_barrier_starts_a_new_train() {
        let gap = vec![tcp(1000, 100, false), tcp(1200, 100, false)];
        assert_eq!(round(&gap).len(), 2);
        // A pure ACK between two segments: the second must not join the first's train.
        let ack = tcp(1100, 0, false);
        let barrier = vec![tcp(1000, 100, false), ack, tcp(1100, 100, false)];
        let trains = round(&barrier);
        assert_eq!(trains.len(), 3);
        assert_eq!(segmented(&trains), barrier);
    }

    #[test]
    fn a_corrupt_segment_is_written_alone_and_unchanged() {
        let mut bad = udp(5000, 300, 2);
        bad[40] ^= 0xff;
        let mut bad_ip = udp(5000, 300, 3);
        bad_ip[8] ^= 1; // the TTL, under a stale header checksum
        let packets = vec![
            udp(5000, 300, 1),
            bad.clone(),
            udp(5000, 300, 4),
            bad_ip.clone(),
        ];
        let trains = round(&packets);
        assert_eq!(trains.len(), 4);
        assert_eq!(trains[1].1, bad);
        assert_eq!(trains[3].1, bad_ip);
        assert!(trains.iter().all(|(h, _)| h == &[0; VIRTIO_NET_HDR_LEN]));
    }

    #[test]
    fn what_cannot_be_coalesced_passes_unchanged() {
        let icmp = {
            let mut out = Vec::new();
            PacketBuilder::ipv4(CLIENT, SERVER, 64)
                .icmpv4_echo_request(1, 1)
                .write(&mut out, &[1, 2, 3, 4])
                .unwrap();
            out
        };
        let mut no_checksum = udp(6000, 100, 1);
        no_checksum[26..28].fill(0);
        let mut with_options = udp(7000, 100, 1);
        with_options[0] = 0x46;
        let mut fragment = udp(8000, 100, 1);
        fragment[6] |= 0x20;
        let mut ttl_differs = udp(5000, 100, 2);
        ttl_differs[8] = 63;
        let mut h = Ipv4Header::from_slice(&ttl_differs).unwrap().0;
        h.header_checksum = h.calc_header_checksum();
        ttl_differs[..20].copy_from_slice(&h.to_bytes());
        let packets = vec![
            icmp.clone(),
            icmp,
            no_checksum.clone(),
            no_checksum,
            with_options.clone(),
            with_options,
            fragment.clone(),
            fragment,
            udp(5000, 100, 1),
            ttl_differs,
            vec![0x45, 0, 0],
            vec![],
        ];
        let trains = round(&packets);
        assert_eq!(trains.len(), packets.len(), "nothing coalesced");
        let out: Vec<_> = trains.into_iter().map(|(_, p)| p).collect();
        assert_eq!(out, packets);
    }

    #[test]
    fn trains_stop_at_64_segments_and_64_kib() {
        let small: Vec<_> = (0..64).map(|i| udp(5000, 10, i)).collect();
        let mut c = WriteCoalescer::new(200);
        for p in small.iter().chain(small.iter()) {
            c.push(p);
        }
        let mut sizes = Vec::new();
        c.drain(|b| sizes.push(b.len()));
        assert_eq!(sizes.len(), 2, "64 segments per train");
        let big: Vec<_> = (0..60).map(|i| udp(5000, 1372, i)).collect();
        let trains = round(&big);
        assert!(trains.iter().all(|(_, t)| t.len() <= MAX_IPV4_LEN));
        assert_eq!(trains.len(), 2);
        assert_eq!(segmented(&trains), big);
    }

    #[test]
    fn a_full_round_refuses_more_and_drain_empties_it() {
        let mut c = WriteCoalescer::new(2);
        c.push(&udp(5000, 100, 1));
        c.push(&udp(5001, 100, 1));
        assert!(c.is_full());
        c.push(&udp(5002, 100, 1));
        let mut n = 0;
        c.drain(|_| n += 1);
        assert_eq!(n, 2);
        assert_eq!(c.packets(), 0);
        assert!(!c.is_full());
    }

    #[test]
    fn parsed_trains_are_what_etherparse_reads() {
        let packets: Vec<_> = (0..3).map(|i| tcp(1 + i * 100, 100, false)).collect();
        let trains = round(&packets);
        let parsed = SlicedPacket::from_ip(&trains[0].1).unwrap();
        let Some(TransportSlice::Tcp(t)) = parsed.transport else {
            panic!("not TCP");
        };
        assert_eq!(t.sequence_number(), 1);
        assert_eq!(t.payload().len(), 300);
    }
}
