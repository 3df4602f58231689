//! Property tests: no decoder panics on arbitrary or truncated input, encoders round-trip, and
//! a link survives arbitrary frames in every phase.

mod common;

use std::time::Duration;

use common::*;
use hex_literal::hex;
use ppp_core::ccp::{CcpOption, CcpOptions};
use ppp_core::chap::{ChapPacket, MsChapV2Response};
use ppp_core::fsm::FsmOptions;
use ppp_core::ipcp::{IpcpOption, IpcpOptions, IpcpRole};
use ppp_core::lcp::{LcpConfig, LcpOption, LcpOptions};
use ppp_core::packet::{Code, ConfigOption, ControlPacket, Identifier, OptionIter, parse_options};
use ppp_core::{
    Event, Link, LinkConfig, MppePolicy, PppFrame, Protocol, Reason, describe_frame, encode_frame,
};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;

/// Protocol prefixes that reach every dispatcher of the link and of `describe_frame`.
fn frame_with_interesting_header() -> impl Strategy<Value = Vec<u8>> {
    let headers = prop::sample::select(vec![
        hex!("ff03c021").to_vec(),
        hex!("c021").to_vec(),
        hex!("ff03c223").to_vec(),
        hex!("c223").to_vec(),
        hex!("ff0380fd").to_vec(),
        hex!("ff038021").to_vec(),
        hex!("8021").to_vec(),
        hex!("ff038057").to_vec(),
        hex!("ff0321").to_vec(),
        hex!("fd").to_vec(),
        hex!("ff03c023").to_vec(),
        vec![],
    ]);
    let packet = prop_oneof![
        // Structured control packets with a consistent or random length.
        (
            1u8..=16,
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..64),
            any::<bool>()
        )
            .prop_map(|(code, id, data, honest)| {
                let mut packet = vec![code, id];
                let length = if honest {
                    data.len() + 4
                } else {
                    data.len() * 3 % 70
                };
                packet.extend_from_slice(&(length as u16).to_be_bytes());
                packet.extend_from_slice(&data);
                packet
            }),
        prop::collection::vec(any::<u8>(), 0..80),
    ];
    (headers, packet).prop_map(|(header, packet)| [header, packet].concat())
}

fn lcp_options(server: bool) -> LcpOptions {
    LcpOptions::new(LcpConfig {
        mru: 1400,
        require_ms_chap_v2: server,
        accept_ms_chap_v2: !server,
    })
}

