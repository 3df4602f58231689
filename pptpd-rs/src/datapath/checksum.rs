//! The internet checksum (RFC 1071) of IPv4 headers and TCP/UDP segments, summed in
//! etherparse's 64-bit word sums. A running sum takes several slices (a pseudo-header, then
//! the segment): an odd slice's last byte waits for the next slice's first, as if the
//! slices were one.
//!
//! Not the `internet-checksum` crate: its 0.2.1 drops a carry when a partial sum reaches all
//! ones (found by the `tun_read` fuzz target; wrong sums in release builds, an overflow
//! panic in debug ones).

use etherparse::checksum::Sum16BitWords;

/// A running internet checksum.
#[derive(Debug, Clone, Default)]
pub struct Checksum {
    sum: Sum16BitWords,
    /// The last byte of an odd slice, waiting for its partner.
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    /// The running sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768) of the IPv4
    /// header `ip_header` (at least 20 bytes), for `l4_len` bytes of TCP/UDP (an IPv4
    /// packet's always fit in 16 bits).
    pub fn ipv4_pseudo_header(ip_header: &[u8], protocol: u8, l4_len: usize) -> Checksum {
        let mut sum = Checksum::new();
        sum.add_bytes(&ip_header[12..20]);
        sum.add_bytes(&[0, protocol]);
        sum.add_bytes(&(l4_len as u16).to_be_bytes());
        sum
    }

    /// Adds `bytes`, continuing the byte sequence of the slices added before.
    pub fn add_bytes(&mut self, mut bytes: &[u8]) {
        if let (Some(first), Some((&second, rest))) = (self.pending, bytes.split_first()) {
            self.sum = std::mem::take(&mut self.sum).add_2bytes([first, second]);
            self.pending = None;
            bytes = rest;
        }
        if bytes.is_empty() {
            return;
        }
        let even = bytes.len() & !1;
        self.sum = std::mem::take(&mut self.sum).add_slice(&bytes[..even]);
        if even < bytes.len() {
            self.pending = Some(bytes[even]);
        }
    }

    /// The checksum, complemented, as the two bytes to write into a header; `[0, 0]` when
    /// the bytes added include a correct checksum.
    pub fn checksum(&self) -> [u8; 2] {
        let sum = match self.pending {
            Some(last) => self.sum.clone().add_2bytes([last, 0]),
            None => self.sum.clone(),
        };
        sum.ones_complement().to_ne_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 word by word, the reference.
    fn reference(bytes: &[u8]) -> [u8; 2] {
        let mut sum: u64 = bytes
            .chunks(2)
            .map(|c| u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
            .sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        (!(sum as u16)).to_be_bytes()
    }

    #[test]
    fn a_known_ipv4_header_sums_to_its_checksum_and_then_to_zero() {
        // RFC 1071-style example: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let mut sum = Checksum::new();
        sum.add_bytes(&header);
        assert_eq!(sum.checksum(), [0xb8, 0x61]);
        header[10..12].copy_from_slice(&[0xb8, 0x61]);
        let mut sum = Checksum::new();
        sum.add_bytes(&header);
        assert_eq!(sum.checksum(), [0, 0]);
    }

    #[test]
    fn any_split_into_slices_gives_the_sum_of_the_whole() {
        // Runs of ff bytes drive the partial sums to all ones, where internet-checksum 0.2.1
        // lost a carry.
        let mut data: Vec<u8> = vec![0xff; 300];
        data[7] = 0x12;
        data[150] = 0xfe;
        for len in [0, 1, 2, 3, 19, 20, 147, 300] {
            let bytes = &data[..len];
            for cut in 0..=len {
                for cut2 in cut..=len {
                    let mut sum = Checksum::new();
                    sum.add_bytes(&bytes[..cut]);
                    sum.add_bytes(&bytes[cut..cut2]);
                    sum.add_bytes(&bytes[cut2..]);
                    let (got, want) = (sum.checksum(), reference(bytes));
                    let same = got == want || (got == [0, 0] && want == [0xff, 0xff]);
                    assert!(same || (got == [0xff, 0xff] && want == [0, 0]), "len {len}");
                }
            }
        }
    }

    #[test]
    fn the_input_that_broke_internet_checksum_sums_right() {
        // The 147-byte packet of the tun_read fuzz finding: internet-checksum 0.2.1 gave
        // 00 d5 for it, RFC 1071 gives ff d4.
        let mut packet = vec![0u8; 147];
        packet[6] = 1;
        packet[70..119].fill(0xff);
        packet[141] = 42;
        assert_eq!(reference(&packet), [0xff, 0xd4]);
        let mut sum = Checksum::new();
        sum.add_bytes(&packet[..2]);
        sum.add_bytes(&packet[2..]);
        assert_eq!(sum.checksum(), [0xff, 0xd4]);
    }
}
