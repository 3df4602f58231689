//! Cross-crate replay of the real capture (`pptp-proto/tests/data/`, a copy of
//! `shared/fixtures/poptop-pptp-linux-mschapv2-mppe128.pcap`: poptop pptpd + pppd serving
//! pptp-linux + pppd, MS-CHAPv2, stateless MPPE-128, user root, password 123456).
//!
//! 1. The captured *client's* messages into the *server* roles of the core crates (a
//!    `ControlConnection` and a `Link` configured like the capture's poptop, with the CHAP
//!    challenge forced to the captured one through the injected RNG): they must reach the
//!    Network phase with a byte-identical MS-CHAPv2 Success and hand out MPPE keys that decrypt
//!    the captured data frames 44-56 into the ICMP echoes the fixture README describes.
//! 2. The captured *server's* messages into our `ClientSession` (with pptp-linux's random
//!    values forced the same way): it must send pptp-linux's bytes where they are determined by
//!    the server's, and decrypt the server's echo replies.

use std::collections::VecDeque;
use std::fs::File;
use std::net::Ipv4Addr;
use std::time::Instant;

use hex_literal::hex;
use mschap::{MppeConfig, MppeDecryptor, MppeStrength};
use pcap_file::pcap::PcapReader;
use ppp_core::{Event, Link, LinkConfig, Phase, PppFrame, Protocol};
use pptp_client::{ClientSession, SessionConfig, SessionEvent};
use pptp_proto::CallId;
use pptp_proto::connection::{ControlConnection, ControlEvent, ServerConfig};
use pptp_proto::control::{MessageType, frame_len};
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender, Ipv4Envelope};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 2);
const SERVER_PPP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const CLIENT_PPP: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);

/// What poptop drew: its LCP Magic-Number (frame 24), CHAP Identifier and Challenge (27).
const SERVER_MAGIC: [u8; 4] = hex!("bc49b708");
const CHAP_ID: [u8; 1] = [0x57];
const CHALLENGE: [u8; 16] = hex!("c8197cc8a3afa2abe302902be73a8990");
/// What pptp-linux's pppd drew: its Magic-Number (frame 23) and Peer-Challenge (frame 29).
const CLIENT_MAGIC: [u8; 4] = hex!("622e65eb");
const PEER_CHALLENGE: [u8; 16] = hex!("80f2e5f061cfd051c5ea7e09bbf7fccf");
/// The start keys derived from the exchange (fixture README).
const SERVER_SEND_KEY: [u8; 16] = hex!("855a5718ed3c745cb819b80fbda807e8");
const SERVER_RECV_KEY: [u8; 16] = hex!("dfba1760c6137d9e399600038be96236");

/// One frame of the capture that matters here.
#[derive(Clone, Debug)]
enum Captured {
    /// Control messages in a TCP segment on port 1723.
    Control { messages: Vec<Vec<u8>> },
    /// A GRE packet (IPv4 header removed).
    Gre { from_client: bool, packet: Vec<u8> },
}

/// Every frame of the capture by number (1-based, as tshark counts); `None` for the rest.
fn capture() -> Vec<Option<Captured>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap"
    );
    let mut reader = PcapReader::new(File::open(path).expect("fixture")).unwrap();
    let mut frames = vec![None]; // frame numbers start at 1
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        frames.push(parse_frame(&packet.data));
    }
    frames
}

fn parse_frame(frame: &[u8]) -> Option<Captured> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let datagram = &frame[14..];
    let src = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    let from_client = src == CLIENT_IP;
    if let Ok((envelope, _)) = Ipv4Envelope::parse(datagram) {
        let packet = envelope.payload(datagram).to_vec();
        return Some(Captured::Gre {
            from_client,
            packet,
        });
    }
    if datagram[9] != 6 {
        return None;
    }
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let tcp = &datagram[header_len..total];
    let mut rest = &tcp[usize::from(tcp[12] >> 4) * 4..];
    let mut messages = Vec::new();
    while let Ok(Some(len)) = frame_len(rest) {
        messages.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    (!messages.is_empty()).then_some(Captured::Control { messages })
}

