//! The real exchange in `shared/fixtures/poptop-pptp-linux-mschapv2-mppe128.pcap`: a poptop
//! pptpd with pppd 2.4.9 server and a pptp-linux with pppd client, both on Linux 6.1
//! `ppp_mppe`; user "root", password "123456", MS-CHAPv2 then 128-bit stateless MPPE.
//!
//! The byte strings below were extracted from the capture (GRE payloads, PPP with ACFC/PFC so the
//! protocol is the single byte `FD`; what follows it is the MPPE packet: header + ciphertext).

use hex_literal::hex;
use mschap::{
    KeyRole, MppeConfig, MppeDecryptor, MppeEncryptor, MppeStrength, authenticator_response,
    failure_message, nt_password_hash, start_keys, success_message, verify_authenticator_response,
    verify_nt_response,
};

const USER_NAME: &[u8] = b"root";
const PASSWORD: &str = "123456";
/// Frame 27, CHAP Challenge value (name "pptpd").
const AUTHENTICATOR_CHALLENGE: [u8; 16] = hex!("c8197cc8a3afa2abe302902be73a8990");
/// Frame 29, CHAP Response value: peer challenge, 8 reserved zero bytes, NT-Response, flags 0.
const RESPONSE_VALUE: [u8; 49] = hex!(
    "80f2e5f061cfd051c5ea7e09bbf7fccf" "0000000000000000"
    "2dabe7d546f99fd7f263860dae4d26a53275f1b640857e07" "00"
);
/// Frame 30, CHAP Success message.
const SUCCESS_MESSAGE: &[u8] = b"S=47CCA3ABCFD84302B4FA8B588317A93A746EEE56 M=Access granted";
/// The capture README's derived keys.
const SERVER_SEND_START_KEY: [u8; 16] = hex!("855a5718ed3c745cb819b80fbda807e8");
const SERVER_RECV_START_KEY: [u8; 16] = hex!("dfba1760c6137d9e399600038be96236");

/// Frame 44, server -> client, coherency count 0 (an ICMPv6 packet).
const FRAME_44: [u8; 52] = hex!(
    "9000783e61b3642a36dae71795ccd0e021a58b408e133c0f59f71c3a2a93a326"
    "3b2f0e22b42feb6b452b36b402be069250f45421"
);
/// Frame 47, client -> server, coherency count 0 (an ICMPv6 packet).
const FRAME_47: [u8; 52] = hex!(
    "900048d73d1e760c3675e3da146c20ab80227642472cb7242ddd1e9da09428db"
    "1be33b32f9e639732bb4e9295cd33ddbb592a185"
);
/// Frame 49, client -> server, count 1: ICMP echo request 192.168.0.234 -> 192.168.0.1.
const FRAME_49: [u8; 88] = hex!(
    "90014b59e83556f819fa31ef10de33a91691ec55021b6526bfaca4eae4b2dfb2"
    "12fd6ed4d76952d3ea3591d6320ec2763687e17f3391ea6f4fc0442904f06f6d"
    "e1862892213efa9d0bb8f69b234cd33238f9939c807fc883"
);
/// Frame 50, server -> client, count 1: the echo reply.
const FRAME_50: [u8; 88] = hex!(
    "9001c59dc91c11c833fd498be15af621a511a32fbe3c72d80c59183097c4573b"
    "6d019353c74f775c74601a7ac587d60846c9491e0e0b092bbd69104a27906dc8"
    "89ef6c2c0e2bff94b7ea9ef086a40ce838270b73af7feefd"
);
/// Frame 52, client -> server, count 2.
const FRAME_52: [u8; 88] = hex!(
    "90029d309f569fef0f415cb7a776c0f2afeceaa129f9945a6573482d0647f01c"
    "b2327c3c6bb4a81067922b71e22ccc34164684449a581183fde825b0731c3814"
    "e9d75909f3c199b65bba6e8a903f8cdb5b5a34e5cb5547a6"
);
/// Frame 53, server -> client, count 2.
const FRAME_53: [u8; 88] = hex!(
    "90020940bf56564b992cf9164a5fcd32e57df0435b311201147fd28dae74fbee"
    "5f41206167a24ced6516faa1e25f99a146cd3f5e113fc252b2b2810c4117ca8f"
    "c6ef59f270f81d783be688d7f73558e90fa7abbb84225d23"
);
/// Frame 55, client -> server, count 3.
const FRAME_55: [u8; 88] = hex!(
    "90039778b5d7ac08651e5a92c46fd3945947cc4d526954e7f80d749022d05b8d"
    "b6033f1cce8eec1f0b7ca2ecdee9b4a5b4a872b4d2fc3373204027cd9e8ce89a"
    "6da628c7157a7b63120d4d206197651dfecd1939cfd286db"
);
/// Frame 56, server -> client, count 3.
const FRAME_56: [u8; 88] = hex!(
    "9003d74be1539b9e8fb0277f807cbaddbce61e8cf8ceba84123a83026c9ec7dc"
    "d5543831c67e8c378b5124ac3bd4e753e2fc90dfd418476873119500efda1052"
    "be7aa85f7b18819f723365ed3f9fa51ff56654c7a881aed6"
);

