//! The sans-IO `ClientSession` against a server built from the server roles of the core crates,
//! in memory: the handshake of pptp-linux + pppd, authentication failure, MPPE data both ways,
//! the hang-up order, the server ending the session, echoes while idle, timeouts.

mod common;

use std::time::Duration;

use common::*;
use mschap::{MppeConfig, MppeStrength};
use ppp_core::{Event as LinkEvent, LinkConfig, MppePolicy};
use pptp_client::{ClientError, ClientSession, CloseReason, LinkInfo, SessionConfig, SessionEvent};
use pptp_proto::connection::{CallClearReason, ControlEvent, Reason as ControlReason};
use pptp_proto::control::{CallDisconnectResult, MessageType, StopControlReason};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn client(config: SessionConfig, now: std::time::Instant) -> ClientSession<ChaCha8Rng> {
    ClientSession::new(config, CLIENT_CALL_ID, now, ChaCha8Rng::seed_from_u64(1))
}

/// A client and a server for root/123456, connected and up.
fn up_wire() -> Wire<ChaCha8Rng> {
    let now = std::time::Instant::now();
    let mut wire = Wire::new(
        client(SessionConfig::new("root", "123456"), now),
        TestServer::new(now, "root", "123456"),
        now,
    );
    wire.client.open(now);
    wire.exchange();
    assert!(wire.up().is_some(), "link up: {:?}", wire.events);
    wire
}

/// The position of the first item of `log` matching `wanted`, after position `after`.
fn position(log: &[Sent], after: usize, wanted: impl Fn(&Sent) -> bool) -> usize {
    log.iter()
        .enumerate()
        .skip(after)
        .find(|(_, sent)| wanted(sent))
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("not found after {after} in {log:#?}"))
}

fn is_ppp(prefix: &'static str) -> impl Fn(&Sent) -> bool {
    move |sent| matches!(sent, Sent::Ppp(text) if text.starts_with(prefix))
}

fn is_control(wanted: MessageType) -> impl Fn(&Sent) -> bool {
    move |sent| *sent == Sent::Control(wanted)
}

#[test]
fn handshake_speaks_like_pptp_linux_and_pppd_and_comes_up() {
    let wire = up_wire();
    assert_eq!(
        wire.up(),
        Some(LinkInfo {
            local: CLIENT_PPP,
            peer: SERVER_PPP,
            dns: [None, None],
            mtu: 1496,
            call_id: CLIENT_CALL_ID,
            peer_call_id: SERVER_CALL_ID,
            mppe: Some(MppeConfig {
                strength: MppeStrength::Bits128,
                stateless: true,
            }),
        })
    );
    assert_eq!(
        wire.events[0],
        SessionEvent::CallEstablished {
            call_id: CLIENT_CALL_ID,
            peer_call_id: SERVER_CALL_ID
        }
    );
    // The control connection: SCCRQ with pptp-linux's host name and vendor, then the OCRQ.
    let peer = wire.server.control.peer().expect("established");
    assert_eq!(peer.host_name, b"local");
    assert_eq!(peer.vendor, b"cananian");
    assert_eq!(peer.maximum_channels, 65535);
    let sent = wire.server.sent();
    assert_eq!(
        sent[..2],
        [
            Sent::Control(MessageType::StartControlConnectionRequest),
            Sent::Control(MessageType::OutgoingCallRequest)
        ]
    );
    // PPP as pppd sends it: LCP with asyncmap 0, magic, pcomp, accomp; MS-CHAPv2 as "root";
    // CCP asking for stateless 128-bit MPPE; IPCP asking for an address and DNS.
    let Sent::Ppp(lcp) = &sent[2] else {
        panic!("{sent:#?}")
    };
    assert!(
        lcp.starts_with("[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x"),
        "{lcp}"
    );
    assert!(lcp.ends_with("<pcomp> <accomp>]"), "{lcp}");
    let chap = position(&sent, 0, is_ppp("[CHAP Response"));
    assert!(matches!(&sent[chap], Sent::Ppp(text) if text.ends_with("name = \"root\"]")));
    let ccp = position(&sent, chap, is_ppp("[CCP ConfReq"));
    assert_eq!(
        sent[ccp],
        Sent::Ppp("[CCP ConfReq id=0x1 <mppe +H -M +S -L -D -C>]".into())
    );
    position(
        &sent,
        ccp,
        is_ppp("[IPCP ConfReq id=0x1 <addr 0.0.0.0> <ms-dns1"),
    );
    // The server saw a whole MS-CHAPv2 exchange and MPPE keys.
    assert!(
        wire.server
            .link_events
            .iter()
            .any(|event| matches!(event, LinkEvent::Authenticated { user } if user == "root"))
    );
    assert!(wire.client.is_up());
    assert_eq!(wire.client.peer_call_id(), Some(SERVER_CALL_ID));
}