/// The single control message of frame `number`.
fn control_message(frames: &[Option<Captured>], number: usize) -> Vec<u8> {
    match &frames[number] {
        Some(Captured::Control { messages, .. }) if messages.len() == 1 => messages[0].clone(),
        other => panic!("frame {number} is not one control message: {other:?}"),
    }
}

/// The GRE packet of frame `number`.
fn gre(frames: &[Option<Captured>], number: usize) -> Vec<u8> {
    match &frames[number] {
        Some(Captured::Gre { packet, .. }) => packet.clone(),
        other => panic!("frame {number} is not GRE: {other:?}"),
    }
}

/// The PPP frame in the GRE packet of frame `number`.
fn ppp(frames: &[Option<Captured>], number: usize) -> Vec<u8> {
    let packet = gre(frames, number);
    GreHeader::parse_packet(&packet).unwrap().1.to_vec()
}

/// `FF 03` + a frame the capture shows with compressed address and control fields (pppd
/// leaves them out once ACFC is agreed; we always send them).
fn with_address(frame: &[u8]) -> Vec<u8> {
    if frame.starts_with(&[0xff, 0x03]) {
        frame.to_vec()
    } else {
        [&[0xff, 0x03][..], frame].concat()
    }
}

/// An RNG that yields the scripted bytes first, then ChaCha8 output.
struct ScriptedRng {
    script: VecDeque<u8>,
    rest: ChaCha8Rng,
}

impl ScriptedRng {
    fn new(parts: &[&[u8]]) -> Self {
        ScriptedRng {
            script: parts.iter().flat_map(|part| part.iter().copied()).collect(),
            rest: ChaCha8Rng::seed_from_u64(3),
        }
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for byte in dst {
            *byte = match self.script.pop_front() {
                Some(scripted) => scripted,
                None => (self.rest.next_u32() & 0xff) as u8,
            };
        }
    }
}

/// The capture's server, re-framing its PPP frames in GRE with its own sequence numbers
/// (some of the exchange is synthetic, so the captured numbers cannot be kept).
#[derive(Default)]
struct CapturedServer {
    sender: GreSender,
    receiver: GreReceiver,
}

impl CapturedServer {
    /// Sends `frame` to `session`; returns the datagram it delivered, if any.
    fn feed(
        &mut self,
        session: &mut ClientSession<ScriptedRng>,
        now: Instant,
        frame: &[u8],
    ) -> Option<Vec<u8>> {
        let header = self
            .sender
            .data_header(CallId(27020), frame.len() as u16, &mut self.receiver);
        let mut packet = vec![0; header.len()];
        header.emit(&mut packet).unwrap();
        packet.extend_from_slice(frame);
        let delivered = session.handle_gre(now, &mut packet);
        delivered.map(|range| packet[range].to_vec())
    }
}

/// The PPP frames of the GRE packets the session sent, checking they are keyed to poptop's
/// Call ID 0.
fn server_sent<R: RngCore>(session: &mut ClientSession<R>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| session.poll_gre_transmit())
        .map(|packet| {
            let (header, payload) = GreHeader::parse_packet(&packet).unwrap();
            assert_eq!(header.call_id, CallId(0));
            payload.to_vec()
        })
        .collect()
}

/// The Internet checksum (RFC 1071) over `bytes`; 0 when a stored checksum is correct.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checks that `packet` is an ICMP echo (request if `request`) between the capture's PPP
/// addresses, with valid IPv4 and ICMP checksums; returns its identifier and sequence number.
fn assert_icmp_echo(packet: &[u8], request: bool) -> (u16, u16) {
    assert_eq!(packet[0], 0x45, "IPv4 without options");
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    assert_eq!(total, packet.len());
    assert_eq!(checksum(&packet[..20]), 0, "IPv4 header checksum");
    assert_eq!(packet[9], 1, "ICMP");
    let (src, dst) = if request {
        (CLIENT_PPP, SERVER_PPP)
    } else {
        (SERVER_PPP, CLIENT_PPP)
    };
    assert_eq!(packet[12..16], src.octets());
    assert_eq!(packet[16..20], dst.octets());
    let icmp = &packet[20..];
    assert_eq!(icmp[0], if request { 8 } else { 0 }, "echo request/reply");
    assert_eq!(checksum(icmp), 0, "ICMP checksum");
    (
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    )
}