const STATELESS_128: MppeConfig = MppeConfig {
    strength: MppeStrength::Bits128,
    stateless: true,
};

fn peer_challenge() -> [u8; 16] {
    RESPONSE_VALUE[..16].try_into().unwrap()
}

fn nt_response() -> [u8; 24] {
    RESPONSE_VALUE[24..48].try_into().unwrap()
}

/// The RFC 1071 Internet checksum over `bytes` (0 when a stored checksum is included and right).
fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checks that `plaintext` is PPP protocol 0x0021 + an IPv4 ICMP echo of `icmp_type` from
/// `source` to `destination`, with valid IPv4 header and ICMP checksums.
fn assert_icmp_echo(plaintext: &[u8], icmp_type: u8, source: [u8; 4], destination: [u8; 4]) {
    assert_eq!(
        plaintext[..6],
        hex!("0021 4500 0054"),
        "PPP IPv4, IHL 5, total length 84"
    );
    let ip = &plaintext[2..];
    assert_eq!(ip.len(), 84);
    assert_eq!(ip[9], 1, "IPv4 protocol ICMP");
    assert_eq!(internet_checksum(&ip[..20]), 0, "IPv4 header checksum");
    assert_eq!(ip[12..16], source);
    assert_eq!(ip[16..20], destination);
    let icmp = &ip[20..];
    assert_eq!(icmp[0], icmp_type, "ICMP type");
    assert_eq!(icmp[1], 0, "ICMP code");
    assert_eq!(internet_checksum(icmp), 0, "ICMP checksum");
}

const CLIENT_IP: [u8; 4] = [192, 168, 0, 234];
const SERVER_IP: [u8; 4] = [192, 168, 0, 1];

#[test]
fn nt_response_of_the_capture_is_valid_for_the_password() {
    let password_hash = nt_password_hash(PASSWORD);
    assert!(verify_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &peer_challenge(),
        USER_NAME,
        &password_hash,
        &nt_response()
    ));
    let wrong = nt_password_hash("1234567");
    assert!(!verify_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &peer_challenge(),
        USER_NAME,
        &wrong,
        &nt_response()
    ));
}

#[test]
fn success_message_matches_frame_30_byte_for_byte() {
    let password_hash = nt_password_hash(PASSWORD);
    let value = authenticator_response(
        &password_hash,
        &nt_response(),
        &peer_challenge(),
        &AUTHENTICATOR_CHALLENGE,
        USER_NAME,
    );
    assert_eq!(success_message(&value).as_bytes(), SUCCESS_MESSAGE);
    assert!(verify_authenticator_response(&value, SUCCESS_MESSAGE));
}

