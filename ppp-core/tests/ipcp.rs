//! IPCP option handling (RFC 1332, RFC 1877), server and client side.

mod common;

use std::net::Ipv4Addr;

use common::*;
use hex_literal::hex;
use ppp_core::fsm::{FsmOptions, RequestVerdict};
use ppp_core::ipcp::{IpcpOption, IpcpOptions, IpcpRole};
use ppp_core::packet::parse_options;

const DNS1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 53);
const WINS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 137);

fn server(dns: [Option<Ipv4Addr>; 2], nbns: [Option<Ipv4Addr>; 2]) -> IpcpOptions {
    IpcpOptions::new(IpcpRole::Server {
        local: LOCAL,
        peer: PEER,
        dns,
        nbns,
    })
}

fn judge(options: &mut IpcpOptions, request: &[u8]) -> RequestVerdict {
    options.handle_request(request, false, &mut seeded(1))
}

#[test]
fn server_requests_only_its_address() {
    let mut options = server([None; 2], [None; 2]);
    let mut request = Vec::new();
    options.build_request(&mut seeded(1), &mut request);
    assert_eq!(request, hex!("0306c0a80001"));
}

#[test]
fn zero_address_is_naked_to_the_assigned_one() {
    let mut options = server([None; 2], [None; 2]);
    assert_eq!(
        judge(&mut options, &hex!("030600000000")),
        RequestVerdict::Nak(hex!("0306c0a800ea").to_vec())
    );
    // Any other address too: the peer gets the one we assigned.
    assert_eq!(
        judge(&mut options, &hex!("03060a000001")),
        RequestVerdict::Nak(hex!("0306c0a800ea").to_vec())
    );
    assert_eq!(
        judge(&mut options, &hex!("0306c0a800ea")),
        RequestVerdict::Ack
    );
    assert_eq!(options.peer_address(), Some(PEER));
}

#[test]
fn dns_and_nbns_are_naked_to_configured_values() {
    let mut options = server([Some(DNS1), Some(DNS2)], [Some(WINS), None]);
    // A Windows request: address, DNS, WINS, secondary DNS, secondary WINS, all zero.
    let request = hex!("030600000000 810600000000 820600000000 830600000000 840600000000");
    assert_eq!(
        judge(&mut options, &request),
        // Secondary WINS is not configured: rejected, and a Reject carries only rejects.
        RequestVerdict::Reject(hex!("840600000000").to_vec())
    );
    let request = hex!("030600000000 810600000000 820600000000 830600000000");
    assert_eq!(
        judge(&mut options, &request),
        RequestVerdict::Nak(hex!("0306c0a800ea 81060a000035 82060a000089 83060a000135").to_vec())
    );
    let request = hex!("0306c0a800ea 81060a000035 82060a000089 83060a000135");
    assert_eq!(judge(&mut options, &request), RequestVerdict::Ack);
}

#[test]
fn unconfigured_dns_vj_and_ip_addresses_are_rejected() {
    let mut options = server([None; 2], [None; 2]);
    let request = hex!("0206002d0f01 030600000000 810600000000 010a0000000000000000");
    assert_eq!(
        judge(&mut options, &request),
        RequestVerdict::Reject(hex!("0206002d0f01 810600000000 010a0000000000000000").to_vec())
    );
    // Unknown types and bad lengths are rejected as received.
    assert_eq!(
        judge(&mut options, &hex!("9003ff 0305c0a800")),
        RequestVerdict::Reject(hex!("9003ff 0305c0a800").to_vec())
    );
}

#[test]
fn a_peer_that_asks_no_address_is_told_its_address_once() {
    let mut options = server([None; 2], [None; 2]);
    assert_eq!(
        judge(&mut options, &[]),
        RequestVerdict::Nak(hex!("0306c0a800ea").to_vec())
    );
    assert_eq!(judge(&mut options, &[]), RequestVerdict::Ack);
}

#[test]
fn max_failure_turns_the_address_nak_into_a_reject() {
    let mut options = server([None; 2], [None; 2]);
    assert_eq!(
        options.handle_request(&hex!("030600000000"), true, &mut seeded(1)),
        RequestVerdict::Reject(hex!("030600000000").to_vec())
    );
}

#[test]
fn server_keeps_its_address_when_naked() {
    let mut options = server([None; 2], [None; 2]);
    let mut rng = seeded(1);
    assert!(options.handle_nak(&hex!("03060a000001"), false, &mut rng));
    let mut request = Vec::new();
    options.build_request(&mut rng, &mut request);
    assert_eq!(request, hex!("0306c0a80001"));
}

#[test]
fn client_asks_zero_and_dns_then_takes_the_naked_values() {
    let mut options = IpcpOptions::new(IpcpRole::Client);
    let mut rng = seeded(1);
    let mut request = Vec::new();
    options.build_request(&mut rng, &mut request);
    assert_eq!(request, hex!("030600000000 810600000000 830600000000"));
    assert!(options.handle_nak(&hex!("0306c0a800ea 81060a000035"), false, &mut rng));
    // The server rejects the secondary DNS.
    assert!(options.handle_reject(&hex!("830600000000")));
    let mut request = Vec::new();
    options.build_request(&mut rng, &mut request);
    assert_eq!(request, hex!("0306c0a800ea 81060a000035"));
    options.handle_ack(&request);
    assert_eq!(options.local_address(), Some(PEER));
    assert_eq!(options.dns(), [Some(DNS1), None]);
    // The server's own request: its address is acked, VJ rejected.
    assert_eq!(
        options.handle_request(&hex!("0206002d0f01 0306c0a80001"), false, &mut rng),
        RequestVerdict::Reject(hex!("0206002d0f01").to_vec())
    );
    assert_eq!(
        options.handle_request(&hex!("0306c0a80001"), false, &mut rng),
        RequestVerdict::Ack
    );
    assert_eq!(options.peer_address(), Some(LOCAL));
}

#[test]
fn typed_options_round_trip() {
    let options = [
        IpcpOption::IpAddresses(LOCAL, PEER),
        IpcpOption::Compression {
            protocol: 0x002d,
            data: &[0x0f, 0x01],
        },
        IpcpOption::IpAddress(PEER),
        IpcpOption::PrimaryDns(DNS1),
        IpcpOption::PrimaryNbns(WINS),
        IpcpOption::SecondaryDns(DNS2),
        IpcpOption::SecondaryNbns(WINS),
    ];
    let mut encoded = Vec::new();
    for option in &options {
        option.encode(&mut encoded);
    }
    let parsed: Vec<_> = parse_options(&encoded)
        .unwrap()
        .iter()
        .map(|option| IpcpOption::parse(option).unwrap())
        .collect();
    assert_eq!(parsed, options);
}
