//! Seed inputs for every target, cut from real bytes: the poptop/pptp-linux capture (control
//! messages, GRE datagrams, PPP frames, MPPE packets), the config files of the daemon's tests,
//! and a full in-memory PPP conversation between a server and a client [`Link`] run through the
//! same harnesses the fuzzer runs, so that replaying it reaches `LinkUp`.
//!
//! `examples/extract_seeds.rs` writes these into `seeds/<target>/`.
//!
//! [`Link`]: ppp_core::Link

use crate::input::Script;
use crate::ppp::{ClientHarness, ServerHarness};
use crate::{control, datapath, mppe, ppp};

/// One seed: the target it is for, a file name, the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target.
    pub target: &'static str,
    /// The file name under `seeds/<target>/`.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

impl Seed {
    fn new(target: &'static str, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Seed {
            target,
            name: name.into(),
            bytes,
        }
    }
}

/// Which way a packet of the capture went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client (pptp-linux) to server (poptop).
    ToServer,
    /// Server to client.
    ToClient,
}

/// What the capture holds, by kind.
#[derive(Debug, Default)]
pub struct Capture {
    /// TCP payloads of the control connection, in order.
    pub control: Vec<(Direction, Vec<u8>)>,
    /// Whole IPv4 datagrams carrying GRE, in order.
    pub gre_datagrams: Vec<(Direction, Vec<u8>)>,
}

/// TCP port of the PPTP control connection.
const PPTP_PORT: u16 = 1723;

/// Reads a classic pcap file of Ethernet frames; `None` if it is not one.
pub fn parse_pcap(file: &[u8]) -> Option<Capture> {
    let magic = file.get(..4)?;
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => return None,
    };
    let word = |at: usize| -> Option<u32> {
        let bytes: [u8; 4] = file.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    };
    if word(20)? != 1 {
        return None; // not Ethernet
    }
    let mut capture = Capture::default();
    let mut at = 24;
    while at + 16 <= file.len() {
        let len = usize::try_from(word(at + 8)?).ok()?;
        let frame = file.get(at + 16..at + 16 + len)?;
        at += 16 + len;
        let Some(ip) = ethernet_ipv4(frame) else {
            continue;
        };
        classify(ip, &mut capture);
    }
    Some(capture)
}

