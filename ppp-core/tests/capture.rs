//! Replays the client side of the real poptop/pptp-linux capture
//! (`pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap`, a copy of
//! `shared/fixtures`, frames 23-46) into a server
//! link configured like that poptop (name "pptpd", require-mppe-128, 192.168.0.1 /
//! 192.168.0.234) and checks that we answer with the same bytes where poptop's answer is
//! determined by the client's frames.

mod common;

use common::*;
use hex_literal::hex;
use ppp_core::{Event, Link, LinkConfig, MppeStrength, Phase, PppFrame, Protocol, describe_frame};

/// Magic-Number poptop used (frame 24), CHAP Identifier and Challenge (frame 27): our server
/// draws them in this order, so the test RNG yields them.
const MAGIC: [u8; 4] = hex!("bc49b708");
const CHAP_ID: [u8; 1] = [0x57];
const CHALLENGE: [u8; 16] = hex!("c8197cc8a3afa2abe302902be73a8990");

fn poptop_like() -> LinkConfig {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    config
}

#[test]
fn server_answers_the_captured_client_like_poptop() {
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let now = epoch();
    let rng = ScriptedRng::new(&[&MAGIC, &CHAP_ID, &CHALLENGE]);
    let mut link = Link::new(poptop_like(), rng);

    // LCP. Our Configure-Request is poptop's, byte for byte (frame 24).
    link.open(now);
    assert_eq!(link.phase(), Phase::Establish);
    assert_eq!(drain(&mut link), vec![captured(24)]);
    // The client's request (frame 23) gets the Ack poptop sent (frame 26).
    link.handle_frame(now, &captured(23), &secrets);
    assert_eq!(drain(&mut link), vec![captured(26)]);
    // The client's Ack of our request (frame 25) opens LCP: the Challenge of frame 27 follows
    // (poptop had ACFC agreed and left out FF 03; we always send it).
    link.handle_frame(now, &captured(25), &secrets);
    assert_eq!(link.phase(), Phase::Authenticate);
    assert_eq!(drain(&mut link), vec![with_address(&captured(27))]);

    // MS-CHAPv2: the captured Response (frame 29) gets the byte-identical Success (frame 30).
    link.handle_frame(now, &captured(29), &secrets);
    let success = drain(&mut link);
    assert_eq!(success, vec![with_address(&captured(30))]);
    assert!(success[0].ends_with(b"S=47CCA3ABCFD84302B4FA8B588317A93A746EEE56 M=Access granted"));
    assert_eq!(
        events(&mut link),
        vec![Event::Authenticated {
            user: "root".into()
        }]
    );

    // Network phase: CCP first (MPPE required), our request is poptop's (frame 32).
    link.set_addresses(now, LOCAL, PEER);
    assert_eq!(link.phase(), Phase::Network);
    assert_eq!(drain(&mut link), vec![with_address(&captured(32))]);
    // The client's request (frame 31) is acked as poptop did (frame 34).
    link.handle_frame(now, &captured(31), &secrets);
    assert_eq!(drain(&mut link), vec![with_address(&captured(34))]);
    // Its Ack of ours (frame 33) opens CCP: the keys, then our IPCP request (no VJ, unlike
    // poptop's frame 36).
    link.handle_frame(now, &captured(33), &secrets);
    assert_eq!(
        events(&mut link),
        vec![Event::MppeKeys {
            send: hex!("855a5718ed3c745cb819b80fbda807e8"),
            recv: hex!("dfba1760c6137d9e399600038be96236"),
            strength: MppeStrength::Bits128,
            stateless: true,
        }]
    );
    assert!(link.mppe_active());
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0101000a 0306c0a80001").to_vec()]
    );

    // IPCP. Frame 35 asks for VJ and 0.0.0.0: we Reject VJ first (RFC 1661 §5.4: a Reject
    // carries only the rejected options).
    link.handle_frame(now, &captured(35), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0401000a 0206002d0f01").to_vec()]
    );
    // IPV6CP (frame 40) is Protocol-Rejected by LCP with the whole packet.
    link.handle_frame(now, &captured(40), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 c021 08020014 8057 0101000e010a794dcafc24aa1b6f").to_vec()]
    );
    // Frame 42 acks poptop's request (VJ + 192.168.0.1), not ours: silently discarded.
    link.handle_frame(now, &captured(42), &secrets);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    // Synthetic (our request differs from poptop's): the client acks our IPCP request.
    link.handle_frame(now, &hex!("ff03 8021 0201000a 0306c0a80001"), &secrets);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    // Frame 45 (VJ + 192.168.0.234, poptop's Nak applied): VJ is rejected again.
    link.handle_frame(now, &captured(45), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0402000a 0206002d0f01").to_vec()]
    );
    // Synthetic: what pppd sends after our Reject, 0.0.0.0 without VJ: Nak'ed to the
    // assigned address (the same Nak as poptop's frame 39, with this request's identifier).
    link.handle_frame(now, &hex!("ff03 8021 0103000a 030600000000"), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0303000a 0306c0a800ea").to_vec()]
    );
    // Synthetic: the client takes the address; Ack, and the link is up.
    link.handle_frame(now, &hex!("ff03 8021 0104000a 0306c0a800ea"), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0204000a 0306c0a800ea").to_vec()]
    );
    assert_eq!(
        events(&mut link),
        vec![Event::LinkUp {
            local: LOCAL,
            peer: PEER,
            dns: [None, None]
        }]
    );
    assert_eq!(link.phase(), Phase::Network);
    assert_eq!(link.peer_mru(), 1500);

    // MPPE data (frame 47) belongs to the daemon's data path: the link ignores it.
    link.handle_frame(now, &captured(47), &secrets);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
}