proptest! {
    #[test]
    fn frame_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok((_, payload)) = PppFrame::decode(&bytes) {
            prop_assert!(payload.len() < bytes.len());
        }
    }

    #[test]
    fn frame_round_trip(high in 0u8..=0x7f, low in 0u8..=0x7f, payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let protocol = Protocol(u16::from_be_bytes([high << 1, (low << 1) | 1]));
        let mut frame = Vec::new();
        encode_frame(protocol, &payload, &mut frame);
        prop_assert_eq!(PppFrame::decode(&frame), Ok((protocol, &payload[..])));
        // The same frame with ACFC and (when possible) PFC applied decodes the same.
        let compressed = &frame[2..];
        prop_assert_eq!(PppFrame::decode(compressed), Ok((protocol, &payload[..])));
        // PFC too, except for 0x00FF: compressed to a lone FF it reads as the start of the
        // address field (the PPP protocol-number registry keeps 0x00FF reserved, unused).
        if protocol.0 < 0x100 && protocol.0 != 0x00ff {
            prop_assert_eq!(PppFrame::decode(&frame[3..]), Ok((protocol, &payload[..])));
        }
    }

    #[test]
    fn packet_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(packet) = ControlPacket::decode(&bytes) {
            prop_assert_eq!(packet.raw.len(), packet.data.len() + 4);
            prop_assert!(packet.raw.len() <= bytes.len());
        }
    }

    #[test]
    fn packet_round_trip_and_truncation(code in any::<u8>(), id in any::<u8>(), data in prop::collection::vec(any::<u8>(), 0..80), padding in prop::collection::vec(any::<u8>(), 0..8)) {
        let mut encoded = ControlPacket::to_vec(Code(code), Identifier(id), &data);
        let exact = encoded.len();
        encoded.extend_from_slice(&padding);
        let packet = ControlPacket::decode(&encoded).unwrap();
        prop_assert_eq!((packet.code, packet.identifier, packet.data), (Code(code), Identifier(id), &data[..]));
        for cut in 0..exact {
            prop_assert!(ControlPacket::decode(&encoded[..cut]).is_err());
        }
    }

    #[test]
    fn option_list_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let mut consumed = 0;
        let mut iter = OptionIter::new(&bytes);
        for option in iter.by_ref() {
            match option {
                Ok(option) => consumed += option.raw.len(),
                Err(_) => break,
            }
        }
        prop_assert_eq!(consumed + iter.remainder().len(), bytes.len());
        for option in OptionIter::new(&bytes).flatten() {
            let _ = LcpOption::parse(&option);
            let _ = IpcpOption::parse(&option);
            let _ = CcpOption::parse(&option);
        }
    }

    #[test]
    fn option_list_round_trip(options in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..20)), 0..8)) {
        let mut encoded = Vec::new();
        for (kind, data) in &options {
            ConfigOption::encode(*kind, data, &mut encoded);
        }
        let parsed = parse_options(&encoded).unwrap();
        let back: Vec<(u8, Vec<u8>)> = parsed.iter().map(|option| (option.kind, option.data.to_vec())).collect();
        prop_assert_eq!(back, options);
    }

    #[test]
    fn typed_options_reencode_to_the_same_bytes(kind in any::<u8>(), data in prop::collection::vec(any::<u8>(), 0..12)) {
        let mut raw = Vec::new();
        ConfigOption::encode(kind, &data, &mut raw);
        let option = parse_options(&raw).unwrap()[0];
        if let Ok(parsed) = LcpOption::parse(&option) {
            let mut again = Vec::new();
            parsed.encode(&mut again);
            prop_assert_eq!(&again, &raw);
        }
        if let Ok(parsed) = IpcpOption::parse(&option) {
            let mut again = Vec::new();
            parsed.encode(&mut again);
            prop_assert_eq!(&again, &raw);
        }
        if let Ok(parsed) = CcpOption::parse(&option) {
            let mut again = Vec::new();
            parsed.encode(&mut again);
            prop_assert_eq!(&again, &raw);
        }
    }

    #[test]
    fn option_logic_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), flag in any::<bool>(), seed in any::<u64>()) {
        let mut rng = seeded(seed);
        let mut lcp = [lcp_options(true), lcp_options(false)];
        for options in &mut lcp {
            let _ = options.handle_request(&bytes, flag, &mut rng);
            let _ = options.handle_nak(&bytes, flag, &mut rng);
            let _ = options.handle_reject(&bytes);
            let mut request = Vec::new();
            options.build_request(&mut rng, &mut request);
            prop_assert!(parse_options(&request).is_ok());
        }
        let mut ipcp = [
            IpcpOptions::new(IpcpRole::Client),
            IpcpOptions::new(IpcpRole::Server { local: LOCAL, peer: PEER, dns: [Some(LOCAL), None], nbns: [None, Some(PEER)] }),
        ];
        for options in &mut ipcp {
            let _ = options.handle_request(&bytes, flag, &mut rng);
            let _ = options.handle_nak(&bytes, flag, &mut rng);
            let _ = options.handle_reject(&bytes);
            let mut request = Vec::new();
            options.build_request(&mut rng, &mut request);
            prop_assert!(parse_options(&request).is_ok());
        }
        for policy in [MppePolicy::require_128(), MppePolicy::optional(), MppePolicy::require_any()] {
            let mut options = CcpOptions::new(policy);
            let _ = options.handle_request(&bytes, flag, &mut rng);
            let _ = options.handle_nak(&bytes, flag, &mut rng);
            let _ = options.handle_reject(&bytes);
            let _ = options.negotiation();
        }
    }

    #[test]
    fn chap_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(packet) = ChapPacket::decode(&bytes) {
            if let ChapPacket::Response { value, .. } = packet {
                let _ = MsChapV2Response::parse(value);
            }
            // Decoded packets re-encode to what was received (up to Length).
            let encoded = packet.to_vec();
            prop_assert_eq!(&encoded[..], &bytes[..encoded.len()]);
        }
    }

    #[test]
    fn chap_round_trip(code in 1u8..=4, id in any::<u8>(), value in prop::collection::vec(any::<u8>(), 0..60), name in prop::collection::vec(any::<u8>(), 0..20)) {
        let identifier = Identifier(id);
        let packet = match code {
            1 => ChapPacket::Challenge { identifier, value: &value, name: &name },
            2 => ChapPacket::Response { identifier, value: &value, name: &name },
            3 => ChapPacket::Success { identifier, message: &name },
            _ => ChapPacket::Failure { identifier, message: &name },
        };
        let encoded = packet.to_vec();
        prop_assert_eq!(ChapPacket::decode(&encoded), Ok(packet));
    }

    #[test]
    fn describe_never_panics(frame in frame_with_interesting_header()) {
        let text = describe_frame(&frame);
        prop_assert!(text.starts_with('[') && text.ends_with(']'));
    }

    #[test]
    fn server_link_survives_anything_in_every_phase(
        stage in 0usize..8,
        frames in prop::collection::vec(frame_with_interesting_header(), 1..12),
        ticks in prop::collection::vec(0u64..5000, 0..4),
    ) {
        let mut link = server_at_stage(stage);
        let mut now = epoch() + Duration::from_secs(1);
        let secrets = OneUser { user: b"root", password: "123456" };
        for frame in &frames {
            link.handle_frame(now, frame, &secrets);
            drain(&mut link);
            for event in events(&mut link) {
                if let Event::Authenticated { .. } = event {
                    link.set_addresses(now, LOCAL, PEER);
                }
            }
        }
        for tick in ticks {
            now += Duration::from_millis(tick);
            link.handle_timeout(now);
            drain(&mut link);
        }
        check_invariants(&mut link, now);
    }

    #[test]
    fn client_link_survives_anything_in_every_phase(
        stage in 0usize..4,
        frames in prop::collection::vec(frame_with_interesting_header(), 1..12),
    ) {
        let (_, mut link) = pair_at_stage(stage);
        let now = epoch() + Duration::from_secs(1);
        for frame in &frames {
            link.handle_frame(now, frame, &no_secrets);
            drain(&mut link);
        }
        check_invariants(&mut link, now);
    }
}

