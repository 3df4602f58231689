//! Coded fields of PPTP control messages, RFC 2637 §2.1–§2.16: message types, result and
//! error codes, bearer and framing types, capability bit sets and the protocol version.
//!
//! Every coded field is a wire enum that keeps values it does not know
//! (`Unknown(value)`), so a message from a newer or buggy peer still decodes and can be
//! answered or logged instead of being dropped.

use core::fmt;

/// Declares a wire enum over an integer type that keeps unknown values.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept as received.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

wire_enum! {
    /// Control Message Type (RFC 2637 §1.4, the header of every control message).
    MessageType: u16 {
        /// 1: Start-Control-Connection-Request (SCCRQ).
        StartControlConnectionRequest = 1,
        /// 2: Start-Control-Connection-Reply (SCCRP).
        StartControlConnectionReply = 2,
        /// 3: Stop-Control-Connection-Request (StopCCRQ).
        StopControlConnectionRequest = 3,
        /// 4: Stop-Control-Connection-Reply (StopCCRP).
        StopControlConnectionReply = 4,
        /// 5: Echo-Request.
        EchoRequest = 5,
        /// 6: Echo-Reply.
        EchoReply = 6,
        /// 7: Outgoing-Call-Request (OCRQ).
        OutgoingCallRequest = 7,
        /// 8: Outgoing-Call-Reply (OCRP).
        OutgoingCallReply = 8,
        /// 9: Incoming-Call-Request (ICRQ).
        IncomingCallRequest = 9,
        /// 10: Incoming-Call-Reply (ICRP).
        IncomingCallReply = 10,
        /// 11: Incoming-Call-Connected (ICCN).
        IncomingCallConnected = 11,
        /// 12: Call-Clear-Request (CCRQ).
        CallClearRequest = 12,
        /// 13: Call-Disconnect-Notify (CDN).
        CallDisconnectNotify = 13,
        /// 14: WAN-Error-Notify (WEN).
        WanErrorNotify = 14,
        /// 15: Set-Link-Info (SLI).
        SetLinkInfo = 15,
    }
}

wire_enum! {
    /// General Error Code, RFC 2637 §2.16: details a result code of "General Error".
    GeneralErrorCode: u8 {
        /// 0: no general error.
        None = 0,
        /// 1: no control connection exists yet for this PAC-PNS pair.
        NotConnected = 1,
        /// 2: Length is wrong or Magic Cookie value is incorrect.
        BadFormat = 2,
        /// 3: a field value was out of range or a reserved field was non-zero.
        BadValue = 3,
        /// 4: insufficient resources to handle this command now.
        NoResource = 4,
        /// 5: the Call ID is invalid in this context.
        BadCallId = 5,
        /// 6: a generic vendor-specific error occurred in the PAC.
        PacError = 6,
    }
}

wire_enum! {
    /// Result Code of a Start-Control-Connection-Reply, RFC 2637 §2.2.
    StartControlResult: u8 {
        /// 1: successful channel establishment.
        Success = 1,
        /// 2: general error, the Error Code says which.
        GeneralError = 2,
        /// 3: command channel already exists.
        ChannelExists = 3,
        /// 4: requester is not authorized to establish a command channel.
        NotAuthorized = 4,
        /// 5: the protocol version of the requester is not supported.
        VersionNotSupported = 5,
    }
}

wire_enum! {
    /// Reason of a Stop-Control-Connection-Request, RFC 2637 §2.3.
    StopControlReason: u8 {
        /// 1: general request to clear the control connection.
        None = 1,
        /// 2: can't support the peer's version of the protocol.
        StopProtocol = 2,
        /// 3: requester is being shut down.
        LocalShutdown = 3,
    }
}

wire_enum! {
    /// Result Code of a Stop-Control-Connection-Reply, RFC 2637 §2.4.
    StopControlResult: u8 {
        /// 1: control connection closed.
        Ok = 1,
        /// 2: control connection not closed, the Error Code says why.
        GeneralError = 2,
    }
}

wire_enum! {
    /// Result Code of an Echo-Reply, RFC 2637 §2.6.
    EchoResult: u8 {
        /// 1: the Echo-Reply is valid.
        Ok = 1,
        /// 2: Echo-Request not accepted, the Error Code says why.
        GeneralError = 2,
    }
}

wire_enum! {
    /// Result Code of an Outgoing-Call-Reply, RFC 2637 §2.8.
    OutgoingCallResult: u8 {
        /// 1: call established with no errors.
        Connected = 1,
        /// 2: outgoing call not established, the Error Code says why.
        GeneralError = 2,
        /// 3: outgoing call failed due to no carrier detected.
        NoCarrier = 3,
        /// 4: outgoing call failed due to detection of a busy signal.
        Busy = 4,
        /// 5: outgoing call failed due to lack of a dial tone.
        NoDialTone = 5,
        /// 6: outgoing call not established within the time allotted by the PAC.
        TimeOut = 6,
        /// 7: outgoing call administratively prohibited.
        DoNotAccept = 7,
    }
}

