//! Shared test helpers: a scripted RNG, a minimal pcap/GRE reader for the fixture capture, and
//! drivers for links.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Instant;

use ppp_core::{Event, Link, Secrets};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_core::RngCore;

/// An RNG that first yields the scripted bytes (in `fill_bytes` order), then ChaCha8 output.
pub struct ScriptedRng {
    script: VecDeque<u8>,
    fallback: ChaCha8Rng,
}

impl ScriptedRng {
    pub fn new(script: &[&[u8]]) -> Self {
        ScriptedRng {
            script: script
                .iter()
                .flat_map(|part| part.iter().copied())
                .collect(),
            fallback: ChaCha8Rng::seed_from_u64(7),
        }
    }

    /// Scripted bytes not drawn yet.
    pub fn remaining(&self) -> usize {
        self.script.len()
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

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = match self.script.pop_front() {
                Some(scripted) => scripted,
                None => {
                    let mut one = [0u8; 1];
                    self.fallback.fill_bytes(&mut one);
                    one[0]
                }
            };
        }
    }
}

/// A seeded ChaCha8 RNG.
pub fn seeded(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// One PPP frame from the capture.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// Frame number as tshark prints it (1-based).
    pub number: usize,
    /// Sent by the client (10.100.100.2).
    pub from_client: bool,
    /// The GRE payload: a PPP frame (empty for acknowledgement-only GRE packets).
    pub ppp: Vec<u8>,
}

pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap")
}

fn u16_be(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

/// Every GRE packet of the capture with its PPP payload (little-endian pcap, Ethernet, IPv4,
/// enhanced GRE of RFC 2637 §4.1).
pub fn captured_frames() -> Vec<CapturedFrame> {
    let data = std::fs::read(fixture_path()).expect("fixture capture is readable");
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut frames = Vec::new();
    let mut offset = 24;
    let mut number = 0;
    while offset + 16 <= data.len() {
        let captured =
            u32::from_le_bytes(data[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let packet = &data[offset + 16..offset + 16 + captured];
        offset += 16 + captured;
        number += 1;
        if packet[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &packet[14..];
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 47 {
            continue;
        }
        let from_client = ip[12..16] == [10, 100, 100, 2];
        let gre = &ip[header_len..];
        let mut gre_len = 8;
        if gre[0] & 0x10 != 0 {
            gre_len += 4;
        }
        if gre[1] & 0x80 != 0 {
            gre_len += 4;
        }
        let payload_len = u16_be(gre, 4);
        frames.push(CapturedFrame {
            number,
            from_client,
            ppp: gre[gre_len..gre_len + payload_len].to_vec(),
        });
    }
    frames
}

/// The capture's frame `number`.
pub fn captured(number: usize) -> Vec<u8> {
    captured_frames()
        .into_iter()
        .find(|frame| frame.number == number)
        .unwrap_or_else(|| panic!("frame {number} is a GRE frame of the capture"))
        .ppp
}

/// `FF 03` + a frame that the capture shows with compressed address and control fields.
pub fn with_address(frame: &[u8]) -> Vec<u8> {
    if frame.starts_with(&[0xff, 0x03]) {
        frame.to_vec()
    } else {
        [&[0xff, 0x03][..], frame].concat()
    }
}

/// Everything the link wants to send right now.
pub fn drain<R: RngCore>(link: &mut Link<R>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| link.poll_transmit()).collect()
}

/// Every pending event.
pub fn events<R: RngCore>(link: &mut Link<R>) -> Vec<Event> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

/// Secrets with one user.
pub struct OneUser {
    pub user: &'static [u8],
    pub password: &'static str,
}

impl Secrets for OneUser {
    fn password_hash(&self, user: &[u8]) -> Option<[u8; 16]> {
        (user == self.user).then(|| mschap::nt_password_hash(self.password))
    }
}

/// No users at all.
pub fn no_secrets(_user: &[u8]) -> Option<[u8; 16]> {
    None
}

pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 234);

/// A fixed start instant for simulated clocks.
pub fn epoch() -> Instant {
    Instant::now()
}
