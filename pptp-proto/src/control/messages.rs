//! The fifteen PPTP control messages of RFC 2637 §2.1–§2.15, one struct each, with the
//! decoding and encoding of their bodies (the part after the 12-octet header).
//!
//! Text fields (host name, vendor, phone numbers, subaddress, call statistics) are fixed-size
//! and NUL-padded on the wire; they decode to the bytes before the first NUL and encode cut to
//! the field size and padded with NULs. The "Phone Number Length" style fields are not trusted
//! on decode (the text is taken up to the first NUL) and are computed on encode.

use crate::call_id::CallId;
use crate::control::codec::{Reader, put_padded, put_u8, put_u16, put_u32};
use crate::control::codes::{
    BearerCapabilities, BearerType, CallDisconnectResult, EchoResult, FramingCapabilities,
    FramingType, GeneralErrorCode, IncomingCallResult, MessageType, OutgoingCallResult,
    ProtocolVersion, StartControlResult, StopControlReason, StopControlResult,
};
use crate::error::ControlError;

/// Size of the Host Name and Vendor String fields (RFC 2637 §2.1).
pub const NAME_LEN: usize = 64;
/// Size of the phone number, dialed/dialing number and subaddress fields (RFC 2637 §2.7, §2.9).
pub const NUMBER_LEN: usize = 64;
/// Size of the Call Statistics field of a Call-Disconnect-Notify (RFC 2637 §2.13).
pub const CALL_STATISTICS_LEN: usize = 128;

/// The length of a text field as a 16-bit "length" word: its size cut to the field.
fn text_len(text: &[u8], field: usize) -> u16 {
    u16::try_from(text.len().min(field)).unwrap_or(u16::MAX)
}

/// Start-Control-Connection-Request, RFC 2637 §2.1: the PNS or PAC opens the control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartControlConnectionRequest {
    /// The PPTP version the sender wishes to use (1.0).
    pub protocol_version: ProtocolVersion,
    /// Framing the sender can provide (PAC) or support (PNS).
    pub framing_capabilities: FramingCapabilities,
    /// Bearer access the sender can provide or support.
    pub bearer_capabilities: BearerCapabilities,
    /// The number of calls this PAC can support (a PNS sends 0; pptp-linux sends 65535).
    pub maximum_channels: u16,
    /// The sender's firmware or software revision.
    pub firmware_revision: u16,
    /// The sender's DNS name, up to 64 octets (pptp-linux: "local"; Windows: empty).
    pub host_name: Vec<u8>,
    /// A vendor-specific string, up to 64 octets (pptp-linux: "cananian").
    pub vendor: Vec<u8>,
}

impl StartControlConnectionRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 156;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let protocol_version = ProtocolVersion(r.u16()?);
        r.reserved16(MessageType::StartControlConnectionRequest, "Reserved1")?;
        Ok(StartControlConnectionRequest {
            protocol_version,
            framing_capabilities: FramingCapabilities(r.u32()?),
            bearer_capabilities: BearerCapabilities(r.u32()?),
            maximum_channels: r.u16()?,
            firmware_revision: r.u16()?,
            host_name: r.padded(NAME_LEN)?,
            vendor: r.padded(NAME_LEN)?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.protocol_version.0);
        put_u16(out, 0);
        put_u32(out, self.framing_capabilities.0);
        put_u32(out, self.bearer_capabilities.0);
        put_u16(out, self.maximum_channels);
        put_u16(out, self.firmware_revision);
        put_padded(out, &self.host_name, NAME_LEN);
        put_padded(out, &self.vendor, NAME_LEN);
    }
}

