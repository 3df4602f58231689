//! Bounded big-endian reading and writing of control-message fields (RFC 2637 §2: "All data
//! is sent in network order (high order octets first)").
//!
//! The [`Reader`] never reads past the slice it was given: every accessor returns
//! [`ControlError::Truncated`] instead of panicking, so decoders stay panic-free even if a length
//! check upstream were wrong.

use crate::control::codes::MessageType;
use crate::error::ControlError;

/// A cursor over a byte slice that refuses to read past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ControlError> {
        let end = self.pos.checked_add(n).ok_or(ControlError::Truncated {
            needed: usize::MAX,
            available: self.buf.len(),
        })?;
        let bytes = self.buf.get(self.pos..end).ok_or(ControlError::Truncated {
            needed: end,
            available: self.buf.len(),
        })?;
        self.pos = end;
        Ok(bytes)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ControlError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// One octet.
    pub(crate) fn u8(&mut self) -> Result<u8, ControlError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian 16-bit word.
    pub(crate) fn u16(&mut self) -> Result<u16, ControlError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian 32-bit word.
    pub(crate) fn u32(&mut self) -> Result<u32, ControlError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A fixed-size, NUL-padded text field, returned up to (not including) the first NUL.
    pub(crate) fn padded(&mut self, n: usize) -> Result<Vec<u8>, ControlError> {
        let field = self.take(n)?;
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        Ok(field.get(..end).unwrap_or_default().to_vec())
    }

    /// A 16-bit reserved field, which must be zero.
    pub(crate) fn reserved16(
        &mut self,
        message_type: MessageType,
        field: &'static str,
    ) -> Result<(), ControlError> {
        let value = self.u16()?;
        reserved_zero(message_type, field, u32::from(value))
    }

    /// An 8-bit reserved field, which must be zero.
    pub(crate) fn reserved8(
        &mut self,
        message_type: MessageType,
        field: &'static str,
    ) -> Result<(), ControlError> {
        let value = self.u8()?;
        reserved_zero(message_type, field, u32::from(value))
    }
}

/// RFC 2637 §2: "Any "reserved" fields MUST be sent as 0 values to allow for protocol
/// extensibility."
pub(crate) fn reserved_zero(
    message_type: MessageType,
    field: &'static str,
    value: u32,
) -> Result<(), ControlError> {
    if value == 0 {
        Ok(())
    } else {
        Err(ControlError::ReservedNotZero {
            message_type: message_type.into(),
            field,
            value,
        })
    }
}

/// Appends one octet.
pub(crate) fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

/// Appends a big-endian 16-bit word.
pub(crate) fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a big-endian 32-bit word.
pub(crate) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends `text` into a field of exactly `n` octets: cut at `n`, padded with NULs.
///
/// RFC 2637 §2.1 Host Name: "If less than 64 octets in length, the remainder of this field
/// SHOULD be filled with octets of value 0."
pub(crate) fn put_padded(out: &mut Vec<u8>, text: &[u8], n: usize) {
    let used = text.len().min(n);
    out.extend_from_slice(text.get(..used).unwrap_or_default());
    out.resize(out.len() + (n - used), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_refuses_to_read_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(
            r.u16(),
            Err(ControlError::Truncated {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(r.u8(), Ok(3));
    }

    #[test]
    fn padded_fields_stop_at_the_first_nul() {
        let mut r = Reader::new(b"lo\0cal\0\0");
        assert_eq!(r.padded(8).as_deref(), Ok(&b"lo"[..]));
        let mut r = Reader::new(b"abcd");
        assert_eq!(r.padded(4).as_deref(), Ok(&b"abcd"[..]));
    }

    #[test]
    fn put_padded_cuts_and_pads() {
        let mut out = Vec::new();
        put_padded(&mut out, b"abc", 5);
        put_padded(&mut out, b"0123456789", 4);
        assert_eq!(out, b"abc\0\x000123");
    }
}
