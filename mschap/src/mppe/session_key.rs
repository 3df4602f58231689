//! One direction's MPPE session key and RC4 state, and the key change of RFC 3078 §7.3
//! (`GetNewKeyFromSHA` of RFC 3079 §3.4 plus the RC4 step and the 40/56-bit salt).
//!
//! The rekey runs before every packet in stateless mode, so it is kept cheap: the SHA-1 input
//! `StartKey | SHSpad1 | SessionKey | SHSpad2` lives in one buffer whose pads and start key are
//! written once; a rekey overwrites only the session key bytes in place, hashes the buffer once
//! and runs two RC4 key schedules (one to encrypt the interim key, one for the new key).

use rc4::{KeyInit, Rc4, StreamCipher};
use sha1::{Digest as _, Sha1};

use crate::mppe_keys::{MppeStrength, SHA_PAD_1, SHA_PAD_2, initial_session_key};

/// Longest SHA-1 input: 16-byte start key, 40-byte pad, 16-byte session key, 40-byte pad.
const MAX_SHA_INPUT: usize = 16 + SHA_PAD_1.len() + 16 + SHA_PAD_2.len();

/// The current session key of one direction and the RC4 state keyed with it.
pub(crate) struct SessionKey {
    /// `StartKey | SHSpad1 | SessionKey | SHSpad2` for the strength's key length; only the
    /// first `sha_input_len()` bytes are used.
    sha_input: [u8; MAX_SHA_INPUT],
    /// Key length in bytes (8 or 16).
    key_len: usize,
    /// Bytes that overwrite the start of every new session key.
    salt: &'static [u8],
    /// RC4 keyed with the current session key, advanced by whatever it has encrypted since.
    rc4: Rc4,
}

/// RC4 keyed with `key`.
pub(crate) fn rc4_with_key(key: &[u8]) -> Rc4 {
    // Our keys are 8 or 16 bytes long; RC4 accepts 1..=256.
    Rc4::new_from_slice(key).expect("MPPE key lengths are 8 or 16 bytes, within RC4's 1..=256")
}

impl SessionKey {
    /// The state right after key derivation: the initial session key (RFC 3079 §3.1-3.3), RC4
    /// keyed with it, no packet encrypted yet.
    pub(crate) fn new(start_key: &[u8; 16], strength: MppeStrength) -> Self {
        let key_len = strength.key_len();
        let initial = initial_session_key(start_key, strength);
        let mut sha_input = [0u8; MAX_SHA_INPUT];
        let (start, rest) = sha_input.split_at_mut(key_len);
        start.copy_from_slice(&start_key[..key_len]);
        let (pad_1, rest) = rest.split_at_mut(SHA_PAD_1.len());
        pad_1.copy_from_slice(&SHA_PAD_1);
        let (session, rest) = rest.split_at_mut(key_len);
        session.copy_from_slice(&initial[..key_len]);
        rest[..SHA_PAD_2.len()].copy_from_slice(&SHA_PAD_2);
        Self {
            sha_input,
            key_len,
            salt: strength.salt(),
            rc4: rc4_with_key(&initial[..key_len]),
        }
    }

    /// Byte range of the session key inside `sha_input`.
    fn session_range(&self) -> core::ops::Range<usize> {
        let start = self.key_len + SHA_PAD_1.len();
        start..start + self.key_len
    }

    /// The current session key (8 or 16 bytes).
    pub(crate) fn key(&self) -> &[u8] {
        &self.sha_input[self.session_range()]
    }

    /// Changes the session key and re-initialises RC4 with it (RFC 3078 §7.3):
    /// `InterimKey = GetNewKeyFromSHA(StartKey, SessionKey)`, `SessionKey = RC4(InterimKey,
    /// InterimKey)`, then the salt for 40/56-bit keys, then RC4 is keyed with the new key.
    pub(crate) fn rekey(&mut self) {
        let input_len = 2 * self.key_len + SHA_PAD_1.len() + SHA_PAD_2.len();
        let digest = Sha1::digest(&self.sha_input[..input_len]);
        let range = self.session_range();
        let session = &mut self.sha_input[range];
        session.copy_from_slice(&digest[..self.key_len]);
        rc4_with_key(session).apply_keystream(session);
        session[..self.salt.len()].copy_from_slice(self.salt);
        self.rc4 = rc4_with_key(session);
    }

    /// Encrypts or decrypts `data` in place with the RC4 keystream, advancing it.
    pub(crate) fn apply_keystream(&mut self, data: &mut [u8]) {
        self.rc4.apply_keystream(data);
    }

    /// Encrypts or decrypts `input` into `output` (of the same length) with the RC4 keystream,
    /// advancing it: the copy and the cipher in one pass over the bytes.
    pub(crate) fn apply_keystream_to(&mut self, input: &[u8], output: &mut [u8]) {
        debug_assert_eq!(input.len(), output.len());
        let len = input.len().min(output.len());
        // Equal lengths, as apply_keystream_b2b requires.
        self.rc4
            .apply_keystream_b2b(&input[..len], &mut output[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// RFC 3079 §3.5.3 SendStartKey128.
    const START_KEY: [u8; 16] = hex!("8B7CDC149B993A1BA118CB153F56DCCB");

    #[test]
    fn new_holds_the_initial_session_key() {
        let key = SessionKey::new(&START_KEY, MppeStrength::Bits128);
        assert_eq!(key.key(), hex!("405CB2247A7956E6E211007AE27B22D4"));
        let key = SessionKey::new(&START_KEY, MppeStrength::Bits40);
        assert_eq!(key.key(), hex!("D1269EC49FA62E3E"));
    }

    #[test]
    fn rekey_changes_the_key_keeps_the_salt_and_is_deterministic() {
        for strength in [
            MppeStrength::Bits40,
            MppeStrength::Bits56,
            MppeStrength::Bits128,
        ] {
            let mut first = SessionKey::new(&START_KEY, strength);
            let mut second = SessionKey::new(&START_KEY, strength);
            let initial = first.key().to_vec();
            first.rekey();
            second.rekey();
            assert_ne!(first.key(), initial.as_slice());
            assert_eq!(first.key(), second.key());
            assert_eq!(&first.key()[..strength.salt().len()], strength.salt());
            assert_eq!(first.key().len(), strength.key_len());
        }
    }

    #[test]
    fn rekey_follows_rfc_3078_step_by_step() {
        // Recompute one rekey from the RFC's formulas with separate SHA-1 updates.
        let mut key = SessionKey::new(&START_KEY, MppeStrength::Bits128);
        let old = key.key().to_vec();
        key.rekey();
        let interim = Sha1::new()
            .chain_update(START_KEY)
            .chain_update(SHA_PAD_1)
            .chain_update(&old)
            .chain_update(SHA_PAD_2)
            .finalize();
        let mut expected = interim[..16].to_vec();
        rc4_with_key(&interim[..16]).apply_keystream(&mut expected);
        assert_eq!(key.key(), expected.as_slice());
    }
}