/// Start-Control-Connection-Reply, RFC 2637 §2.2: the answer to a
/// [`StartControlConnectionRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartControlConnectionReply {
    /// The PPTP version the sender wishes to use (1.0).
    pub protocol_version: ProtocolVersion,
    /// The result of the establishment attempt.
    pub result: StartControlResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
    /// Framing the sender can provide or support.
    pub framing_capabilities: FramingCapabilities,
    /// Bearer access the sender can provide or support.
    pub bearer_capabilities: BearerCapabilities,
    /// The number of calls the PAC can support.
    pub maximum_channels: u16,
    /// The sender's firmware or software revision.
    pub firmware_revision: u16,
    /// The sender's DNS name, up to 64 octets.
    pub host_name: Vec<u8>,
    /// A vendor-specific string, up to 64 octets (poptop: "linux").
    pub vendor: Vec<u8>,
}

impl StartControlConnectionReply {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 156;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        Ok(StartControlConnectionReply {
            protocol_version: ProtocolVersion(r.u16()?),
            result: r.u8()?.into(),
            error: r.u8()?.into(),
            framing_capabilities: FramingCapabilities(r.u32()?),
            bearer_capabilities: BearerCapabilities(r.u32()?),
            maximum_channels: r.u16()?,
            firmware_revision: r.u16()?,
            host_name: r.padded(NAME_LEN)?,
            vendor: r.padded(NAME_LEN)?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.protocol_version.0);
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u32(out, self.framing_capabilities.0);
        put_u32(out, self.bearer_capabilities.0);
        put_u16(out, self.maximum_channels);
        put_u16(out, self.firmware_revision);
        put_padded(out, &self.host_name, NAME_LEN);
        put_padded(out, &self.vendor, NAME_LEN);
    }
}

/// Stop-Control-Connection-Request, RFC 2637 §2.3: either peer closes the control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopControlConnectionRequest {
    /// Why the control connection is being closed.
    pub reason: StopControlReason,
}

impl StopControlConnectionRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 16;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let reason = r.u8()?.into();
        r.reserved8(MessageType::StopControlConnectionRequest, "Reserved1")?;
        r.reserved16(MessageType::StopControlConnectionRequest, "Reserved2")?;
        Ok(StopControlConnectionRequest { reason })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u8(out, self.reason.into());
        put_u8(out, 0);
        put_u16(out, 0);
    }
}

/// Stop-Control-Connection-Reply, RFC 2637 §2.4: the answer to a
/// [`StopControlConnectionRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopControlConnectionReply {
    /// The result of the attempt to close the control connection.
    pub result: StopControlResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
}

impl StopControlConnectionReply {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 16;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let result = r.u8()?.into();
        let error = r.u8()?.into();
        r.reserved16(MessageType::StopControlConnectionReply, "Reserved1")?;
        Ok(StopControlConnectionReply { result, error })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u16(out, 0);
    }
}

/// Echo-Request, RFC 2637 §2.5: the keep-alive of the control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoRequest {
    /// Matches the Echo-Reply to this request.
    pub identifier: u32,
}

impl EchoRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 16;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        Ok(EchoRequest {
            identifier: r.u32()?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u32(out, self.identifier);
    }
}

/// Echo-Reply, RFC 2637 §2.6: the answer to an [`EchoRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    /// The identifier of the Echo-Request being answered.
    pub identifier: u32,
    /// Whether the request was accepted.
    pub result: EchoResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
}

impl EchoReply {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 20;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let identifier = r.u32()?;
        let result = r.u8()?.into();
        let error = r.u8()?.into();
        r.reserved16(MessageType::EchoReply, "Reserved1")?;
        Ok(EchoReply {
            identifier,
            result,
            error,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u32(out, self.identifier);
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u16(out, 0);
    }
}

/// Outgoing-Call-Request, RFC 2637 §2.7: the PNS asks the PAC for a call (what every VPN client
/// sends to open its tunnel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingCallRequest {
    /// The PNS's Call ID for this call; the PAC puts it in the GRE packets it sends
    /// (Windows sends 0).
    pub call_id: CallId,
    /// A serial number the PNS assigns for logging.
    pub call_serial: u16,
    /// The lowest acceptable line speed, bits per second.
    pub minimum_bps: u32,
    /// The highest acceptable line speed, bits per second.
    pub maximum_bps: u32,
    /// The kind of channel wanted.
    pub bearer_type: BearerType,
    /// The framing wanted.
    pub framing_type: FramingType,
    /// Data packets the PNS will buffer for this call (its receive window).
    pub recv_window: u16,
    /// The PNS's packet processing delay, in 1/10 seconds.
    pub processing_delay: u16,
    /// The number to dial, up to 64 octets (empty from VPN clients).
    pub phone_number: Vec<u8>,
    /// Additional dialing information, up to 64 octets.
    pub subaddress: Vec<u8>,
}

