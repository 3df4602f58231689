//! Control-connection tests, grouped by role and state (smoltcp `tcp.rs` style). Each test
//! documents what the machine does with one input in one state, and why (the RFC rule or the
//! stock implementation it follows).

use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::*;
use crate::control::tests::{OCRP_POPTOP, OCRQ_PPTP_LINUX, SCCRP_POPTOP, SCCRQ_PPTP_LINUX};
use crate::control::{
    BearerCapabilities, FramingCapabilities, IncomingCallConnected, IncomingCallReply,
    IncomingCallRequest, IncomingCallResult, SetLinkInfo, StartControlConnectionReply,
    StartControlResult, WanErrorNotify,
};

// ----- helpers --------------------------------------------------------------------------------

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Everything the connection wants to send.
fn sent<R: RngCore>(conn: &mut ControlConnection<R>) -> Vec<ControlMessage> {
    std::iter::from_fn(|| conn.poll_transmit()).collect()
}

/// Everything the connection reported.
fn events<R: RngCore>(conn: &mut ControlConnection<R>) -> Vec<ControlEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// The only element of `items`.
fn one<T: std::fmt::Debug>(items: Vec<T>) -> T {
    let [item]: [T; 1] = items
        .try_into()
        .unwrap_or_else(|items: Vec<T>| panic!("expected exactly one, got {items:?}"));
    item
}

fn decode(bytes: &[u8]) -> ControlMessage {
    ControlMessage::decode(bytes).unwrap()
}

/// The pptp-linux Outgoing-Call-Request of the fixture, with another Call ID.
fn call_request(call_id: u16) -> ControlMessage {
    let mut message = decode(&OCRQ_PPTP_LINUX);
    if let ControlMessage::OutgoingCallRequest(request) = &mut message {
        request.call_id = CallId(call_id);
    }
    message
}

fn violation(
    message_type: MessageType,
    state: ConnectionState,
    violation: Violation,
) -> ControlEvent {
    ControlEvent::ProtocolViolation {
        message_type,
        state,
        violation,
    }
}

fn server_config() -> ServerConfig {
    ServerConfig {
        host_name: b"gateway".to_vec(),
        vendor: b"pptpd-rs".to_vec(),
        ..ServerConfig::default()
    }
}

/// A server that has just accepted the TCP connection.
fn server() -> (ControlConnection, Instant) {
    let t0 = Instant::now();
    (ControlConnection::server(server_config(), t0), t0)
}

/// A server after pptp-linux's Start-Control-Connection-Request, outputs drained.
fn established_server() -> (ControlConnection, Instant) {
    let (mut conn, t0) = server();
    conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
    sent(&mut conn);
    events(&mut conn);
    (conn, t0)
}

/// An established server with pptp-linux's call 27020 answered as our Call ID 0x4242.
fn server_with_call() -> (ControlConnection, Instant) {
    let (mut conn, t0) = established_server();
    conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
    conn.answer_call(t0, CallId(27020), CallId(0x4242)).unwrap();
    sent(&mut conn);
    events(&mut conn);
    (conn, t0)
}

fn client() -> (ControlConnection<ChaCha8Rng>, Instant) {
    let t0 = Instant::now();
    let rng = ChaCha8Rng::seed_from_u64(1723);
    (
        ControlConnection::client(ClientConfig::default(), t0, rng),
        t0,
    )
}

/// A client after poptop's Start-Control-Connection-Reply, outputs drained.
fn established_client() -> (ControlConnection<ChaCha8Rng>, Instant) {
    let (mut conn, t0) = client();
    conn.open(t0).unwrap();
    conn.handle_bytes(t0, &SCCRP_POPTOP).unwrap();
    sent(&mut conn);
    events(&mut conn);
    (conn, t0)
}

/// poptop's Outgoing-Call-Reply of the fixture, answering our call `ours`.
fn call_reply(ours: CallId, result: OutgoingCallResult) -> ControlMessage {
    let mut message = decode(&OCRP_POPTOP);
    if let ControlMessage::OutgoingCallReply(reply) = &mut message {
        reply.peer_call_id = ours;
        reply.result = result;
    }
    message
}

fn disconnect(call_id: CallId, result: CallDisconnectResult) -> ControlMessage {
    CallDisconnectNotify {
        call_id,
        result,
        error: GeneralErrorCode::None,
        cause: 0,
        call_statistics: Vec::new(),
    }
    .into()
}

// ----- server, Idle: waiting for the Start-Control-Connection-Request ------------------------

mod server_idle {
    use super::*;

    #[test]
    fn pptp_linux_start_request_is_answered_and_establishes() {
        let (mut conn, t0) = server();
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        let expected = StartControlConnectionReply {
            protocol_version: ProtocolVersion::V1_0,
            result: StartControlResult::Success,
            error: GeneralErrorCode::None,
            framing_capabilities: FramingCapabilities(3),
            bearer_capabilities: BearerCapabilities(3),
            maximum_channels: 1,
            firmware_revision: 1,
            host_name: b"gateway".to_vec(),
            vendor: b"pptpd-rs".to_vec(),
        };
        assert_eq!(sent(&mut conn), vec![expected.into()]);
        assert_eq!(conn.state(), ConnectionState::Established);
        let ControlEvent::Connected { peer } = one(events(&mut conn)) else {
            panic!("expected one Connected event");
        };
        assert_eq!(peer.host_name, b"local");
        assert_eq!(peer.vendor, b"cananian");
        assert_eq!(peer.maximum_channels, 65535);
        assert_eq!(conn.peer(), Some(&peer));
    }

    #[test]
    fn reply_reproduces_poptops_bytes_with_poptops_settings() {
        let config = ServerConfig {
            host_name: b"local".to_vec(),
            vendor: b"linux".to_vec(),
            framing_capabilities: FramingCapabilities(0),
            bearer_capabilities: BearerCapabilities(0),
            maximum_channels: 1,
            firmware_revision: 1,
            ..ServerConfig::default()
        };
        let t0 = Instant::now();
        let mut conn = ControlConnection::server(config, t0);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        let reply = conn.poll_transmit().unwrap();
        assert_eq!(reply.to_bytes(), SCCRP_POPTOP);
    }

