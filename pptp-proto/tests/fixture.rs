//! The fixture capture, read packet by packet: poptop pptpd + pppd talking to pptp-linux
//! (`tests/data/`, a copy of `shared/fixtures/poptop-pptp-linux-mschapv2-mppe128.pcap`).
//!
//! Every control message and every GRE packet in it must parse; the control messages must
//! re-encode to the same bytes; our server, fed pptp-linux's messages, must answer with poptop's
//! bytes; and the GRE sequence and acknowledgement numbers must be what our bookkeeping expects.

use std::fs::File;
use std::net::Ipv4Addr;
use std::time::Instant;

use pcap_file::pcap::PcapReader;
use pptp_proto::connection::{ControlConnection, ControlEvent, ServerConfig};
use pptp_proto::control::{
    BearerCapabilities, ControlMessage, FramingCapabilities, MessageType, frame_len,
};
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender, Ipv4Envelope, SequenceVerdict};
use pptp_proto::{CallId, GreError};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 100, 100, 1);

/// One IPv4 packet of the capture that matters here.
enum Packet {
    /// The TCP payload of a segment on port 1723.
    Control { src: Ipv4Addr, payload: Vec<u8> },
    /// A GRE packet.
    Gre {
        src: Ipv4Addr,
        header: GreHeader,
        payload_len: usize,
    },
}

/// Reads the capture: Ethernet, IPv4, then TCP port 1723 or GRE.
fn packets() -> Vec<Packet> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap"
    );
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        let frame = &packet.data[..];
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue; // not IPv4 (ARP, IPv6)
        }
        let datagram = &frame[14..];
        match Ipv4Envelope::parse(datagram) {
            Ok((envelope, _)) => {
                let gre = envelope.payload(datagram);
                let (header, payload) = GreHeader::parse_packet(gre).unwrap();
                out.push(Packet::Gre {
                    src: envelope.src,
                    header,
                    payload_len: payload.len(),
                });
            }
            Err(GreError::NotGre(6)) => {
                let header_len = usize::from(datagram[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
                let tcp = &datagram[header_len..total];
                let ports = [
                    u16::from_be_bytes([tcp[0], tcp[1]]),
                    u16::from_be_bytes([tcp[2], tcp[3]]),
                ];
                let data_offset = usize::from(tcp[12] >> 4) * 4;
                let payload = &tcp[data_offset..];
                if ports.contains(&1723) && !payload.is_empty() {
                    let src = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
                    out.push(Packet::Control {
                        src,
                        payload: payload.to_vec(),
                    });
                }
            }
            Err(other) => panic!("unexpected IPv4 packet: {other}"),
        }
    }
    out
}

/// The control messages, framed out of each direction's TCP payloads.
fn control_messages() -> Vec<(Ipv4Addr, Vec<u8>)> {
    let mut messages = Vec::new();
    for packet in packets() {
        let Packet::Control { src, payload } = packet else {
            continue;
        };
        let mut rest = &payload[..];
        while let Some(len) = frame_len(rest).unwrap() {
            messages.push((src, rest[..len].to_vec()));
            rest = &rest[len..];
        }
        assert!(rest.is_empty(), "one TCP segment, whole messages");
    }
    messages
}

#[test]
fn every_control_message_decodes_and_re_encodes_byte_for_byte() {
    let messages = control_messages();
    let types: Vec<(Ipv4Addr, MessageType)> = messages
        .iter()
        .map(|(src, bytes)| (*src, ControlMessage::decode(bytes).unwrap().message_type()))
        .collect();
    assert_eq!(
        types,
        vec![
            (CLIENT, MessageType::StartControlConnectionRequest),
            (SERVER, MessageType::StartControlConnectionReply),
            (CLIENT, MessageType::OutgoingCallRequest),
            (SERVER, MessageType::OutgoingCallReply),
        ]
    );
    for (_, bytes) in &messages {
        assert_eq!(&ControlMessage::decode(bytes).unwrap().to_bytes(), bytes);
    }
}

