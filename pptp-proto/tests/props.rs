//! Property tests: every decoder survives truncations, mutations and random bytes with an error
//! (never a panic), every encoder round-trips, and sequence arithmetic holds across the 2^32
//! wrap.

use std::time::{Duration, Instant};

use pptp_proto::CallId;
use pptp_proto::connection::{ControlConnection, ServerConfig};
use pptp_proto::control::{
    BearerCapabilities, CallClearRequest, CallDisconnectNotify, ControlMessage, EchoReply,
    EchoRequest, FramingCapabilities, IncomingCallConnected, IncomingCallReply,
    IncomingCallRequest, OutgoingCallReply, OutgoingCallRequest, ProtocolVersion, SetLinkInfo,
    StartControlConnectionReply, StartControlConnectionRequest, StopControlConnectionReply,
    StopControlConnectionRequest, WanErrorNotify, fixed_len, frame_len,
};
use pptp_proto::gre::{
    GreHeader, GreReceiver, Ipv4Envelope, REORDER_WINDOW, SequenceVerdict, seq_after,
};
use proptest::prelude::*;

/// NUL-free text that fits a field of `max` octets (a NUL would end it on decode).
fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..=max)
}

fn call_id() -> impl Strategy<Value = CallId> {
    any::<u16>().prop_map(CallId)
}

/// Any control message, of every type including unknown ones.
fn control_message() -> impl Strategy<Value = ControlMessage> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            text(64),
            text(64)
        )
            .prop_map(|(v, f, b, m, fw, host_name, vendor)| {
                StartControlConnectionRequest {
                    protocol_version: ProtocolVersion(v),
                    framing_capabilities: FramingCapabilities(f),
                    bearer_capabilities: BearerCapabilities(b),
                    maximum_channels: m,
                    firmware_revision: fw,
                    host_name,
                    vendor,
                }
                .into()
            }),
        (
            any::<u16>(),
            any::<(u8, u8)>(),
            any::<(u32, u32)>(),
            any::<(u16, u16)>(),
            text(64),
            text(64)
        )
            .prop_map(|(v, (r, e), (f, b), (m, fw), host_name, vendor)| {
                StartControlConnectionReply {
                    protocol_version: ProtocolVersion(v),
                    result: r.into(),
                    error: e.into(),
                    framing_capabilities: FramingCapabilities(f),
                    bearer_capabilities: BearerCapabilities(b),
                    maximum_channels: m,
                    firmware_revision: fw,
                    host_name,
                    vendor,
                }
                .into()
            }),
        any::<u8>().prop_map(|r| StopControlConnectionRequest { reason: r.into() }.into()),
        any::<(u8, u8)>().prop_map(|(r, e)| StopControlConnectionReply {
            result: r.into(),
            error: e.into()
        }
        .into()),
        any::<u32>().prop_map(|identifier| EchoRequest { identifier }.into()),
        any::<(u32, u8, u8)>().prop_map(|(identifier, r, e)| EchoReply {
            identifier,
            result: r.into(),
            error: e.into()
        }
        .into()),
        (
            call_id(),
            any::<u16>(),
            any::<(u32, u32, u32, u32)>(),
            any::<(u16, u16)>(),
            text(64),
            text(64)
        )
            .prop_map(|(id, serial, (min, max, b, f), (w, d), phone, sub)| {
                OutgoingCallRequest {
                    call_id: id,
                    call_serial: serial,
                    minimum_bps: min,
                    maximum_bps: max,
                    bearer_type: b.into(),
                    framing_type: f.into(),
                    recv_window: w,
                    processing_delay: d,
                    phone_number: phone,
                    subaddress: sub,
                }
                .into()
            }),
        (
            call_id(),
            call_id(),
            any::<(u8, u8, u16)>(),
            any::<(u32, u16, u16, u32)>()
        )
            .prop_map(|(id, peer, (r, e, c), (speed, w, d, ch))| {
                OutgoingCallReply {
                    call_id: id,
                    peer_call_id: peer,
                    result: r.into(),
                    error: e.into(),
                    cause: c,
                    connect_speed: speed,
                    recv_window: w,
                    processing_delay: d,
                    physical_channel_id: ch,
                }
                .into()
            }),
        (
            call_id(),
            any::<(u16, u32, u32)>(),
            text(64),
            text(64),
            text(64)
        )
            .prop_map(|(id, (serial, b, ch), dialed, dialing, sub)| {
                IncomingCallRequest {
                    call_id: id,
                    call_serial: serial,
                    bearer_type: b.into(),
                    physical_channel_id: ch,
                    dialed_number: dialed,
                    dialing_number: dialing,
                    subaddress: sub,
                }
                .into()
            }),
        (call_id(), call_id(), any::<(u8, u8, u16, u16)>()).prop_map(|(id, peer, (r, e, w, d))| {
            IncomingCallReply {
                call_id: id,
                peer_call_id: peer,
                result: r.into(),
                error: e.into(),
                recv_window: w,
                transmit_delay: d,
            }
            .into()
        }),
        (call_id(), any::<(u32, u16, u16, u32)>()).prop_map(|(peer, (speed, w, d, f))| {
            IncomingCallConnected {
                peer_call_id: peer,
                connect_speed: speed,
                recv_window: w,
                transmit_delay: d,
                framing_type: f.into(),
            }
            .into()
        }),
        call_id().prop_map(|call_id| CallClearRequest { call_id }.into()),
        (call_id(), any::<(u8, u8, u16)>(), text(128)).prop_map(|(id, (r, e, c), stats)| {
            CallDisconnectNotify {
                call_id: id,
                result: r.into(),
                error: e.into(),
                cause: c,
                call_statistics: stats,
            }
            .into()
        }),
        (call_id(), any::<[u32; 6]>()).prop_map(|(peer, e)| WanErrorNotify {
            peer_call_id: peer,
            crc_errors: e[0],
            framing_errors: e[1],
            hardware_overruns: e[2],
            buffer_overruns: e[3],
            timeout_errors: e[4],
            alignment_errors: e[5],
        }
        .into()),
        (call_id(), any::<(u32, u32)>()).prop_map(|(peer, (s, r))| SetLinkInfo {
            peer_call_id: peer,
            send_accm: s,
            recv_accm: r,
        }
        .into()),
        (16u16.., proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(message_type, body)| ControlMessage::Unknown { message_type, body }),
    ]
}