#[test]
fn captured_client_with_wrong_password_gets_pppd_failure() {
    let secrets = OneUser {
        user: b"root",
        password: "not-123456",
    };
    let now = epoch();
    let rng = ScriptedRng::new(&[&MAGIC, &CHAP_ID, &CHALLENGE]);
    let mut link = Link::new(poptop_like(), rng);
    link.open(now);
    link.handle_frame(now, &captured(23), &secrets);
    link.handle_frame(now, &captured(25), &secrets);
    drain(&mut link);
    link.handle_frame(now, &captured(29), &secrets);
    let sent = drain(&mut link);
    // The Failure first (pppd's text, challenge in lowercase hex), then LCP Terminate-Request.
    let mut failure = hex!("ff03 c223 04570044").to_vec();
    failure.extend_from_slice(b"E=691 R=1 C=c8197cc8a3afa2abe302902be73a8990 V=0 M=Access denied");
    assert_eq!(sent[0], failure);
    assert_eq!(sent.len(), 2);
    assert!(describe_frame(&sent[1]).starts_with("[LCP TermReq"));
    assert_eq!(
        events(&mut link),
        vec![Event::AuthFailed {
            user: "root".into()
        }]
    );
    assert_eq!(link.phase(), Phase::Terminate);
}

#[test]
fn every_captured_ppp_frame_decodes_and_describes() {
    let frames = captured_frames();
    let ppp: Vec<_> = frames
        .iter()
        .filter(|frame| !frame.ppp.is_empty())
        .collect();
    assert!(ppp.len() >= 29, "the capture holds the whole negotiation");
    for frame in &ppp {
        let (protocol, _) = PppFrame::decode(&frame.ppp)
            .unwrap_or_else(|error| panic!("frame {}: {error}", frame.number));
        let text = describe_frame(&frame.ppp);
        assert!(!text.contains("junk"), "frame {}: {text}", frame.number);
        assert!(
            !text.contains("malformed"),
            "frame {}: {text}",
            frame.number
        );
        assert!(text.starts_with('[') && text.ends_with(']'));
        if protocol == Protocol::COMPRESSED {
            assert!(text.starts_with("[MPPE len="), "{text}");
        }
    }
    let described: Vec<String> = [23, 27, 29, 30, 31, 35, 39, 40]
        .iter()
        .map(|number| describe_frame(&captured(*number)))
        .collect();
    assert_eq!(
        described,
        [
            "[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x622e65eb> <pcomp> <accomp>]",
            "[CHAP Challenge id=0x57 <c8197cc8a3afa2abe302902be73a8990>, name = \"pptpd\"]",
            "[CHAP Response id=0x57 <80f2e5f061cfd051c5ea7e09bbf7fccf00000000000000002dabe7d546f99fd7f263860dae4d26a53275f1b640857e0700>, name = \"root\"]",
            "[CHAP Success id=0x57 \"S=47CCA3ABCFD84302B4FA8B588317A93A746EEE56 M=Access granted\"]",
            "[CCP ConfReq id=0x1 <mppe +H -M +S -L -D -C>]",
            "[IPCP ConfReq id=0x1 <compress VJ 0f 01> <addr 0.0.0.0>]",
            "[IPCP ConfNak id=0x1 <addr 192.168.0.234>]",
            "[IPV6CP ConfReq id=0x1 <addr fe80::794d:cafc:24aa:1b6f>]",
        ]
    );
}