impl OutgoingCallRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 168;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let call_id = CallId(r.u16()?);
        let call_serial = r.u16()?;
        let minimum_bps = r.u32()?;
        let maximum_bps = r.u32()?;
        let bearer_type = r.u32()?.into();
        let framing_type = r.u32()?.into();
        let recv_window = r.u16()?;
        let processing_delay = r.u16()?;
        let _phone_number_length = r.u16()?;
        r.reserved16(MessageType::OutgoingCallRequest, "Reserved1")?;
        Ok(OutgoingCallRequest {
            call_id,
            call_serial,
            minimum_bps,
            maximum_bps,
            bearer_type,
            framing_type,
            recv_window,
            processing_delay,
            phone_number: r.padded(NUMBER_LEN)?,
            subaddress: r.padded(NUMBER_LEN)?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u16(out, self.call_serial);
        put_u32(out, self.minimum_bps);
        put_u32(out, self.maximum_bps);
        put_u32(out, self.bearer_type.into());
        put_u32(out, self.framing_type.into());
        put_u16(out, self.recv_window);
        put_u16(out, self.processing_delay);
        put_u16(out, text_len(&self.phone_number, NUMBER_LEN));
        put_u16(out, 0);
        put_padded(out, &self.phone_number, NUMBER_LEN);
        put_padded(out, &self.subaddress, NUMBER_LEN);
    }
}

/// Outgoing-Call-Reply, RFC 2637 §2.8: the PAC's answer to an [`OutgoingCallRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutgoingCallReply {
    /// The PAC's Call ID for this call; the PNS puts it in the GRE packets it sends.
    pub call_id: CallId,
    /// The Call ID from the Outgoing-Call-Request being answered.
    pub peer_call_id: CallId,
    /// Whether the call was placed.
    pub result: OutgoingCallResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
    /// Extra failure information (for ISDN, the Q.931 cause); 0 otherwise.
    pub cause: u16,
    /// The actual line speed, bits per second.
    pub connect_speed: u32,
    /// Data packets the PAC will buffer for this call (its receive window).
    pub recv_window: u16,
    /// The PAC's packet processing delay, in 1/10 seconds.
    pub processing_delay: u16,
    /// The PAC's physical channel, for logging.
    pub physical_channel_id: u32,
}

impl OutgoingCallReply {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 32;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        Ok(OutgoingCallReply {
            call_id: CallId(r.u16()?),
            peer_call_id: CallId(r.u16()?),
            result: r.u8()?.into(),
            error: r.u8()?.into(),
            cause: r.u16()?,
            connect_speed: r.u32()?,
            recv_window: r.u16()?,
            processing_delay: r.u16()?,
            physical_channel_id: r.u32()?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u16(out, self.peer_call_id.0);
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u16(out, self.cause);
        put_u32(out, self.connect_speed);
        put_u16(out, self.recv_window);
        put_u16(out, self.processing_delay);
        put_u32(out, self.physical_channel_id);
    }
}

/// Incoming-Call-Request, RFC 2637 §2.9: the PAC tells the PNS about an inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingCallRequest {
    /// The PAC's Call ID for this call.
    pub call_id: CallId,
    /// A serial number the PAC assigns for logging.
    pub call_serial: u16,
    /// The kind of channel the call arrived on.
    pub bearer_type: BearerType,
    /// The PAC's physical channel, for logging.
    pub physical_channel_id: u32,
    /// The number that was dialed (DNIS), up to 64 octets.
    pub dialed_number: Vec<u8>,
    /// The number that called (CLID), up to 64 octets.
    pub dialing_number: Vec<u8>,
    /// Additional dialing information, up to 64 octets.
    pub subaddress: Vec<u8>,
}

