//! Control-message tests with the real bytes of the fixture capture
//! (`tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap`, TCP payloads of frames 9, 11, 20, 21).

use super::*;
use crate::call_id::CallId;
use hex_literal::hex;

/// Frame 9: pptp-linux 1.10's Start-Control-Connection-Request.
pub(crate) const SCCRQ_PPTP_LINUX: [u8; 156] = hex!(
    "009c0001 1a2b3c4d 00010000 01000000"
    "00000003 00000003 ffff0001 6c6f6361"
    "6c000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 63616e61"
    "6e69616e 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000"
);

/// Frame 11: poptop pptpd 1.4's Start-Control-Connection-Reply.
pub(crate) const SCCRP_POPTOP: [u8; 156] = hex!(
    "009c0001 1a2b3c4d 00020000 01000100"
    "00000000 00000000 00010001 6c6f6361"
    "6c000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 6c696e75"
    "78000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000"
);

/// Frame 20: pptp-linux's Outgoing-Call-Request (Call ID 27020, window 3).
pub(crate) const OCRQ_PPTP_LINUX: [u8; 168] = hex!(
    "00a80001 1a2b3c4d 00070000 698c0000"
    "00000960 00989680 00000003 00000003"
    "00030000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000 00000000 00000000"
    "00000000 00000000"
);

/// Frame 21: poptop's Outgoing-Call-Reply (its Call ID 0, peer's 27020).
pub(crate) const OCRP_POPTOP: [u8; 32] = hex!(
    "00200001 1a2b3c4d 00080000 0000698c"
    "01000000 00989680 00030000 00000000"
);

#[test]
fn decodes_the_pptp_linux_start_request() {
    let message = ControlMessage::decode(&SCCRQ_PPTP_LINUX).unwrap();
    let ControlMessage::StartControlConnectionRequest(request) = &message else {
        panic!("not an SCCRQ: {message:?}");
    };
    assert_eq!(request.protocol_version, ProtocolVersion::V1_0);
    assert_eq!(request.framing_capabilities, FramingCapabilities(3));
    assert_eq!(request.bearer_capabilities, BearerCapabilities(3));
    assert_eq!(request.maximum_channels, 65535);
    assert_eq!(request.firmware_revision, 1);
    assert_eq!(request.host_name, b"local");
    assert_eq!(request.vendor, b"cananian");
    assert_eq!(message.to_bytes(), SCCRQ_PPTP_LINUX);
}

#[test]
fn decodes_the_poptop_start_reply() {
    let message = ControlMessage::decode(&SCCRP_POPTOP).unwrap();
    let ControlMessage::StartControlConnectionReply(reply) = &message else {
        panic!("not an SCCRP: {message:?}");
    };
    assert_eq!(reply.protocol_version, ProtocolVersion::V1_0);
    assert_eq!(reply.result, StartControlResult::Success);
    assert_eq!(reply.error, GeneralErrorCode::None);
    // poptop writes its 32-bit capabilities with htons(): they arrive as 0.
    assert_eq!(reply.framing_capabilities, FramingCapabilities(0));
    assert_eq!(reply.bearer_capabilities, BearerCapabilities(0));
    assert_eq!(reply.maximum_channels, 1);
    assert_eq!(reply.firmware_revision, 1);
    assert_eq!(reply.host_name, b"local");
    assert_eq!(reply.vendor, b"linux");
    assert_eq!(message.to_bytes(), SCCRP_POPTOP);
}

#[test]
fn decodes_the_pptp_linux_outgoing_call_request() {
    let message = ControlMessage::decode(&OCRQ_PPTP_LINUX).unwrap();
    let expected = OutgoingCallRequest {
        call_id: CallId(27020),
        call_serial: 0,
        minimum_bps: 2400,
        maximum_bps: 10_000_000,
        bearer_type: BearerType::Any,
        framing_type: FramingType::Either,
        recv_window: 3,
        processing_delay: 0,
        phone_number: Vec::new(),
        subaddress: Vec::new(),
    };
    assert_eq!(message, ControlMessage::OutgoingCallRequest(expected));
    assert_eq!(message.message_type(), MessageType::OutgoingCallRequest);
    assert_eq!(message.to_bytes(), OCRQ_PPTP_LINUX);
}

#[test]
fn decodes_the_poptop_outgoing_call_reply() {
    let message = ControlMessage::decode(&OCRP_POPTOP).unwrap();
    let expected = OutgoingCallReply {
        call_id: CallId(0),
        peer_call_id: CallId(27020),
        result: OutgoingCallResult::Connected,
        error: GeneralErrorCode::None,
        cause: 0,
        connect_speed: 10_000_000,
        recv_window: 3,
        processing_delay: 0,
        physical_channel_id: 0,
    };
    assert_eq!(message, ControlMessage::OutgoingCallReply(expected));
    assert_eq!(message.to_bytes(), OCRP_POPTOP);
}

