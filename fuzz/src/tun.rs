//! Harnesses for the TUN device's packet handling: the write coalescer
//! (`pptpd::datapath::tun_coalesce`; the packets a worker writes after decryption are whatever a
//! client sent, so the coalescer parses untrusted IPv4/TCP/UDP headers) and the reader of
//! offloaded reads (`pptpd::datapath::tun_read`; what the kernel hands over comes from the
//! internet, and its virtio-net header's offsets point into it).

use pptpd::datapath::checksum::Checksum;
use pptpd::datapath::tun_coalesce::{VIRTIO_NET_HDR_LEN, WriteCoalescer};
use pptpd::datapath::tun_read::{self, MAX_SPLIT, SplitSlots, TunRead};

use crate::input::Input;

/// `tun_coalesce`: the input is a script of packets, each an operation octet and a chunk;
/// an odd operation first makes the chunk's IPv4 and TCP/UDP checksums right (so that
/// the coalescing rules, not only the checksum check, are explored). Every packet comes out
/// in exactly one write: a plain packet unchanged behind an empty header, or a train whose
/// segments (split at `gso_size` after `hdr_len` octets of headers) add up to the packets
/// that went into it.
pub fn tun_coalesce(data: &[u8]) {
    writes(data);
}

/// Runs [`tun_coalesce`] and returns how many writes the packets became.
pub fn writes(data: &[u8]) -> usize {
    coalesced_writes(data).len()
}

/// The writes (virtio-net header and packet or train) that [`tun_coalesce`] makes of `data`.
pub fn coalesced_writes(data: &[u8]) -> Vec<Vec<u8>> {
    let mut input = Input::new(data);
    let mut coalescer = WriteCoalescer::new(64);
    let mut pushed = Vec::new();
    let mut rounds = 0;
    let mut writes = Vec::new();
    while let (Some(op), Some(chunk)) = (input.byte(), input.chunk()) {
        let mut packet = chunk.to_vec();
        if op & 1 == 1 {
            fix_checksums(&mut packet);
        }
        coalescer.push(&packet);
        pushed.push(packet);
        if coalescer.is_full() {
            check_round(&mut coalescer, &pushed, &mut writes);
            pushed.clear();
            rounds += 1;
        }
        if rounds > 4 {
            break;
        }
    }
    check_round(&mut coalescer, &pushed, &mut writes);
    writes
}

/// Drains one round into `out` and checks that every octet that went in comes out.
fn check_round(coalescer: &mut WriteCoalescer, pushed: &[Vec<u8>], out: &mut Vec<Vec<u8>>) {
    assert_eq!(coalescer.packets(), pushed.len());
    let mut octets = 0usize;
    let mut writes = 0usize;
    coalescer.drain(|write| {
        writes += 1;
        out.push(write.to_vec());
        let (header, packet) = write.split_at(VIRTIO_NET_HDR_LEN);
        if header[1] == 0 {
            assert_eq!(
                header, [0; VIRTIO_NET_HDR_LEN],
                "a plain packet's header is empty"
            );
            octets += packet.len();
            return;
        }
        let hdr_len = usize::from(u16::from_ne_bytes([header[2], header[3]]));
        let gso_size = usize::from(u16::from_ne_bytes([header[4], header[5]]));
        assert!(
            gso_size > 0 && hdr_len < packet.len(),
            "a train has payload"
        );
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        assert_eq!(total, packet.len(), "the train's IPv4 total length");
        let segments = (packet.len() - hdr_len).div_ceil(gso_size);
        assert!((2..=64).contains(&segments), "{segments} segments");
        octets += packet.len() + (segments - 1) * hdr_len;
    });
    assert!(writes <= pushed.len());
    assert_eq!(
        octets,
        pushed.iter().map(Vec::len).sum::<usize>(),
        "octets lost or made up"
    );
}

/// Rewrites the IPv4 header checksum and, for TCP or UDP, the transport checksum of `packet`
/// where its header says they are (as far as the octets go).
fn fix_checksums(packet: &mut [u8]) {
    let Some(ihl) = packet.first().map(|b| usize::from(b & 0x0f) * 4) else {
        return;
    };
    if ihl < 20 || packet.len() < ihl {
        return;
    }
    packet[10..12].fill(0);
    let mut ip = Checksum::new();
    ip.add_bytes(&packet[..ihl]);
    let sum = ip.checksum();
    packet[10..12].copy_from_slice(&sum);
    let checksum_at = match packet[9] {
        6 => 16,
        17 => 6,
        _ => return,
    };
    let l4_len = packet.len() - ihl;
    if l4_len < checksum_at + 2 || l4_len > usize::from(u16::MAX) {
        return;
    }
    packet[ihl + checksum_at..ihl + checksum_at + 2].fill(0);
    let mut l4 = Checksum::ipv4_pseudo_header(packet, packet[9], l4_len);
    l4.add_bytes(&packet[ihl..]);
    let sum = l4.checksum();
    packet[ihl + checksum_at..ihl + checksum_at + 2].copy_from_slice(&sum);
}

/// Room the data path leaves in front of each split packet (its headroom).
const SPLIT_OFFSET: usize = 26;
/// Size of each buffer a train is split into (the data path's send slot).
const SPLIT_SLOT: usize = 2048;

/// `tun_read`: the input is one read of an offload queue, virtio-net header first. Whatever it
/// holds, nothing panics; a lone packet keeps its length and every octet outside a completed
/// checksum field; a split train keeps its addresses and its payload octets, in slots it fits.
pub fn tun_read(data: &[u8]) {
    let mut read = data.to_vec();
    let mut storage = vec![0u8; SPLIT_SLOT * MAX_SPLIT];
    let mut sizes = [0usize; MAX_SPLIT];
    let slots = SplitSlots {
        buf: &mut storage,
        slot_size: SPLIT_SLOT,
        offset: SPLIT_OFFSET,
        sizes: &mut sizes,
    };
    let Ok(what) = tun_read::take(&mut read, slots) else {
        return;
    };
    let packet_in = &data[VIRTIO_NET_HDR_LEN..];
    match what {
        TunRead::Packet(len) => {
            assert_eq!(len, packet_in.len(), "a lone packet keeps its length");
            let packet = tun_read::packet(&read, len).expect("the packet is in the read");
            let needs_checksum = data[0] & 1 == 1;
            let at = usize::from(u16::from_ne_bytes([data[6], data[7]]))
                + usize::from(u16::from_ne_bytes([data[8], data[9]]));
            for (i, (got, was)) in packet.iter().zip(packet_in).enumerate() {
                if !(needs_checksum && (at..at + 2).contains(&i)) {
                    assert_eq!(got, was, "octet {i} changed");
                }
            }
        }
        TunRead::Split(n) => {
            assert!((1..=MAX_SPLIT).contains(&n), "{n} packets");
            let csum_start = usize::from(u16::from_ne_bytes([data[6], data[7]]));
            let headers = csum_start
                + match data[1] & 0x7f {
                    1 => usize::from(packet_in[csum_start + 12] >> 4) * 4,
                    _ => 8,
                };
            let mut payload = 0;
            for (buf, &size) in storage.chunks(SPLIT_SLOT).zip(&sizes).take(n) {
                let packet = &buf[SPLIT_OFFSET..SPLIT_OFFSET + size];
                assert!(size >= headers, "a segment holds its headers");
                assert_eq!(packet[12..20], packet_in[12..20], "addresses kept");
                payload += size - headers;
            }
            assert_eq!(payload, packet_in.len() - headers, "payload octets kept");
        }
    }
}
