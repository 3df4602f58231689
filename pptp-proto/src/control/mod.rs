//! PPTP control messages, RFC 2637 §2: the 12-octet header, the fifteen message types, their
//! decoding from one complete message and their encoding, and the framing of the TCP stream.
//!
//! Every control message starts with the same header:
//!
//! ```text
//! | Length (2) | PPTP Message Type (2) = 1 | Magic Cookie (4) = 0x1A2B3C4D |
//! | Control Message Type (2) | Reserved0 (2) = 0 | ...message body...
//! ```
//!
//! "Length: Total length in octets of this PPTP message, including the entire PPTP header."
//! Every known message type has a fixed length; a message of an unknown type is decoded to
//! [`ControlMessage::Unknown`] so that the caller can report it and carry on.

pub(crate) mod codec;
pub mod codes;
mod display;
pub mod messages;

use crate::control::codec::{Reader, put_u16, put_u32};
pub use crate::control::codes::{
    BearerCapabilities, BearerType, CallDisconnectResult, EchoResult, FramingCapabilities,
    FramingType, GeneralErrorCode, IncomingCallResult, MessageType, OutgoingCallResult,
    ProtocolVersion, StartControlResult, StopControlReason, StopControlResult,
};
pub use crate::control::messages::{
    CallClearRequest, CallDisconnectNotify, EchoReply, EchoRequest, IncomingCallConnected,
    IncomingCallReply, IncomingCallRequest, OutgoingCallReply, OutgoingCallRequest, SetLinkInfo,
    StartControlConnectionReply, StartControlConnectionRequest, StopControlConnectionReply,
    StopControlConnectionRequest, WanErrorNotify,
};
use crate::error::ControlError;

/// Length of the header every control message starts with.
pub const HEADER_LEN: usize = 12;
/// The largest Length we accept. The largest RFC 2637 message (Incoming-Call-Request) is 220
/// octets; the margin leaves room for unknown message types without letting a peer make us
/// buffer much.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// PPTP Message Type of a control message ("1 for Control Message").
pub const CONTROL_MESSAGE: u16 = 1;
/// The Magic Cookie: "The magic cookie is always sent as the constant 0x1A2B3C4D. Its basic
/// purpose is to allow the receiver to ensure that it is properly synchronized with the TCP
/// data stream."
pub const MAGIC_COOKIE: u32 = 0x1A2B_3C4D;
/// The well-known TCP port of the control connection.
pub const CONTROL_PORT: u16 = 1723;

/// Frames the TCP byte stream: the length of the next control message at the start of `buf`.
///
/// Returns `Ok(None)` while fewer than the two Length octets have arrived, `Ok(Some(n))` once
/// the Length is known (the message is complete when `buf.len() >= n`), and an error if the
/// Length cannot be a control message (below the header or above [`MAX_MESSAGE_LEN`]): the
/// stream is then out of sync and the connection should be closed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ControlError> {
    let [high, low, ..] = *buf else {
        return Ok(None);
    };
    let declared = u16::from_be_bytes([high, low]);
    check_length(declared).map(|()| Some(usize::from(declared)))
}

/// Checks a Length field against the header size and [`MAX_MESSAGE_LEN`].
fn check_length(declared: u16) -> Result<(), ControlError> {
    if usize::from(declared) < HEADER_LEN {
        Err(ControlError::LengthTooShort(declared))
    } else if usize::from(declared) > MAX_MESSAGE_LEN {
        Err(ControlError::LengthTooLong(declared))
    } else {
        Ok(())
    }
}

