//! Enhanced GRE header tests with packets of the fixture capture.

use super::*;
use hex_literal::hex;

/// Frame 23: pptp-linux's first data packet (LCP Configure-Request), S set, sequence 1, to
/// the server's Call ID 0.
const CLIENT_FIRST_PACKET: [u8; 36] = hex!(
    "3001880b 00180000 00000001"
    "ff03c021 01010014 02060000 00000506 622e65eb 07020802"
);

/// Frame 28: pptp-linux's acknowledgement-only packet (A set, S clear), acknowledging 2.
const CLIENT_ACK_ONLY: [u8; 12] = hex!("2081880b 00000000 00000002");

/// Frame 44: poptop's first MPPE packet, sequence 10 acknowledging 9, to Call ID 27020.
const SERVER_DATA_WITH_ACK: [u8; 69] = hex!(
    "3081880b 0035698c 0000000a 00000009"
    "fd900078 3e61b364 2a36dae7 1795ccd0 e021a58b 408e133c 0f59f71c 3a2a93a3"
    "263b2f0e 22b42feb 6b452b36 b402be06 9250f454 21"
);

#[test]
fn parses_a_data_packet_without_ack() {
    let (header, len) = GreHeader::parse(&CLIENT_FIRST_PACKET).unwrap();
    assert_eq!(header, GreHeader::data(CallId(0), 24, 1, None));
    assert_eq!(len, 12);
    assert_eq!(header.len(), 12);
    let (_, payload) = GreHeader::parse_packet(&CLIENT_FIRST_PACKET).unwrap();
    assert_eq!(payload, &CLIENT_FIRST_PACKET[12..]);
    assert_eq!(
        &payload[..4],
        &hex!("ff03c021"),
        "PPP LCP with address/control"
    );
}

#[test]
fn parses_an_ack_only_packet() {
    let (header, len) = GreHeader::parse(&CLIENT_ACK_ONLY).unwrap();
    assert_eq!(header, GreHeader::ack_only(CallId(0), 2));
    assert_eq!(len, 12);
    let (_, payload) = GreHeader::parse_packet(&CLIENT_ACK_ONLY).unwrap();
    assert!(payload.is_empty());
}

#[test]
fn parses_a_data_packet_with_ack() {
    let (header, len) = GreHeader::parse(&SERVER_DATA_WITH_ACK).unwrap();
    assert_eq!(header, GreHeader::data(CallId(27020), 53, 10, Some(9)));
    assert_eq!(len, 16);
    let (_, payload) = GreHeader::parse_packet(&SERVER_DATA_WITH_ACK).unwrap();
    assert_eq!(payload.len(), 53);
    assert_eq!(&payload[..2], &hex!("fd90"), "MPPE, coherency count 0x090");
}

#[test]
fn emit_reproduces_the_fixture_headers() {
    for packet in [
        &CLIENT_FIRST_PACKET[..],
        &CLIENT_ACK_ONLY[..],
        &SERVER_DATA_WITH_ACK[..],
    ] {
        let (header, len) = GreHeader::parse(packet).unwrap();
        let mut buf = [0u8; MAX_HEADER_LEN];
        assert_eq!(header.emit(&mut buf), Ok(len));
        assert_eq!(&buf[..len], &packet[..len]);
    }
}

#[test]
fn emit_needs_room_and_a_valid_header() {
    let header = GreHeader::data(CallId(1), 10, 0, Some(0));
    assert_eq!(
        header.emit(&mut [0u8; 15]),
        Err(GreError::BufferTooSmall {
            needed: 16,
            available: 15
        })
    );
    let empty = GreHeader {
        payload_len: 0,
        call_id: CallId(1),
        seq: None,
        ack: None,
    };
    assert_eq!(empty.emit(&mut [0u8; 16]), Err(GreError::Empty));
    let payload_without_seq = GreHeader {
        payload_len: 4,
        ..GreHeader::ack_only(CallId(1), 0)
    };
    assert_eq!(
        payload_without_seq.emit(&mut [0u8; 16]),
        Err(GreError::PayloadWithoutSequence)
    );
}