#[test]
fn server_lcp_overtaking_the_outgoing_call_reply_is_not_lost() {
    let now = std::time::Instant::now();
    let mut wire = Wire::new(
        client(SessionConfig::new("root", "123456"), now),
        TestServer::new(now, "root", "123456"),
        now,
    );
    // The server's LCP Configure-Request (GRE) reaches the client before the
    // Outgoing-Call-Reply (TCP) that announces the call.
    wire.gre_first = true;
    wire.client.open(now);
    wire.exchange();
    assert!(
        wire.up().is_some(),
        "up without waiting for a retransmission"
    );
    assert_eq!(wire.now, now);
}

#[test]
fn wrong_password_fails_with_the_servers_failure_text_then_hangs_up_cleanly() {
    let now = std::time::Instant::now();
    let mut wire = Wire::new(
        client(SessionConfig::new("root", "654321"), now),
        TestServer::new(now, "root", "123456"),
        now,
    );
    wire.client.open(now);
    wire.exchange();
    let closure = wire
        .run_until_closed(Duration::from_secs(30))
        .expect("the session ends");
    assert!(wire.up().is_none());
    let CloseReason::AuthFailed { message } = closure.reason.clone() else {
        panic!("{closure}");
    };
    // pppd's text: E=691 R=1 C=<the 16-octet challenge in hex> V=0 M=Access denied.
    let challenge = message
        .strip_prefix("E=691 R=1 C=")
        .and_then(|rest| rest.strip_suffix(" V=0 M=Access denied"))
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(challenge.len(), 32);
    assert!(challenge.chars().all(|c| c.is_ascii_hexdigit()));
    // After the Failure: LCP terminated, then CCRQ answered by CDN, then StopCCRQ answered.
    let sent = wire.server.sent();
    let response = position(&sent, 0, is_ppp("[CHAP Response"));
    let term = position(&sent, response, is_ppp("[LCP Term"));
    let ccrq = position(&sent, term, is_control(MessageType::CallClearRequest));
    position(
        &sent,
        ccrq,
        is_control(MessageType::StopControlConnectionRequest),
    );
    assert!(closure.client.call_clear_request && closure.client.stop_request);
    assert_eq!(
        closure.server.call_disconnect,
        Some(CallDisconnectResult::Request)
    );
    assert!(closure.server.stop_reply);
    assert!(!closure.teardown_timed_out);
    assert_eq!(closure.link, Some(ppp_core::Reason::AuthFailed));
    // The shell turns it into the typed error.
    match ClientError::from_closure(closure) {
        ClientError::AuthFailed { message: text, .. } => assert_eq!(text, message),
        other => panic!("{other}"),
    }
}

#[test]
fn ip_datagrams_cross_mppe_both_ways() {
    let mut wire = up_wire();
    let mut out = Vec::new();
    for sequence in 0..20u16 {
        let request = icmp_echo(CLIENT_PPP, SERVER_PPP, sequence);
        wire.client.encapsulate_ip(&request, &mut out).unwrap();
        wire.server.handle_gre(wire.now, &out);
        assert_eq!(wire.server.log.last(), Some(&Sent::Ip(request)));
        let reply = icmp_echo(SERVER_PPP, CLIENT_PPP, sequence);
        wire.server.send_ip(&reply);
        wire.exchange();
        assert_eq!(wire.delivered.last(), Some(&reply));
    }
    // A large datagram too.
    let mut big = icmp_echo(CLIENT_PPP, SERVER_PPP, 99);
    big.resize(1400, 0xab);
    wire.client.encapsulate_ip(&big, &mut out).unwrap();
    wire.server.handle_gre(wire.now, &out);
    assert_eq!(wire.server.log.last(), Some(&Sent::Ip(big)));
    let stats = wire.client.stats();
    assert_eq!((stats.ip_sent, stats.ip_received), (21, 20));
    assert_eq!(stats.dropped + stats.late, 0);
}

