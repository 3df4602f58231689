//! The MPPE cipher (RFC 3078): encrypts and decrypts PPP payloads of protocol 0x00FD in place,
//! in stateless (§7.1, §8.1) or stateful (§7.2, §8.2) mode, as Linux `ppp_mppe` does.
//!
//! A protocol 0x00FD payload is the 2-byte [`MppeHeader`] followed by the RC4-encrypted
//! original PPP payload, whose protocol field is sent uncompressed (`00 21` for IPv4).
//!
//! Coherency counts start at 0. Stateless: the session key changes before every packet, so the
//! first packet (count 0) uses the key after one rekey of the initial session key, and a
//! receiver that sees the count jump rekeys once per skipped count. Stateful: the RC4 stream runs
//! on across packets; the key changes on every "flag" packet (count low octet 0xFF) and after a
//! CCP Reset-Request, and such packets carry the A (flushed) bit.
//!
//! Nothing here allocates: each call works on the caller's buffer.

mod header;
mod recent_keys;
mod session_key;

pub use header::{MPPE_HEADER_LEN, MppeHeader};
pub use recent_keys::RECENT_KEYS;

use header::{COUNT_MASK, COUNT_SPACE};
use recent_keys::RecentKeys;
use session_key::{SessionKey, rc4_with_key};

use crate::error::MppeError;
use crate::mppe_keys::MppeStrength;

/// Stateless mode drops a packet whose count is more than this far ahead of the expected one,
/// treating it as late (Linux `ppp_mppe`: "drop packets which are not within the forward
/// 4096/2 window").
const FORWARD_WINDOW: u16 = COUNT_SPACE / 2;

/// What CCP negotiated for MPPE in one direction (RFC 3078 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MppeConfig {
    /// Key strength (L, M or S bit).
    pub strength: MppeStrength,
    /// Stateless mode (H bit): a new key for every packet.
    pub stateless: bool,
}

/// Whether `count` is a stateful-mode "flag" packet, which always changes the key.
///
/// RFC 3078 §7.2 (stateful mode): the session key changes on each "flag" packet, the one whose
/// coherency count has 0xFF as its low-order octet; Linux `ppp_mppe` sets the A bit on it.
fn is_flag_packet(count: u16) -> bool {
    count & 0x00ff == 0x00ff
}

/// `(a - b) mod 4096`.
fn count_distance(a: u16, b: u16) -> u16 {
    a.wrapping_sub(b) & COUNT_MASK
}

/// The sending half of MPPE for one direction.
pub struct MppeEncryptor {
    /// Session key and RC4 state.
    key: SessionKey,
    /// Stateless mode: rekey before every packet.
    stateless: bool,
    /// The coherency count of the next packet.
    next_count: u16,
    /// A CCP Reset-Request arrived: rekey and set the A bit on the next packet.
    reset_pending: bool,
}

impl MppeEncryptor {
    /// An encryptor for a direction whose start key is `start_key` (the sender's
    /// [`MppeStartKeys::send`](crate::MppeStartKeys::send)).
    pub fn new(start_key: &[u8; 16], config: MppeConfig) -> Self {
        Self {
            key: SessionKey::new(start_key, config.strength),
            stateless: config.stateless,
            next_count: 0,
            reset_pending: false,
        }
    }

    /// Encrypts `payload` in place (the payload already starts with the uncompressed PPP
    /// protocol, e.g. 00 21) and returns the MPPE header to put before it.
    pub fn encrypt(&mut self, payload: &mut [u8]) -> [u8; MPPE_HEADER_LEN] {
        let header = self.next_packet();
        self.key.apply_keystream(payload);
        header
    }

    /// Encrypts the PPP protocol field `protocol` followed by `payload` into `out` and returns
    /// the MPPE header to put before it: [`MppeEncryptor::encrypt`] of a copy, in one pass.
    ///
    /// Returns `None`, touching nothing, unless `out` is exactly `2 + payload.len()` bytes long.
    pub fn encrypt_to(
        &mut self,
        protocol: u16,
        payload: &[u8],
        out: &mut [u8],
    ) -> Option<[u8; MPPE_HEADER_LEN]> {
        if out.len() != payload.len() + 2 {
            return None;
        }
        let header = self.next_packet();
        let (field, rest) = out.split_at_mut(2);
        field.copy_from_slice(&protocol.to_be_bytes());
        self.key.apply_keystream(field);
        self.key.apply_keystream_to(payload, rest);
        Some(header)
    }