/// Everything the link wants to send right now.
fn drain<R: RngCore>(link: &mut Link<R>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| link.poll_transmit()).collect()
}

#[test]
fn server_roles_take_the_captured_client_to_keys_that_decrypt_its_pings() {
    let frames = capture();
    let now = Instant::now();

    // The control connection: pptp-linux's SCCRQ (frame 9) and OCRQ (frame 20).
    // poptop echoes the client's receive window (3) in its reply.
    let config = ServerConfig {
        recv_window: 3,
        ..ServerConfig::default()
    };
    let mut control = ControlConnection::server(config, now);
    control
        .handle_bytes(now, &control_message(&frames, 9))
        .unwrap();
    assert!(
        matches!(control.poll_event(), Some(ControlEvent::Connected { peer }) if peer.vendor == b"cananian")
    );
    let reply = control.poll_transmit().unwrap();
    assert_eq!(
        reply.message_type(),
        MessageType::StartControlConnectionReply
    );
    control
        .handle_bytes(now, &control_message(&frames, 20))
        .unwrap();
    match control.poll_event() {
        Some(ControlEvent::CallRequested {
            peer_call_id,
            recv_window,
            ..
        }) => {
            assert_eq!((peer_call_id, recv_window), (CallId(27020), 3));
            control.answer_call(now, peer_call_id, CallId(0)).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let reply = control.poll_transmit().unwrap();
    assert_eq!(
        reply.to_bytes(),
        control_message(&frames, 21),
        "poptop's OCRP, Call ID 0"
    );

    // PPP, configured like the capture's poptop, with its random values.
    let mut config = LinkConfig::server("pptpd");
    config.echo_interval = None;
    let rng = ScriptedRng::new(&[&SERVER_MAGIC, &CHAP_ID, &CHALLENGE]);
    let mut link = Link::new(config, rng);
    let secrets = |user: &[u8]| (user == b"root").then(|| mschap::nt_password_hash("123456"));
    link.open(now);
    assert_eq!(drain(&mut link), vec![ppp(&frames, 24)]);
    link.handle_frame(now, &ppp(&frames, 23), &secrets);
    assert_eq!(drain(&mut link), vec![ppp(&frames, 26)]);
    link.handle_frame(now, &ppp(&frames, 25), &secrets);
    assert_eq!(drain(&mut link), vec![with_address(&ppp(&frames, 27))]);
    link.handle_frame(now, &ppp(&frames, 29), &secrets);
    let success = drain(&mut link);
    assert_eq!(success, vec![with_address(&ppp(&frames, 30))]);
    assert!(success[0].ends_with(b"S=47CCA3ABCFD84302B4FA8B588317A93A746EEE56 M=Access granted"));
    assert_eq!(
        link.poll_event(),
        Some(Event::Authenticated {
            user: "root".into()
        })
    );
    link.set_addresses(now, SERVER_PPP, CLIENT_PPP);
    assert_eq!(link.phase(), Phase::Network);
    assert_eq!(drain(&mut link), vec![with_address(&ppp(&frames, 32))]);
    link.handle_frame(now, &ppp(&frames, 31), &secrets);
    assert_eq!(drain(&mut link), vec![with_address(&ppp(&frames, 34))]);
    link.handle_frame(now, &ppp(&frames, 33), &secrets);
    let Some(Event::MppeKeys {
        send,
        recv,
        strength: MppeStrength::Bits128,
        stateless: true,
    }) = link.poll_event()
    else {
        panic!("no MPPE-128 stateless keys");
    };
    assert_eq!((send, recv), (SERVER_SEND_KEY, SERVER_RECV_KEY));

    // IPCP. Our server asks for no VJ compression, unlike poptop (frame 36), so the captured
    // client frames do not all answer ours: frame 35 gets VJ rejected, frame 42 acks poptop's
    // request and is ignored, and the client's replies to *our* requests are synthesised.
    drain(&mut link);
    link.handle_frame(now, &ppp(&frames, 35), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0401000a 0206002d0f01").to_vec()]
    );
    link.handle_frame(now, &ppp(&frames, 42), &secrets);
    assert!(drain(&mut link).is_empty());
    // Synthetic: the client acks our request, then asks for 0.0.0.0 without VJ, gets the Nak
    // with its address, and asks for that.
    link.handle_frame(now, &hex!("ff03 8021 0201000a 0306c0a80001"), &secrets);
    link.handle_frame(now, &hex!("ff03 8021 0103000a 030600000000"), &secrets);
    assert_eq!(
        drain(&mut link),
        vec![hex!("ff03 8021 0303000a 0306c0a800ea").to_vec()]
    );
    link.handle_frame(now, &hex!("ff03 8021 0104000a 0306c0a800ea"), &secrets);
    drain(&mut link);
    assert_eq!(
        link.poll_event(),
        Some(Event::LinkUp {
            local: SERVER_PPP,
            peer: CLIENT_PPP,
            dns: [None, None]
        })
    );

    // The data: decryptors from the keys the link handed out, one per direction.
    let config = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };
    let mut from_server = MppeDecryptor::new(&send, config);
    let mut from_client = MppeDecryptor::new(&recv, config);
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    for number in [44, 47, 49, 50, 52, 53, 55, 56] {
        let Some(Captured::Gre {
            from_client: up, ..
        }) = &frames[number]
        else {
            panic!("frame {number}");
        };
        let frame = ppp(&frames, number);
        let (protocol, payload) = PppFrame::decode(&frame).unwrap();
        assert_eq!(protocol, Protocol::COMPRESSED, "frame {number}");
        let mut packet = payload.to_vec();
        let decryptor = if *up {
            &mut from_client
        } else {
            &mut from_server
        };
        let plain = decryptor.decrypt(&mut packet).unwrap().to_vec();
        match number {
            // The first packet each way is IPv6 (router solicitation and friends).
            44 | 47 => {
                assert_eq!(plain[..2], [0x00, 0x57], "frame {number}: IPv6");
                assert_eq!(plain[2] >> 4, 6);
            }
            _ => {
                assert_eq!(plain[..2], [0x00, 0x21], "frame {number}: IPv4");
                let echo = assert_icmp_echo(&plain[2..], *up);
                if *up {
                    requests.push(echo);
                } else {
                    replies.push(echo);
                }
            }
        }
    }
    assert_eq!(requests.len(), 3);
    assert_eq!(requests, replies, "each reply answers its request");
}

#[test]
fn our_client_session_answers_the_captured_server_like_pptp_linux() {
    let frames = capture();
    let now = Instant::now();
    // Our IPCP asks for DNS servers too (as Windows does; the captured pppd did not), so the
    // IPCP exchange below is synthesised where it differs.
    let config = SessionConfig::new("root", "123456");
    let rng = ScriptedRng::new(&[&CLIENT_MAGIC, &PEER_CHALLENGE]);
    let mut session = ClientSession::new(config, CallId(27020), now, rng);

    // The control connection: our SCCRQ and OCRQ are pptp-linux's, byte for byte.
    session.open(now);
    assert_eq!(
        session.poll_control_transmit(),
        Some(control_message(&frames, 9))
    );
    session.handle_control_bytes(now, &control_message(&frames, 11));
    assert_eq!(
        session.poll_control_transmit(),
        Some(control_message(&frames, 20))
    );
    session.handle_control_bytes(now, &control_message(&frames, 21));
    assert_eq!(
        session.poll_event(),
        Some(SessionEvent::CallEstablished {
            call_id: CallId(27020),
            peer_call_id: CallId(0)
        })
    );
    // Our first GRE packet is frame 23 whole: sequence number 1, Key = poptop's Call ID 0.
    assert_eq!(session.poll_gre_transmit(), Some(gre(&frames, 23)));

    // The server's PPP frames, re-framed in GRE with their own sequence numbers (some of the
    // exchange below is synthetic, so the captured numbers cannot be kept).
    let mut server = CapturedServer::default();
    let mut feed =
        |session: &mut ClientSession<ScriptedRng>, frame: &[u8]| server.feed(session, now, frame);
    // LCP, MS-CHAPv2 and CCP: pptp-linux's frames (with FF 03 where pppd had left it out).
    feed(&mut session, &ppp(&frames, 24));
    assert_eq!(server_sent(&mut session), vec![ppp(&frames, 25)]);
    feed(&mut session, &ppp(&frames, 26));
    feed(&mut session, &ppp(&frames, 27));
    assert_eq!(
        server_sent(&mut session),
        vec![with_address(&ppp(&frames, 29))]
    );
    feed(&mut session, &ppp(&frames, 30));
    assert_eq!(
        server_sent(&mut session),
        vec![with_address(&ppp(&frames, 31))]
    );
    feed(&mut session, &ppp(&frames, 32));
    assert_eq!(
        server_sent(&mut session),
        vec![with_address(&ppp(&frames, 33))]
    );
    feed(&mut session, &ppp(&frames, 34));
    assert_eq!(
        server_sent(&mut session),
        vec![hex!("ff03 8021 01010016 030600000000 810600000000 830600000000").to_vec()]
    );

    // IPCP: poptop's request (frame 36) gets VJ rejected; its Nak (frame 39) gives us
    // 192.168.0.234. Synthetic from there: poptop rejects the DNS options, acks our address,
    // and asks again without VJ; we ack.
    feed(&mut session, &ppp(&frames, 36));
    assert_eq!(
        server_sent(&mut session),
        vec![hex!("ff03 8021 0401000a 0206002d0f01").to_vec()]
    );
    feed(&mut session, &ppp(&frames, 39));
    feed(
        &mut session,
        &hex!("ff03 8021 04020010 810600000000 830600000000"),
    );
    feed(&mut session, &hex!("ff03 8021 0203000a 0306c0a800ea"));
    feed(&mut session, &hex!("ff03 8021 0102000a 0306c0a80001"));
    let up = std::iter::from_fn(|| session.poll_event()).find_map(|event| match event {
        SessionEvent::Up(info) => Some(info),
        _ => None,
    });
    let info = up.expect("the link is up");
    assert_eq!(
        (info.local, info.peer, info.mtu),
        (CLIENT_PPP, SERVER_PPP, 1496)
    );
    server_sent(&mut session);

    // The server's data: frame 44 (IPv6, coherency count 0) is decrypted but not delivered;
    // frames 50, 53 and 56 are the echo replies.
    assert_eq!(feed(&mut session, &ppp(&frames, 44)), None);
    for number in [50, 53, 56] {
        let reply = feed(&mut session, &ppp(&frames, number)).expect("delivered");
        assert_icmp_echo(&reply, false);
    }
    assert_eq!(session.stats().ip_received, 3);

    // What we send can be read with the server's receive key of the capture.
    let mut request = ppp(&frames, 49);
    let mut from_client = MppeDecryptor::new(
        &SERVER_RECV_KEY,
        MppeConfig {
            strength: MppeStrength::Bits128,
            stateless: true,
        },
    );
    // The captured request's plaintext: decrypt frame 47 (count 0) and 49 (count 1).
    let frame_47 = ppp(&frames, 47);
    let (_, ipv6) = PppFrame::decode(&frame_47).unwrap();
    from_client.decrypt(&mut ipv6.to_vec()).unwrap();
    let (_, payload) = PppFrame::decode(&request).unwrap();
    let mut payload = payload.to_vec();
    let plain = from_client.decrypt(&mut payload).unwrap()[2..].to_vec();
    let mut out = Vec::new();
    session.encapsulate_ip(&plain, &mut out).unwrap();
    let (_, frame) = GreHeader::parse_packet(&out).unwrap();
    let (protocol, mppe) = PppFrame::decode(frame).unwrap();
    assert_eq!(protocol, Protocol::COMPRESSED);
    request = mppe.to_vec();
    let mut ours = MppeDecryptor::new(
        &SERVER_RECV_KEY,
        MppeConfig {
            strength: MppeStrength::Bits128,
            stateless: true,
        },
    );
    let decrypted = ours.decrypt(&mut request).unwrap();
    assert_eq!(&decrypted[..2], [0x00, 0x21]);
    assert_eq!(&decrypted[2..], &plain[..]);
}
