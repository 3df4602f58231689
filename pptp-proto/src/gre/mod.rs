//! The enhanced GRE header of PPTP, RFC 2637 §4.1, which carries the PPP frames of a call.
//!
//! ```text
//! |C|R|K|S|s|Recur|A| Flags | Ver |        Protocol Type (0x880B)      |
//! |    Key (HW) Payload Length     |        Key (LW) Call ID            |
//! |                  Sequence Number (Optional)                          |
//! |               Acknowledgment Number (Optional)                       |
//! ```
//!
//! "C (Bit 0) Checksum Present. Set to zero (0). R (Bit 1) Routing Present. Set to zero (0).
//! K (Bit 2) Key Present. Set to one (1). S (Bit 3) Sequence Number Present. Set to one (1) if
//! a payload (data) packet is present. Set to zero (0) if payload is not present (GRE packet
//! is an Acknowledgment only). s (Bit 4) Strict source route present. Set to zero (0). Recur
//! (Bits 5-7) Recursion control. Set to zero (0). A (Bit 8) Acknowledgment sequence number
//! present. [...] Flags (Bits 9-12) Must be set to zero (0). Ver (Bits 13-15) Must contain 1
//! (enhanced GRE). Protocol Type Set to hex 880B." An acknowledgement-only packet carries its
//! Acknowledgment Number where the Sequence Number would be.
//!
//! The Call ID in the Key is always the *receiver's* Call ID for the call.

pub mod ipv4;
pub mod sequence;

pub use crate::gre::ipv4::Ipv4Envelope;
pub use crate::gre::sequence::{
    GreReceiver, GreSender, REORDER_WINDOW, SequenceVerdict, seq_after,
};

use crate::call_id::CallId;
use crate::error::GreError;

/// GRE Protocol Type of PPTP: PPP (0x880B).
pub const PROTOCOL_PPP: u16 = 0x880B;
/// GRE version of enhanced GRE.
pub const VERSION: u8 = 1;
/// Length of a header with neither sequence nor acknowledgement number (never valid alone).
pub const MIN_HEADER_LEN: usize = 8;
/// Length of a header with both sequence and acknowledgement number.
pub const MAX_HEADER_LEN: usize = 16;

/// First octet: Checksum Present.
const FLAG_C: u8 = 0x80;
/// First octet: Routing Present.
const FLAG_R: u8 = 0x40;
/// First octet: Key Present.
const FLAG_K: u8 = 0x20;
/// First octet: Sequence Number Present.
const FLAG_S: u8 = 0x10;
/// First octet: Strict Source Route.
const FLAG_STRICT: u8 = 0x08;
/// First octet: Recursion Control.
const RECURSION: u8 = 0x07;
/// Second octet: Acknowledgment Number Present.
const FLAG_A: u8 = 0x80;
/// Second octet: the reserved Flags bits.
const RESERVED_FLAGS: u8 = 0x78;
/// Second octet: the version.
const VERSION_MASK: u8 = 0x07;

/// A validated enhanced GRE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GreHeader {
    /// Payload Length: octets after the header (0 in an acknowledgement-only packet).
    pub payload_len: u16,
    /// The receiver's Call ID for this call.
    pub call_id: CallId,
    /// The Sequence Number, present in every packet that carries a payload.
    pub seq: Option<u32>,
    /// The highest sequence number the sender has received from the receiver, if present.
    pub ack: Option<u32>,
}

/// Reads the big-endian word at `at` (the caller has checked the length).
fn word_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    Some(u32::from_be_bytes(word))
}

impl GreHeader {
    /// A data packet header: `payload_len` octets with sequence number `seq`, optionally
    /// acknowledging `ack`.
    pub const fn data(call_id: CallId, payload_len: u16, seq: u32, ack: Option<u32>) -> Self {
        GreHeader {
            payload_len,
            call_id,
            seq: Some(seq),
            ack,
        }
    }

    /// An acknowledgement-only header (S clear, no payload).
    pub const fn ack_only(call_id: CallId, ack: u32) -> Self {
        GreHeader {
            payload_len: 0,
            call_id,
            seq: None,
            ack: Some(ack),
        }
    }

