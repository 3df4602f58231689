//! A one-line, pppd-debug-style rendering of control messages for logs:
//! `[OCRQ call_id=27020 serial=1 bps=2400-10000000 bearer=Any framing=Either window=3 delay=0]`.
//! Short names are the RFC 2637 abbreviations (§1.3); codes print by name.

use core::fmt;

use super::ControlMessage;

/// Text fields as printable quoted strings (non-printable bytes escaped).
struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for ControlMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlMessage::StartControlConnectionRequest(m) => write!(
                f,
                "[SCCRQ version={} framing={} bearer={} channels={} firmware={:#x} host={} vendor={}]",
                m.protocol_version,
                m.framing_capabilities.0,
                m.bearer_capabilities.0,
                m.maximum_channels,
                m.firmware_revision,
                Text(&m.host_name),
                Text(&m.vendor)
            ),
            ControlMessage::StartControlConnectionReply(m) => write!(
                f,
                "[SCCRP version={} result={:?} error={:?} framing={} bearer={} channels={} firmware={:#x} host={} vendor={}]",
                m.protocol_version,
                m.result,
                m.error,
                m.framing_capabilities.0,
                m.bearer_capabilities.0,
                m.maximum_channels,
                m.firmware_revision,
                Text(&m.host_name),
                Text(&m.vendor)
            ),
            ControlMessage::StopControlConnectionRequest(m) => {
                write!(f, "[StopCCRQ reason={:?}]", m.reason)
            }
            ControlMessage::StopControlConnectionReply(m) => {
                write!(f, "[StopCCRP result={:?} error={:?}]", m.result, m.error)
            }
            ControlMessage::EchoRequest(m) => write!(f, "[EchoRQ id={:#x}]", m.identifier),
            ControlMessage::EchoReply(m) => {
                write!(
                    f,
                    "[EchoRP id={:#x} result={:?} error={:?}]",
                    m.identifier, m.result, m.error
                )
            }
            ControlMessage::OutgoingCallRequest(m) => write!(
                f,
                "[OCRQ call_id={} serial={} bps={}-{} bearer={:?} framing={:?} window={} delay={} phone={}]",
                m.call_id,
                m.call_serial,
                m.minimum_bps,
                m.maximum_bps,
                m.bearer_type,
                m.framing_type,
                m.recv_window,
                m.processing_delay,
                Text(&m.phone_number)
            ),
            ControlMessage::OutgoingCallReply(m) => write!(
                f,
                "[OCRP call_id={} peer_call_id={} result={:?} error={:?} cause={} speed={} window={} delay={}]",
                m.call_id,
                m.peer_call_id,
                m.result,
                m.error,
                m.cause,
                m.connect_speed,
                m.recv_window,
                m.processing_delay
            ),
            ControlMessage::IncomingCallRequest(m) => write!(
                f,
                "[ICRQ call_id={} serial={} bearer={:?} dialed={} dialing={}]",
                m.call_id,
                m.call_serial,
                m.bearer_type,
                Text(&m.dialed_number),
                Text(&m.dialing_number)
            ),
            ControlMessage::IncomingCallReply(m) => write!(
                f,
                "[ICRP call_id={} peer_call_id={} result={:?} error={:?} window={}]",
                m.call_id, m.peer_call_id, m.result, m.error, m.recv_window
            ),
            ControlMessage::IncomingCallConnected(m) => write!(
                f,
                "[ICCN peer_call_id={} speed={} window={} framing={:?}]",
                m.peer_call_id, m.connect_speed, m.recv_window, m.framing_type
            ),
            ControlMessage::CallClearRequest(m) => write!(f, "[CCRQ call_id={}]", m.call_id),
            ControlMessage::CallDisconnectNotify(m) => write!(
                f,
                "[CDN call_id={} result={:?} error={:?} cause={}]",
                m.call_id, m.result, m.error, m.cause
            ),
            ControlMessage::WanErrorNotify(m) => write!(
                f,
                "[WEN peer_call_id={} crc={} framing={} overruns={}/{} timeouts={} alignment={}]",
                m.peer_call_id,
                m.crc_errors,
                m.framing_errors,
                m.hardware_overruns,
                m.buffer_overruns,
                m.timeout_errors,
                m.alignment_errors
            ),
            ControlMessage::SetLinkInfo(m) => write!(
                f,
                "[SLI peer_call_id={} send_accm={:#010x} recv_accm={:#010x}]",
                m.peer_call_id, m.send_accm, m.recv_accm
            ),
            ControlMessage::Unknown { message_type, body } => {
                write!(f, "[unknown type={message_type} body={} bytes]", body.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call_id::CallId;
    use crate::control::{CallDisconnectNotify, CallDisconnectResult, GeneralErrorCode};
    use hex_literal::hex;

    #[test]
    fn the_captured_sccrq_reads_like_a_debug_log_line() {
        // Frame 9 of the poptop capture: pptp-linux's Start-Control-Connection-Request.
        let mut bytes = hex!("009c00011a2b3c4d00010000010000000000000300000003ffff0001").to_vec();
        let mut host = b"local".to_vec();
        host.resize(64, 0);
        let mut vendor = b"cananian".to_vec();
        vendor.resize(64, 0);
        bytes.extend_from_slice(&host);
        bytes.extend_from_slice(&vendor);
        let message = ControlMessage::decode(&bytes).unwrap();
        assert_eq!(
            message.to_string(),
            "[SCCRQ version=1.0 framing=3 bearer=3 channels=65535 firmware=0x1 host=\"local\" vendor=\"cananian\"]"
        );
    }

    #[test]
    fn codes_print_by_name_and_odd_bytes_are_escaped() {
        let cdn = ControlMessage::CallDisconnectNotify(CallDisconnectNotify {
            call_id: CallId(7),
            result: CallDisconnectResult::AdminShutdown,
            error: GeneralErrorCode::None,
            cause: 0,
            call_statistics: Vec::new(),
        });
        assert_eq!(
            cdn.to_string(),
            "[CDN call_id=7 result=AdminShutdown error=None cause=0]"
        );
        assert_eq!(Text(b"a\x01b").to_string(), "\"a\\x01b\"");
    }
}