/// One PPTP control message, RFC 2637 §2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlMessage {
    /// 1: Start-Control-Connection-Request.
    StartControlConnectionRequest(StartControlConnectionRequest),
    /// 2: Start-Control-Connection-Reply.
    StartControlConnectionReply(StartControlConnectionReply),
    /// 3: Stop-Control-Connection-Request.
    StopControlConnectionRequest(StopControlConnectionRequest),
    /// 4: Stop-Control-Connection-Reply.
    StopControlConnectionReply(StopControlConnectionReply),
    /// 5: Echo-Request.
    EchoRequest(EchoRequest),
    /// 6: Echo-Reply.
    EchoReply(EchoReply),
    /// 7: Outgoing-Call-Request.
    OutgoingCallRequest(OutgoingCallRequest),
    /// 8: Outgoing-Call-Reply.
    OutgoingCallReply(OutgoingCallReply),
    /// 9: Incoming-Call-Request.
    IncomingCallRequest(IncomingCallRequest),
    /// 10: Incoming-Call-Reply.
    IncomingCallReply(IncomingCallReply),
    /// 11: Incoming-Call-Connected.
    IncomingCallConnected(IncomingCallConnected),
    /// 12: Call-Clear-Request.
    CallClearRequest(CallClearRequest),
    /// 13: Call-Disconnect-Notify.
    CallDisconnectNotify(CallDisconnectNotify),
    /// 14: WAN-Error-Notify.
    WanErrorNotify(WanErrorNotify),
    /// 15: Set-Link-Info.
    SetLinkInfo(SetLinkInfo),
    /// A well-formed control message of a type RFC 2637 does not define.
    Unknown {
        /// The Control Message Type.
        message_type: u16,
        /// Everything after the 12-octet header.
        body: Vec<u8>,
    },
}

/// The fixed total length of a known message type, `None` for unknown types.
pub fn fixed_len(message_type: MessageType) -> Option<u16> {
    Some(match message_type {
        MessageType::StartControlConnectionRequest => StartControlConnectionRequest::LEN,
        MessageType::StartControlConnectionReply => StartControlConnectionReply::LEN,
        MessageType::StopControlConnectionRequest => StopControlConnectionRequest::LEN,
        MessageType::StopControlConnectionReply => StopControlConnectionReply::LEN,
        MessageType::EchoRequest => EchoRequest::LEN,
        MessageType::EchoReply => EchoReply::LEN,
        MessageType::OutgoingCallRequest => OutgoingCallRequest::LEN,
        MessageType::OutgoingCallReply => OutgoingCallReply::LEN,
        MessageType::IncomingCallRequest => IncomingCallRequest::LEN,
        MessageType::IncomingCallReply => IncomingCallReply::LEN,
        MessageType::IncomingCallConnected => IncomingCallConnected::LEN,
        MessageType::CallClearRequest => CallClearRequest::LEN,
        MessageType::CallDisconnectNotify => CallDisconnectNotify::LEN,
        MessageType::WanErrorNotify => WanErrorNotify::LEN,
        MessageType::SetLinkInfo => SetLinkInfo::LEN,
        MessageType::Unknown(_) => return None,
    })
}

