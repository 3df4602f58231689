//! CCP/MPPE negotiation (RFC 1962, RFC 3078 §2) the way pppd negotiates it, and Reset
//! handling through a link.

mod common;

use common::*;
use hex_literal::hex;
use ppp_core::ccp::{CcpOptions, MppeAgreement, MppeNegotiation};
use ppp_core::fsm::{FsmOptions, RequestVerdict};
use ppp_core::{
    Event, Link, LinkConfig, MppeBits, MppePolicy, MppeStrength, Reason, describe_frame,
};

fn mppe(bits: u32) -> Vec<u8> {
    let mut option = vec![18, 6];
    option.extend_from_slice(&bits.to_be_bytes());
    option
}

const H: u32 = MppeBits::STATELESS;
const S: u32 = MppeBits::BITS_128;
const M: u32 = MppeBits::BITS_56;
const L: u32 = MppeBits::BITS_40;
const D: u32 = MppeBits::OBSOLETE;
const C: u32 = MppeBits::MPPC;

fn judge(options: &mut CcpOptions, request: &[u8]) -> RequestVerdict {
    options.handle_request(request, false, &mut seeded(1))
}

fn our_request(options: &mut CcpOptions) -> Vec<u8> {
    let mut out = Vec::new();
    options.build_request(&mut seeded(1), &mut out);
    out
}

#[test]
fn we_request_allowed_strengths_stateless() {
    assert_eq!(
        our_request(&mut CcpOptions::new(MppePolicy::require_128())),
        hex!("120601000040")
    );
    assert_eq!(
        our_request(&mut CcpOptions::new(MppePolicy::require_any())),
        mppe(H | S | M | L)
    );
    // Even with stateful allowed we ask for stateless, like pppd.
    let mut policy = MppePolicy::require_128();
    policy.allow_stateful = true;
    assert_eq!(our_request(&mut CcpOptions::new(policy)), mppe(H | S));
}

#[test]
fn the_captured_request_is_acked() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert_eq!(
        judge(&mut options, &hex!("120601000040")),
        RequestVerdict::Ack
    );
    assert_eq!(options.peer(), Some(MppeBits(H | S)));
    assert_eq!(options.take_failure(), None);
}

#[test]
fn several_strengths_are_naked_to_the_strongest_allowed() {
    let mut options = CcpOptions::new(MppePolicy::require_any());
    assert_eq!(
        judge(&mut options, &mppe(H | S | L)),
        RequestVerdict::Nak(mppe(H | S))
    );
    let mut forty_56 = MppePolicy::require_any();
    forty_56.allow_128 = false;
    let mut options = CcpOptions::new(forty_56);
    assert_eq!(
        judge(&mut options, &mppe(H | S | M | L)),
        RequestVerdict::Nak(mppe(H | M))
    );
    // Windows offers S and L: require-mppe-128 keeps S.
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert_eq!(
        judge(&mut options, &mppe(H | S | L)),
        RequestVerdict::Nak(mppe(H | S))
    );
}

#[test]
fn unsupported_bits_and_no_strength_are_naked() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert_eq!(
        judge(&mut options, &mppe(H | S | C | D | 0x0200_0000)),
        RequestVerdict::Nak(mppe(H | S))
    );
    // No strength at all: we tell the peer what we can do.
    assert_eq!(
        judge(&mut options, &mppe(H)),
        RequestVerdict::Nak(mppe(H | S))
    );
}

#[test]
fn stateful_is_naked_to_stateless_unless_allowed() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert_eq!(
        judge(&mut options, &mppe(S)),
        RequestVerdict::Nak(mppe(H | S))
    );

    let mut policy = MppePolicy::require_128();
    policy.allow_stateful = true;
    let mut options = CcpOptions::new(policy);
    assert_eq!(judge(&mut options, &mppe(S)), RequestVerdict::Ack);
    // The peer's Nak of ours to stateful is accepted too.
    assert!(options.handle_nak(&mppe(S), false, &mut seeded(1)));
    assert_eq!(our_request(&mut options), mppe(S));
    options.handle_ack(&mppe(S));
    assert_eq!(
        options.negotiation(),
        MppeNegotiation::Agreed(MppeAgreement {
            strength: MppeStrength::Bits128,
            stateless: false
        })
    );
}

