//! Limit (b): the MPPE crypto-bound rate of one core. Stateless 128-bit MPPE (RFC 3078 §7.1:
//! a new session key before every packet) is what pptp-linux and Windows negotiate, and what
//! the gateway does per packet at the very least: rekey (SHA-1 and two RC4 key schedules) and
//! RC4 over the PPP payload. Decryption costs the same (RC4 is symmetric and the receiver
//! rekeys once per packet too).

use std::time::{Duration, Instant};

use mschap::{MppeConfig, MppeEncryptor, MppeStrength};
use serde::Serialize;

/// Stateless 128-bit MPPE, as the benchmark's sessions negotiate it.
pub const STATELESS_128: MppeConfig = MppeConfig {
    strength: MppeStrength::Bits128,
    stateless: true,
};

/// The crypto-bound rate for one datagram size.
#[derive(Clone, Debug, Serialize)]
pub struct CryptoBound {
    /// IPv4 datagram size in bytes (the MPPE plaintext is 2 bytes more: the inner protocol).
    pub size: usize,
    /// Packets encrypted.
    pub packets: u64,
    /// Seconds they took.
    pub seconds: f64,
    /// Packets per second.
    pub pps: f64,
    /// Datagram megabits per second (size × 8 × pps).
    pub mbps: f64,
    /// Nanoseconds per packet.
    pub ns_per_packet: f64,
}

/// Encrypts `size`-byte datagrams for about `duration` on the calling thread (pin it first).
pub fn measure(size: usize, duration: Duration) -> CryptoBound {
    let mut encryptor = MppeEncryptor::new(&[0x5a; 16], STATELESS_128);
    let mut buffer = vec![0u8; size + 2];
    buffer[0] = 0x00;
    buffer[1] = 0x21;
    let start = Instant::now();
    let mut packets = 0u64;
    let mut sink = 0u8;
    loop {
        for _ in 0..256 {
            let header = encryptor.encrypt(&mut buffer);
            sink ^= header[1] ^ buffer[size / 2];
        }
        packets += 256;
        if start.elapsed() >= duration {
            break;
        }
    }
    std::hint::black_box(sink);
    let seconds = start.elapsed().as_secs_f64();
    let pps = packets as f64 / seconds;
    CryptoBound {
        size,
        packets,
        seconds,
        pps,
        mbps: pps * size as f64 * 8.0 / 1e6,
        ns_per_packet: 1e9 / pps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_something_plausible() {
        let bound = measure(64, Duration::from_millis(20));
        assert!(bound.packets >= 256);
        assert!(bound.pps > 0.0 && bound.ns_per_packet > 0.0);
        assert!((bound.mbps - bound.pps * 512.0 / 1e6).abs() < 1e-6 * bound.mbps.max(1.0));
    }
}