    /// Takes the next coherency count, changes the key if this packet must, and returns the
    /// packet's MPPE header.
    fn next_packet(&mut self) -> [u8; MPPE_HEADER_LEN] {
        let count = self.next_count;
        self.next_count = (count + 1) & COUNT_MASK;
        // RFC 3078 §7.1: stateless mode changes the key for every packet; §7.2: stateful mode on
        // flag packets; §8.2: after a Reset-Request. Each such packet carries the A bit.
        let flushed = self.stateless || is_flag_packet(count) || self.reset_pending;
        if flushed {
            self.key.rekey();
            self.reset_pending = false;
        }
        MppeHeader {
            flushed,
            history_reset: false,
            compressed: false,
            encrypted: true,
            coherency_count: count,
        }
        .encode()
    }

    /// A CCP Reset-Request arrived (stateful mode): the next packet carries the flushed (A) bit.
    ///
    /// Several Reset-Requests before the next packet cause a single key change, as in Linux
    /// `ppp_mppe` (the peer cannot know how many arrived). In stateless mode every packet is
    /// flushed anyway and this changes nothing.
    pub fn reset(&mut self) {
        self.reset_pending = true;
    }

    /// The coherency count the next encrypted packet will carry (0 for a new encryptor).
    pub fn coherency_count(&self) -> u16 {
        self.next_count
    }
}

impl core::fmt::Debug for MppeEncryptor {
    /// Shows the mode and counters, never key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MppeEncryptor")
            .field("stateless", &self.stateless)
            .field("next_count", &self.next_count)
            .field("reset_pending", &self.reset_pending)
            .finish_non_exhaustive()
    }
}

/// The receiving half of MPPE for one direction.
pub struct MppeDecryptor {
    /// Session key and RC4 state.
    key: SessionKey,
    /// Stateless mode: the key changes with every coherency count.
    stateless: bool,
    /// The coherency count expected next (one past the last packet decrypted).
    expected_count: u16,
    /// Stateful mode only: packets were lost and everything is discarded until a flushed packet.
    discarding: bool,
    /// Stateless mode only: the keys of the last counts, for packets that arrive late.
    recent: Option<Box<RecentKeys>>,
}

impl MppeDecryptor {
    /// A decryptor for a direction whose start key is `start_key` (the receiver's
    /// [`MppeStartKeys::recv`](crate::MppeStartKeys::recv)).
    pub fn new(start_key: &[u8; 16], config: MppeConfig) -> Self {
        Self {
            key: SessionKey::new(start_key, config.strength),
            stateless: config.stateless,
            expected_count: 0,
            discarding: false,
            recent: config.stateless.then(|| Box::new(RecentKeys::new())),
        }
    }