#[test]
fn windows_style_start_request_round_trips() {
    // Windows: framing 1, bearer 1, empty host name.
    let request = ControlMessage::from(StartControlConnectionRequest {
        protocol_version: ProtocolVersion::V1_0,
        framing_capabilities: FramingCapabilities::ASYNC,
        bearer_capabilities: BearerCapabilities::ANALOG,
        maximum_channels: 0,
        firmware_revision: 0x0a28,
        host_name: Vec::new(),
        vendor: b"Microsoft".to_vec(),
    });
    let bytes = request.to_bytes();
    assert_eq!(bytes.len(), 156);
    assert_eq!(
        &bytes[28..92],
        &[0u8; 64][..],
        "empty host name is all NULs"
    );
    assert_eq!(ControlMessage::decode(&bytes), Ok(request));
}

#[test]
fn full_length_names_have_no_terminating_nul() {
    let mut bytes = SCCRQ_PPTP_LINUX;
    bytes[28..92].fill(b'h');
    let ControlMessage::StartControlConnectionRequest(request) =
        ControlMessage::decode(&bytes).unwrap()
    else {
        panic!("not an SCCRQ");
    };
    assert_eq!(request.host_name, vec![b'h'; 64]);
    assert_eq!(request.vendor, b"cananian");
}

#[test]
fn names_longer_than_the_field_are_cut_on_encode() {
    let mut request = StartControlConnectionRequest::decode_body(&mut codec::Reader::new(
        &SCCRQ_PPTP_LINUX[HEADER_LEN..],
    ))
    .unwrap();
    request.vendor = vec![b'v'; 100];
    let bytes = ControlMessage::from(request).to_bytes();
    assert_eq!(bytes.len(), 156);
    let Ok(ControlMessage::StartControlConnectionRequest(decoded)) = ControlMessage::decode(&bytes)
    else {
        panic!("does not decode");
    };
    assert_eq!(decoded.vendor, vec![b'v'; 64]);
}

#[test]
fn every_fixed_length_matches_its_encoding() {
    let samples: Vec<ControlMessage> = vec![
        StopControlConnectionRequest {
            reason: StopControlReason::LocalShutdown,
        }
        .into(),
        StopControlConnectionReply {
            result: StopControlResult::Ok,
            error: GeneralErrorCode::None,
        }
        .into(),
        EchoRequest { identifier: 7 }.into(),
        EchoReply {
            identifier: 7,
            result: EchoResult::Ok,
            error: GeneralErrorCode::None,
        }
        .into(),
        IncomingCallRequest {
            call_id: CallId(1),
            call_serial: 2,
            bearer_type: BearerType::Digital,
            physical_channel_id: 3,
            dialed_number: b"123".to_vec(),
            dialing_number: b"456".to_vec(),
            subaddress: Vec::new(),
        }
        .into(),
        IncomingCallReply {
            call_id: CallId(1),
            peer_call_id: CallId(2),
            result: IncomingCallResult::Connect,
            error: GeneralErrorCode::None,
            recv_window: 8,
            transmit_delay: 0,
        }
        .into(),
        IncomingCallConnected {
            peer_call_id: CallId(2),
            connect_speed: 64000,
            recv_window: 8,
            transmit_delay: 0,
            framing_type: FramingType::Sync,
        }
        .into(),
        CallClearRequest { call_id: CallId(9) }.into(),
        CallDisconnectNotify {
            call_id: CallId(9),
            result: CallDisconnectResult::Request,
            error: GeneralErrorCode::None,
            cause: 0,
            call_statistics: b"bytes 1234".to_vec(),
        }
        .into(),
        WanErrorNotify {
            peer_call_id: CallId(9),
            crc_errors: 1,
            framing_errors: 2,
            hardware_overruns: 3,
            buffer_overruns: 4,
            timeout_errors: 5,
            alignment_errors: 6,
        }
        .into(),
        SetLinkInfo {
            peer_call_id: CallId(9),
            send_accm: 0xffff_ffff,
            recv_accm: 0,
        }
        .into(),
    ];
    for message in samples {
        let bytes = message.to_bytes();
        assert_eq!(
            Some(bytes.len()),
            fixed_len(message.message_type()).map(usize::from),
            "{message:?}"
        );
        assert_eq!(bytes.len(), message.encoded_len());
        assert_eq!(ControlMessage::decode(&bytes).as_ref(), Ok(&message));
    }
}