#[test]
fn received_data_is_acknowledged_when_nothing_goes_back() {
    let mut wire = up_wire();
    let reply = icmp_echo(SERVER_PPP, CLIENT_PPP, 1);
    wire.server.send_ip(&reply);
    wire.exchange();
    let before = wire.server.log.len();
    assert!(wire.tick(Duration::from_secs(1)));
    assert!(
        matches!(wire.server.log[before..], [Sent::AckOnly(_)]),
        "{:?}",
        &wire.server.log[before..]
    );
}

#[test]
fn hang_up_goes_lcp_terminate_then_ccrq_then_stopccrq() {
    let mut wire = up_wire();
    let mark = wire.server.sent().len();
    wire.client.hang_up(wire.now);
    assert!(!wire.client.is_up());
    let mut out = Vec::new();
    assert!(matches!(
        wire.client
            .encapsulate_ip(&icmp_echo(CLIENT_PPP, SERVER_PPP, 1), &mut out),
        Err(ClientError::NotUp)
    ));
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(30)).unwrap();
    let sent = wire.server.sent();
    assert_eq!(
        sent[mark..],
        [
            Sent::Ppp("[LCP TermReq id=0x2 \"administrative close\"]".into()),
            Sent::Control(MessageType::CallClearRequest),
            Sent::Control(MessageType::StopControlConnectionRequest),
        ]
    );
    assert!(closure.is_clean_hang_up(), "{closure}");
    assert!(closure.client.lcp_terminate_request);
    assert!(!closure.server.lcp_terminate_request);
    assert_eq!(
        closure.control,
        Some(ControlReason::Stopped(StopControlReason::None))
    );
    // The server saw each step for what it is.
    assert!(
        wire.server
            .link_events
            .contains(&LinkEvent::Down(ppp_core::Reason::PeerTerminated))
    );
    assert!(wire.server.control_events.iter().any(|event| matches!(
        event,
        ControlEvent::CallCleared {
            reason: CallClearReason::PeerRequest,
            ..
        }
    )));
    assert!(wire.server.control_events.contains(&ControlEvent::Closed(
        ControlReason::PeerStopped(StopControlReason::None)
    )));
    assert!(wire.client.is_finished());
    assert_eq!(wire.client.poll_timeout(), None);
}

#[test]
fn hang_up_is_clean_and_immediate_when_the_server_stops_the_control_connection_itself() {
    let mut wire = up_wire();
    wire.server.stop_after_call = true;
    let start = wire.now;
    wire.client.hang_up(wire.now);
    wire.exchange();
    let closure = wire.closure().expect("over without waiting for any timer");
    assert!(closure.is_clean_hang_up(), "{closure}");
    assert_eq!(closure.server.stop_request, Some(StopControlReason::None));
    assert_eq!(wire.now, start);
}

#[test]
fn server_shutdown_is_reported_with_what_arrived() {
    let mut wire = up_wire();
    wire.server.shut_down(wire.now);
    // The wire delivers the control messages before the GRE packet with the LCP
    // Terminate-Request; the client waits for it.
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(30)).unwrap();
    assert!(closure.is_clean_server_shutdown(), "{closure}");
    assert_eq!(
        closure.server.call_disconnect,
        Some(CallDisconnectResult::AdminShutdown)
    );
    assert_eq!(
        closure.server.stop_request,
        Some(StopControlReason::LocalShutdown)
    );
    // The server cleared the call itself: nothing for us to clear. (Like pptp-linux, we send
    // our own Stop-Control-Connection-Request once the call is gone; here it crosses the
    // server's.)
    assert!(!closure.client.call_clear_request);
    assert!(!closure.teardown_timed_out);
}

