//! Checking a sample of a stateless MPPE stream without decrypting all of it.
//!
//! In stateless mode (RFC 3078 §7.1) the session key changes before every packet and each key
//! is derived from the one before, so decrypting packet `n` needs all `n` key changes before it,
//! whichever packets were actually seen. The downstream receiver therefore only counts packets
//! while it measures and keeps every 64th one with its absolute position in the stream; after
//! the measurement a [`ChainWalker`] runs the key chain forward to each kept packet and
//! decrypts it. A coherency count is only 12 bits, so the absolute position comes from the GRE
//! sequence number (32 bits, one per packet the gateway sends on the call), corrected by the
//! coherency count for the few GRE packets that carry no MPPE (control frames): see
//! [`ChainTracker`].

use mschap::{MPPE_HEADER_LEN, MppeConfig, MppeDecryptor, MppeError, MppeHeader};

/// Coherency counts wrap at 4096 (RFC 3078 §3: 12 bits).
const COUNT_SPACE: u64 = 4096;
/// The largest forward step a stateless decryptor takes in one packet (Linux `ppp_mppe` and
/// `mschap` drop packets further ahead as late).
const MAX_STEP: u64 = 2048;

/// Absolute positions (0 = the first MPPE packet of the call) of received packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainTracker {
    last: Option<(u32, u64)>,
}

impl ChainTracker {
    /// The position of a packet with GRE sequence number `seq` and coherency count `count`.
    ///
    /// The first packet ever seen must be among the first 4096 MPPE packets of the call.
    /// Between two packets passed here, the GRE numbers may jump by anything below 2^31
    /// (packets lost), as long as fewer than 4096 of the packets in between carried no MPPE.
    pub fn position(&mut self, seq: u32, count: u16) -> u64 {
        let count = u64::from(count) % COUNT_SPACE;
        let abs = match self.last {
            None => count,
            Some((last_seq, last_abs)) => {
                let d_seq = u64::from(seq.wrapping_sub(last_seq));
                let last_count = last_abs % COUNT_SPACE;
                let d_count = (count + COUNT_SPACE - last_count) % COUNT_SPACE;
                // The largest step <= d_seq that lands on `count`.
                let excess = (d_seq + COUNT_SPACE - d_count % COUNT_SPACE) % COUNT_SPACE;
                last_abs + d_seq.saturating_sub(excess)
            }
        };
        self.last = Some((seq, abs));
        abs
    }
}

/// A stateless MPPE decryptor that can be moved forward to any later position.
pub struct ChainWalker {
    decryptor: MppeDecryptor,
    next: u64,
}

impl ChainWalker {
    /// A walker at the start of the stream keyed by `start_key`.
    pub fn new(start_key: &[u8; 16], config: MppeConfig) -> Self {
        ChainWalker {
            decryptor: MppeDecryptor::new(start_key, config),
            next: 0,
        }
    }

    /// The position the walker can decrypt next.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Decrypts `packet` (MPPE header and ciphertext) at absolute position `abs` in place and
    /// returns the plaintext. Positions must not go backwards.
    pub fn decrypt_at<'a>(
        &mut self,
        abs: u64,
        packet: &'a mut [u8],
    ) -> Result<&'a mut [u8], MppeError> {
        if abs < self.next {
            let count = (abs % COUNT_SPACE) as u16;
            return Err(MppeError::Late { count });
        }
        // Far ahead: step the key chain with one-byte dummy packets, MAX_STEP counts at a time.
        while abs - self.next > MAX_STEP {
            let target = self.next + MAX_STEP;
            let header = MppeHeader {
                flushed: true,
                history_reset: false,
                compressed: false,
                encrypted: true,
                coherency_count: (target % COUNT_SPACE) as u16,
            }
            .encode();
            let mut dummy = [header[0], header[1], 0];
            self.decryptor.decrypt(&mut dummy)?;
            self.next = target + 1;
        }
        if packet.len() <= MPPE_HEADER_LEN {
            return Err(MppeError::Truncated);
        }
        let plain = self.decryptor.decrypt(packet)?;
        self.next = abs + 1;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mschap::{MppeEncryptor, MppeStrength};

    const STATELESS: MppeConfig = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };

    #[test]
    fn tracker_follows_gaps_and_control_frames() {
        let mut tracker = ChainTracker::default();
        // GRE numbers start at 7 (control frames before the data), MPPE at 0.
        assert_eq!(tracker.position(7, 0), 0);
        assert_eq!(tracker.position(8, 1), 1);
        // 10_000 packets lost.
        assert_eq!(tracker.position(10_009, (10_002 % 4096) as u16), 10_002);
        // Three control frames in between (GRE numbers without MPPE counts).
        assert_eq!(tracker.position(10_013, (10_003 % 4096) as u16), 10_003);
        // GRE numbers wrap at 2^32.
        let mut tracker = ChainTracker::default();
        assert_eq!(tracker.position(u32::MAX - 1, 5), 5);
        assert_eq!(tracker.position(3, 10), 10);
    }

    #[test]
    fn walker_decrypts_a_sparse_sample_of_a_long_stream() {
        let key = [0x42; 16];
        let mut encryptor = MppeEncryptor::new(&key, STATELESS);
        let mut walker = ChainWalker::new(&key, STATELESS);
        let mut tracker = ChainTracker::default();
        let mut checked = 0;
        // 20_000 packets; keep a few, far apart (up to 9_000 apart, more than two wraps).
        let keep = [0u64, 1, 64, 3000, 12_000, 12_001, 19_999];
        for n in 0..20_000u64 {
            let plain = (n as u32).to_be_bytes();
            let mut payload = [0x00, 0x21, plain[0], plain[1], plain[2], plain[3]];
            let header = encryptor.encrypt(&mut payload);
            if !keep.contains(&n) {
                continue;
            }
            let count = MppeHeader::decode(&header).unwrap().coherency_count;
            // GRE numbers run 100 ahead of the MPPE positions.
            let abs = tracker.position(100 + n as u32, count);
            assert_eq!(abs, n);
            let mut packet = [&header[..], &payload[..]].concat();
            let decrypted = walker.decrypt_at(abs, &mut packet).unwrap();
            assert_eq!(decrypted[2..], plain);
            checked += 1;
        }
        assert_eq!(checked, keep.len());
        assert_eq!(walker.position(), 20_000);
        assert!(
            walker.decrypt_at(5, &mut [0x90, 5, 1]).is_err(),
            "no going back"
        );
    }
}