#[test]
fn phone_number_length_is_computed_on_encode() {
    let mut request = ControlMessage::decode(&OCRQ_PPTP_LINUX).unwrap();
    if let ControlMessage::OutgoingCallRequest(r) = &mut request {
        r.phone_number = b"5551234".to_vec();
    }
    let bytes = request.to_bytes();
    assert_eq!(&bytes[36..38], &[0, 7], "Phone Number Length");
    assert_eq!(&bytes[40..47], b"5551234");
}

#[test]
fn unknown_message_types_are_reported_not_fatal() {
    let bytes = hex!("0014 0001 1a2b3c4d 0010 0000 deadbeef 01020304");
    let message = ControlMessage::decode(&bytes).unwrap();
    assert_eq!(
        message,
        ControlMessage::Unknown {
            message_type: 16,
            body: hex!("deadbeef 01020304").to_vec()
        }
    );
    assert_eq!(message.message_type(), MessageType::Unknown(16));
    assert_eq!(message.to_bytes(), bytes);
}

#[test]
fn frame_len_reads_the_length_field() {
    assert_eq!(frame_len(&[]), Ok(None));
    assert_eq!(frame_len(&[0x00]), Ok(None));
    assert_eq!(frame_len(&SCCRQ_PPTP_LINUX[..2]), Ok(Some(156)));
    assert_eq!(frame_len(&OCRP_POPTOP), Ok(Some(32)));
    assert_eq!(frame_len(&[0, 11]), Err(ControlError::LengthTooShort(11)));
    assert_eq!(
        frame_len(&[0x10, 0x01]),
        Err(ControlError::LengthTooLong(4097))
    );
    assert_eq!(frame_len(&[0x10, 0x00]), Ok(Some(4096)));
}

#[test]
fn rejects_a_bad_header() {
    let mut bad_cookie = OCRP_POPTOP;
    bad_cookie[7] = 0x4e;
    assert_eq!(
        ControlMessage::decode(&bad_cookie),
        Err(ControlError::BadMagicCookie(0x1a2b_3c4e))
    );
    let mut management = OCRP_POPTOP;
    management[3] = 2;
    assert_eq!(
        ControlMessage::decode(&management),
        Err(ControlError::NotControlMessage(2))
    );
    let mut reserved0 = OCRP_POPTOP;
    reserved0[11] = 1;
    assert_eq!(
        ControlMessage::decode(&reserved0),
        Err(ControlError::ReservedNotZero {
            message_type: 8,
            field: "Reserved0",
            value: 1
        })
    );
    assert_eq!(
        ControlMessage::decode(&OCRP_POPTOP[..11]),
        Err(ControlError::Truncated {
            needed: 12,
            available: 11
        })
    );
}

#[test]
fn rejects_a_length_that_disagrees_with_the_buffer_or_the_type() {
    assert_eq!(
        ControlMessage::decode(&OCRP_POPTOP[..31]),
        Err(ControlError::LengthMismatch {
            declared: 32,
            actual: 31
        })
    );
    let mut longer = OCRP_POPTOP.to_vec();
    longer.push(0);
    assert_eq!(
        ControlMessage::decode(&longer),
        Err(ControlError::LengthMismatch {
            declared: 32,
            actual: 33
        })
    );
    longer[1] = 33;
    assert_eq!(
        ControlMessage::decode(&longer),
        Err(ControlError::WrongMessageLength {
            message_type: 8,
            expected: 32,
            actual: 33
        })
    );
    let short = &mut SCCRQ_PPTP_LINUX[..155].to_vec();
    short[1] = 155;
    assert_eq!(
        ControlMessage::decode(short),
        Err(ControlError::WrongMessageLength {
            message_type: 1,
            expected: 156,
            actual: 155
        })
    );
}

#[test]
fn rejects_non_zero_reserved_fields_in_the_body() {
    let mut sccrq = SCCRQ_PPTP_LINUX;
    sccrq[15] = 1; // Reserved1
    let error = ControlMessage::decode(&sccrq).unwrap_err();
    assert_eq!(
        error,
        ControlError::ReservedNotZero {
            message_type: 1,
            field: "Reserved1",
            value: 1
        }
    );
    assert_eq!(error.general_error_code(), GeneralErrorCode::BadValue);
    assert!(!error.is_framing_error());

    let stop = hex!("0010 0001 1a2b3c4d 0003 0000 01 00 0001");
    assert_eq!(
        ControlMessage::decode(&stop),
        Err(ControlError::ReservedNotZero {
            message_type: 3,
            field: "Reserved2",
            value: 1
        })
    );
}