wire_enum! {
    /// Result Code of an Incoming-Call-Reply, RFC 2637 §2.10.
    IncomingCallResult: u8 {
        /// 1: the PAC should answer the incoming call.
        Connect = 1,
        /// 2: the incoming call should not be established, the Error Code says why.
        GeneralError = 2,
        /// 3: the PAC should not accept the incoming call.
        DoNotAccept = 3,
    }
}

wire_enum! {
    /// Result Code of a Call-Disconnect-Notify, RFC 2637 §2.13.
    CallDisconnectResult: u8 {
        /// 1: call disconnected due to loss of carrier.
        LostCarrier = 1,
        /// 2: call disconnected for the reason in the Error Code.
        GeneralError = 2,
        /// 3: call disconnected for administrative reasons.
        AdminShutdown = 3,
        /// 4: call disconnected due to a received Call-Clear-Request.
        Request = 4,
    }
}

wire_enum! {
    /// Bearer Type of an Outgoing- or Incoming-Call-Request, RFC 2637 §2.7 and §2.9.
    BearerType: u32 {
        /// 1: call to be placed on an analog channel.
        Analog = 1,
        /// 2: call to be placed on a digital channel.
        Digital = 2,
        /// 3: call can be placed on any type of channel.
        Any = 3,
    }
}

wire_enum! {
    /// Framing Type of an Outgoing-Call-Request or Incoming-Call-Connected, RFC 2637 §2.7.
    FramingType: u32 {
        /// 1: asynchronous framing.
        Async = 1,
        /// 2: synchronous framing.
        Sync = 2,
        /// 3: either framing.
        Either = 3,
    }
}

/// Framing Capabilities bit set of a Start-Control-Connection-Request or -Reply, RFC 2637 §2.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FramingCapabilities(pub u32);

impl FramingCapabilities {
    /// Bit 1: asynchronous framing supported.
    pub const ASYNC: FramingCapabilities = FramingCapabilities(1);
    /// Bit 2: synchronous framing supported.
    pub const SYNC: FramingCapabilities = FramingCapabilities(2);
    /// Both framings, as pptp-linux sends (3).
    pub const ASYNC_AND_SYNC: FramingCapabilities = FramingCapabilities(3);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: FramingCapabilities) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Bearer Capabilities bit set of a Start-Control-Connection-Request or -Reply, RFC 2637 §2.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BearerCapabilities(pub u32);

impl BearerCapabilities {
    /// Bit 1: analog access supported.
    pub const ANALOG: BearerCapabilities = BearerCapabilities(1);
    /// Bit 2: digital access supported.
    pub const DIGITAL: BearerCapabilities = BearerCapabilities(2);
    /// Both kinds of access, as pptp-linux sends (3).
    pub const ANALOG_AND_DIGITAL: BearerCapabilities = BearerCapabilities(3);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: BearerCapabilities) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Protocol Version of a Start-Control-Connection message, RFC 2637 §2.1: version in the high
/// octet, revision in the low octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    /// Version 1, revision 0: the only version RFC 2637 defines ("1 for this version").
    pub const V1_0: ProtocolVersion = ProtocolVersion(0x0100);

    /// The version (high octet).
    pub const fn major(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// The revision (low octet).
    pub const fn minor(self) -> u8 {
        (self.0 & 0xff) as u8
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_map_to_variants_and_back() {
        assert_eq!(MessageType::from(7), MessageType::OutgoingCallRequest);
        assert_eq!(u16::from(MessageType::SetLinkInfo), 15);
        assert_eq!(CallDisconnectResult::from(4), CallDisconnectResult::Request);
        assert_eq!(u32::from(FramingType::Either), 3);
    }

    #[test]
    fn unknown_values_are_kept() {
        assert_eq!(MessageType::from(16), MessageType::Unknown(16));
        assert_eq!(u16::from(MessageType::Unknown(0x1234)), 0x1234);
        assert_eq!(StartControlResult::from(0), StartControlResult::Unknown(0));
        assert_eq!(GeneralErrorCode::from(200), GeneralErrorCode::Unknown(200));
    }

    #[test]
    fn protocol_version_prints_major_dot_minor() {
        assert_eq!(ProtocolVersion::V1_0.to_string(), "1.0");
        assert_eq!(ProtocolVersion(0x0203).to_string(), "2.3");
    }

    #[test]
    fn capability_sets_test_bits() {
        assert!(FramingCapabilities(3).contains(FramingCapabilities::SYNC));
        assert!(!FramingCapabilities(1).contains(FramingCapabilities::SYNC));
        assert!(BearerCapabilities::ANALOG_AND_DIGITAL.contains(BearerCapabilities::ANALOG));
    }
}
