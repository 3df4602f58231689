//! LCP option handling and LCP-only codes, through a server or client link.

mod common;

use std::time::Duration;

use common::*;
use hex_literal::hex;
use ppp_core::fsm::{FsmOptions, RequestVerdict};
use ppp_core::lcp::{LcpConfig, LcpOption, LcpOptions};
use ppp_core::packet::{ConfigOption, parse_options};
use ppp_core::{Event, Link, LinkConfig, Phase, Reason, describe_frame};

const MAGIC: [u8; 4] = hex!("11223344");

fn server() -> Link<ScriptedRng> {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    let mut link = Link::new(config, ScriptedRng::new(&[&MAGIC]));
    link.open(epoch());
    drain(&mut link);
    link
}

/// A server link whose LCP is Opened (our request acked, the peer's acked).
fn opened_server() -> Link<ScriptedRng> {
    let mut link = server();
    let now = epoch();
    link.handle_frame(
        now,
        &hex!("ff03c021 01010014 020600000000 0506aabbccdd 0702 0802"),
        &no_secrets,
    );
    link.handle_frame(
        now,
        &hex!("ff03c021 02010019 020600000000 0305c22381 050611223344 0702 0802"),
        &no_secrets,
    );
    assert_eq!(link.phase(), Phase::Authenticate);
    drain(&mut link);
    link
}

#[test]
fn windows_options_are_rejected_in_one_configure_reject() {
    let mut link = server();
    // A Windows-like request: MRU 1400, magic, PFC, ACFC, Callback (CBCP), MRRU 1614 and an
    // Endpoint Discriminator (class 1, 17 octets).
    let callback = hex!("0d0306");
    let mrru = hex!("1104064e");
    let endpoint = hex!("1314 01 0102030405060708090a0b0c0d0e0f1011");
    let mut options = hex!("01040578 0506a1b2c3d4 0702 0802").to_vec();
    options.extend_from_slice(&callback);
    options.extend_from_slice(&mrru);
    options.extend_from_slice(&endpoint);
    let mut frame = hex!("ff03c021 0107").to_vec();
    frame.extend_from_slice(&((options.len() + 4) as u16).to_be_bytes());
    frame.extend_from_slice(&options);
    link.handle_frame(epoch(), &frame, &no_secrets);

    let sent = drain(&mut link);
    assert_eq!(sent.len(), 1);
    let rejected = [&callback[..], &mrru, &endpoint].concat();
    assert_eq!(&sent[0][..6], &hex!("ff03c021 0407"));
    assert_eq!(sent[0][6..8], ((rejected.len() + 4) as u16).to_be_bytes());
    assert_eq!(&sent[0][8..], &rejected[..]);
    assert_eq!(
        describe_frame(&sent[0]),
        "[LCP ConfRej id=0x7 <callback CBCP> <mrru 1614> <endpoint [class 1 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11]>]"
    );

    // Without them, the same request is acked and its MRU remembered.
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 01080012 01040578 0506a1b2c3d4 0702 0802"),
        &no_secrets,
    );
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03c021 02080012 01040578 0506a1b2c3d4 0702 0802").to_vec()]
    );
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 02010019 020600000000 0305c22381 050611223344 0702 0802"),
        &no_secrets,
    );
    assert_eq!(link.phase(), Phase::Authenticate);
    assert_eq!(link.peer_mru(), 1400);
}

#[test]
fn quality_and_unknown_options_are_rejected_and_malformed_tails_too() {
    let mut options = LcpOptions::new(LcpConfig {
        mru: 1500,
        require_ms_chap_v2: true,
        accept_ms_chap_v2: false,
    });
    let mut rng = seeded(1);
    // Quality protocol LQR, then an unknown type 0x42, then a magic with a bad length.
    let request = hex!("0408c02500000bb8 4203aa 0505aabbcc");
    assert_eq!(
        options.handle_request(&request, false, &mut rng),
        RequestVerdict::Reject(request.to_vec())
    );
    // An option whose length overruns the list: it and the rest are rejected.
    let request = hex!("0702 0508aabb");
    assert_eq!(
        options.handle_request(&request, false, &mut rng),
        RequestVerdict::Reject(hex!("0508aabb").to_vec())
    );
}

#[test]
fn server_rejects_a_request_to_authenticate_itself() {
    let mut link = server();
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0101000f 0305c22381 0506a1b2c3d4 0702"),
        &no_secrets,
    );
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03c021 04010009 0305c22381").to_vec()]
    );
}