    /// Parses and validates the header at the start of `buf` (the GRE packet, IPv4 header
    /// already removed). Returns the header and its length; the payload is the
    /// `payload_len` octets after it, which are guaranteed to be inside `buf`.
    pub fn parse(buf: &[u8]) -> Result<(GreHeader, usize), GreError> {
        let [first, second, p_hi, p_lo, len_hi, len_lo, id_hi, id_lo, ..] = *buf else {
            return Err(GreError::Truncated {
                needed: MIN_HEADER_LEN,
                available: buf.len(),
            });
        };
        let unexpected = u16::from_be_bytes([
            first & (FLAG_C | FLAG_R | FLAG_STRICT | RECURSION),
            second & RESERVED_FLAGS,
        ]);
        if unexpected != 0 {
            return Err(GreError::UnexpectedFlags(unexpected));
        }
        if first & FLAG_K == 0 {
            return Err(GreError::KeyAbsent);
        }
        let version = second & VERSION_MASK;
        if version != VERSION {
            return Err(GreError::BadVersion(version));
        }
        let protocol = u16::from_be_bytes([p_hi, p_lo]);
        if protocol != PROTOCOL_PPP {
            return Err(GreError::BadProtocol(protocol));
        }
        let has_seq = first & FLAG_S != 0;
        let has_ack = second & FLAG_A != 0;
        if !has_seq && !has_ack {
            return Err(GreError::Empty);
        }
        let payload_len = u16::from_be_bytes([len_hi, len_lo]);
        if !has_seq && payload_len != 0 {
            return Err(GreError::PayloadWithoutSequence);
        }
        let header_len = MIN_HEADER_LEN + 4 * usize::from(has_seq) + 4 * usize::from(has_ack);
        let truncated = GreError::Truncated {
            needed: header_len,
            available: buf.len(),
        };
        let seq = if has_seq {
            Some(word_at(buf, MIN_HEADER_LEN).ok_or(truncated)?)
        } else {
            None
        };
        let ack = if has_ack {
            Some(word_at(buf, header_len - 4).ok_or(truncated)?)
        } else {
            None
        };
        let available = buf.len().saturating_sub(header_len);
        if usize::from(payload_len) > available {
            return Err(GreError::PayloadTruncated {
                declared: payload_len,
                available,
            });
        }
        let header = GreHeader {
            payload_len,
            call_id: CallId(u16::from_be_bytes([id_hi, id_lo])),
            seq,
            ack,
        };
        Ok((header, header_len))
    }

    /// Parses the header and returns it with its payload (exactly `payload_len` octets;
    /// anything after them in `buf` is ignored).
    pub fn parse_packet(buf: &[u8]) -> Result<(GreHeader, &[u8]), GreError> {
        let (header, header_len) = GreHeader::parse(buf)?;
        let end = header_len + usize::from(header.payload_len);
        let payload = buf.get(header_len..end).ok_or(GreError::PayloadTruncated {
            declared: header.payload_len,
            available: buf.len().saturating_sub(header_len),
        })?;
        Ok((header, payload))
    }

    /// The length of this header on the wire: 8, 12 or 16 octets.
    #[allow(clippy::len_without_is_empty)] // a header is never empty; `len` is its wire size
    pub const fn len(&self) -> usize {
        let mut len = MIN_HEADER_LEN;
        if self.seq.is_some() {
            len += 4;
        }
        if self.ack.is_some() {
            len += 4;
        }
        len
    }

    /// Writes this header to the start of `buf` and returns its length. Allocates nothing.
    ///
    /// Refuses headers the parser would reject: a payload without a sequence number, or
    /// neither a sequence nor an acknowledgement number.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, GreError> {
        if self.seq.is_none() {
            if self.ack.is_none() {
                return Err(GreError::Empty);
            }
            if self.payload_len != 0 {
                return Err(GreError::PayloadWithoutSequence);
            }
        }
        let len = self.len();
        let available = buf.len();
        let too_small = GreError::BufferTooSmall {
            needed: len,
            available,
        };
        let out = buf.get_mut(..len).ok_or(too_small)?;
        let (fixed, words) = out
            .split_first_chunk_mut::<MIN_HEADER_LEN>()
            .ok_or(too_small)?;
        let [protocol_hi, protocol_lo] = PROTOCOL_PPP.to_be_bytes();
        let [len_hi, len_lo] = self.payload_len.to_be_bytes();
        let [id_hi, id_lo] = self.call_id.0.to_be_bytes();
        let first = FLAG_K | if self.seq.is_some() { FLAG_S } else { 0 };
        let second = VERSION | if self.ack.is_some() { FLAG_A } else { 0 };
        *fixed = [
            first,
            second,
            protocol_hi,
            protocol_lo,
            len_hi,
            len_lo,
            id_hi,
            id_lo,
        ];
        // `words` holds exactly one 4-octet slot per number present, sequence first.
        let mut slots = words.chunks_exact_mut(4);
        for number in [self.seq, self.ack].into_iter().flatten() {
            if let Some(slot) = slots.next() {
                slot.copy_from_slice(&number.to_be_bytes());
            }
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