#[test]
fn server_lcp_terminate_alone_makes_the_client_clear_the_call_like_pptp_linux() {
    let mut wire = up_wire();
    let mark = wire.server.sent().len();
    wire.server
        .link
        .close(wire.now, ppp_core::Reason::AdminClose);
    wire.server.pump(wire.now);
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(30)).unwrap();
    assert_eq!(
        closure.reason,
        CloseReason::LinkDown(ppp_core::Reason::PeerTerminated)
    );
    assert_eq!(closure.reason.name(), "server-terminated");
    assert!(closure.server.lcp_terminate_request);
    let sent = wire.server.sent();
    assert_eq!(
        sent[mark..],
        [
            Sent::Ppp("[LCP TermAck id=0x2]".into()),
            Sent::Control(MessageType::CallClearRequest),
            Sent::Control(MessageType::StopControlConnectionRequest),
        ]
    );
    assert_eq!(
        closure.server.call_disconnect,
        Some(CallDisconnectResult::Request)
    );
    assert!(closure.server.stop_reply);
}

#[test]
fn echoes_are_answered_while_idle() {
    let mut wire = up_wire();
    wire.server.send_lcp_echo(7);
    wire.exchange();
    assert!(
        matches!(wire.server.sent().last(), Some(Sent::Ppp(text)) if text.starts_with("[LCP EchoRep id=0x7")),
        "{:?}",
        wire.server.sent().last()
    );
    // After 60 s of silence the server's control connection sends an Echo-Request.
    let mark = wire.server.sent().len();
    for _ in 0..10 {
        wire.tick(Duration::from_secs(61));
    }
    assert!(wire.server.sent()[mark..].contains(&Sent::Control(MessageType::EchoReply)));
    assert!(wire.client.is_up(), "{:?}", wire.closure());
}

#[test]
fn silent_server_times_out_and_still_tears_down() {
    let now = std::time::Instant::now();
    let mut server = TestServer::new(now, "root", "123456");
    server.answer_ppp = false;
    let mut wire = Wire::new(
        client(SessionConfig::new("root", "123456"), now),
        server,
        now,
    );
    wire.client.open(now);
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(60)).unwrap();
    assert_eq!(closure.reason, CloseReason::Timeout);
    assert!(closure.client.call_clear_request && closure.client.stop_request);
    assert!(closure.server.stop_reply);
    assert!(matches!(
        ClientError::from_closure(closure),
        ClientError::Timeout
    ));
    // It gave up after the connect timeout (10 s), not before.
    assert!(wire.now - now >= Duration::from_secs(10));
}

#[test]
fn mppe_strength_mismatch_is_a_typed_link_failure() {
    let now = std::time::Instant::now();
    let mut config = SessionConfig::new("root", "123456");
    config.mppe = MppePolicy {
        allow_128: false,
        allow_40: true,
        ..MppePolicy::require_128()
    };
    let mut wire = Wire::new(
        client(config, now),
        TestServer::new(now, "root", "123456"),
        now,
    );
    wire.client.open(now);
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(60)).unwrap();
    assert!(
        matches!(
            closure.reason,
            CloseReason::LinkDown(ppp_core::Reason::MppeRefused)
        ),
        "{closure}"
    );
    assert!(matches!(
        ClientError::from_closure(closure),
        ClientError::LinkFailed(_)
    ));
}

#[test]
fn without_mppe_datagrams_travel_in_cleartext() {
    let now = std::time::Instant::now();
    let mut config = SessionConfig::new("root", "123456");
    config.mppe = MppePolicy::disabled();
    let mut server_config = LinkConfig::server("pptpd");
    server_config.mppe = MppePolicy::disabled();
    server_config.echo_interval = None;
    let mut wire = Wire::new(
        client(config, now),
        TestServer::with_link_config(now, "root", "123456", server_config),
        now,
    );
    wire.client.open(now);
    wire.exchange();
    let info = wire.up().expect("up");
    assert_eq!((info.mppe, info.mtu), (None, 1500));
    let mut out = Vec::new();
    let request = icmp_echo(CLIENT_PPP, SERVER_PPP, 1);
    wire.client.encapsulate_ip(&request, &mut out).unwrap();
    wire.server.handle_gre(wire.now, &out);
    assert_eq!(wire.server.log.last(), Some(&Sent::Ip(request)));
    let reply = icmp_echo(SERVER_PPP, CLIENT_PPP, 1);
    wire.server.send_ip(&reply);
    wire.exchange();
    assert_eq!(wire.delivered, vec![reply]);
}