#[test]
fn client_naks_other_authentication_protocols_to_ms_chap_v2() {
    let mut options = LcpOptions::new(LcpConfig {
        mru: 1500,
        require_ms_chap_v2: false,
        accept_ms_chap_v2: true,
    });
    let mut rng = seeded(1);
    let ms_chap_v2 = hex!("0305c22381").to_vec();
    for asked in [
        &hex!("0304c023")[..],
        &hex!("0305c22305"),
        &hex!("0305c22380"),
    ] {
        assert_eq!(
            options.handle_request(asked, false, &mut rng),
            RequestVerdict::Nak(ms_chap_v2.clone()),
            "{asked:02x?}"
        );
    }
    assert_eq!(
        options.handle_request(&ms_chap_v2, false, &mut rng),
        RequestVerdict::Ack
    );
    assert!(options.peer().auth_ms_chap_v2);
    // Once Max-Failure is reached, the Nak becomes a Reject.
    assert_eq!(
        options.handle_request(&hex!("0304c023"), true, &mut rng),
        RequestVerdict::Reject(hex!("0304c023").to_vec())
    );
}

#[test]
fn small_mru_is_naked_to_the_minimum() {
    let mut options = LcpOptions::new(LcpConfig {
        mru: 1500,
        require_ms_chap_v2: true,
        accept_ms_chap_v2: false,
    });
    assert_eq!(
        options.handle_request(&hex!("01040040"), false, &mut seeded(1)),
        RequestVerdict::Nak(hex!("01040080").to_vec())
    );
}

#[test]
fn our_mru_is_offered_only_when_not_1500() {
    let mut config = LinkConfig::server("pptpd");
    config.mru = 1400;
    let mut link = Link::new(config, ScriptedRng::new(&[&MAGIC]));
    link.open(epoch());
    assert_eq!(
        describe_frame(&drain(&mut link)[0]),
        "[LCP ConfReq id=0x1 <mru 1400> <asyncmap 0x0> <auth chap MS-v2> <magic 0x11223344> <pcomp> <accomp>]"
    );
}

#[test]
fn equal_magic_is_naked_with_a_new_one() {
    let mut link = server();
    // The peer claims our own Magic-Number.
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0101000a 050611223344"),
        &no_secrets,
    );
    let sent = drain(&mut link);
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0][..10], &hex!("ff03c021 0301000a 0506"));
    let suggested = u32::from_be_bytes(sent[0][10..14].try_into().unwrap());
    assert_ne!(suggested, 0x11223344);
    assert_ne!(suggested, 0);
    // Zero is illegal and Nak'ed too.
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0102000a 050600000000"),
        &no_secrets,
    );
    assert_eq!(&drain(&mut link)[0][..10], &hex!("ff03c021 0302000a 0506"));
}

#[test]
fn nak_of_our_magic_makes_us_choose_another() {
    let mut options = LcpOptions::new(LcpConfig {
        mru: 1500,
        require_ms_chap_v2: true,
        accept_ms_chap_v2: false,
    });
    let mut rng = seeded(3);
    let mut first = Vec::new();
    options.build_request(&mut rng, &mut first);
    assert!(options.handle_nak(&hex!("050655667788"), false, &mut rng));
    let mut second = Vec::new();
    options.build_request(&mut rng, &mut second);
    assert_ne!(first, second);
    assert_eq!(options.take_failure(), None);
}

#[test]
fn looped_back_link_is_detected() {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    let mut link = Link::new(config, seeded(5));
    let mut now = epoch();
    link.open(now);
    // Everything we send comes straight back to us.
    for _ in 0..10_000 {
        if link.is_finished() {
            break;
        }
        let sent = drain(&mut link);
        if sent.is_empty() {
            now = link.poll_timeout().expect("a timer runs");
            link.handle_timeout(now);
        }
        for frame in sent {
            link.handle_frame(now, &frame, &no_secrets);
        }
    }
    assert_eq!(
        events(&mut link),
        vec![Event::Down(Reason::LoopbackDetected)]
    );
}

#[test]
fn echo_request_is_answered_with_our_magic_only_when_opened() {
    let mut link = server();
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0903000c aabbccdd 74657374"),
        &no_secrets,
    );
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());

    let mut link = opened_server();
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0903000c aabbccdd 74657374"),
        &no_secrets,
    );
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03c021 0a03000c 11223344 74657374").to_vec()]
    );
}

#[test]
fn lcp_only_codes_and_unknown_codes() {
    let mut link = opened_server();
    // Discard-Request, Identification and Time-Remaining are accepted silently.
    link.handle_frame(epoch(), &hex!("ff03c021 0b040008 aabbccdd"), &no_secrets);
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0c05000b aabbccdd 4d5346"),
        &no_secrets,
    );
    link.handle_frame(
        epoch(),
        &hex!("ff03c021 0d06000c aabbccdd 00000e10"),
        &no_secrets,
    );
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    // An unknown code is Code-Rejected with the whole packet.
    link.handle_frame(epoch(), &hex!("ff03c021 20070006 abcd"), &no_secrets);
    let sent = drain(&mut link);
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0][..5], &hex!("ff03c02107"));
    assert_eq!(&sent[0][8..], &hex!("20070006 abcd"));
}