impl IncomingCallRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 220;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let call_id = CallId(r.u16()?);
        let call_serial = r.u16()?;
        let bearer_type = r.u32()?.into();
        let physical_channel_id = r.u32()?;
        let _dialed_number_length = r.u16()?;
        let _dialing_number_length = r.u16()?;
        Ok(IncomingCallRequest {
            call_id,
            call_serial,
            bearer_type,
            physical_channel_id,
            dialed_number: r.padded(NUMBER_LEN)?,
            dialing_number: r.padded(NUMBER_LEN)?,
            subaddress: r.padded(NUMBER_LEN)?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u16(out, self.call_serial);
        put_u32(out, self.bearer_type.into());
        put_u32(out, self.physical_channel_id);
        put_u16(out, text_len(&self.dialed_number, NUMBER_LEN));
        put_u16(out, text_len(&self.dialing_number, NUMBER_LEN));
        put_padded(out, &self.dialed_number, NUMBER_LEN);
        put_padded(out, &self.dialing_number, NUMBER_LEN);
        put_padded(out, &self.subaddress, NUMBER_LEN);
    }
}

/// Incoming-Call-Reply, RFC 2637 §2.10: the PNS's answer to an [`IncomingCallRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingCallReply {
    /// The PNS's Call ID for this call.
    pub call_id: CallId,
    /// The Call ID from the Incoming-Call-Request being answered.
    pub peer_call_id: CallId,
    /// Whether the PAC should answer the call.
    pub result: IncomingCallResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
    /// Data packets the PNS will buffer for this call.
    pub recv_window: u16,
    /// The PNS's packet transmit delay, in 1/10 seconds.
    pub transmit_delay: u16,
}

impl IncomingCallReply {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 24;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let reply = IncomingCallReply {
            call_id: CallId(r.u16()?),
            peer_call_id: CallId(r.u16()?),
            result: r.u8()?.into(),
            error: r.u8()?.into(),
            recv_window: r.u16()?,
            transmit_delay: r.u16()?,
        };
        r.reserved16(MessageType::IncomingCallReply, "Reserved1")?;
        Ok(reply)
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u16(out, self.peer_call_id.0);
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u16(out, self.recv_window);
        put_u16(out, self.transmit_delay);
        put_u16(out, 0);
    }
}

/// Incoming-Call-Connected, RFC 2637 §2.11: the PAC completes an incoming call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingCallConnected {
    /// The PNS's Call ID from its Incoming-Call-Reply.
    pub peer_call_id: CallId,
    /// The actual line speed, bits per second.
    pub connect_speed: u32,
    /// Data packets the PAC will buffer for this call.
    pub recv_window: u16,
    /// The PAC's packet transmit delay, in 1/10 seconds.
    pub transmit_delay: u16,
    /// The framing in use.
    pub framing_type: FramingType,
}

impl IncomingCallConnected {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 28;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let peer_call_id = CallId(r.u16()?);
        r.reserved16(MessageType::IncomingCallConnected, "Reserved1")?;
        Ok(IncomingCallConnected {
            peer_call_id,
            connect_speed: r.u32()?,
            recv_window: r.u16()?,
            transmit_delay: r.u16()?,
            framing_type: r.u32()?.into(),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.peer_call_id.0);
        put_u16(out, 0);
        put_u32(out, self.connect_speed);
        put_u16(out, self.recv_window);
        put_u16(out, self.transmit_delay);
        put_u32(out, self.framing_type.into());
    }
}