#[test]
fn losing_the_tcp_connection_ends_the_session() {
    let mut wire = up_wire();
    let start = wire.now;
    wire.client.handle_control_closed(wire.now);
    wire.exchange();
    // It waits a moment for an LCP Terminate-Request that may still be on its way over GRE.
    assert!(wire.closure().is_none());
    let closure = wire.run_until_closed(Duration::from_secs(5)).unwrap();
    assert_eq!(wire.now - start, Duration::from_millis(500));
    assert_eq!(
        closure.reason,
        CloseReason::ControlClosed(ControlReason::TransportClosed)
    );
    assert!(closure.server.tcp_closed);
    assert!(!closure.client.call_clear_request);
}

#[test]
fn garbage_from_the_server_never_panics() {
    use rand_chacha::rand_core::RngCore;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut wire = up_wire();
    for _ in 0..2000 {
        let len = (rng.next_u32() % 80) as usize;
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        if len > 8 && rng.next_u32() % 2 == 0 {
            // A valid enhanced GRE prefix keyed to our call, so the PPP layers see the rest.
            bytes[..8].copy_from_slice(&[0x30, 0x81, 0x88, 0x0b, 0, 0, 0x69, 0x8c]);
            let payload = (len.saturating_sub(16)) as u16;
            bytes[4..6].copy_from_slice(&payload.to_be_bytes());
        }
        let now = wire.now;
        let _ = wire.client.handle_gre(now, &mut bytes);
    }
    // A garbage control stream ends the control connection, and so the session.
    let mut stream = vec![0u8; 64];
    rng.fill_bytes(&mut stream);
    let now = wire.now;
    wire.client.handle_control_bytes(now, &stream);
    wire.exchange();
    let closure = wire.run_until_closed(Duration::from_secs(30)).unwrap();
    assert!(
        matches!(
            closure.reason,
            CloseReason::ControlClosed(_) | CloseReason::LinkDown(_)
        ),
        "{closure}"
    );
}

#[test]
fn an_outside_sender_continues_the_data_channel_with_the_start_keys_and_reserved_numbers() {
    use mschap::{MppeDecryptor, MppeEncryptor};
    use pptp_proto::gre::GreHeader;

    let mut wire = up_wire();
    let keys = wire.client.mppe_start_keys().expect("MPPE is on");
    let config = wire.up().unwrap().mppe.unwrap();
    assert_eq!(wire.client.mppe_coherency_count(), Some(0));
    let first = wire.client.reserve_gre_sequence(1000);

    // A packet built outside the session (as a benchmark's generator does): the reserved
    // number, MPPE count 0 under our send key. The server takes it as the session's own.
    let datagram = icmp_echo(CLIENT_PPP, SERVER_PPP, 7);
    let mut inner = [&[0x00, 0x21][..], &datagram].concat();
    let mppe = MppeEncryptor::new(&keys.send, config).encrypt(&mut inner);
    let frame = [&[0xff, 0x03, 0x00, 0xfd][..], &mppe, &inner].concat();
    let header = GreHeader::data(SERVER_CALL_ID, frame.len() as u16, first, None);
    let mut gre = vec![0; header.len()];
    header.emit(&mut gre).unwrap();
    gre.extend_from_slice(&frame);
    wire.server.handle_gre(wire.now, &gre);
    assert_eq!(wire.server.log.last(), Some(&Sent::Ip(datagram)));

    // The receive key decrypts what the server sends.
    let reply = icmp_echo(SERVER_PPP, CLIENT_PPP, 7);
    wire.server.send_ip(&reply);
    let sent = wire.server.gre_out.pop_back().expect("the server sent it");
    let (_, payload) = GreHeader::parse_packet(&sent).unwrap();
    let mut packet = payload[4..].to_vec();
    let plain = MppeDecryptor::new(&keys.recv, config)
        .decrypt(&mut packet)
        .unwrap();
    assert_eq!(plain[2..], reply[..]);

    // The session's own next packet is numbered after the reserved block.
    let mut out = Vec::new();
    wire.client
        .encapsulate_ip(&icmp_echo(CLIENT_PPP, SERVER_PPP, 8), &mut out)
        .unwrap();
    let (header, _) = GreHeader::parse_packet(&out).unwrap();
    assert_eq!(header.seq, Some(first.wrapping_add(1000)));
    assert_eq!(wire.client.mppe_coherency_count(), Some(1));
}