#[test]
fn rejects_every_forbidden_flag() {
    // (first octet, second octet, reported bits)
    for (first, second, bits) in [
        (0x80 | 0x30, 0x01, 0x8000), // C
        (0x40 | 0x30, 0x01, 0x4000), // R
        (0x08 | 0x30, 0x01, 0x0800), // s
        (0x01 | 0x30, 0x01, 0x0100), // Recur
        (0x04 | 0x30, 0x01, 0x0400), // Recur
        (0x30, 0x01 | 0x40, 0x0040), // Flags
        (0x30, 0x01 | 0x08, 0x0008), // Flags
    ] {
        let mut packet = CLIENT_FIRST_PACKET;
        packet[0] = first;
        packet[1] = second;
        assert_eq!(
            GreHeader::parse(&packet),
            Err(GreError::UnexpectedFlags(bits)),
            "{first:#x} {second:#x}"
        );
    }
}

#[test]
fn rejects_wrong_key_version_and_protocol() {
    let mut no_key = CLIENT_FIRST_PACKET;
    no_key[0] = 0x10;
    assert_eq!(GreHeader::parse(&no_key), Err(GreError::KeyAbsent));
    let mut plain_gre = CLIENT_FIRST_PACKET;
    plain_gre[1] = 0x00;
    assert_eq!(GreHeader::parse(&plain_gre), Err(GreError::BadVersion(0)));
    let mut ipv4_inside = CLIENT_FIRST_PACKET;
    ipv4_inside[2..4].copy_from_slice(&hex!("0800"));
    assert_eq!(
        GreHeader::parse(&ipv4_inside),
        Err(GreError::BadProtocol(0x0800))
    );
}

#[test]
fn never_trusts_the_payload_length() {
    assert_eq!(
        GreHeader::parse(&CLIENT_FIRST_PACKET[..35]),
        Err(GreError::PayloadTruncated {
            declared: 24,
            available: 23
        })
    );
    let mut huge = CLIENT_FIRST_PACKET;
    huge[4..6].copy_from_slice(&hex!("ffff"));
    assert_eq!(
        GreHeader::parse(&huge),
        Err(GreError::PayloadTruncated {
            declared: 0xffff,
            available: 24
        })
    );
    // Extra bytes after the payload are not part of it.
    let mut padded = CLIENT_FIRST_PACKET.to_vec();
    padded.extend_from_slice(&[0; 4]);
    let (_, payload) = GreHeader::parse_packet(&padded).unwrap();
    assert_eq!(payload.len(), 24);
}

#[test]
fn checks_the_header_length_for_the_bits_present() {
    assert_eq!(
        GreHeader::parse(&CLIENT_ACK_ONLY[..11]),
        Err(GreError::Truncated {
            needed: 12,
            available: 11
        })
    );
    assert_eq!(
        GreHeader::parse(&SERVER_DATA_WITH_ACK[..15]),
        Err(GreError::Truncated {
            needed: 16,
            available: 15
        })
    );
    assert_eq!(
        GreHeader::parse(&CLIENT_ACK_ONLY[..7]),
        Err(GreError::Truncated {
            needed: 8,
            available: 7
        })
    );
}

#[test]
fn ack_only_packets_carry_nothing_else() {
    let mut with_payload = CLIENT_ACK_ONLY.to_vec();
    with_payload[5] = 1;
    with_payload.push(0xff);
    assert_eq!(
        GreHeader::parse(&with_payload),
        Err(GreError::PayloadWithoutSequence)
    );
    let mut neither = CLIENT_ACK_ONLY;
    neither[1] = 0x01;
    assert_eq!(GreHeader::parse(&neither), Err(GreError::Empty));
}