/// Any valid enhanced GRE header, with every combination of S and A.
fn gre_header() -> impl Strategy<Value = GreHeader> {
    (
        call_id(),
        any::<u16>(),
        proptest::option::of(any::<u32>()),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(call_id, len, seq, ack, with_ack)| match seq {
            Some(seq) => GreHeader::data(call_id, len, seq, with_ack.then_some(ack)),
            None => GreHeader::ack_only(call_id, ack),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn control_messages_round_trip(message in control_message()) {
        let bytes = message.to_bytes();
        prop_assert_eq!(bytes.len(), message.encoded_len());
        prop_assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        prop_assert_eq!(ControlMessage::decode(&bytes), Ok(message));
    }

    #[test]
    fn every_truncation_is_an_error(message in control_message()) {
        let bytes = message.to_bytes();
        for cut in 0..bytes.len() {
            prop_assert!(ControlMessage::decode(&bytes[..cut]).is_err());
            // Also with the Length field rewritten to match the cut.
            if cut >= 2 && fixed_len(message.message_type()).is_some() {
                let mut shortened = bytes[..cut].to_vec();
                shortened[..2].copy_from_slice(&(cut as u16).to_be_bytes());
                prop_assert!(ControlMessage::decode(&shortened).is_err());
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        message in control_message(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = message.to_bytes();
        let at = at.index(bytes.len());
        bytes[at] = value;
        if let Ok(decoded) = ControlMessage::decode(&bytes) {
            // Whatever decodes must encode to something that decodes the same.
            prop_assert_eq!(ControlMessage::decode(&decoded.to_bytes()), Ok(decoded));
        }
    }

    #[test]
    fn random_bytes_never_panic_the_control_decoders(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let _ = ControlMessage::decode(&bytes);
        if let Ok(Some(len)) = frame_len(&bytes) {
            prop_assert!(len >= 12);
            if let Some(frame) = bytes.get(..len) {
                let _ = ControlMessage::decode(frame);
            }
        }
    }

    #[test]
    fn random_header_shaped_bytes_never_panic(
        message_type in 0u16..20,
        body in proptest::collection::vec(any::<u8>(), 0..240),
    ) {
        // A valid header in front of random bodies reaches every body decoder.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&((12 + body.len()) as u16).to_be_bytes());
        bytes.extend_from_slice(&[0, 1, 0x1a, 0x2b, 0x3c, 0x4d]);
        bytes.extend_from_slice(&message_type.to_be_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&body);
        let _ = ControlMessage::decode(&bytes);
    }

    #[test]
    fn gre_headers_round_trip(header in gre_header()) {
        let mut packet = vec![0u8; header.len() + usize::from(header.payload_len)];
        let len = header.emit(&mut packet).unwrap();
        prop_assert_eq!(len, header.len());
        prop_assert_eq!(GreHeader::parse(&packet), Ok((header, len)));
        let (parsed, payload) = GreHeader::parse_packet(&packet).unwrap();
        prop_assert_eq!(parsed, header);
        prop_assert_eq!(payload.len(), usize::from(header.payload_len));
        // Every truncation of the packet is an error.
        for cut in 0..packet.len() {
            prop_assert!(GreHeader::parse(&packet[..cut]).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic_the_gre_parser(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok((header, len)) = GreHeader::parse(&bytes) {
            prop_assert_eq!(len, header.len());
            prop_assert!(len + usize::from(header.payload_len) <= bytes.len());
            let mut out = [0u8; 16];
            prop_assert_eq!(header.emit(&mut out), Ok(len));
            prop_assert_eq!(&out[..len], &bytes[..len]);
        }
    }

    #[test]
    fn gre_shaped_bytes_never_panic(
        flags in any::<[u8; 2]>(),
        rest in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![flags[0], flags[1], 0x88, 0x0b];
        bytes.extend_from_slice(&rest);
        let _ = GreHeader::parse_packet(&bytes);
    }

    #[test]
    fn random_bytes_never_panic_the_ipv4_parser(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..80),
        force_v4_gre in any::<bool>(),
    ) {
        if force_v4_gre && bytes.len() >= 20 {
            bytes[0] = 0x40 | (bytes[0] & 0x0f);
            bytes[9] = 47;
        }
        if let Ok((envelope, header_len)) = Ipv4Envelope::parse(&bytes) {
            prop_assert_eq!(header_len, envelope.header_len);
            prop_assert!(envelope.header_len >= 20);
            prop_assert!(envelope.header_len <= envelope.total_len);
            prop_assert!(envelope.total_len <= bytes.len());
            prop_assert_eq!(
                envelope.payload(&bytes).len(),
                envelope.total_len - envelope.header_len
            );
        }
    }

    #[test]
    fn serial_order_is_antisymmetric(a in any::<u32>(), b in any::<u32>()) {
        let distance = a.wrapping_sub(b);
        if distance != 0 && distance != 0x8000_0000 {
            prop_assert!(seq_after(a, b) != seq_after(b, a));
        } else {
            prop_assert!(!seq_after(a, b) || !seq_after(b, a));
        }
        prop_assert!(seq_after(a.wrapping_add(1), a));
    }

    #[test]
    fn receiver_accepts_in_order_runs_across_the_wrap(
        start in any::<u32>(),
        steps in proptest::collection::vec(1u32..1000, 1..50),
        replay in any::<prop::sample::Index>(),
    ) {
        let mut receiver = GreReceiver::new();
        let mut seq = start;
        let mut seen = vec![seq];
        prop_assert_eq!(receiver.receive(seq), SequenceVerdict::Accept);
        for step in &steps {
            seq = seq.wrapping_add(*step);
            seen.push(seq);
            prop_assert_eq!(receiver.receive(seq), SequenceVerdict::Accept);
            prop_assert_eq!(receiver.ack_pending(), Some(seq));
        }
        let expected_gaps: u64 = steps.iter().map(|s| u64::from(s - 1)).sum();
        prop_assert_eq!(receiver.gaps(), expected_gaps);
        let old = seen[replay.index(seen.len())];
        let verdict = receiver.receive(old);
        if seq.wrapping_sub(old) <= REORDER_WINDOW {
            // Every number of the run was received: within the window it is a replay.
            prop_assert_eq!(verdict, SequenceVerdict::Duplicate);
        } else {
            prop_assert_eq!(verdict, SequenceVerdict::Late);
        }
        prop_assert_eq!(receiver.highest(), Some(seq));
    }

    #[test]
    fn a_server_survives_any_message_sequence(
        messages in proptest::collection::vec(control_message(), 0..20),
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..4),
        answer in any::<bool>(),
    ) {
        let t0 = Instant::now();
        let mut server = ControlConnection::server(ServerConfig::default(), t0);
        let mut now = t0;
        let mut closed = false;
        for (i, message) in messages.into_iter().enumerate() {
            now += Duration::from_secs(7);
            server.handle_message(now, message);
            if let Some(bytes) = garbage.get(i) {
                let _ = server.handle_bytes(now, bytes);
            }
            server.handle_timeout(now);
            while server.poll_transmit().is_some() {}
            while let Some(event) = server.poll_event() {
                prop_assert!(!closed, "no event after Closed");
                match event {
                    pptp_proto::ControlEvent::Closed(_) => closed = true,
                    pptp_proto::ControlEvent::CallRequested { peer_call_id, .. } if answer => {
                        let _ = server.answer_call(now, peer_call_id, CallId(i as u16));
                    }
                    _ => {}
                }
            }
            if let Some(deadline) = server.poll_timeout() {
                prop_assert!(deadline > now, "every due timer was handled");
            }
        }
    }
}