#[test]
fn duplicate_response_gets_the_same_success() {
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let now = epoch();
    let rng = ScriptedRng::new(&[&MAGIC, &CHAP_ID, &CHALLENGE]);
    let mut link = Link::new(poptop_like(), rng);
    link.open(now);
    for number in [23, 25, 29] {
        link.handle_frame(now, &captured(number), &secrets);
    }
    drain(&mut link);
    assert_eq!(events(&mut link).len(), 1);
    // The client did not get the Success and repeats its Response: same Success, no event.
    link.handle_frame(now, &captured(29), &secrets);
    assert_eq!(drain(&mut link), vec![with_address(&captured(30))]);
    assert_eq!(events(&mut link), vec![]);
}

/// Our client with the capture's random values: the Magic-Number of frame 23, then the
/// Peer-Challenge of frame 29.
fn captured_client() -> Link<ScriptedRng> {
    let mut config = LinkConfig::client("root", "123456");
    config.echo_interval = None;
    let rng = ScriptedRng::new(&[&hex!("622e65eb"), &hex!("80f2e5f061cfd051c5ea7e09bbf7fccf")]);
    Link::new(config, rng)
}

#[test]
fn client_answers_the_captured_server_like_pptp_linux() {
    let now = epoch();
    let mut link = captured_client();
    // LCP: our request is pptp-linux's (frame 23), our Ack of poptop's is frame 25.
    link.open(now);
    assert_eq!(drain(&mut link), vec![captured(23)]);
    link.handle_frame(now, &captured(24), &no_secrets);
    assert_eq!(drain(&mut link), vec![captured(25)]);
    link.handle_frame(now, &captured(26), &no_secrets);
    assert_eq!(link.phase(), Phase::Authenticate);
    // The Challenge (frame 27, compressed header) gets the captured Response byte for byte.
    link.handle_frame(now, &captured(27), &no_secrets);
    assert_eq!(drain(&mut link), vec![with_address(&captured(29))]);
    // The Success proves the server knows the password; CCP starts with frame 31.
    link.handle_frame(now, &captured(30), &no_secrets);
    assert_eq!(events(&mut link), vec![Event::AuthSucceeded]);
    assert_eq!(drain(&mut link), vec![with_address(&captured(31))]);
    link.handle_frame(now, &captured(32), &no_secrets);
    assert_eq!(drain(&mut link), vec![with_address(&captured(33))]);
    link.handle_frame(now, &captured(34), &no_secrets);
    // The client's keys are the server's, swapped.
    assert_eq!(
        events(&mut link),
        vec![Event::MppeKeys {
            send: hex!("dfba1760c6137d9e399600038be96236"),
            recv: hex!("855a5718ed3c745cb819b80fbda807e8"),
            strength: MppeStrength::Bits128,
            stateless: true,
        }]
    );
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 01010016 030600000000 810600000000 830600000000").to_vec()]
    );
    // poptop's IPCP request (frame 36): VJ rejected, its address kept.
    link.handle_frame(now, &captured(36), &no_secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0401000a 0206002d0f01").to_vec()]
    );
    // poptop's Nak (frame 39) of our request id 1 gives us our address.
    link.handle_frame(now, &captured(39), &no_secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 01020016 0306c0a800ea 810600000000 830600000000").to_vec()]
    );
    // Synthetic from here (poptop had no DNS to give and would Reject them).
    link.handle_frame(
        now,
        &hex!("ff03 8021 04020010 810600000000 830600000000"),
        &no_secrets,
    );
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0103000a 0306c0a800ea").to_vec()]
    );
    link.handle_frame(now, &hex!("ff03 8021 0203000a 0306c0a800ea"), &no_secrets);
    link.handle_frame(now, &hex!("ff03 8021 0102000a 0306c0a80001"), &no_secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0202000a 0306c0a80001").to_vec()]
    );
    assert_eq!(
        events(&mut link),
        vec![Event::LinkUp {
            local: PEER,
            peer: LOCAL,
            dns: [None, None]
        }]
    );
}

#[test]
fn client_rejects_a_success_with_a_wrong_authenticator_response() {
    let now = epoch();
    let mut link = captured_client();
    link.open(now);
    for number in [24, 26, 27] {
        link.handle_frame(now, &captured(number), &no_secrets);
    }
    drain(&mut link);
    // Frame 30 with one digit of S= changed.
    let mut forged = captured(30);
    forged[7] = b'8';
    link.handle_frame(now, &forged, &no_secrets);
    let sent = drain(&mut link);
    assert_eq!(
        describe_frame(&sent[0]),
        "[LCP TermReq id=0x2 \"authentication failed\"]"
    );
    assert!(events(&mut link).is_empty());
    // The server acknowledges; the client is down.
    link.handle_frame(now, &hex!("ff03c021 06020004"), &no_secrets);
    assert_eq!(
        events(&mut link),
        vec![Event::Down(ppp_core::Reason::AuthFailed)]
    );
}