#[test]
fn unknown_protocols_are_protocol_rejected_once_lcp_is_open() {
    let mut link = server();
    // Before LCP opens, non-LCP frames are silently discarded (RFC 1661 §3.4).
    link.handle_frame(
        epoch(),
        &hex!("ff03 8057 0101000e 010a794dcafc24aa1b6f"),
        &no_secrets,
    );
    link.handle_frame(epoch(), &hex!("ff03 c223 0157000a 0411"), &no_secrets);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());

    let mut link = opened_server();
    // With compressed address/control and protocol fields too.
    link.handle_frame(
        epoch(),
        &hex!("8057 0101000e 010a794dcafc24aa1b6f"),
        &no_secrets,
    );
    link.handle_frame(epoch(), &hex!("ff03 8281 01"), &no_secrets);
    // Data frames belong to the data path: ignored.
    link.handle_frame(epoch(), &hex!("21 45000014"), &no_secrets);
    link.handle_frame(epoch(), &hex!("fd 9000 aabb"), &no_secrets);
    let sent: Vec<String> = drain(&mut link)
        .iter()
        .map(|frame| describe_frame(frame))
        .collect();
    assert_eq!(
        sent,
        [
            "[LCP ProtRej id=0x2 proto=0x8057 01 01 00 0e 01 0a 79 4d ca fc 24 aa 1b 6f]",
            "[LCP ProtRej id=0x3 proto=0x8281 01]",
        ]
    );
}

#[test]
fn peer_that_refuses_to_authenticate_is_dropped() {
    let mut link = server();
    link.handle_frame(epoch(), &hex!("ff03c021 04010009 0305c22381"), &no_secrets);
    let sent: Vec<String> = drain(&mut link)
        .iter()
        .map(|frame| describe_frame(frame))
        .collect();
    // The automaton answers the Reject with a new request (as pppd does) before the link
    // notices that no authentication is left and terminates.
    assert_eq!(
        sent,
        [
            "[LCP ConfReq id=0x2 <asyncmap 0x0> <auth chap MS-v2> <magic 0x11223344> <pcomp> <accomp>]",
            "[LCP TermReq id=0x3 \"peer refused to authenticate\"]",
        ]
    );
    // After Max-Terminate unanswered requests, the link is down.
    let mut now = epoch();
    while let Some(deadline) = link.poll_timeout() {
        now = deadline.max(now);
        link.handle_timeout(now);
    }
    assert_eq!(events(&mut link), vec![Event::Down(Reason::AuthRefused)]);
    // A Nak suggesting PAP is a refusal too.
    let mut link = server();
    link.handle_frame(epoch(), &hex!("ff03c021 03010008 0304c023"), &no_secrets);
    let last = drain(&mut link).pop().unwrap();
    assert_eq!(
        describe_frame(&last),
        "[LCP TermReq id=0x3 \"peer refused to authenticate\"]"
    );
}

#[test]
fn negotiation_gives_up_after_max_configure() {
    let mut link = server();
    let start = epoch();
    let mut requests = 1;
    while let Some(deadline) = link.poll_timeout() {
        link.handle_timeout(deadline);
        requests += drain(&mut link).len();
        assert!(deadline.duration_since(start) <= Duration::from_secs(30));
    }
    assert_eq!(requests, 10);
    assert_eq!(
        events(&mut link),
        vec![Event::Down(Reason::NegotiationFailed(
            ppp_core::Protocol::LCP
        ))]
    );
}

#[test]
fn typed_options_round_trip() {
    let options = [
        LcpOption::Mru(1400),
        LcpOption::Accm(0),
        LcpOption::AuthProtocol {
            protocol: ppp_core::Protocol::CHAP,
            data: &[0x81],
        },
        LcpOption::MagicNumber(0x622e65eb),
        LcpOption::Pfc,
        LcpOption::Acfc,
        LcpOption::Callback {
            operation: 6,
            message: &[],
        },
        LcpOption::Mrru(1614),
        LcpOption::ShortSequence,
        LcpOption::EndpointDiscriminator {
            class: 1,
            address: &[1, 2, 3],
        },
    ];
    let mut encoded = Vec::new();
    for option in &options {
        option.encode(&mut encoded);
    }
    let parsed: Vec<LcpOption<'_>> = parse_options(&encoded)
        .unwrap()
        .iter()
        .map(|option| LcpOption::parse(option).unwrap())
        .collect();
    assert_eq!(parsed, options);
    // Capture frame 23's options.
    let raw = hex!("020600000000 0506622e65eb 0702 0802");
    let kinds: Vec<u8> = parse_options(&raw)
        .unwrap()
        .iter()
        .map(|o: &ConfigOption<'_>| o.kind)
        .collect();
    assert_eq!(kinds, [2, 5, 7, 8]);
}
