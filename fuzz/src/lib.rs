//! Fuzz harnesses for pptpd-rs: one function per cargo-fuzz target, each taking the raw fuzz
//! input, driving one decoder or sans-IO state machine that reads bytes from the network
//! (RFC 2637 control messages and GRE, RFC 1661 PPP, RFC 3078 MPPE, the IP packets written to
//! the TUN device) or from an operator's file
//! (pptpd.conf, pppd options, chap-secrets), and asserting the invariants that must hold for
//! every input. A panic is a finding.
//!
//! The harnesses live here rather than in `fuzz_targets/` so that `cargo test` replays the
//! committed seeds (`seeds/<target>/`) through exactly the code the fuzzer runs, and so that the
//! seed generator (`examples/extract_seeds.rs`) writes inputs in the formats the harnesses read.
//!
//! Inputs of the state-machine targets are scripts: a sequence of one-byte operations, most of
//! them followed by a length-prefixed chunk (see [`input`]).

#![deny(unsafe_code)]

pub mod clock;
pub mod config;
pub mod control;
pub mod datapath;
pub mod fixture;
pub mod gre;
pub mod input;
pub mod mppe;
pub mod ppp;
pub mod seeds;
pub mod tun;

/// A harness: runs one fuzz input, panicking on a finding.
pub type Harness = fn(&[u8]);

/// Every fuzz target, by name, with its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("control_message", control::control_message),
    ("control_connection", control::control_connection),
    ("gre_datagram", gre::gre_datagram),
    ("ppp_frame", ppp::ppp_frame),
    ("ppp_link_server", ppp::ppp_link_server),
    ("ppp_link_client", ppp::ppp_link_client),
    ("mppe_decrypt", mppe::mppe_decrypt),
    ("mppe_roundtrip", mppe::mppe_roundtrip),
    ("datapath_session", datapath::datapath_session),
    ("tun_coalesce", tun::tun_coalesce),
    ("tun_read", tun::tun_read),
    ("config_pptpd_conf", config::pptpd_conf),
    ("config_ppp_options", config::ppp_options),
    ("config_chap_secrets", config::chap_secrets),
    ("config_address_list", config::address_list),
];

/// The harness of the target `name`.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|(_, run)| *run)
}