    #[test]
    fn windows_start_request_with_empty_host_name_is_accepted() {
        let (mut conn, t0) = server();
        conn.handle_message(
            t0,
            StartControlConnectionRequest {
                protocol_version: ProtocolVersion::V1_0,
                framing_capabilities: FramingCapabilities::ASYNC,
                bearer_capabilities: BearerCapabilities::ANALOG,
                maximum_channels: 0,
                firmware_revision: 0,
                host_name: Vec::new(),
                vendor: b"Microsoft Windows NT".to_vec(),
            }
            .into(),
        );
        assert_eq!(conn.state(), ConnectionState::Established);
    }

    #[test]
    fn other_protocol_version_is_refused_with_result_5_and_closes() {
        // SCCRP result "5 (The protocol version of the requester is not supported)"; we state
        // our own version (1.0) in the reply.
        let (mut conn, t0) = server();
        let mut request = decode(&SCCRQ_PPTP_LINUX);
        if let ControlMessage::StartControlConnectionRequest(r) = &mut request {
            r.protocol_version = ProtocolVersion(0x0200);
        }
        conn.handle_message(t0, request);
        let ControlMessage::StartControlConnectionReply(reply) = one(sent(&mut conn)) else {
            panic!("expected one SCCRP");
        };
        assert_eq!(reply.result, StartControlResult::VersionNotSupported);
        assert_eq!(reply.protocol_version, ProtocolVersion::V1_0);
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::UnsupportedVersion(
                ProtocolVersion(0x0200)
            ))]
        );
        assert_eq!(conn.state(), ConnectionState::Closed);
    }

    #[test]
    fn call_request_before_start_is_refused_as_not_connected() {
        // General Error Code "1 (Not-Connected) - No control connection exists yet for this
        // PAC-PNS pair" exists for exactly this.
        let (mut conn, t0) = server();
        conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![
                OutgoingCallReply {
                    call_id: CallId(0),
                    peer_call_id: CallId(27020),
                    result: OutgoingCallResult::GeneralError,
                    error: GeneralErrorCode::NotConnected,
                    cause: 0,
                    connect_speed: 0,
                    recv_window: 0,
                    processing_delay: 0,
                    physical_channel_id: 0,
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::OutgoingCallRequest,
                ConnectionState::Idle,
                Violation::UnexpectedMessage
            )]
        );
        assert_eq!(conn.state(), ConnectionState::Idle);
    }

    #[test]
    fn other_messages_before_start_are_ignored_and_reported() {
        // "A control connection must be established before any other PPTP messages can be
        // issued."
        let (mut conn, t0) = server();
        conn.handle_message(t0, EchoRequest { identifier: 1 }.into());
        conn.handle_message(t0, CallClearRequest { call_id: CallId(1) }.into());
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(
            events(&mut conn),
            vec![
                violation(
                    MessageType::EchoRequest,
                    ConnectionState::Idle,
                    Violation::UnexpectedMessage
                ),
                violation(
                    MessageType::CallClearRequest,
                    ConnectionState::Idle,
                    Violation::UnexpectedMessage
                ),
            ]
        );
    }

    #[test]
    fn stop_request_before_start_is_answered_and_closes() {
        let (mut conn, t0) = server();
        conn.handle_message(
            t0,
            StopControlConnectionRequest {
                reason: StopControlReason::None,
            }
            .into(),
        );
        assert_eq!(
            sent(&mut conn),
            vec![
                StopControlConnectionReply {
                    result: StopControlResult::Ok,
                    error: GeneralErrorCode::None
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::PeerStopped(
                StopControlReason::None
            ))]
        );
    }

    #[test]
    fn no_start_request_within_60_seconds_closes() {
        // RFC 2637 §3.1.4 item 1: "a control connection SHOULD be closed after 60 seconds by
        // a peer waiting for a Start-Control-Connection-Request".
        let (mut conn, t0) = server();
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)));
        conn.handle_timeout(t0 + secs(59));
        assert_eq!(conn.state(), ConnectionState::Idle);
        conn.handle_timeout(t0 + secs(60));
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::EstablishTimeout)]
        );
        assert_eq!(conn.poll_timeout(), None);
    }

    #[test]
    fn stop_before_start_closes_without_a_message() {
        let (mut conn, t0) = server();
        conn.stop(t0, StopControlReason::LocalShutdown);
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::Stopped(
                StopControlReason::LocalShutdown
            ))]
        );
    }

    #[test]
    fn unknown_message_type_is_reported_and_ignored() {
        let (mut conn, t0) = server();
        conn.handle_message(
            t0,
            ControlMessage::Unknown {
                message_type: 99,
                body: vec![1, 2, 3, 4],
            },
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::UnknownMessage { message_type: 99 }]
        );
        assert_eq!(conn.state(), ConnectionState::Idle);
    }

    #[test]
    fn client_commands_are_refused() {
        let (mut conn, t0) = server();
        assert_eq!(conn.open(t0), Err(CommandError::WrongRole("server")));
        assert_eq!(
            conn.place_call(t0),
            Err(CommandError::WrongState(ConnectionState::Idle))
        );
        assert_eq!(
            conn.answer_call(t0, CallId(1), CallId(2)),
            Err(CommandError::WrongState(ConnectionState::Idle))
        );
    }
}

// ----- server, Established ---------------------------------------------------------------------

mod server_established {
    use super::*;

