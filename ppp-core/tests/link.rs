//! Link-level behaviour: phases, the MPPE gate on LinkUp, timers and commands.

mod common;

use std::time::Duration;

use common::*;
use hex_literal::hex;
use ppp_core::{Event, Link, LinkConfig, MppeStrength, Phase, Reason, describe_frame};

fn secrets() -> OneUser {
    OneUser {
        user: b"root",
        password: "123456",
    }
}

/// The capture's server, LCP open and the Challenge sent.
fn authenticating() -> Link<ScriptedRng> {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    let rng = ScriptedRng::new(&[
        &hex!("bc49b708"),
        &[0x57],
        &hex!("c8197cc8a3afa2abe302902be73a8990"),
    ]);
    let mut link = Link::new(config, rng);
    link.open(epoch());
    link.handle_frame(epoch(), &captured(23), &secrets());
    link.handle_frame(epoch(), &captured(25), &secrets());
    drain(&mut link);
    assert_eq!(link.phase(), Phase::Authenticate);
    link
}

#[test]
fn ncp_frames_before_the_network_phase_are_discarded() {
    let mut link = authenticating();
    link.handle_frame(epoch(), &captured(31), &secrets());
    link.handle_frame(epoch(), &captured(35), &secrets());
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    // Authenticated but no addresses yet: still discarded.
    link.handle_frame(epoch(), &captured(29), &secrets());
    drain(&mut link);
    link.handle_frame(epoch(), &captured(31), &secrets());
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    assert_eq!(link.phase(), Phase::Authenticate);
}

#[test]
fn link_up_waits_for_mppe_even_when_ipcp_opens_first() {
    let mut link = authenticating();
    let now = epoch();
    link.handle_frame(now, &captured(29), &secrets());
    link.set_addresses(now, LOCAL, PEER);
    events(&mut link);
    drain(&mut link);
    // A Windows-like peer starts IPCP before CCP is up: we answer at once...
    link.handle_frame(now, &hex!("ff03 8021 0101000a 030600000000"), &secrets());
    let sent: Vec<String> = drain(&mut link).iter().map(|f| describe_frame(f)).collect();
    assert_eq!(
        sent,
        [
            "[IPCP ConfReq id=0x1 <addr 192.168.0.1>]",
            "[IPCP ConfNak id=0x1 <addr 192.168.0.234>]"
        ]
    );
    link.handle_frame(now, &hex!("ff03 8021 0102000a 0306c0a800ea"), &secrets());
    link.handle_frame(now, &hex!("ff03 8021 0201000a 0306c0a80001"), &secrets());
    drain(&mut link);
    // ...but IPCP being open is not enough while MPPE is required and not up.
    assert_eq!(events(&mut link), vec![]);
    link.handle_frame(now, &captured(31), &secrets());
    link.handle_frame(now, &captured(33), &secrets());
    let events = events(&mut link);
    assert!(matches!(
        events[..],
        [
            Event::MppeKeys {
                strength: MppeStrength::Bits128,
                ..
            },
            Event::LinkUp { .. }
        ]
    ));
}

#[test]
fn authentication_deadline_closes_the_link() {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    config.auth_timeout = Duration::from_secs(7);
    let mut link = Link::new(config, seeded(1));
    let start = epoch();
    link.open(start);
    let request = drain(&mut link).remove(0);
    // Ack whatever we asked, and ask for nothing.
    let mut ack = request.clone();
    ack[4] = 2;
    link.handle_frame(start, &ack, &secrets());
    link.handle_frame(start, &hex!("ff03c021 01010004"), &secrets());
    assert_eq!(link.phase(), Phase::Authenticate);
    drain(&mut link);
    let mut now = start;
    while !link.is_finished() {
        now = link.poll_timeout().unwrap();
        link.handle_timeout(now);
    }
    assert_eq!(events(&mut link), vec![Event::Down(Reason::AuthTimeout)]);
    // Challenges at 0, 3 and 6 s, the deadline at 7 s, then two Terminate-Requests.
    assert_eq!(now.duration_since(start), Duration::from_secs(7 + 6));
}

#[test]
fn close_before_open_is_immediately_down() {
    let mut link = Link::new(LinkConfig::server("pptpd"), seeded(1));
    link.close(epoch(), Reason::AdminClose);
    assert_eq!(events(&mut link), vec![Event::Down(Reason::AdminClose)]);
    assert!(link.is_finished());
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
}

#[test]
fn lower_layer_down_is_immediate() {
    let mut link = authenticating();
    link.lower_down(Reason::LowerLayerDown);
    assert_eq!(events(&mut link), vec![Event::Down(Reason::LowerLayerDown)]);
    assert_eq!(link.poll_timeout(), None);
    assert_eq!(link.phase(), Phase::Dead);
}

#[test]
fn set_addresses_only_answers_authenticated() {
    let mut link = authenticating();
    link.set_addresses(epoch(), LOCAL, PEER);
    assert_eq!(link.phase(), Phase::Authenticate);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
}

#[test]
fn daemon_can_refuse_an_authenticated_user() {
    let mut link = authenticating();
    let now = epoch();
    link.handle_frame(now, &captured(29), &secrets());
    assert_eq!(events(&mut link).len(), 1);
    drain(&mut link);
    link.close(now, Reason::NoAddress);
    assert_eq!(link.phase(), Phase::Terminate);
    assert_eq!(
        describe_frame(&drain(&mut link)[0]),
        "[LCP TermReq id=0x2 \"no address available for peer\"]"
    );
    link.handle_frame(now, &hex!("ff03c021 06020004"), &secrets());
    assert_eq!(events(&mut link), vec![Event::Down(Reason::NoAddress)]);
}

#[test]
fn peer_terminate_waits_one_restart_interval() {
    let mut link = authenticating();
    let now = epoch();
    link.handle_frame(now, &hex!("ff03c021 05090004"), &secrets());
    assert_eq!(drain(&mut link), vec![hex!("ff03c021 06090004").to_vec()]);
    assert_eq!(link.phase(), Phase::Terminate);
    // RFC 1661 zrc: the Restart timer lets the Terminate-Ack go out before we stop.
    assert_eq!(events(&mut link), vec![]);
    link.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(events(&mut link), vec![Event::Down(Reason::PeerTerminated)]);
}

#[test]
fn lcp_renegotiation_after_opening_ends_the_session() {
    let mut link = authenticating();
    link.handle_frame(epoch(), &hex!("ff03c021 01020008 0506deadbeef"), &secrets());
    let sent: Vec<String> = drain(&mut link).iter().map(|f| describe_frame(f)).collect();
    assert_eq!(
        sent.last().unwrap(),
        "[LCP TermReq id=0x3 \"peer restarted LCP negotiation\"]"
    );
}
