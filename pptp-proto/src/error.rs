//! Errors of this crate: malformed control messages (RFC 2637 §2), malformed GRE or IPv4
//! envelopes (§4.1), and commands the control-connection machine cannot carry out.
//!
//! Why a control connection or call ended is not an error: see
//! [`connection::Reason`](crate::connection::Reason) and
//! [`connection::CallClearReason`](crate::connection::CallClearReason).

use crate::call_id::CallId;
use crate::control::codes::GeneralErrorCode;

/// A PPTP control message that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Fewer bytes than the fixed 12-octet header.
    #[error("control message truncated: {available} bytes, the header needs {needed}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The Length field disagrees with the number of bytes handed to the decoder.
    #[error("Length field says {declared} bytes but {actual} were given")]
    LengthMismatch {
        /// The Length field.
        declared: u16,
        /// The buffer length.
        actual: usize,
    },
    /// The Length field is shorter than the header it is part of.
    #[error("Length field {0} is shorter than the 12-octet header")]
    LengthTooShort(u16),
    /// The Length field is larger than any control message we accept.
    #[error("Length field {0} exceeds the maximum of {max}", max = crate::control::MAX_MESSAGE_LEN)]
    LengthTooLong(u16),
    /// The PPTP Message Type is not 1 (control message).
    #[error("PPTP Message Type {0} is not 1 (control message)")]
    NotControlMessage(u16),
    /// The Magic Cookie is not 0x1A2B3C4D.
    #[error("bad Magic Cookie {0:#010x}")]
    BadMagicCookie(u32),
    /// A known control message whose Length is not the fixed length of its type.
    #[error("control message type {message_type} has Length {actual}, not its {expected}")]
    WrongMessageLength {
        /// The Control Message Type.
        message_type: u16,
        /// The fixed length of that type.
        expected: u16,
        /// The Length field.
        actual: u16,
    },
    /// A reserved field is not zero.
    #[error("control message type {message_type}: reserved field {field} is {value:#x}, must be 0")]
    ReservedNotZero {
        /// The Control Message Type.
        message_type: u16,
        /// Which reserved field, as the RFC names it.
        field: &'static str,
        /// The value found.
        value: u32,
    },
}

impl ControlError {
    /// The RFC 2637 §2.16 General Error Code that describes this error to the peer.
    ///
    /// "2 (Bad-Format) - Length is wrong or Magic Cookie value is incorrect";
    /// "3 (Bad-Value) - One of the field values was out of range or reserved field was non-zero".
    pub fn general_error_code(&self) -> GeneralErrorCode {
        match self {
            ControlError::ReservedNotZero { .. } => GeneralErrorCode::BadValue,
            _ => GeneralErrorCode::BadFormat,
        }
    }

    /// True if the byte stream itself can no longer be trusted (bad framing, cookie or message
    /// type), as opposed to one well-framed message with a bad field.
    pub fn is_framing_error(&self) -> bool {
        !matches!(
            self,
            ControlError::ReservedNotZero { .. } | ControlError::WrongMessageLength { .. }
        )
    }
}

/// An enhanced GRE packet or its IPv4 envelope that could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GreError {
    /// Fewer bytes than the header needs.
    #[error("truncated: {available} bytes, the header needs {needed}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// One of C, R, s, Recur or the reserved Flags bits is set (the masked 16-bit word is given).
    #[error("GRE flags {0:#06x} not allowed in enhanced GRE (C, R, s, Recur and Flags must be 0)")]
    UnexpectedFlags(u16),
    /// The K bit (Key present) is clear.
    #[error("GRE Key bit clear: enhanced GRE always carries the Key (payload length, call ID)")]
    KeyAbsent,
    /// The GRE version is not 1.
    #[error("GRE version {0} is not 1 (enhanced GRE)")]
    BadVersion(u8),
    /// The GRE Protocol Type is not 0x880B (PPP).
    #[error("GRE protocol type {0:#06x} is not 0x880b (PPP)")]
    BadProtocol(u16),
    /// The Payload Length field claims more bytes than follow the header.
    #[error("GRE payload length {declared} exceeds the {available} bytes after the header")]
    PayloadTruncated {
        /// The Payload Length field.
        declared: u16,
        /// Bytes after the header.
        available: usize,
    },
    /// Payload without the S bit: only acknowledgement packets may omit the sequence number.
    #[error("GRE packet carries a payload but no sequence number")]
    PayloadWithoutSequence,
    /// Neither S nor A is set: the packet carries nothing.
    #[error("GRE packet has neither a sequence number nor an acknowledgement")]
    Empty,
    /// The caller's buffer is too small to emit the header into.
    #[error("buffer of {available} bytes too small for a {needed}-byte header")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// The IP version nibble is not 4.
    #[error("IP version {0} is not 4")]
    NotIpv4(u8),
    /// The IPv4 IHL is below 5 words.
    #[error("IPv4 header length {0} words is below the minimum of 5")]
    BadHeaderLength(u8),
    /// The IPv4 Total Length is below the header length or beyond the bytes given.
    #[error(
        "IPv4 total length {total} invalid for a {header_len}-byte header and {available} bytes"
    )]
    BadTotalLength {
        /// The Total Length field.
        total: u16,
        /// The header length from IHL.
        header_len: usize,
        /// Bytes given.
        available: usize,
    },
    /// The IPv4 Protocol is not 47 (GRE).
    #[error("IPv4 protocol {0} is not 47 (GRE)")]
    NotGre(u8),
    /// The datagram is a fragment (MF set or non-zero offset); reassembly is the kernel's job.
    #[error("IPv4 fragment (offset {offset} x 8 bytes, more fragments: {more_fragments})")]
    Fragment {
        /// Fragment Offset in 8-byte units.
        offset: u16,
        /// The MF bit.
        more_fragments: bool,
    },
}

/// A command given to a [`ControlConnection`](crate::connection::ControlConnection) that it
/// cannot carry out in its current role or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The command belongs to the other role (for example `place_call` on the server).
    #[error("command not available in the {0} role")]
    WrongRole(&'static str),
    /// The control connection is not in a state where the command makes sense.
    #[error("command not allowed in state {0:?}")]
    WrongState(crate::connection::ConnectionState),
    /// No call with this Call ID exists (or is waiting for this command).
    #[error("no such call: {0}")]
    UnknownCall(CallId),
    /// The Call ID is already used by another call on this control connection.
    #[error("call ID {0} already in use on this control connection")]
    CallIdInUse(CallId),
    /// No more calls fit on this control connection.
    #[error("no free call slots on this control connection")]
    NoFreeCall,
}
