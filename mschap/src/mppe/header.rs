//! The 2-byte MPPE header (RFC 3078 §3): flag bits A B C D and the 12-bit coherency count.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|B|C|D|    Coherency Count    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Length of the MPPE header that precedes the ciphertext in a protocol 0x00FD payload.
pub const MPPE_HEADER_LEN: usize = 2;

/// Size of the coherency count space (12 bits).
pub(crate) const COUNT_SPACE: u16 = 0x1000;
/// Mask of the 12-bit coherency count.
pub(crate) const COUNT_MASK: u16 = COUNT_SPACE - 1;

/// Bit A, "flushed": the RC4 tables were re-initialised before this packet.
const BIT_FLUSHED: u8 = 0x80;
/// Bit B: MPPC history reset (meaningful only with compression).
const BIT_HISTORY_RESET: u8 = 0x40;
/// Bit C: the payload is MPPC-compressed.
const BIT_COMPRESSED: u8 = 0x20;
/// Bit D: the payload is encrypted.
const BIT_ENCRYPTED: u8 = 0x10;

/// A decoded MPPE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MppeHeader {
    /// Bit A: the sender re-initialised its RC4 tables (rekeyed) for this packet.
    pub flushed: bool,
    /// Bit B: MPPC history reset to the front (compression only).
    pub history_reset: bool,
    /// Bit C: the payload is MPPC-compressed.
    pub compressed: bool,
    /// Bit D: the payload is encrypted.
    pub encrypted: bool,
    /// The 12-bit coherency count (0..=4095).
    pub coherency_count: u16,
}

impl MppeHeader {
    /// Decodes the first two bytes of `bytes`; `None` if there are fewer than two.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let [flags, low, ..] = *bytes else {
            return None;
        };
        Some(Self {
            flushed: flags & BIT_FLUSHED != 0,
            history_reset: flags & BIT_HISTORY_RESET != 0,
            compressed: flags & BIT_COMPRESSED != 0,
            encrypted: flags & BIT_ENCRYPTED != 0,
            coherency_count: u16::from_be_bytes([flags & 0x0f, low]),
        })
    }

    /// Encodes the header; the coherency count is taken modulo 4096.
    pub fn encode(&self) -> [u8; MPPE_HEADER_LEN] {
        let [high, low] = (self.coherency_count & COUNT_MASK).to_be_bytes();
        let mut flags = high;
        for (set, bit) in [
            (self.flushed, BIT_FLUSHED),
            (self.history_reset, BIT_HISTORY_RESET),
            (self.compressed, BIT_COMPRESSED),
            (self.encrypted, BIT_ENCRYPTED),
        ] {
            if set {
                flags |= bit;
            }
        }
        [flags, low]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_stateless_header_of_the_capture() {
        // Frame 49 of the poptop capture: A and D set, coherency count 1.
        let header = MppeHeader::decode(&[0x90, 0x01]).unwrap();
        assert!(header.flushed && header.encrypted);
        assert!(!header.compressed && !header.history_reset);
        assert_eq!(header.coherency_count, 1);
        assert_eq!(header.encode(), [0x90, 0x01]);
    }

    #[test]
    fn count_uses_twelve_bits() {
        let header = MppeHeader::decode(&[0x2f, 0xff]).unwrap();
        assert!(header.compressed && !header.encrypted);
        assert_eq!(header.coherency_count, 0x0fff);
        let wide = MppeHeader {
            coherency_count: 0x1234,
            ..header
        };
        assert_eq!(wide.encode(), [0x22, 0x34]);
    }

    #[test]
    fn short_input_is_none() {
        assert_eq!(MppeHeader::decode(&[]), None);
        assert_eq!(MppeHeader::decode(&[0x90]), None);
    }
}