/// The IPv4 datagram in an Ethernet frame (cut to its Total Length).
fn ethernet_ipv4(frame: &[u8]) -> Option<&[u8]> {
    let (ethertype, rest) = match frame.get(12..14)? {
        [0x81, 0x00] => (frame.get(16..18)?, frame.get(18..)?),
        ethertype => (ethertype, frame.get(14..)?),
    };
    if ethertype != [0x08, 0x00] {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
    rest.get(..total)
}

/// Files a datagram of the capture under control or GRE.
fn classify(ip: &[u8], capture: &mut Capture) {
    let Some(&version_ihl) = ip.first() else {
        return;
    };
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let Some(body) = ip.get(header_len..) else {
        return;
    };
    match ip.get(9) {
        Some(47) => {
            // The server is 10.100.100.1, the client 10.100.100.2 (fixture README).
            let direction = if ip.get(19) == Some(&1) {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            capture.gre_datagrams.push((direction, ip.to_vec()));
        }
        Some(6) => {
            let port = |at: usize| {
                body.get(at..at + 2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
            };
            let Some(&offset) = body.get(12) else {
                return;
            };
            let payload = body.get(usize::from(offset >> 4) * 4..).unwrap_or_default();
            if payload.is_empty() {
                return;
            }
            let direction = if port(2) == Some(PPTP_PORT) {
                Direction::ToServer
            } else if port(0) == Some(PPTP_PORT) {
                Direction::ToClient
            } else {
                return;
            };
            capture.control.push((direction, payload.to_vec()));
        }
        _ => {}
    }
}

/// The GRE packet (after the IPv4 header) of a datagram.
fn gre_packet(datagram: &[u8]) -> &[u8] {
    let header_len = usize::from(datagram.first().map_or(0, |b| b & 0x0f)) * 4;
    datagram.get(header_len..).unwrap_or_default()
}

/// The PPP frame a GRE packet carries, if any.
fn ppp_frame_of(packet: &[u8]) -> Option<&[u8]> {
    pptp_proto::GreHeader::parse_packet(packet)
        .ok()
        .map(|(_, payload)| payload)
        .filter(|payload| !payload.is_empty())
}

/// Whether a PPP frame is a control frame (not IPv4/MPPE data).
fn is_control_frame(frame: &[u8]) -> bool {
    matches!(
        ppp_core::PppFrame::decode(frame),
        Ok((protocol, _)) if protocol.0 & 0x8000 != 0
    )
}

/// The MPPE packet (header + ciphertext) of a PPP frame of protocol 0x00FD.
fn mppe_packet(frame: &[u8]) -> Option<&[u8]> {
    match ppp_core::PppFrame::decode(frame) {
        Ok((ppp_core::Protocol::COMPRESSED, payload)) => Some(payload),
        _ => None,
    }
}

/// Control messages cut from TCP payloads (a payload may hold several).
fn control_messages(payload: &[u8]) -> Vec<&[u8]> {
    let mut messages = Vec::new();
    let mut rest = payload;
    while let Ok(Some(len)) = pptp_proto::control::frame_len(rest) {
        let Some(message) = rest.get(..len) else {
            break;
        };
        messages.push(message);
        rest = &rest[len..];
    }
    messages
}

/// A PPP conversation between the harnesses' server and client links, as each one's script.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The `ppp_link_server` input: what the client sent, in order.
    pub server_script: Script,
    /// The `ppp_link_client` input: what the server sent, in order.
    pub client_script: Script,
    /// Whether both sides reported `LinkUp`.
    pub both_up: bool,
}

/// Runs a server and a client link (options `selector`) against each other until both are up
/// or nothing moves, recording each side's received frames as its script.
pub fn conversation(selector: u8) -> Conversation {
    let mut server = ServerHarness::new(selector);
    let mut client = ClientHarness::new(selector);
    let mut server_script = Script::new();
    let mut client_script = Script::new();
    server_script.byte(selector);
    client_script.byte(selector);
    for _ in 0..64 {
        let to_client = server.take_sent();
        let to_server = client.take_sent();
        if to_client.is_empty() && to_server.is_empty() {
            break;
        }
        for frame in to_client {
            client_script.byte(ppp::op::FRAME).chunk(&frame);
            client.frame(&frame);
        }
        for frame in to_server {
            server_script.byte(ppp::op::FRAME).chunk(&frame);
            server.frame(&frame);
        }
    }
    Conversation {
        server_script,
        client_script,
        both_up: server.is_up() && client.is_up(),
    }
}

/// Every seed: from the capture (pcap bytes), from config files (name, text), and made here.
pub fn all_seeds(pcap: &[u8], config_files: &[(String, String)]) -> Vec<Seed> {
    let mut seeds = Vec::new();
    if let Some(capture) = parse_pcap(pcap) {
        capture_seeds(&capture, &mut seeds);
    }
    conversation_seeds(&mut seeds);
    mppe_roundtrip_seeds(&mut seeds);
    datapath_seeds(&mut seeds);
    tun_coalesce_seeds(&mut seeds);
    tun_read_seeds(&mut seeds);
    config_seeds(config_files, &mut seeds);
    seeds
}

/// Seeds cut from the capture.
fn capture_seeds(capture: &Capture, seeds: &mut Vec<Seed>) {
    // control_message: every message, both ways.
    let mut index = 0;
    for (_, payload) in &capture.control {
        for message in control_messages(payload) {
            index += 1;
            seeds.push(Seed::new(
                "control_message",
                format!("capture-{index:02}"),
                message.to_vec(),
            ));
        }
    }
    // control_connection: the client's stream; then the same with the call answered, keep-alives
    // and the echo timeout, and with the call answered and the connection stopped.
    let client_stream: Vec<&[u8]> = capture
        .control
        .iter()
        .filter(|(direction, _)| *direction == Direction::ToServer)
        .map(|(_, payload)| payload.as_slice())
        .collect();
    let stream_script = |after_first_two: &dyn Fn(&mut Script)| {
        let mut script = Script::new();
        script.byte(0);
        for (i, payload) in client_stream.iter().enumerate() {
            script.byte(control::op::STREAM).chunk(payload);
            if i == 1 {
                after_first_two(&mut script);
            }
        }
        script.into_bytes()
    };
    seeds.push(Seed::new(
        "control_connection",
        "capture-stream",
        stream_script(&|_| {}),
    ));
    seeds.push(Seed::new(
        "control_connection",
        "capture-answered-keepalive",
        stream_script(&|script| {
            script.byte(control::op::ANSWER).byte(0).raw(&[0x12, 0x34]);
            for _ in 0..3 {
                script.byte(control::op::TIME).byte(0);
            }
        }),
    ));
    seeds.push(Seed::new(
        "control_connection",
        "capture-answered-stopped",
        stream_script(&|script| {
            script.byte(control::op::ANSWER).byte(0).raw(&[0x12, 0x34]);
            script.byte(control::op::CLEAR).byte(0).byte(3);
            script.byte(control::op::STOP).byte(1);
            script.byte(control::op::TIME).byte(0);
        }),
    ));

    // gre_datagram, ppp_frame: every datagram and frame, both ways.
    let mut server_frames = Script::new();
    let mut client_frames = Script::new();
    server_frames.byte(0);
    client_frames.byte(0);
    let mut mppe_to_server = Script::new();
    mppe_to_server.byte(0);
    let mut datapath_packets = Script::new();
    let mut datapath_datagrams = Script::new();
    datapath_packets.byte(0);
    datapath_datagrams.byte(0);
    for (index, (direction, datagram)) in capture.gre_datagrams.iter().enumerate() {
        let n = index + 1;
        seeds.push(Seed::new(
            "gre_datagram",
            format!("capture-{n:02}"),
            datagram.clone(),
        ));
        let packet = gre_packet(datagram);
        if *direction == Direction::ToServer {
            datapath_packets.byte(datapath::op::RECEIVE).chunk(packet);
            datapath_datagrams
                .byte(datapath::op::DATAGRAM)
                .chunk(datagram);
        }
        let Some(frame) = ppp_frame_of(packet) else {
            continue;
        };
        seeds.push(Seed::new(
            "ppp_frame",
            format!("capture-{n:02}"),
            frame.to_vec(),
        ));
        match direction {
            Direction::ToServer if is_control_frame(frame) => {
                server_frames.byte(ppp::op::FRAME).chunk(frame);
            }
            Direction::ToClient if is_control_frame(frame) => {
                client_frames.byte(ppp::op::FRAME).chunk(frame);
            }
            _ => {}
        }
        if let (Direction::ToServer, Some(packet)) = (direction, mppe_packet(frame)) {
            mppe_to_server.chunk(packet);
        }
    }
    seeds.push(Seed::new(
        "ppp_link_server",
        "capture-frames",
        server_frames.into_bytes(),
    ));
    seeds.push(Seed::new(
        "ppp_link_client",
        "capture-frames",
        client_frames.into_bytes(),
    ));
    seeds.push(Seed::new(
        "mppe_decrypt",
        "capture-to-server",
        mppe_to_server.into_bytes(),
    ));
    seeds.push(Seed::new(
        "datapath_session",
        "capture-gre",
        datapath_packets.into_bytes(),
    ));
    seeds.push(Seed::new(
        "datapath_session",
        "capture-datagrams",
        datapath_datagrams.into_bytes(),
    ));
}

/// The two-peer conversations, plain and followed by timers and teardown.
fn conversation_seeds(seeds: &mut Vec<Seed>) {
    for (selector, label) in [
        (0u8, "mppe128"),
        (5, "optional-stateful"),
        (3 | 8, "nomppe-dns"),
    ] {
        let talk = conversation(selector);
        let mut server_timers = talk.server_script.clone();
        let mut client_timers = talk.client_script.clone();
        for script in [&mut server_timers, &mut client_timers] {
            script.byte(ppp::op::MPPE_RESET);
            for _ in 0..6 {
                script.byte(ppp::op::TIME).byte(0);
            }
        }
        let mut server_close = talk.server_script.clone();
        server_close
            .byte(ppp::op::CLOSE)
            .byte(ppp::op::TIME)
            .byte(0)
            .byte(ppp::op::TIME)
            .byte(0);
        let mut client_close = talk.client_script.clone();
        client_close
            .byte(ppp::op::CLOSE)
            .byte(ppp::op::TIME)
            .byte(0);
        seeds.push(Seed::new(
            "ppp_link_server",
            format!("talk-{label}"),
            talk.server_script.into_bytes(),
        ));
        seeds.push(Seed::new(
            "ppp_link_client",
            format!("talk-{label}"),
            talk.client_script.into_bytes(),
        ));
        seeds.push(Seed::new(
            "ppp_link_server",
            format!("talk-{label}-timers"),
            server_timers.into_bytes(),
        ));
        seeds.push(Seed::new(
            "ppp_link_client",
            format!("talk-{label}-timers"),
            client_timers.into_bytes(),
        ));
        seeds.push(Seed::new(
            "ppp_link_server",
            format!("talk-{label}-close"),
            server_close.into_bytes(),
        ));
        seeds.push(Seed::new(
            "ppp_link_client",
            format!("talk-{label}-close"),
            client_close.into_bytes(),
        ));
    }
    // The harness's own authentication operations: LCP from the conversation up to the
    // Challenge, then a computed Response (and the client side: a computed Success).
    let mut server_auth = Script::new();
    server_auth.byte(0);
    let mut server_bad_auth = Script::new();
    server_bad_auth.byte(0);
    let talk = conversation(0);
    let bytes = talk.server_script.into_bytes();
    let mut input = crate::input::Input::new(&bytes);
    let _ = input.byte();
    for _ in 0..2 {
        if let (Some(code), Some(frame)) = (input.byte(), input.chunk()) {
            server_auth.byte(code).chunk(frame);
            server_bad_auth.byte(code).chunk(frame);
        }
    }
    server_auth.byte(ppp::op::AUTH).byte(0);
    server_bad_auth.byte(ppp::op::AUTH).byte(1);
    seeds.push(Seed::new(
        "ppp_link_server",
        "auth-op",
        server_auth.into_bytes(),
    ));
    seeds.push(Seed::new(
        "ppp_link_server",
        "auth-op-wrong-password",
        server_bad_auth.into_bytes(),
    ));
}

/// Hand-made `mppe_roundtrip` scripts: each mode, with losses, resets and replays.
fn mppe_roundtrip_seeds(seeds: &mut Vec<Seed>) {
    for selector in [0u8, 1, 2, 4, 5, 6] {
        let mut script = Script::new();
        script.byte(selector);
        script
            .byte(mppe::op::DELIVER)
            .chunk(&[0x45, 0, 0, 0x14, 1, 2, 3, 4, 0x40, 0, 0x40, 1]);
        script.byte(mppe::op::DELIVER).chunk(b"second packet");
        script.byte(mppe::op::REPLAY);
        script.byte(mppe::op::LOSE).chunk(b"lost");
        script.byte(mppe::op::DELIVER).chunk(b"after a loss");
        script.byte(mppe::op::RESET);
        script.byte(mppe::op::DELIVER).chunk(b"after a reset");
        script.byte(mppe::op::LOSE_MANY).byte(250);
        script
            .byte(mppe::op::DELIVER)
            .chunk(b"across a flag packet");
        script.byte(mppe::op::DELIVER).chunk(b"in step again");
        script.byte(mppe::op::LOSE).chunk(b"overtaken 1");
        script.byte(mppe::op::LOSE).chunk(b"overtaken 2");
        script.byte(mppe::op::DELIVER).chunk(b"overtaking");
        script.byte(mppe::op::DELIVER_LATE).byte(0);
        script.byte(mppe::op::DELIVER_LATE).byte(0);
        script.byte(mppe::op::REPLAY);
        seeds.push(Seed::new(
            "mppe_roundtrip",
            format!("mode-{selector}"),
            script.into_bytes(),
        ));
    }
}

/// Hand-made `datapath_session` scripts: both directions in every mode.
fn datapath_seeds(seeds: &mut Vec<Seed>) {
    // An IPv4 ICMP echo request, 192.168.0.1 -> 192.168.0.234 (as in the capture's frame 50).
    let ip: &[u8] = &[
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 192, 168, 0, 1,
        192, 168, 0, 234, 0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00,
    ];
    let lcp_echo: &[u8] = &[
        0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78,
    ];
    // A cleartext IPv4 data packet from the client: GRE seq 1, ack 0, FF 03 00 21 + ip.
    let mut clear_packet = vec![0x30, 0x81, 0x88, 0x0b];
    clear_packet.extend_from_slice(&u16::try_from(ip.len() + 4).unwrap_or(0).to_be_bytes());
    clear_packet.extend_from_slice(&0u16.to_be_bytes());
    clear_packet.extend_from_slice(&1u32.to_be_bytes());
    clear_packet.extend_from_slice(&0u32.to_be_bytes());
    clear_packet.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    clear_packet.extend_from_slice(ip);
    for selector in 0u8..6 {
        let mut script = Script::new();
        script.byte(selector);
        script.byte(datapath::op::RECEIVE).chunk(&clear_packet);
        script.byte(datapath::op::SEND_IP).chunk(ip);
        script.byte(datapath::op::ACK);
        script.byte(datapath::op::SEND_FRAME).chunk(lcp_echo);
        script.byte(datapath::op::RESET);
        script.byte(datapath::op::SEND_IP).chunk(ip);
        script.byte(datapath::op::TIME).byte(30);
        script.byte(datapath::op::SEND_IP).chunk(&[]);
        seeds.push(Seed::new(
            "datapath_session",
            format!("mode-{selector}"),
            script.into_bytes(),
        ));
    }
}

/// Hand-made `tun_coalesce` scripts: runs of UDP datagrams and TCP segments of one and of
/// two interleaved flows, with checksums fixed by the harness (odd operation octet).
fn tun_coalesce_seeds(seeds: &mut Vec<Seed>) {
    // IPv4 (no options, DF, TTL 64) from 10.64.0.2 to 198.51.100.2; checksums left zero.
    let packet = |protocol: u8, port: u16, seq: u32, payload_len: usize, flags: u8| {
        let l4_header = if protocol == 6 { 20 } else { 8 };
        let total = 20 + l4_header + payload_len;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&u16::try_from(total).unwrap_or(0).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&[10, 64, 0, 2]);
        p[16..20].copy_from_slice(&[198, 51, 100, 2]);
        p[20..22].copy_from_slice(&port.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        if protocol == 6 {
            p[24..28].copy_from_slice(&seq.to_be_bytes());
            p[28..32].copy_from_slice(&1u32.to_be_bytes());
            p[32] = 5 << 4;
            p[33] = flags;
            p[34..36].copy_from_slice(&502u16.to_be_bytes());
        } else {
            let udp_len = u16::try_from(8 + payload_len).unwrap_or(0);
            p[24..26].copy_from_slice(&udp_len.to_be_bytes());
        }
        for (i, b) in p[20 + l4_header..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ (seq as u8);
        }
        p
    };
    let mut udp_run = Script::new();
    for i in 0..6 {
        udp_run
            .byte(1)
            .chunk(&packet(17, 4000, i, if i == 5 { 100 } else { 600 }, 0));
    }
    seeds.push(Seed::new("tun_coalesce", "udp-run", udp_run.into_bytes()));
    let mut tcp_run = Script::new();
    for i in 0..6u32 {
        let flags = if i == 3 { 0x18 } else { 0x10 };
        tcp_run
            .byte(1)
            .chunk(&packet(6, 4000, 1 + i * 536, 536, flags));
    }
    seeds.push(Seed::new("tun_coalesce", "tcp-run", tcp_run.into_bytes()));
    let mut interleaved = Script::new();
    for i in 0..8u32 {
        let port = 4000 + u16::try_from(i % 2).unwrap_or(0);
        interleaved
            .byte(1)
            .chunk(&packet(6, port, 1 + (i / 2) * 300, 300, 0x10));
        interleaved.byte(1).chunk(&packet(17, port, i, 200, 0));
    }
    // A packet left as it is (checksums zero): written alone.
    interleaved.byte(0).chunk(&packet(17, 4000, 9, 200, 0));
    seeds.push(Seed::new(
        "tun_coalesce",
        "interleaved",
        interleaved.into_bytes(),
    ));
}

/// `tun_read` seeds: the writes the coalescer makes of the `tun_coalesce` seeds (trains and lone
/// packets behind their virtio-net headers, what the kernel hands back for a forwarded train),
/// and a lone packet whose checksum the kernel left partial.
fn tun_read_seeds(seeds: &mut Vec<Seed>) {
    let mut coalesce = Vec::new();
    tun_coalesce_seeds(&mut coalesce);
    for seed in &coalesce {
        for (i, write) in crate::tun::coalesced_writes(&seed.bytes)
            .into_iter()
            .enumerate()
        {
            seeds.push(Seed::new("tun_read", format!("{}-{i}", seed.name), write));
        }
    }
    // UDP 10.64.0.2:4000 -> 198.51.100.2:80, 16 octets of payload; the checksum field holds
    // the folded pseudo-header sum (NEEDS_CSUM, csum_start 20, csum_offset 6).
    let mut read = vec![1u8, 0, 0, 0, 0, 0, 20, 0, 6, 0];
    let mut packet = vec![0u8; 44];
    packet[..20].copy_from_slice(&[
        0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 64, 0, 2, 198, 51, 100, 2,
    ]);
    packet[20..26].copy_from_slice(&[0x0f, 0xa0, 0, 80, 0, 24]);
    let pseudo: u32 = [0x0a40u32, 0x0002, 0xc633, 0x6402, 17, 24].iter().sum();
    let folded = (pseudo & 0xffff) + (pseudo >> 16);
    packet[26..28].copy_from_slice(&u16::try_from(folded).unwrap_or(0).to_be_bytes());
    read.extend_from_slice(&packet);
    seeds.push(Seed::new("tun_read", "partial-checksum", read));
}

/// The daemon's test config files, by kind, and address lists.
fn config_seeds(config_files: &[(String, String)], seeds: &mut Vec<Seed>) {
    for (name, text) in config_files {
        let file_name = name.rsplit('/').next().unwrap_or(name);
        let target = if file_name == "pptpd.conf" {
            "config_pptpd_conf"
        } else if file_name.contains("options") {
            "config_ppp_options"
        } else if file_name == "chap-secrets" {
            "config_chap_secrets"
        } else {
            continue;
        };
        let seed_name = name.replace('/', "-");
        seeds.push(Seed::new(target, seed_name, text.clone().into_bytes()));
        if target == "config_pptpd_conf" {
            for line in text.lines() {
                let mut words = line.split_whitespace();
                if let (Some("localip" | "remoteip"), Some(list)) = (words.next(), words.next()) {
                    seeds.push(Seed::new(
                        "config_address_list",
                        format!(
                            "{}-{}",
                            name.replace('/', "-"),
                            line.split_whitespace().next().unwrap_or("list")
                        ),
                        list.as_bytes().to_vec(),
                    ));
                }
            }
        }
    }
    for (name, list) in [
        ("capture-remoteip", "192.168.0.234-238,192.168.0.245"),
        ("single", "10.0.0.1"),
        ("full-range", "10.0.0.1-10.0.1.255"),
        ("short-range", "172.16.0.10-20"),
    ] {
        seeds.push(Seed::new(
            "config_address_list",
            name,
            list.as_bytes().to_vec(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_reaches_link_up_in_every_mode_used_for_seeds() {
        for selector in [0u8, 5, 3 | 8] {
            assert!(conversation(selector).both_up, "selector {selector}");
        }
    }
}