#[test]
fn forty_bit_only_peer_is_refused_by_require_128() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert_eq!(
        judge(&mut options, &mppe(H | L)),
        RequestVerdict::Reject(mppe(H | L))
    );
    assert_eq!(options.take_failure(), Some(Reason::MppeRefused));
    // Its Nak of our request down to 40 bits is a refusal too.
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert!(options.handle_nak(&mppe(H | L), false, &mut seeded(1)));
    assert_eq!(options.take_failure(), Some(Reason::MppeRefused));
}

#[test]
fn rejected_mppe_is_fatal_only_when_required() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    assert!(options.handle_reject(&mppe(H | S)));
    assert_eq!(options.take_failure(), Some(Reason::MppeRefused));

    let mut options = CcpOptions::new(MppePolicy::optional());
    assert!(options.handle_reject(&mppe(H | S | M | L)));
    assert_eq!(options.take_failure(), None);
    assert_eq!(our_request(&mut options), Vec::<u8>::new());
}

#[test]
fn other_compression_methods_are_rejected() {
    let mut options = CcpOptions::new(MppePolicy::require_128());
    // Deflate (26), BSD-Compress (21), Predictor-1 (1), with the acceptable MPPE option.
    let request = [&hex!("1a04780f 150341 0102")[..], &mppe(H | S)].concat();
    assert_eq!(
        judge(&mut options, &request),
        RequestVerdict::Reject(hex!("1a04780f 150341 0102").to_vec())
    );
    assert_eq!(options.take_failure(), None);
    // A request without MPPE while it is required: we suggest ours.
    assert_eq!(judge(&mut options, &[]), RequestVerdict::Nak(mppe(H | S)));
    // Max-Failure: the disagreement becomes a Reject, and MPPE is refused.
    assert_eq!(
        options.handle_request(&mppe(H | S | L), true, &mut seeded(1)),
        RequestVerdict::Reject(mppe(H | S | L))
    );
    assert_eq!(options.take_failure(), Some(Reason::MppeRefused));
}

#[test]
fn mismatched_directions_are_not_an_agreement() {
    let mut options = CcpOptions::new(MppePolicy::require_any());
    options.handle_nak(&mppe(H | L), false, &mut seeded(1));
    options.handle_ack(&mppe(H | L));
    assert_eq!(judge(&mut options, &mppe(H | S)), RequestVerdict::Ack);
    assert_eq!(options.negotiation(), MppeNegotiation::Mismatch);
}

#[test]
fn mppe_bits_render_like_pppd() {
    assert_eq!(MppeBits(H | S).to_string(), "mppe +H -M +S -L -D -C");
    assert_eq!(
        MppeBits(M | L | D | C).to_string(),
        "mppe -H +M -S +L +D +C"
    );
    assert_eq!(
        MppeBits(0x0400_0040).to_string(),
        "mppe -H -M +S -L -D -C +U (04000040)"
    );
}

/// A server link with CCP open (stateful allowed when `stateful`), MPPE keys handed out.
fn ccp_opened_server(stateful: bool) -> Link<ScriptedRng> {
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    config.mppe.allow_stateful = stateful;
    let rng = ScriptedRng::new(&[
        &hex!("bc49b708"),
        &[0x57],
        &hex!("c8197cc8a3afa2abe302902be73a8990"),
    ]);
    let mut link = Link::new(config, rng);
    let now = epoch();
    link.open(now);
    for number in [23, 25, 29] {
        link.handle_frame(now, &captured(number), &secrets);
    }
    events(&mut link);
    link.set_addresses(now, LOCAL, PEER);
    let bits = if stateful { S } else { H | S };
    let mut request = hex!("ff0380fd 0101000a").to_vec();
    request.extend_from_slice(&mppe(bits));
    link.handle_frame(now, &request, &secrets);
    if stateful {
        // The peer Naks our stateless request to stateful, then acks the new one (id 2).
        link.handle_frame(
            now,
            &[&hex!("ff0380fd 0301000a")[..], &mppe(S)].concat(),
            &secrets,
        );
        link.handle_frame(
            now,
            &[&hex!("ff0380fd 0202000a")[..], &mppe(S)].concat(),
            &secrets,
        );
    } else {
        link.handle_frame(now, &captured(33), &secrets);
    }
    drain(&mut link);
    assert!(link.mppe_active());
    link
}

