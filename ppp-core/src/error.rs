//! Typed decode errors of the crate (thiserror enums), one per layer: frame, packet, option.
//!
//! Why a link ended is not an error: see [`crate::Reason`].

use thiserror::Error;

/// A PPP frame (RFC 1661 §2, RFC 1662 §3) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The frame is empty or ends inside the Address/Control or Protocol field.
    #[error("frame truncated: {0} bytes")]
    Truncated(usize),
    /// The frame starts with the All-Stations address 0xFF but the Control field is not 0x03.
    #[error("bad control field 0x{0:02x} after address 0xff")]
    BadControl(u8),
    /// A two-octet Protocol field whose last octet is even (RFC 1661 §2: "the least significant
    /// bit of the least significant octet equal to 1").
    #[error("invalid protocol field 0x{0:04x}")]
    BadProtocol(u16),
}

/// A control packet (RFC 1661 §5: Code, Identifier, Length, Data) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Fewer than the 4 header octets.
    #[error("packet truncated: {0} bytes, the header needs 4")]
    Truncated(usize),
    /// The Length field is smaller than the header.
    #[error("length field {0} is shorter than the 4-byte header")]
    LengthTooShort(u16),
    /// The Length field claims more octets than were received.
    #[error("length field {length} exceeds the {available} bytes received")]
    LengthOverrun {
        /// The Length field.
        length: u16,
        /// The octets actually present.
        available: usize,
    },
    /// A field read past the end of the packet data.
    #[error("field truncated: needed {needed} bytes, {available} left")]
    FieldTruncated {
        /// Octets the field needs.
        needed: usize,
        /// Octets left in the packet.
        available: usize,
    },
}

/// A configuration option (RFC 1661 §6: Type, Length, Data) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OptionError {
    /// Only the Type octet is left: the Length octet is missing.
    #[error("option type {kind} has no length octet")]
    MissingLength {
        /// The option type.
        kind: u8,
    },
    /// The Length octet is below 2 (it counts Type and Length themselves).
    #[error("option type {kind} has length {length} < 2")]
    LengthTooShort {
        /// The option type.
        kind: u8,
        /// The Length octet.
        length: u8,
    },
    /// The Length octet runs past the end of the option list.
    #[error("option type {kind} has length {length} but only {available} bytes remain")]
    LengthOverrun {
        /// The option type.
        kind: u8,
        /// The Length octet.
        length: u8,
        /// The octets left in the list.
        available: usize,
    },
    /// A known option has a length its definition does not allow.
    #[error("option type {kind} has {length} data bytes, expected {expected}")]
    BadLength {
        /// The option type.
        kind: u8,
        /// Data octets present (Length - 2).
        length: usize,
        /// What the definition requires (a minimum when the option is variable-length).
        expected: usize,
    },
}

/// A CHAP packet (RFC 1994 §4) or its MS-CHAPv2 value (RFC 2759 §4) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ChapError {
    /// The Code/Identifier/Length header is malformed.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// A code other than Challenge, Response, Success or Failure.
    #[error("unknown CHAP code {0}")]
    UnknownCode(u8),
    /// A Challenge or Response without its Value-Size octet.
    #[error("CHAP {0} has no Value-Size")]
    MissingValueSize(&'static str),
    /// The Value-Size octet runs past the end of the packet.
    #[error("CHAP value size {size} exceeds the {available} bytes left")]
    ValueOverrun {
        /// The Value-Size octet.
        size: u8,
        /// Octets left after it.
        available: usize,
    },
    /// An MS-CHAPv2 Challenge value that is not 16 octets or Response value that is not 49.
    #[error("MS-CHAPv2 value is {got} bytes, expected {expected}")]
    BadValueSize {
        /// The octets present.
        got: usize,
        /// What RFC 2759 requires.
        expected: usize,
    },
}