/// What pppd would have sent for a wrong password: its `%0.*B` prints the challenge in
/// lowercase hex.
#[test]
fn failure_message_is_formatted_as_pppd_does() {
    assert_eq!(
        failure_message(&AUTHENTICATOR_CHALLENGE),
        "E=691 R=1 C=c8197cc8a3afa2abe302902be73a8990 V=0 M=Access denied"
    );
}

#[test]
fn start_keys_match_the_capture() {
    let password_hash = nt_password_hash(PASSWORD);
    let server = start_keys(KeyRole::Server, &password_hash, &nt_response());
    assert_eq!(server.send, SERVER_SEND_START_KEY);
    assert_eq!(server.recv, SERVER_RECV_START_KEY);
    let client = start_keys(KeyRole::Client, &password_hash, &nt_response());
    assert_eq!(client.send, SERVER_RECV_START_KEY);
    assert_eq!(client.recv, SERVER_SEND_START_KEY);
}

#[test]
fn server_decrypts_the_client_packets() {
    let mut decryptor = MppeDecryptor::new(&SERVER_RECV_START_KEY, STATELESS_128);
    let mut frame = FRAME_47;
    let plaintext = decryptor.decrypt(&mut frame).unwrap();
    assert_eq!(plaintext[..3], hex!("0057 60"), "PPP IPv6, version 6");
    for packet in [FRAME_49, FRAME_52, FRAME_55] {
        let mut frame = packet;
        let plaintext = decryptor.decrypt(&mut frame).unwrap();
        assert_icmp_echo(plaintext, 8, CLIENT_IP, SERVER_IP);
    }
}

#[test]
fn client_decrypts_the_server_packets() {
    let mut decryptor = MppeDecryptor::new(&SERVER_SEND_START_KEY, STATELESS_128);
    let mut frame = FRAME_44;
    let plaintext = decryptor.decrypt(&mut frame).unwrap();
    assert_eq!(plaintext[..3], hex!("0057 60"), "PPP IPv6, version 6");
    for packet in [FRAME_50, FRAME_53, FRAME_56] {
        let mut frame = packet;
        let plaintext = decryptor.decrypt(&mut frame).unwrap();
        assert_icmp_echo(plaintext, 0, SERVER_IP, CLIENT_IP);
    }
}

/// Our encryptor, given the plaintexts, reproduces the server's packets bit for bit (header and
/// ciphertext), so Linux `ppp_mppe` on the client accepts what we send.
#[test]
fn server_encryptor_reproduces_the_captured_packets() {
    let mut decryptor = MppeDecryptor::new(&SERVER_SEND_START_KEY, STATELESS_128);
    let mut encryptor = MppeEncryptor::new(&SERVER_SEND_START_KEY, STATELESS_128);
    for captured in [&FRAME_44[..], &FRAME_50, &FRAME_53, &FRAME_56] {
        let mut packet = captured.to_vec();
        let plaintext = decryptor.decrypt(&mut packet).unwrap().to_vec();
        let mut payload = plaintext.clone();
        let header = encryptor.encrypt(&mut payload);
        assert_eq!(header, captured[..2]);
        assert_eq!(payload, captured[2..]);
    }
    assert_eq!(encryptor.coherency_count(), 4);
}

/// A receiver that missed frames 49 and 52 rekeys for the skipped counts and decrypts frame 55.
#[test]
fn skipped_captured_packets_are_caught_up() {
    let mut decryptor = MppeDecryptor::new(&SERVER_RECV_START_KEY, STATELESS_128);
    let mut frame = FRAME_55;
    let plaintext = decryptor.decrypt(&mut frame).unwrap();
    assert_icmp_echo(plaintext, 8, CLIENT_IP, SERVER_IP);
    assert_eq!(decryptor.expected_coherency_count(), 4);
}
