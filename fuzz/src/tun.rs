//! Harness for the TUN write coalescer (`pptpd::datapath::tun_coalesce`): the packets a
//! worker writes after decryption are whatever a client sent, so the coalescer parses
//! untrusted IPv4/TCP/UDP headers.

use internet_checksum::Checksum;
use pptpd::datapath::tun_coalesce::{VIRTIO_NET_HDR_LEN, WriteCoalescer};

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
    let mut input = Input::new(data);
    let mut coalescer = WriteCoalescer::new(64);
    let mut pushed = Vec::new();
    let mut rounds = 0;
    let mut writes = 0;
    while let (Some(op), Some(chunk)) = (input.byte(), input.chunk()) {
        let mut packet = chunk.to_vec();
        if op & 1 == 1 {
            fix_checksums(&mut packet);
        }
        coalescer.push(&packet);
        pushed.push(packet);
        if coalescer.is_full() {
            writes += check_round(&mut coalescer, &pushed);
            pushed.clear();
            rounds += 1;
        }
        if rounds > 4 {
            break;
        }
    }
    writes + check_round(&mut coalescer, &pushed)
}

/// Drains one round, checks that every octet that went in comes out, and returns the
/// number of writes.
fn check_round(coalescer: &mut WriteCoalescer, pushed: &[Vec<u8>]) -> usize {
    assert_eq!(coalescer.packets(), pushed.len());
    let mut octets = 0usize;
    let mut writes = 0usize;
    coalescer.drain(|write| {
        writes += 1;
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
    writes
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
    let mut l4 = Checksum::new();
    l4.add_bytes(&packet[12..20]);
    l4.add_bytes(&[0, packet[9]]);
    l4.add_bytes(&(l4_len as u16).to_be_bytes());
    l4.add_bytes(&packet[ihl..]);
    let sum = l4.checksum();
    packet[ihl + checksum_at..ihl + checksum_at + 2].copy_from_slice(&sum);
}