    #[test]
    fn second_start_request_gets_channel_exists() {
        // SCCRP result "3 (Command channel already exists)"; the connection stays up.
        let (mut conn, t0) = established_server();
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        let ControlMessage::StartControlConnectionReply(reply) = one(sent(&mut conn)) else {
            panic!("expected one SCCRP");
        };
        assert_eq!(reply.result, StartControlResult::ChannelExists);
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::StartControlConnectionRequest,
                ConnectionState::Established,
                Violation::UnexpectedMessage
            )]
        );
        assert_eq!(conn.state(), ConnectionState::Established);
    }

    #[test]
    fn call_request_goes_to_the_owner() {
        let (mut conn, t0) = established_server();
        conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
        assert_eq!(sent(&mut conn), vec![], "nothing until the owner answers");
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallRequested {
                peer_call_id: CallId(27020),
                call_serial: 0,
                recv_window: 3,
                processing_delay: 0,
                minimum_bps: 2400,
                maximum_bps: 10_000_000,
                bearer_type: BearerType::Any,
                framing_type: FramingType::Either,
                phone_number: Vec::new(),
            }]
        );
        assert_eq!(conn.call_count(), 1);
    }

    #[test]
    fn answer_reproduces_poptops_reply_bytes() {
        // poptop answered with its Call ID 0, the client's maximum speed as connect speed,
        // window 3 and delay 0 (frame 21).
        let t0 = Instant::now();
        let config = ServerConfig {
            recv_window: 3,
            ..server_config()
        };
        let mut conn = ControlConnection::server(config, t0);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
        sent(&mut conn);
        conn.answer_call(t0, CallId(27020), CallId(0)).unwrap();
        let reply = conn.poll_transmit().unwrap();
        assert_eq!(reply.to_bytes(), OCRP_POPTOP);
        assert_eq!(conn.peer_call_id(CallId(0)), Some(CallId(27020)));
    }

    #[test]
    fn answer_uses_our_window_delay_and_configured_speed() {
        let t0 = Instant::now();
        let config = ServerConfig {
            recv_window: 64,
            processing_delay: 5,
            connect_speed: Some(100_000_000),
            ..server_config()
        };
        let mut conn = ControlConnection::server(config, t0);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
        sent(&mut conn);
        conn.answer_call(t0, CallId(27020), CallId(77)).unwrap();
        let ControlMessage::OutgoingCallReply(reply) = one(sent(&mut conn)) else {
            panic!("expected one OCRP");
        };
        assert_eq!(reply.call_id, CallId(77));
        assert_eq!(reply.peer_call_id, CallId(27020));
        assert_eq!(reply.result, OutgoingCallResult::Connected);
        assert_eq!(reply.recv_window, 64);
        assert_eq!(reply.processing_delay, 5);
        assert_eq!(reply.connect_speed, 100_000_000);
    }

    #[test]
    fn windows_call_id_zero_is_an_ordinary_call() {
        let (mut conn, t0) = established_server();
        conn.handle_message(t0, call_request(0));
        assert!(matches!(
            events(&mut conn).as_slice(),
            [ControlEvent::CallRequested {
                peer_call_id: CallId(0),
                ..
            }]
        ));
        conn.answer_call(t0, CallId(0), CallId(5)).unwrap();
        assert!(matches!(
            sent(&mut conn).as_slice(),
            [ControlMessage::OutgoingCallReply(OutgoingCallReply {
                call_id: CallId(5),
                peer_call_id: CallId(0),
                ..
            })]
        ));
    }

    #[test]
    fn refuse_sends_the_result_and_forgets_the_call() {
        let (mut conn, t0) = established_server();
        conn.handle_message(t0, call_request(1));
        conn.refuse_call(t0, CallId(1), OutgoingCallResult::Busy)
            .unwrap();
        let ControlMessage::OutgoingCallReply(reply) = one(sent(&mut conn)) else {
            panic!("expected one OCRP");
        };
        assert_eq!(
            (reply.result, reply.error, reply.peer_call_id),
            (OutgoingCallResult::Busy, GeneralErrorCode::None, CallId(1))
        );
        assert_eq!(conn.call_count(), 0);
        assert_eq!(
            conn.refuse_call(t0, CallId(1), OutgoingCallResult::Busy),
            Err(CommandError::UnknownCall(CallId(1)))
        );
    }

    #[test]
    fn refuse_with_general_error_says_no_resource() {
        let (mut conn, t0) = established_server();
        conn.handle_message(t0, call_request(1));
        conn.refuse_call(t0, CallId(1), OutgoingCallResult::GeneralError)
            .unwrap();
        assert!(matches!(
            sent(&mut conn).as_slice(),
            [ControlMessage::OutgoingCallReply(OutgoingCallReply {
                result: OutgoingCallResult::GeneralError,
                error: GeneralErrorCode::NoResource,
                ..
            })]
        ));
    }

    #[test]
    fn answer_checks_the_call_and_our_call_id() {
        let t0 = Instant::now();
        let config = ServerConfig {
            maximum_channels: 2,
            ..server_config()
        };
        let mut conn = ControlConnection::server(config, t0);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        assert_eq!(
            conn.answer_call(t0, CallId(1), CallId(9)),
            Err(CommandError::UnknownCall(CallId(1)))
        );
        conn.handle_message(t0, call_request(1));
        conn.handle_message(t0, call_request(2));
        conn.answer_call(t0, CallId(1), CallId(9)).unwrap();
        assert_eq!(
            conn.answer_call(t0, CallId(2), CallId(9)),
            Err(CommandError::CallIdInUse(CallId(9)))
        );
        assert_eq!(
            conn.answer_call(t0, CallId(1), CallId(10)),
            Err(CommandError::UnknownCall(CallId(1))),
            "already answered"
        );
    }

    #[test]
    fn reused_peer_call_id_is_refused_as_bad_call_id() {
        // "5 (Bad-Call ID) - The Call ID is invalid in this context": a Call ID "MUST be
        // unique for the tunnel".
        let t0 = Instant::now();
        let config = ServerConfig {
            maximum_channels: 4,
            ..server_config()
        };
        let mut conn = ControlConnection::server(config, t0);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        conn.handle_message(t0, call_request(7));
        sent(&mut conn);
        events(&mut conn);
        conn.handle_message(t0, call_request(7));
        assert!(matches!(
            sent(&mut conn).as_slice(),
            [ControlMessage::OutgoingCallReply(OutgoingCallReply {
                result: OutgoingCallResult::GeneralError,
                error: GeneralErrorCode::BadCallId,
                peer_call_id: CallId(7),
                ..
            })]
        ));
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::OutgoingCallRequest,
                ConnectionState::Established,
                Violation::CallIdInUse(CallId(7))
            )]
        );
        assert_eq!(conn.call_count(), 1);
    }

    #[test]
    fn calls_beyond_maximum_channels_are_refused_as_no_resource() {
        let (mut conn, t0) = server_with_call();
        conn.handle_message(t0, call_request(8));
        assert!(matches!(
            sent(&mut conn).as_slice(),
            [ControlMessage::OutgoingCallReply(OutgoingCallReply {
                result: OutgoingCallResult::GeneralError,
                error: GeneralErrorCode::NoResource,
                peer_call_id: CallId(8),
                ..
            })]
        ));
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::OutgoingCallRequest,
                ConnectionState::Established,
                Violation::TooManyCalls
            )]
        );
    }

    #[test]
    fn call_clear_request_is_answered_with_disconnect_notify_result_request() {
        // CCRQ names the PNS's Call ID; the CDN names ours, with "4 (Request)".
        let (mut conn, t0) = server_with_call();
        conn.handle_message(
            t0,
            CallClearRequest {
                call_id: CallId(27020),
            }
            .into(),
        );
        assert_eq!(
            sent(&mut conn),
            vec![disconnect(CallId(0x4242), CallDisconnectResult::Request)]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallCleared {
                call_id: CallId(0x4242),
                peer_call_id: Some(CallId(27020)),
                reason: CallClearReason::PeerRequest,
            }]
        );
        assert_eq!(conn.call_count(), 0);
    }

    #[test]
    fn call_clear_request_for_an_unanswered_call_withdraws_it() {
        let (mut conn, t0) = established_server();
        conn.handle_message(t0, call_request(3));
        events(&mut conn);
        conn.handle_message(t0, CallClearRequest { call_id: CallId(3) }.into());
        assert_eq!(
            sent(&mut conn),
            vec![disconnect(CallId(0), CallDisconnectResult::Request)]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallWithdrawn {
                peer_call_id: CallId(3)
            }]
        );
        assert_eq!(
            conn.answer_call(t0, CallId(3), CallId(1)),
            Err(CommandError::UnknownCall(CallId(3)))
        );
    }

    #[test]
    fn call_clear_request_for_an_unknown_call_gets_bad_call_id() {
        // As OpenBSD npppd: CDN General Error with "5 (Bad-Call ID)".
        let (mut conn, t0) = established_server();
        conn.handle_message(t0, CallClearRequest { call_id: CallId(9) }.into());
        assert_eq!(
            sent(&mut conn),
            vec![
                CallDisconnectNotify {
                    call_id: CallId(0),
                    result: CallDisconnectResult::GeneralError,
                    error: GeneralErrorCode::BadCallId,
                    cause: 0,
                    call_statistics: Vec::new(),
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::CallClearRequest,
                ConnectionState::Established,
                Violation::UnknownCall(CallId(9))
            )]
        );
    }

    #[test]
    fn clear_call_sends_disconnect_notify_and_reports_at_once() {
        let (mut conn, t0) = server_with_call();
        conn.clear_call(t0, CallId(0x4242), CallDisconnectResult::AdminShutdown)
            .unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![disconnect(
                CallId(0x4242),
                CallDisconnectResult::AdminShutdown
            )]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallCleared {
                call_id: CallId(0x4242),
                peer_call_id: Some(CallId(27020)),
                reason: CallClearReason::Local(CallDisconnectResult::AdminShutdown),
            }]
        );
        assert_eq!(
            conn.clear_call(t0, CallId(0x4242), CallDisconnectResult::LostCarrier),
            Err(CommandError::UnknownCall(CallId(0x4242)))
        );
    }

    #[test]
    fn set_link_info_names_our_call_and_is_reported() {
        let (mut conn, t0) = server_with_call();
        conn.handle_message(
            t0,
            SetLinkInfo {
                peer_call_id: CallId(0x4242),
                send_accm: 0xffff_ffff,
                recv_accm: 0xffff_ffff,
            }
            .into(),
        );
        conn.handle_message(
            t0,
            SetLinkInfo {
                peer_call_id: CallId(27020),
                send_accm: 0,
                recv_accm: 0,
            }
            .into(),
        );
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(
            events(&mut conn),
            vec![
                ControlEvent::SetLinkInfo {
                    call_id: CallId(0x4242),
                    send_accm: 0xffff_ffff,
                    recv_accm: 0xffff_ffff,
                },
                violation(
                    MessageType::SetLinkInfo,
                    ConnectionState::Established,
                    Violation::UnknownCall(CallId(27020))
                ),
            ]
        );
    }

    #[test]
    fn echo_request_is_answered_with_the_same_identifier() {
        let (mut conn, t0) = established_server();
        conn.handle_message(
            t0,
            EchoRequest {
                identifier: 0xdead_beef,
            }
            .into(),
        );
        assert_eq!(
            sent(&mut conn),
            vec![
                EchoReply {
                    identifier: 0xdead_beef,
                    result: EchoResult::Ok,
                    error: GeneralErrorCode::None,
                }
                .into()
            ]
        );
    }

    #[test]
    fn sixty_seconds_of_silence_send_an_echo_request() {
        // §3.1.4 item 2: "has not received a control message for 60 seconds, it SHOULD send a
        // Echo-Request message".
        let (mut conn, t0) = established_server();
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)));
        conn.handle_timeout(t0 + secs(60));
        assert_eq!(sent(&mut conn), vec![EchoRequest { identifier: 1 }.into()]);
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(120)));
        // The matching reply re-arms the keep-alive.
        conn.handle_message(
            t0 + secs(61),
            EchoReply {
                identifier: 1,
                result: EchoResult::Ok,
                error: GeneralErrorCode::None,
            }
            .into(),
        );
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(121)));
        conn.handle_timeout(t0 + secs(121));
        assert_eq!(sent(&mut conn), vec![EchoRequest { identifier: 2 }.into()]);
        assert_eq!(events(&mut conn), vec![]);
    }

    #[test]
    fn no_echo_reply_within_60_seconds_closes() {
        // §3.1.4 item 2: "If an Echo-Reply is not received 60 seconds after the Echo-Request
        // message transmission, the control connection SHOULD be closed."
        let (mut conn, t0) = server_with_call();
        conn.handle_timeout(t0 + secs(60));
        sent(&mut conn);
        // Other traffic, or a reply with the wrong identifier, is not an answer.
        conn.handle_message(t0 + secs(70), EchoRequest { identifier: 5 }.into());
        conn.handle_message(
            t0 + secs(80),
            EchoReply {
                identifier: 7,
                result: EchoResult::Ok,
                error: GeneralErrorCode::None,
            }
            .into(),
        );
        conn.handle_timeout(t0 + secs(120));
        assert_eq!(
            events(&mut conn),
            vec![
                ControlEvent::CallCleared {
                    call_id: CallId(0x4242),
                    peer_call_id: Some(CallId(27020)),
                    reason: CallClearReason::ControlClosed,
                },
                ControlEvent::Closed(Reason::EchoTimeout),
            ]
        );
        assert_eq!(conn.state(), ConnectionState::Closed);
    }

    #[test]
    fn any_received_message_restarts_the_keepalive() {
        let (mut conn, t0) = established_server();
        conn.handle_message(t0 + secs(30), EchoRequest { identifier: 9 }.into());
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(90)));
        conn.handle_message(
            t0 + secs(40),
            ControlMessage::Unknown {
                message_type: 42,
                body: Vec::new(),
            },
        );
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(100)));
    }

    #[test]
    fn stop_request_from_the_peer_is_answered_and_clears_every_call() {
        let (mut conn, t0) = server_with_call();
        conn.handle_message(
            t0,
            StopControlConnectionRequest {
                reason: StopControlReason::LocalShutdown,
            }
            .into(),
        );
        assert_eq!(
            sent(&mut conn),
            vec![
                StopControlConnectionReply {
                    result: StopControlResult::Ok,
                    error: GeneralErrorCode::None,
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![
                ControlEvent::CallCleared {
                    call_id: CallId(0x4242),
                    peer_call_id: Some(CallId(27020)),
                    reason: CallClearReason::ControlClosed,
                },
                ControlEvent::Closed(Reason::PeerStopped(StopControlReason::LocalShutdown)),
            ]
        );
        assert_eq!(conn.poll_timeout(), None);
    }

    #[test]
    fn stop_clears_calls_first_then_sends_stop_request() {
        // §3.1.4 (and npppd): calls are cleared (CDN, Admin Shutdown) before the StopCCRQ.
        let (mut conn, t0) = server_with_call();
        conn.stop(t0 + secs(5), StopControlReason::LocalShutdown);
        assert_eq!(
            sent(&mut conn),
            vec![
                disconnect(CallId(0x4242), CallDisconnectResult::AdminShutdown),
                StopControlConnectionRequest {
                    reason: StopControlReason::LocalShutdown
                }
                .into(),
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallCleared {
                call_id: CallId(0x4242),
                peer_call_id: Some(CallId(27020)),
                reason: CallClearReason::Local(CallDisconnectResult::AdminShutdown),
            }]
        );
        assert_eq!(conn.state(), ConnectionState::WaitStopReply);
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(15)));
    }

    #[test]
    fn messages_only_a_pac_sends_are_ignored_and_reported() {
        let (mut conn, t0) = established_server();
        let pac_messages: Vec<ControlMessage> = vec![
            decode(&SCCRP_POPTOP),
            decode(&OCRP_POPTOP),
            disconnect(CallId(1), CallDisconnectResult::LostCarrier),
            IncomingCallConnected {
                peer_call_id: CallId(1),
                connect_speed: 0,
                recv_window: 0,
                transmit_delay: 0,
                framing_type: FramingType::Sync,
            }
            .into(),
            WanErrorNotify {
                peer_call_id: CallId(1),
                crc_errors: 0,
                framing_errors: 0,
                hardware_overruns: 0,
                buffer_overruns: 0,
                timeout_errors: 0,
                alignment_errors: 0,
            }
            .into(),
        ];
        for message in pac_messages {
            let message_type = message.message_type();
            conn.handle_message(t0, message);
            assert_eq!(sent(&mut conn), vec![]);
            assert_eq!(
                events(&mut conn),
                vec![violation(
                    message_type,
                    ConnectionState::Established,
                    Violation::UnexpectedMessage
                )]
            );
        }
        assert_eq!(conn.state(), ConnectionState::Established);
    }

    #[test]
    fn unsolicited_stop_reply_is_ignored_and_reported() {
        let (mut conn, t0) = established_server();
        conn.handle_message(
            t0,
            StopControlConnectionReply {
                result: StopControlResult::Ok,
                error: GeneralErrorCode::None,
            }
            .into(),
        );
        assert_eq!(conn.state(), ConnectionState::Established);
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::StopControlConnectionReply,
                ConnectionState::Established,
                Violation::UnexpectedMessage
            )]
        );
    }

    #[test]
    fn message_with_a_bad_field_is_ignored_but_framing_errors_close() {
        let (mut conn, t0) = established_server();
        let mut reserved = OCRQ_PPTP_LINUX;
        reserved[39] = 1; // Reserved1
        assert!(matches!(
            conn.handle_bytes(t0 + secs(10), &reserved),
            Err(ControlError::ReservedNotZero { .. })
        ));
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(events(&mut conn), vec![]);
        assert_eq!(conn.state(), ConnectionState::Established);
        assert_eq!(
            conn.poll_timeout(),
            Some(t0 + secs(70)),
            "the peer is alive"
        );

        let mut bad_cookie = OCRQ_PPTP_LINUX;
        bad_cookie[4] = 0;
        let error = conn.handle_bytes(t0, &bad_cookie).unwrap_err();
        assert_eq!(
            sent(&mut conn),
            vec![
                StopControlConnectionRequest {
                    reason: StopControlReason::StopProtocol
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::BadMessage(error))]
        );
    }

    #[test]
    fn transport_loss_clears_every_call() {
        let (mut conn, t0) = server_with_call();
        conn.handle_transport_closed(t0);
        assert_eq!(
            events(&mut conn),
            vec![
                ControlEvent::CallCleared {
                    call_id: CallId(0x4242),
                    peer_call_id: Some(CallId(27020)),
                    reason: CallClearReason::ControlClosed,
                },
                ControlEvent::Closed(Reason::TransportClosed),
            ]
        );
    }
}