/// A finished link reports Down once and then stays quiet; a live one has a phase.
fn check_invariants<R: rand_core::RngCore>(link: &mut Link<R>, now: std::time::Instant) {
    let downs = events(link)
        .iter()
        .filter(|event| matches!(event, Event::Down(_)))
        .count();
    assert!(downs <= 1);
    if link.is_finished() {
        assert_eq!(link.poll_timeout(), None);
        link.handle_frame(now, &hex!("ff03c021 01010004"), &no_secrets);
        link.handle_timeout(now + Duration::from_secs(100));
        assert_eq!(link.poll_transmit(), None);
        assert_eq!(link.poll_event(), None);
    }
}

/// A server driven through the capture to a given stage: 0 dead, 1 establish, 2 authenticate,
/// 3 network (CCP negotiating), 4 CCP open, 5 link up, 6 terminating, 7 finished.
fn server_at_stage(stage: usize) -> Link<ScriptedRng> {
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = Some(Duration::from_secs(2));
    let rng = ScriptedRng::new(&[
        &hex!("bc49b708"),
        &[0x57],
        &hex!("c8197cc8a3afa2abe302902be73a8990"),
    ]);
    let mut link = Link::new(config, rng);
    let now = epoch();
    for step in 0..stage {
        match step {
            0 => link.open(now),
            1 => {
                link.handle_frame(now, &captured(23), &secrets);
                link.handle_frame(now, &captured(25), &secrets);
            }
            2 => {
                link.handle_frame(now, &captured(29), &secrets);
                link.set_addresses(now, LOCAL, PEER);
            }
            3 => {
                link.handle_frame(now, &captured(31), &secrets);
                link.handle_frame(now, &captured(33), &secrets);
            }
            4 => {
                link.handle_frame(now, &hex!("ff03 8021 0201000a 0306c0a80001"), &secrets);
                link.handle_frame(now, &hex!("ff03 8021 0104000a 0306c0a800ea"), &secrets);
            }
            5 => link.close(now, Reason::AdminClose),
            _ => link.handle_frame(now, &hex!("ff03c021 06020004"), &secrets),
        }
    }
    drain(&mut link);
    events(&mut link);
    link
}

/// A server and a client talking over a perfect pipe, stopped at a stage: 0 dead, 1 opened
/// (establish), 2 after LCP, 3 link up.
fn pair_at_stage(stage: usize) -> (Link<ChaCha8Rng>, Link<ChaCha8Rng>) {
    let mut server = Link::new(LinkConfig::server("gw"), seeded(1));
    let mut client = Link::new(LinkConfig::client("root", "123456"), seeded(2));
    let secrets = OneUser {
        user: b"root",
        password: "123456",
    };
    let now = epoch();
    if stage == 0 {
        return (server, client);
    }
    server.open(now);
    client.open(now);
    for _ in 0..50 {
        let done = match stage {
            1 => true,
            2 => client.phase() != ppp_core::Phase::Establish,
            _ => client.mppe_active(),
        };
        if done {
            break;
        }
        for frame in drain(&mut server) {
            client.handle_frame(now, &frame, &no_secrets);
        }
        for frame in drain(&mut client) {
            server.handle_frame(now, &frame, &secrets);
        }
        for event in events(&mut server) {
            if let Event::Authenticated { .. } = event {
                server.set_addresses(now, LOCAL, PEER);
            }
        }
    }
    drain(&mut client);
    events(&mut client);
    (server, client)
}

#[test]
fn fuzzed_stages_reach_their_phases() {
    use ppp_core::Phase::*;
    let phases: Vec<_> = (0..8)
        .map(|stage| {
            let link = server_at_stage(stage);
            (link.phase(), link.mppe_active(), link.is_finished())
        })
        .collect();
    assert_eq!(
        phases,
        [
            (Dead, false, false),
            (Establish, false, false),
            (Authenticate, false, false),
            (Network, false, false),
            (Network, true, false),
            (Network, true, false),
            (Terminate, false, false),
            (Dead, false, true),
        ]
    );
    let client_phases: Vec<_> = (0..4)
        .map(|stage| {
            let (_, client) = pair_at_stage(stage);
            (client.phase(), client.mppe_active())
        })
        .collect();
    assert_eq!(
        client_phases,
        [
            (Dead, false),
            (Establish, false),
            (Authenticate, false),
            (Network, true),
        ]
    );
}
