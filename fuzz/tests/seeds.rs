//! Replays every committed seed (`seeds/<target>/*`, including regression inputs from past
//! crashes) through its target's harness, as the fuzzer would, and checks that the seeds reach
//! what they were made to reach.

use std::fs;
use std::path::Path;

use hex_literal::hex;

fn seeds_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds"))
}

#[test]
fn every_target_has_seeds_and_they_replay() {
    let mut failures = Vec::new();
    for (target, harness) in pptpd_fuzz::TARGETS {
        let dir = seeds_dir().join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("readable seeds dir").path();
            let data = fs::read(&path).expect("readable seed");
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                failures.push(path.display().to_string());
            }
            count += 1;
        }
        assert!(count > 0, "no seeds for {target}");
    }
    assert!(
        failures.is_empty(),
        "seeds that fail their harness: {failures:#?}"
    );
}

#[test]
fn every_seed_directory_is_a_target() {
    for entry in fs::read_dir(seeds_dir()).expect("seeds dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            pptpd_fuzz::harness(&name).is_some(),
            "seeds/{name} has no target"
        );
    }
}

#[test]
fn capture_mppe_seed_decrypts_to_ipv6_then_ipv4() {
    // Frames 47 and 49 of the capture: coherency counts 0 and 1, `00 57` (IPv6) then `00 21`.
    let seed = fs::read(seeds_dir().join("mppe_decrypt/capture-to-server")).expect("seed");
    let mut input = pptpd_fuzz::input::Input::new(&seed);
    let config = pptpd_fuzz::mppe::mppe_config(input.byte().expect("selector"));
    let mut decryptor = mschap::MppeDecryptor::new(&pptpd_fuzz::fixture::SERVER_RECV_KEY, config);
    let mut protocols = Vec::new();
    while let Some(chunk) = input.chunk() {
        let mut packet = chunk.to_vec();
        let plain = decryptor
            .decrypt(&mut packet)
            .expect("the capture decrypts");
        protocols.push([plain[0], plain[1]]);
    }
    assert_eq!(protocols.first(), Some(&hex!("0057")));
    assert_eq!(protocols.get(1), Some(&hex!("0021")));
}

#[test]
fn regenerated_seeds_match_the_committed_ones() {
    // The committed seeds are what `examples/extract_seeds.rs` writes today: a change to a
    // harness's script format shows up here.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo");
    let pcap = fs::read(repo.join("pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap"))
        .expect("capture");
    for seed in pptpd_fuzz::seeds::all_seeds(&pcap, &[]) {
        let path = seeds_dir().join(seed.target).join(&seed.name);
        let committed = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == seed.bytes,
            "{} differs from what extract_seeds writes",
            path.display()
        );
    }
}

#[test]
fn capture_gre_seed_reaches_the_tun_device() {
    // The data-path harness keys its session with the capture's keys, so the client's MPPE
    // packets in the capture come out as IPv4 for the TUN device (frames 49, 52, 55: pings).
    use pptpd::datapath::session::{DataSession, Upstream};
    use pptpd_fuzz::fixture;

    let seed = fs::read(seeds_dir().join("datapath_session/capture-gre")).expect("seed");
    let mut input = pptpd_fuzz::input::Input::new(&seed);
    assert_eq!(input.byte(), Some(0), "mode 0: MPPE 128-bit stateless");
    let mut session = DataSession::new(
        pptp_proto::CallId(fixture::SERVER_CALL_ID),
        pptp_proto::CallId(fixture::CLIENT_CALL_ID),
        fixture::CLIENT_IP,
        std::sync::Arc::default(),
    );
    session.set_crypto(
        &fixture::SERVER_SEND_KEY,
        &fixture::SERVER_RECV_KEY,
        pptpd_fuzz::mppe::mppe_config(0),
    );
    let mut to_tun = Vec::new();
    let mut to_control = 0;
    while let (Some(_), Some(packet)) = (input.byte(), input.chunk()) {
        let Ok((header, header_len)) = pptp_proto::GreHeader::parse(packet) else {
            continue;
        };
        let mut buffer = packet.to_vec();
        match session.decapsulate(&mut buffer, &header, header_len, 0) {
            Upstream::ToTun { start, len } => to_tun.push(buffer[start..start + len].to_vec()),
            Upstream::ToControl { .. } => to_control += 1,
            _ => {}
        }
    }
    assert!(
        to_control >= 5,
        "LCP, CHAP, CCP and IPCP frames go to the control task"
    );
    assert!(
        to_tun.len() >= 3,
        "the pings reach the TUN device: {}",
        to_tun.len()
    );
    for packet in &to_tun {
        assert_eq!(packet[0], 0x45, "an IPv4 header");
        assert_eq!(
            &packet[12..20],
            &hex!("c0a800ea c0a80001"),
            "192.168.0.234 -> 192.168.0.1"
        );
    }
}

#[test]
fn tun_coalesce_seeds_form_trains() {
    // udp-run: 6 datagrams of one flow, one train; tcp-run: PSH on the 4th segment ends the
    // first train; interleaved: 4 flows of 4 packets each, one train per flow, and a packet
    // with wrong checksums written alone.
    for (seed, writes) in [("udp-run", 1), ("tcp-run", 2), ("interleaved", 5)] {
        let data = fs::read(seeds_dir().join("tun_coalesce").join(seed)).expect("seed");
        assert_eq!(pptpd_fuzz::tun::writes(&data), writes, "{seed}");
    }
}

#[test]
fn tun_read_seeds_split_into_the_packets_of_their_trains() {
    use pptpd::datapath::tun_read::{self, TunRead};
    // udp-run: one train of 6 datagrams; tcp-run: PSH ends the first train after 4 segments;
    // partial-checksum: a lone datagram whose checksum is completed.
    for (seed, expected) in [
        ("udp-run-0", TunRead::Split(6)),
        ("tcp-run-0", TunRead::Split(4)),
        ("tcp-run-1", TunRead::Split(2)),
        ("partial-checksum", TunRead::Packet(44)),
    ] {
        let mut read = fs::read(seeds_dir().join("tun_read").join(seed)).expect("seed");
        let mut storage = vec![0u8; 2048 * tun_read::MAX_SPLIT];
        let mut sizes = [0usize; tun_read::MAX_SPLIT];
        let slots = tun_read::SplitSlots {
            buf: &mut storage,
            slot_size: 2048,
            offset: 0,
            sizes: &mut sizes,
        };
        let what = tun_read::take(&mut read, slots).expect(seed);
        assert_eq!(what, expected, "{seed}");
        if let TunRead::Packet(len) = what {
            let packet = tun_read::packet(&read, len).expect("packet");
            let mut sum = pptpd::datapath::checksum::Checksum::new();
            sum.add_bytes(&packet[12..20]);
            sum.add_bytes(&[0, 17, 0, 24]);
            sum.add_bytes(&packet[20..]);
            assert_eq!(sum.checksum(), [0, 0], "completed UDP checksum");
        }
    }
}