/// Call-Clear-Request, RFC 2637 §2.12: the PNS asks the PAC to end a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallClearRequest {
    /// The *PNS's* Call ID for the call ("used instead of the PAC assigned Call ID because the
    /// latter may not be known to the PNS if the call must be aborted during call
    /// establishment").
    pub call_id: CallId,
}

impl CallClearRequest {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 16;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let call_id = CallId(r.u16()?);
        r.reserved16(MessageType::CallClearRequest, "Reserved1")?;
        Ok(CallClearRequest { call_id })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u16(out, 0);
    }
}

/// Call-Disconnect-Notify, RFC 2637 §2.13: the PAC reports that a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallDisconnectNotify {
    /// The *PAC's* Call ID for the call.
    pub call_id: CallId,
    /// Why the call was disconnected.
    pub result: CallDisconnectResult,
    /// Details a result of `GeneralError`, otherwise `None`.
    pub error: GeneralErrorCode,
    /// Extra failure information (for ISDN, the Q.931 cause); 0 otherwise.
    pub cause: u16,
    /// Vendor-specific statistics text, up to 128 octets.
    pub call_statistics: Vec<u8>,
}

impl CallDisconnectNotify {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 148;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let call_id = CallId(r.u16()?);
        let result = r.u8()?.into();
        let error = r.u8()?.into();
        let cause = r.u16()?;
        r.reserved16(MessageType::CallDisconnectNotify, "Reserved1")?;
        Ok(CallDisconnectNotify {
            call_id,
            result,
            error,
            cause,
            call_statistics: r.padded(CALL_STATISTICS_LEN)?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.call_id.0);
        put_u8(out, self.result.into());
        put_u8(out, self.error.into());
        put_u16(out, self.cause);
        put_u16(out, 0);
        put_padded(out, &self.call_statistics, CALL_STATISTICS_LEN);
    }
}

/// WAN-Error-Notify, RFC 2637 §2.14: the PAC reports line error counters of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WanErrorNotify {
    /// The PNS's Call ID for the call.
    pub peer_call_id: CallId,
    /// PPP frames received with CRC errors since the call was established.
    pub crc_errors: u32,
    /// Improperly framed PPP packets received.
    pub framing_errors: u32,
    /// Receive buffer overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns.
    pub buffer_overruns: u32,
    /// Time-outs.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

impl WanErrorNotify {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 40;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let peer_call_id = CallId(r.u16()?);
        r.reserved16(MessageType::WanErrorNotify, "Reserved1")?;
        Ok(WanErrorNotify {
            peer_call_id,
            crc_errors: r.u32()?,
            framing_errors: r.u32()?,
            hardware_overruns: r.u32()?,
            buffer_overruns: r.u32()?,
            timeout_errors: r.u32()?,
            alignment_errors: r.u32()?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.peer_call_id.0);
        put_u16(out, 0);
        put_u32(out, self.crc_errors);
        put_u32(out, self.framing_errors);
        put_u32(out, self.hardware_overruns);
        put_u32(out, self.buffer_overruns);
        put_u32(out, self.timeout_errors);
        put_u32(out, self.alignment_errors);
    }
}

/// Set-Link-Info, RFC 2637 §2.15: the PNS tells the PAC the PPP-negotiated async control
/// character maps (informational for a VPN: there is no async line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetLinkInfo {
    /// The *PAC's* Call ID for the call.
    pub peer_call_id: CallId,
    /// The send ACCM.
    pub send_accm: u32,
    /// The receive ACCM.
    pub recv_accm: u32,
}

impl SetLinkInfo {
    /// Total length of this message on the wire.
    pub const LEN: u16 = 24;

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Self, ControlError> {
        let peer_call_id = CallId(r.u16()?);
        r.reserved16(MessageType::SetLinkInfo, "Reserved1")?;
        Ok(SetLinkInfo {
            peer_call_id,
            send_accm: r.u32()?,
            recv_accm: r.u32()?,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.peer_call_id.0);
        put_u16(out, 0);
        put_u32(out, self.send_accm);
        put_u32(out, self.recv_accm);
    }
}