    /// `packet` = MPPE header + ciphertext; decrypts in place and returns the plaintext
    /// (`packet[2..]`).
    ///
    /// The plaintext starts with the PPP protocol field, normally uncompressed (`00 21`); a
    /// sender may have compressed it to one byte (an odd first byte), which the caller handles.
    /// On error the packet is dropped and, except for [`MppeError::ResyncNeeded`], the
    /// decryptor's state is unchanged.
    pub fn decrypt<'a>(&mut self, packet: &'a mut [u8]) -> Result<&'a mut [u8], MppeError> {
        if packet.len() <= MPPE_HEADER_LEN {
            return Err(MppeError::Truncated);
        }
        let header = MppeHeader::decode(packet).ok_or(MppeError::Truncated)?;
        if !header.encrypted {
            return Err(MppeError::NotEncrypted);
        }
        if header.compressed {
            return Err(MppeError::Compressed);
        }
        if self.stateless {
            if self.decrypt_late(header, packet)? {
                return Ok(&mut packet[MPPE_HEADER_LEN..]);
            }
            self.sync_stateless(header)?;
        } else {
            self.sync_stateful(header)?;
        }
        let ciphertext = &mut packet[MPPE_HEADER_LEN..];
        self.key.apply_keystream(ciphertext);
        Ok(ciphertext)
    }

    /// Stateless mode (RFC 3078 §8.1): rekey once per coherency count up to the packet's.
    fn sync_stateless(&mut self, header: MppeHeader) -> Result<(), MppeError> {
        // Stateless mode rekeys for every packet, so every packet is flushed (RFC 3078 §3, §7.1);
        // Linux ppp_mppe: "FLUSHED bit not set in stateless mode!" is a sanity error.
        if !header.flushed {
            return Err(MppeError::FlushedBitMissing);
        }
        let count = header.coherency_count;
        let skipped = count_distance(count, self.expected_count);
        if skipped > FORWARD_WINDOW {
            return Err(MppeError::Late { count });
        }
        for step in 0..=skipped {
            self.key.rekey();
            if let Some(recent) = &mut self.recent {
                recent.record((self.expected_count + step) & COUNT_MASK, self.key.key());
            }
        }
        self.expected_count = (count + 1) & COUNT_MASK;
        Ok(())
    }

    /// Stateless mode: a packet whose count is behind the last one decrypted is decrypted in
    /// place with that count's remembered key, leaving the current state alone (`Ok(true)`);
    /// one too old is [`MppeError::Late`]; a packet that is not behind is left to the normal
    /// path (`Ok(false)`).
    fn decrypt_late(&self, header: MppeHeader, packet: &mut [u8]) -> Result<bool, MppeError> {
        let count = header.coherency_count;
        if count_distance(count, self.expected_count) <= FORWARD_WINDOW {
            return Ok(false);
        }
        if !header.flushed {
            return Err(MppeError::FlushedBitMissing);
        }
        let key_len = self.key.key().len();
        let key = self
            .recent
            .as_ref()
            .and_then(|r| r.get(count))
            .ok_or(MppeError::Late { count })?;
        let ciphertext = &mut packet[MPPE_HEADER_LEN..];
        rc4::StreamCipher::apply_keystream(&mut rc4_with_key(&key[..key_len]), ciphertext);
        Ok(true)
    }

    /// Stateful mode (RFC 3078 §8.2): detect loss, discard until a flushed packet, and on it
    /// catch up the key changes of the flag packets that were missed.
    fn sync_stateful(&mut self, header: MppeHeader) -> Result<(), MppeError> {
        let count = header.coherency_count;
        if is_flag_packet(count) && !header.flushed {
            // Linux ppp_mppe: "FLUSHED bit not set on flag packet!" -- a sanity error.
            return Err(MppeError::FlushedBitMissing);
        }
        let ahead = count_distance(count, self.expected_count);
        if ahead > FORWARD_WINDOW && !self.discarding {
            // A late or duplicated packet: the RC4 stream has already moved past it. (While
            // discarding, any flushed packet resynchronises, however far the count has run.)
            return Err(MppeError::Late { count });
        }
        if ahead != 0 || self.discarding {
            if !header.flushed {
                // RFC 3078 §8.2: after a loss the receiver asks for a CCP Reset-Request and
                // discards packets until one with the A (flushed) bit arrives.
                self.discarding = true;
                return Err(MppeError::ResyncNeeded);
            }
            // A flushed packet resynchronises. Each lost flag packet changed the key once:
            // rekey for every 256-block boundary between the expected count and this one.
            let mut cursor = self.expected_count;
            while cursor & !0x00ff != count & !0x00ff {
                self.key.rekey();
                cursor = (cursor + 0x100) & COUNT_MASK;
            }
            self.discarding = false;
        }
        if header.flushed {
            self.key.rekey();
        }
        self.expected_count = (count + 1) & COUNT_MASK;
        Ok(())
    }

    /// Stateful mode: packets were lost and the caller should (re)send a CCP Reset-Request;
    /// packets are discarded until one with the flushed bit arrives. Always `false` in
    /// stateless mode.
    pub fn needs_reset_request(&self) -> bool {
        self.discarding
    }

    /// The coherency count this decryptor expects next (one past the last packet decrypted).
    pub fn expected_coherency_count(&self) -> u16 {
        self.expected_count
    }
}

impl core::fmt::Debug for MppeDecryptor {
    /// Shows the mode and counters, never key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MppeDecryptor")
            .field("stateless", &self.stateless)
            .field("expected_count", &self.expected_count)
            .field("discarding", &self.discarding)
            .finish_non_exhaustive()
    }
}