#[test]
fn our_server_answers_pptp_linux_with_poptops_bytes() {
    // Configured as poptop 1.4 is: host "local", vendor "linux", capabilities sent as 0 (its
    // htons() bug), one channel, firmware 1; the client's window echoed (3).
    let config = ServerConfig {
        host_name: b"local".to_vec(),
        vendor: b"linux".to_vec(),
        framing_capabilities: FramingCapabilities(0),
        bearer_capabilities: BearerCapabilities(0),
        maximum_channels: 1,
        firmware_revision: 1,
        recv_window: 3,
        ..ServerConfig::default()
    };
    let now = Instant::now();
    let mut server = ControlConnection::server(config, now);
    for (src, bytes) in control_messages() {
        if src == CLIENT {
            server.handle_bytes(now, &bytes).unwrap();
            while let Some(event) = server.poll_event() {
                if let ControlEvent::CallRequested { peer_call_id, .. } = event {
                    assert_eq!(peer_call_id, CallId(27020));
                    server.answer_call(now, peer_call_id, CallId(0)).unwrap();
                }
            }
        } else {
            let ours = server.poll_transmit().expect("a reply from our server");
            assert_eq!(ours.to_bytes(), bytes, "{:?}", ours.message_type());
        }
    }
    assert_eq!(server.poll_transmit(), None);
}

#[test]
fn every_gre_packet_parses_with_the_right_call_id() {
    let gre: Vec<(Ipv4Addr, GreHeader, usize)> = packets()
        .into_iter()
        .filter_map(|packet| match packet {
            Packet::Gre {
                src,
                header,
                payload_len,
            } => Some((src, header, payload_len)),
            Packet::Control { .. } => None,
        })
        .collect();
    assert_eq!(gre.len(), 34);
    for (src, header, payload_len) in &gre {
        // The Key carries the receiver's Call ID: the client's is 27020, poptop's is 0.
        let expected = if *src == CLIENT {
            CallId(0)
        } else {
            CallId(27020)
        };
        assert_eq!(header.call_id, expected);
        assert_eq!(usize::from(header.payload_len), *payload_len);
        if header.seq.is_none() {
            assert_eq!(*payload_len, 0, "acknowledgement-only");
        }
    }
    let ack_only = gre.iter().filter(|(_, h, _)| h.seq.is_none()).count();
    assert_eq!(ack_only, 5, "frames 28, 38, 48, 51, 54");
}

#[test]
fn sequence_numbers_follow_each_stacks_habit_and_acks_are_valid() {
    // poptop numbers from 0, pptp-linux from 1; each side's acks acknowledge only numbers the
    // other side sent, and nothing arrives late in this capture.
    let mut server_sender = GreSender::new();
    let mut client_sender = GreSender::starting_at(1);
    let mut at_server = GreReceiver::new();
    let mut at_client = GreReceiver::new();
    for packet in packets() {
        let Packet::Gre { src, header, .. } = packet else {
            continue;
        };
        let (sender, peer_sender, receiver) = if src == SERVER {
            (&mut server_sender, &mut client_sender, &mut at_client)
        } else {
            (&mut client_sender, &mut server_sender, &mut at_server)
        };
        if let Some(seq) = header.seq {
            assert_eq!(seq, sender.take_seq());
            assert_eq!(receiver.receive(seq), SequenceVerdict::Accept);
        }
        if let Some(ack) = header.ack {
            assert!(peer_sender.acknowledged(ack), "ack {ack} from {src}");
        }
    }
    assert_eq!(at_server.highest(), Some(14));
    assert_eq!(at_client.highest(), Some(14));
    assert_eq!(at_server.gaps() + at_client.gaps(), 0);
    assert_eq!(server_sender.peer_ack(), Some(13));
    assert_eq!(client_sender.peer_ack(), Some(14));
}