impl ControlMessage {
    /// Decodes exactly one complete control message (`buf` holds that message and nothing
    /// more; use [`frame_len`] to cut it from the TCP stream).
    ///
    /// Validates the Length against `buf` and against the fixed length of the message type,
    /// the PPTP Message Type, the Magic Cookie and every reserved field. Never panics.
    pub fn decode(buf: &[u8]) -> Result<ControlMessage, ControlError> {
        if buf.len() < HEADER_LEN {
            return Err(ControlError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        let mut r = Reader::new(buf);
        let length = r.u16()?;
        check_length(length)?;
        if usize::from(length) != buf.len() {
            return Err(ControlError::LengthMismatch {
                declared: length,
                actual: buf.len(),
            });
        }
        let pptp_message_type = r.u16()?;
        if pptp_message_type != CONTROL_MESSAGE {
            return Err(ControlError::NotControlMessage(pptp_message_type));
        }
        let cookie = r.u32()?;
        if cookie != MAGIC_COOKIE {
            return Err(ControlError::BadMagicCookie(cookie));
        }
        let message_type = MessageType::from(r.u16()?);
        // "Reserved0: This field MUST be 0."
        r.reserved16(message_type, "Reserved0")?;

        if let Some(expected) = fixed_len(message_type)
            && length != expected
        {
            return Err(ControlError::WrongMessageLength {
                message_type: message_type.into(),
                expected,
                actual: length,
            });
        }
        let r = &mut r;
        Ok(match message_type {
            MessageType::StartControlConnectionRequest => {
                ControlMessage::StartControlConnectionRequest(
                    StartControlConnectionRequest::decode_body(r)?,
                )
            }
            MessageType::StartControlConnectionReply => {
                ControlMessage::StartControlConnectionReply(
                    StartControlConnectionReply::decode_body(r)?,
                )
            }
            MessageType::StopControlConnectionRequest => {
                ControlMessage::StopControlConnectionRequest(
                    StopControlConnectionRequest::decode_body(r)?,
                )
            }
            MessageType::StopControlConnectionReply => ControlMessage::StopControlConnectionReply(
                StopControlConnectionReply::decode_body(r)?,
            ),
            MessageType::EchoRequest => ControlMessage::EchoRequest(EchoRequest::decode_body(r)?),
            MessageType::EchoReply => ControlMessage::EchoReply(EchoReply::decode_body(r)?),
            MessageType::OutgoingCallRequest => {
                ControlMessage::OutgoingCallRequest(OutgoingCallRequest::decode_body(r)?)
            }
            MessageType::OutgoingCallReply => {
                ControlMessage::OutgoingCallReply(OutgoingCallReply::decode_body(r)?)
            }
            MessageType::IncomingCallRequest => {
                ControlMessage::IncomingCallRequest(IncomingCallRequest::decode_body(r)?)
            }
            MessageType::IncomingCallReply => {
                ControlMessage::IncomingCallReply(IncomingCallReply::decode_body(r)?)
            }
            MessageType::IncomingCallConnected => {
                ControlMessage::IncomingCallConnected(IncomingCallConnected::decode_body(r)?)
            }
            MessageType::CallClearRequest => {
                ControlMessage::CallClearRequest(CallClearRequest::decode_body(r)?)
            }
            MessageType::CallDisconnectNotify => {
                ControlMessage::CallDisconnectNotify(CallDisconnectNotify::decode_body(r)?)
            }
            MessageType::WanErrorNotify => {
                ControlMessage::WanErrorNotify(WanErrorNotify::decode_body(r)?)
            }
            MessageType::SetLinkInfo => ControlMessage::SetLinkInfo(SetLinkInfo::decode_body(r)?),
            MessageType::Unknown(message_type) => ControlMessage::Unknown {
                message_type,
                body: r.take(buf.len() - HEADER_LEN)?.to_vec(),
            },
        })
    }

    /// The Control Message Type of this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            ControlMessage::StartControlConnectionRequest(_) => {
                MessageType::StartControlConnectionRequest
            }
            ControlMessage::StartControlConnectionReply(_) => {
                MessageType::StartControlConnectionReply
            }
            ControlMessage::StopControlConnectionRequest(_) => {
                MessageType::StopControlConnectionRequest
            }
            ControlMessage::StopControlConnectionReply(_) => {
                MessageType::StopControlConnectionReply
            }
            ControlMessage::EchoRequest(_) => MessageType::EchoRequest,
            ControlMessage::EchoReply(_) => MessageType::EchoReply,
            ControlMessage::OutgoingCallRequest(_) => MessageType::OutgoingCallRequest,
            ControlMessage::OutgoingCallReply(_) => MessageType::OutgoingCallReply,
            ControlMessage::IncomingCallRequest(_) => MessageType::IncomingCallRequest,
            ControlMessage::IncomingCallReply(_) => MessageType::IncomingCallReply,
            ControlMessage::IncomingCallConnected(_) => MessageType::IncomingCallConnected,
            ControlMessage::CallClearRequest(_) => MessageType::CallClearRequest,
            ControlMessage::CallDisconnectNotify(_) => MessageType::CallDisconnectNotify,
            ControlMessage::WanErrorNotify(_) => MessageType::WanErrorNotify,
            ControlMessage::SetLinkInfo(_) => MessageType::SetLinkInfo,
            ControlMessage::Unknown { message_type, .. } => MessageType::from(*message_type),
        }
    }

    /// The number of octets [`encode`](Self::encode) appends.
    pub fn encoded_len(&self) -> usize {
        match self {
            ControlMessage::Unknown { body, .. } => HEADER_LEN + unknown_body_len(body),
            other => fixed_len(other.message_type()).map_or(HEADER_LEN, usize::from),
        }
    }

    /// Appends the wire form of this message to `out`.
    ///
    /// Text fields longer than their fixed field are cut; the body of an `Unknown` message is
    /// cut to keep the Length within [`MAX_MESSAGE_LEN`].
    pub fn encode(&self, out: &mut Vec<u8>) {
        let length = u16::try_from(self.encoded_len()).unwrap_or(u16::MAX);
        out.reserve(usize::from(length));
        put_u16(out, length);
        put_u16(out, CONTROL_MESSAGE);
        put_u32(out, MAGIC_COOKIE);
        put_u16(out, self.message_type().into());
        put_u16(out, 0);
        match self {
            ControlMessage::StartControlConnectionRequest(m) => m.encode_body(out),
            ControlMessage::StartControlConnectionReply(m) => m.encode_body(out),
            ControlMessage::StopControlConnectionRequest(m) => m.encode_body(out),
            ControlMessage::StopControlConnectionReply(m) => m.encode_body(out),
            ControlMessage::EchoRequest(m) => m.encode_body(out),
            ControlMessage::EchoReply(m) => m.encode_body(out),
            ControlMessage::OutgoingCallRequest(m) => m.encode_body(out),
            ControlMessage::OutgoingCallReply(m) => m.encode_body(out),
            ControlMessage::IncomingCallRequest(m) => m.encode_body(out),
            ControlMessage::IncomingCallReply(m) => m.encode_body(out),
            ControlMessage::IncomingCallConnected(m) => m.encode_body(out),
            ControlMessage::CallClearRequest(m) => m.encode_body(out),
            ControlMessage::CallDisconnectNotify(m) => m.encode_body(out),
            ControlMessage::WanErrorNotify(m) => m.encode_body(out),
            ControlMessage::SetLinkInfo(m) => m.encode_body(out),
            ControlMessage::Unknown { body, .. } => {
                out.extend_from_slice(body.get(..unknown_body_len(body)).unwrap_or_default());
            }
        }
    }

    /// The wire form of this message in a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