// ----- server, WaitStopReply: our Stop-Control-Connection-Request is out -----------------------

mod server_wait_stop_reply {
    use super::*;

    fn stopping_server() -> (ControlConnection, Instant) {
        let (mut conn, t0) = established_server();
        conn.stop(t0, StopControlReason::None);
        sent(&mut conn);
        events(&mut conn);
        (conn, t0)
    }

    #[test]
    fn stop_reply_closes() {
        let (mut conn, t0) = stopping_server();
        conn.handle_message(
            t0,
            StopControlConnectionReply {
                result: StopControlResult::Ok,
                error: GeneralErrorCode::None,
            }
            .into(),
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::Stopped(
                StopControlReason::None
            ))]
        );
        assert_eq!(sent(&mut conn), vec![]);
    }

    #[test]
    fn no_stop_reply_in_time_closes() {
        let (mut conn, t0) = stopping_server();
        conn.handle_timeout(t0 + secs(9));
        assert_eq!(conn.state(), ConnectionState::WaitStopReply);
        conn.handle_timeout(t0 + secs(10));
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::StopReplyTimeout)]
        );
    }

    #[test]
    fn crossing_stop_requests_are_answered_and_close() {
        let (mut conn, t0) = stopping_server();
        conn.handle_message(
            t0,
            StopControlConnectionRequest {
                reason: StopControlReason::None,
            }
            .into(),
        );
        assert_eq!(
            sent(&mut conn),
            vec![
                StopControlConnectionReply {
                    result: StopControlResult::Ok,
                    error: GeneralErrorCode::None,
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::PeerStopped(
                StopControlReason::None
            ))]
        );
    }

    #[test]
    fn echo_requests_are_still_answered() {
        let (mut conn, t0) = stopping_server();
        conn.handle_message(t0, EchoRequest { identifier: 3 }.into());
        assert_eq!(sent(&mut conn).len(), 1);
    }

    #[test]
    fn messages_in_flight_are_ignored_silently() {
        let (mut conn, t0) = stopping_server();
        conn.handle_bytes(t0, &OCRQ_PPTP_LINUX).unwrap();
        conn.handle_message(
            t0,
            SetLinkInfo {
                peer_call_id: CallId(1),
                send_accm: 0,
                recv_accm: 0,
            }
            .into(),
        );
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(events(&mut conn), vec![]);
    }

    #[test]
    fn stopping_again_does_nothing() {
        let (mut conn, t0) = stopping_server();
        conn.stop(t0, StopControlReason::LocalShutdown);
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(conn.state(), ConnectionState::WaitStopReply);
    }
}