#[test]
fn reset_request_is_acked_and_reported() {
    let mut link = ccp_opened_server(true);
    let keys = events(&mut link);
    assert!(matches!(
        keys[..],
        [Event::MppeKeys {
            stateless: false,
            ..
        }]
    ));
    link.handle_frame(epoch(), &hex!("ff0380fd 0e050004"), &no_secrets);
    assert_eq!(drain(&mut link), vec![hex!("ff0380fd 0f050004").to_vec()]);
    assert_eq!(events(&mut link), vec![Event::MppeResetRequested]);
}

#[test]
fn our_reset_request_waits_for_its_ack() {
    let mut link = ccp_opened_server(false);
    let now = epoch();
    link.request_mppe_reset(now);
    let sent = drain(&mut link);
    assert_eq!(sent.len(), 1);
    assert_eq!(describe_frame(&sent[0]), "[CCP ResetReq id=0x2]");
    assert!(
        events(&mut link)
            .iter()
            .any(|event| matches!(event, Event::MppeKeys { .. }))
    );
    // Not again while the Reset-Ack is due.
    link.request_mppe_reset(now);
    assert_eq!(drain(&mut link), Vec::<Vec<u8>>::new());
    // The Ack clears it.
    link.handle_frame(now, &hex!("ff0380fd 0f020004"), &no_secrets);
    link.request_mppe_reset(now);
    assert_eq!(
        describe_frame(&drain(&mut link)[0]),
        "[CCP ResetReq id=0x3]"
    );
    // Without an Ack, another may go after a second.
    link.request_mppe_reset(now + std::time::Duration::from_millis(1500));
    assert_eq!(drain(&mut link).len(), 1);
}

#[test]
fn peer_closing_ccp_closes_the_link() {
    let mut link = ccp_opened_server(false);
    link.handle_frame(epoch(), &hex!("ff0380fd 05090004"), &no_secrets);
    let sent: Vec<String> = drain(&mut link)
        .iter()
        .map(|frame| describe_frame(frame))
        .collect();
    assert_eq!(sent[0], "[CCP TermAck id=0x9]");
    assert!(sent[1].starts_with("[LCP TermReq"), "{sent:?}");
    assert!(!link.mppe_active());
    link.handle_frame(epoch(), &hex!("ff03c021 06020004"), &no_secrets);
    assert_eq!(
        events(&mut link).pop(),
        Some(Event::Down(Reason::PeerTerminated))
    );
}

#[test]
fn ccp_is_protocol_rejected_when_mppe_is_disabled() {
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    config.mppe = MppePolicy::disabled();
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let rng = ScriptedRng::new(&[
        &hex!("bc49b708"),
        &[0x57],
        &hex!("c8197cc8a3afa2abe302902be73a8990"),
    ]);
    let mut link = Link::new(config, rng);
    let now = epoch();
    link.open(now);
    for number in [23, 25, 29] {
        link.handle_frame(now, &captured(number), &secrets);
    }
    link.set_addresses(now, LOCAL, PEER);
    drain(&mut link);
    link.handle_frame(now, &captured(31), &secrets);
    assert_eq!(
        describe_frame(&drain(&mut link)[0]),
        "[LCP ProtRej id=0x2 proto=0x80fd 01 01 00 0a 12 06 01 00 00 40]"
    );
}