/// How much of an unknown message's body fits under [`MAX_MESSAGE_LEN`].
fn unknown_body_len(body: &[u8]) -> usize {
    body.len().min(MAX_MESSAGE_LEN - HEADER_LEN)
}

impl From<StartControlConnectionRequest> for ControlMessage {
    fn from(m: StartControlConnectionRequest) -> Self {
        ControlMessage::StartControlConnectionRequest(m)
    }
}
impl From<StartControlConnectionReply> for ControlMessage {
    fn from(m: StartControlConnectionReply) -> Self {
        ControlMessage::StartControlConnectionReply(m)
    }
}
impl From<StopControlConnectionRequest> for ControlMessage {
    fn from(m: StopControlConnectionRequest) -> Self {
        ControlMessage::StopControlConnectionRequest(m)
    }
}
impl From<StopControlConnectionReply> for ControlMessage {
    fn from(m: StopControlConnectionReply) -> Self {
        ControlMessage::StopControlConnectionReply(m)
    }
}
impl From<EchoRequest> for ControlMessage {
    fn from(m: EchoRequest) -> Self {
        ControlMessage::EchoRequest(m)
    }
}
impl From<EchoReply> for ControlMessage {
    fn from(m: EchoReply) -> Self {
        ControlMessage::EchoReply(m)
    }
}
impl From<OutgoingCallRequest> for ControlMessage {
    fn from(m: OutgoingCallRequest) -> Self {
        ControlMessage::OutgoingCallRequest(m)
    }
}
impl From<OutgoingCallReply> for ControlMessage {
    fn from(m: OutgoingCallReply) -> Self {
        ControlMessage::OutgoingCallReply(m)
    }
}
impl From<IncomingCallRequest> for ControlMessage {
    fn from(m: IncomingCallRequest) -> Self {
        ControlMessage::IncomingCallRequest(m)
    }
}
impl From<IncomingCallReply> for ControlMessage {
    fn from(m: IncomingCallReply) -> Self {
        ControlMessage::IncomingCallReply(m)
    }
}
impl From<IncomingCallConnected> for ControlMessage {
    fn from(m: IncomingCallConnected) -> Self {
        ControlMessage::IncomingCallConnected(m)
    }
}
impl From<CallClearRequest> for ControlMessage {
    fn from(m: CallClearRequest) -> Self {
        ControlMessage::CallClearRequest(m)
    }
}
impl From<CallDisconnectNotify> for ControlMessage {
    fn from(m: CallDisconnectNotify) -> Self {
        ControlMessage::CallDisconnectNotify(m)
    }
}
impl From<WanErrorNotify> for ControlMessage {
    fn from(m: WanErrorNotify) -> Self {
        ControlMessage::WanErrorNotify(m)
    }
}
impl From<SetLinkInfo> for ControlMessage {
    fn from(m: SetLinkInfo) -> Self {
        ControlMessage::SetLinkInfo(m)
    }
}

#[cfg(test)]
pub(crate) mod tests;