// ----- Closed ----------------------------------------------------------------------------------

mod closed {
    use super::*;

    #[test]
    fn everything_is_ignored() {
        let (mut conn, t0) = server_with_call();
        conn.handle_transport_closed(t0);
        events(&mut conn);
        conn.handle_bytes(t0, &SCCRQ_PPTP_LINUX).unwrap();
        conn.handle_message(t0, EchoRequest { identifier: 1 }.into());
        conn.handle_timeout(t0 + secs(3600));
        conn.handle_transport_closed(t0);
        conn.stop(t0, StopControlReason::None);
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(events(&mut conn), vec![]);
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(
            conn.clear_call(t0, CallId(0x4242), CallDisconnectResult::AdminShutdown),
            Err(CommandError::WrongState(ConnectionState::Closed))
        );
    }
}

// ----- client (PNS) ----------------------------------------------------------------------------

mod client_role {
    use super::*;

    #[test]
    fn open_sends_pptp_linuxs_start_request() {
        let (mut conn, t0) = client();
        assert_eq!(conn.poll_timeout(), None, "nothing happens before open");
        conn.open(t0).unwrap();
        let request = one(sent(&mut conn));
        assert_eq!(request.to_bytes(), SCCRQ_PPTP_LINUX);
        assert_eq!(conn.state(), ConnectionState::WaitStartReply);
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)));
        assert_eq!(
            conn.open(t0),
            Err(CommandError::WrongState(ConnectionState::WaitStartReply))
        );
    }

    #[test]
    fn poptops_start_reply_establishes() {
        let (mut conn, t0) = client();
        conn.open(t0).unwrap();
        conn.handle_bytes(t0, &SCCRP_POPTOP).unwrap();
        let ControlEvent::Connected { peer } = one(events(&mut conn)) else {
            panic!("expected Connected");
        };
        assert_eq!(peer.vendor, b"linux");
        assert_eq!(conn.state(), ConnectionState::Established);
    }

    #[test]
    fn result_zero_counts_as_success_like_pptp_linux() {
        let (mut conn, t0) = client();
        conn.open(t0).unwrap();
        let mut reply = SCCRP_POPTOP;
        reply[14] = 0;
        conn.handle_bytes(t0, &reply).unwrap();
        assert_eq!(conn.state(), ConnectionState::Established);
    }

    #[test]
    fn refused_start_closes() {
        let (mut conn, t0) = client();
        conn.open(t0).unwrap();
        sent(&mut conn);
        let mut reply = SCCRP_POPTOP;
        reply[14] = 4; // Requester is not authorized
        conn.handle_bytes(t0, &reply).unwrap();
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::StartRefused {
                result: StartControlResult::NotAuthorized,
                error: GeneralErrorCode::None,
            })]
        );
    }

    #[test]
    fn other_server_version_sends_stop_protocol_and_closes() {
        let (mut conn, t0) = client();
        conn.open(t0).unwrap();
        sent(&mut conn);
        let mut reply = SCCRP_POPTOP;
        reply[12] = 2;
        conn.handle_bytes(t0, &reply).unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![
                StopControlConnectionRequest {
                    reason: StopControlReason::StopProtocol
                }
                .into()
            ]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::UnsupportedVersion(
                ProtocolVersion(0x0200)
            ))]
        );
    }

    #[test]
    fn no_start_reply_within_60_seconds_closes() {
        let (mut conn, t0) = client();
        conn.open(t0).unwrap();
        conn.handle_timeout(t0 + secs(60));
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::Closed(Reason::EstablishTimeout)]
        );
    }

    #[test]
    fn place_call_sends_pptp_linuxs_request_with_a_random_call_id() {
        let (mut conn, t0) = established_client();
        let call_id = conn.place_call(t0).unwrap();
        assert_ne!(call_id, CallId(0));
        let request = one(sent(&mut conn));
        let mut expected = OCRQ_PPTP_LINUX;
        expected[12..14].copy_from_slice(&call_id.0.to_be_bytes());
        assert_eq!(request.to_bytes(), expected);

        let second = conn.place_call(t0).unwrap();
        assert_ne!(second, call_id);
        let ControlMessage::OutgoingCallRequest(request) = one(sent(&mut conn)) else {
            panic!("expected OCRQ");
        };
        assert_eq!(request.call_serial, 1);
    }

    #[test]
    fn call_ids_come_from_the_rng() {
        let ids = |seed| {
            let t0 = Instant::now();
            let rng = ChaCha8Rng::seed_from_u64(seed);
            let mut conn = ControlConnection::client(ClientConfig::default(), t0, rng);
            conn.open(t0).unwrap();
            conn.handle_bytes(t0, &SCCRP_POPTOP).unwrap();
            (0..4)
                .map(|_| conn.place_call(t0).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(7), ids(7));
        assert_ne!(ids(7), ids(8));
    }

    #[test]
    fn accepted_call_is_established() {
        let (mut conn, t0) = established_client();
        let ours = conn.place_call(t0).unwrap();
        conn.handle_message(t0, call_reply(ours, OutgoingCallResult::Connected));
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallEstablished {
                call_id: ours,
                peer_call_id: CallId(0),
                connect_speed: 10_000_000,
                recv_window: 3,
            }]
        );
        assert_eq!(conn.peer_call_id(ours), Some(CallId(0)));
        assert_eq!(
            conn.poll_timeout(),
            Some(t0 + secs(60)),
            "only the keep-alive"
        );
    }

    #[test]
    fn refused_call_is_reported_and_forgotten() {
        let (mut conn, t0) = established_client();
        let ours = conn.place_call(t0).unwrap();
        conn.handle_message(t0, call_reply(ours, OutgoingCallResult::DoNotAccept));
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallRefused {
                call_id: ours,
                result: OutgoingCallResult::DoNotAccept,
                error: GeneralErrorCode::None,
            }]
        );
        assert_eq!(conn.call_count(), 0);
    }

    #[test]
    fn reply_for_an_unknown_call_is_reported() {
        let (mut conn, t0) = established_client();
        conn.handle_message(t0, call_reply(CallId(1), OutgoingCallResult::Connected));
        assert_eq!(
            events(&mut conn),
            vec![violation(
                MessageType::OutgoingCallReply,
                ConnectionState::Established,
                Violation::UnknownCall(CallId(1))
            )]
        );
    }

    #[test]
    fn disconnect_notify_names_the_servers_call_id_or_ours() {
        for by_ours in [false, true] {
            let (mut conn, t0) = established_client();
            let ours = conn.place_call(t0).unwrap();
            conn.handle_message(t0, call_reply(ours, OutgoingCallResult::Connected));
            events(&mut conn);
            let named = if by_ours { ours } else { CallId(0) };
            conn.handle_message(t0, disconnect(named, CallDisconnectResult::AdminShutdown));
            assert_eq!(
                events(&mut conn),
                vec![ControlEvent::CallCleared {
                    call_id: ours,
                    peer_call_id: Some(CallId(0)),
                    reason: CallClearReason::PeerDisconnect {
                        result: CallDisconnectResult::AdminShutdown,
                        error: GeneralErrorCode::None,
                        cause: 0,
                    },
                }]
            );
        }
    }

    #[test]
    fn clear_call_sends_clear_request_and_waits_for_the_notify() {
        let (mut conn, t0) = established_client();
        let ours = conn.place_call(t0).unwrap();
        conn.handle_message(t0, call_reply(ours, OutgoingCallResult::Connected));
        sent(&mut conn);
        events(&mut conn);
        conn.clear_call(t0, ours, CallDisconnectResult::Request)
            .unwrap();
        assert_eq!(
            sent(&mut conn),
            vec![CallClearRequest { call_id: ours }.into()]
        );
        assert_eq!(events(&mut conn), vec![]);
        conn.handle_message(t0, disconnect(CallId(0), CallDisconnectResult::Request));
        assert!(matches!(
            events(&mut conn).as_slice(),
            [ControlEvent::CallCleared {
                reason: CallClearReason::PeerDisconnect {
                    result: CallDisconnectResult::Request,
                    ..
                },
                ..
            }]
        ));
    }

    #[test]
    fn unanswered_call_request_is_cleared_after_the_timeout() {
        // pptp-linux: a call still waiting for its reply when the timer fires gets a CCRQ.
        let (mut conn, t0) = established_client();
        let ours = conn.place_call(t0 + secs(10)).unwrap();
        sent(&mut conn);
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(60)), "keep-alive first");
        conn.handle_message(t0 + secs(20), EchoRequest { identifier: 1 }.into());
        sent(&mut conn);
        assert_eq!(conn.poll_timeout(), Some(t0 + secs(70)), "then the call");
        conn.handle_timeout(t0 + secs(70));
        assert_eq!(
            sent(&mut conn),
            vec![CallClearRequest { call_id: ours }.into()]
        );
        assert_eq!(
            events(&mut conn),
            vec![ControlEvent::CallCleared {
                call_id: ours,
                peer_call_id: None,
                reason: CallClearReason::ReplyTimeout,
            }]
        );
        assert_eq!(conn.call_count(), 0);
    }

    #[test]
    fn incoming_call_request_is_not_accepted() {
        let (mut conn, t0) = established_client();
        conn.handle_message(
            t0,
            IncomingCallRequest {
                call_id: CallId(5),
                call_serial: 0,
                bearer_type: BearerType::Analog,
                physical_channel_id: 0,
                dialed_number: Vec::new(),
                dialing_number: Vec::new(),
                subaddress: Vec::new(),
            }
            .into(),
        );
        assert!(matches!(
            sent(&mut conn).as_slice(),
            [ControlMessage::IncomingCallReply(IncomingCallReply {
                peer_call_id: CallId(5),
                result: IncomingCallResult::DoNotAccept,
                ..
            })]
        ));
    }

    #[test]
    fn server_commands_are_refused() {
        let (mut conn, t0) = established_client();
        assert_eq!(
            conn.answer_call(t0, CallId(1), CallId(2)),
            Err(CommandError::WrongRole("client"))
        );
        assert_eq!(
            conn.refuse_call(t0, CallId(1), OutgoingCallResult::Busy),
            Err(CommandError::WrongRole("client"))
        );
        let (mut idle, t0) = client();
        assert_eq!(
            idle.place_call(t0),
            Err(CommandError::WrongState(ConnectionState::Idle))
        );
    }

    #[test]
    fn messages_before_open_are_reported() {
        let (mut conn, t0) = client();
        conn.handle_bytes(t0, &SCCRP_POPTOP).unwrap();
        conn.handle_message(
            t0,
            StopControlConnectionRequest {
                reason: StopControlReason::None,
            }
            .into(),
        );
        assert_eq!(sent(&mut conn), vec![]);
        assert_eq!(events(&mut conn).len(), 2);
        assert_eq!(conn.state(), ConnectionState::Idle);
    }

    #[test]
    fn stop_clears_calls_with_clear_requests() {
        let (mut conn, t0) = established_client();
        let ours = conn.place_call(t0).unwrap();
        sent(&mut conn);
        conn.stop(t0, StopControlReason::None);
        assert_eq!(
            sent(&mut conn),
            vec![
                CallClearRequest { call_id: ours }.into(),
                StopControlConnectionRequest {
                    reason: StopControlReason::None
                }
                .into(),
            ]
        );
    }
}

// ----- a client and a server talking through bytes ---------------------------------------------

mod two_peers {
    use super::*;

    /// Moves every pending message of `from`, encoded, into `to`.
    fn deliver<A: RngCore, B: RngCore>(
        from: &mut ControlConnection<A>,
        to: &mut ControlConnection<B>,
        now: Instant,
    ) -> usize {
        let mut count = 0;
        while let Some(message) = from.poll_transmit() {
            let bytes = message.to_bytes();
            assert_eq!(crate::control::frame_len(&bytes), Ok(Some(bytes.len())));
            to.handle_bytes(now, &bytes).unwrap();
            count += 1;
        }
        count
    }

    #[test]
    fn full_session_from_start_to_stop() {
        let t0 = Instant::now();
        let mut server = ControlConnection::server(server_config(), t0);
        let rng = ChaCha8Rng::seed_from_u64(42);
        let mut client = ControlConnection::client(ClientConfig::default(), t0, rng);

        client.open(t0).unwrap();
        assert_eq!(deliver(&mut client, &mut server, t0), 1);
        assert_eq!(deliver(&mut server, &mut client, t0), 1);
        assert!(matches!(
            events(&mut server).as_slice(),
            [ControlEvent::Connected { .. }]
        ));
        assert!(matches!(
            events(&mut client).as_slice(),
            [ControlEvent::Connected { .. }]
        ));

        let client_call = client.place_call(t0).unwrap();
        deliver(&mut client, &mut server, t0);
        let ControlEvent::CallRequested { peer_call_id, .. } = one(events(&mut server)) else {
            panic!("expected CallRequested");
        };
        assert_eq!(peer_call_id, client_call);
        server
            .answer_call(t0, peer_call_id, CallId(0x1234))
            .unwrap();
        deliver(&mut server, &mut client, t0);
        assert_eq!(
            events(&mut client),
            vec![ControlEvent::CallEstablished {
                call_id: client_call,
                peer_call_id: CallId(0x1234),
                connect_speed: 10_000_000,
                recv_window: 64,
            }]
        );

        // Keep-alives cross and are answered.
        let later = t0 + secs(60);
        server.handle_timeout(later);
        client.handle_timeout(later);
        deliver(&mut server, &mut client, later);
        deliver(&mut client, &mut server, later);
        deliver(&mut server, &mut client, later);
        assert_eq!(server.poll_timeout(), Some(later + secs(60)));
        assert_eq!(client.poll_timeout(), Some(later + secs(60)));

        client
            .clear_call(later, client_call, CallDisconnectResult::Request)
            .unwrap();
        deliver(&mut client, &mut server, later);
        deliver(&mut server, &mut client, later);
        assert_eq!(
            events(&mut server),
            vec![ControlEvent::CallCleared {
                call_id: CallId(0x1234),
                peer_call_id: Some(client_call),
                reason: CallClearReason::PeerRequest,
            }]
        );
        assert!(matches!(
            events(&mut client).as_slice(),
            [ControlEvent::CallCleared {
                reason: CallClearReason::PeerDisconnect {
                    result: CallDisconnectResult::Request,
                    ..
                },
                ..
            }]
        ));

        client.stop(later, StopControlReason::None);
        deliver(&mut client, &mut server, later);
        deliver(&mut server, &mut client, later);
        assert_eq!(
            events(&mut server),
            vec![ControlEvent::Closed(Reason::PeerStopped(
                StopControlReason::None
            ))]
        );
        assert_eq!(
            events(&mut client),
            vec![ControlEvent::Closed(Reason::Stopped(
                StopControlReason::None
            ))]
        );
    }
}
