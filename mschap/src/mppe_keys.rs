//! MPPE key derivation from MS-CHAPv2 credentials (RFC 3079 §3): the master key, the two
//! asymmetric start keys, and the initial session key of RFC 3079 §3.1-3.3 / RFC 3078 §7.
//!
//! The start keys are always derived 16 bytes long: `GetAsymmetricStartKey` truncates one SHA-1
//! digest, so the 8-byte start key of 40/56-bit MPPE is the first half of the 16-byte one, and
//! the cipher ([`crate::mppe`]) truncates according to [`MppeStrength`].

use sha1::{Digest as _, Sha1};

use crate::chap_v2::hash_nt_password_hash;

/// RFC 3079 §3.4 Magic1.
const MAGIC_MASTER_KEY: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 Magic2.
const MAGIC_CLIENT_SEND: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 Magic3.
const MAGIC_CLIENT_RECEIVE: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 §3.4 SHSpad1: 40 zero bytes.
pub(crate) const SHA_PAD_1: [u8; 40] = [0x00; 40];
/// RFC 3079 §3.4 SHSpad2: 40 bytes of 0xF2.
pub(crate) const SHA_PAD_2: [u8; 40] = [0xf2; 40];

/// The negotiated MPPE key strength (RFC 3078 §2 option bits L, M, S).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MppeStrength {
    /// 40-bit keys (L bit): 8-byte RC4 keys whose first 3 bytes are the salt `D1 26 9E`.
    Bits40,
    /// 56-bit keys (M bit): 8-byte RC4 keys whose first byte is the salt `D1`.
    Bits56,
    /// 128-bit keys (S bit): 16-byte RC4 keys.
    Bits128,
}

impl MppeStrength {
    /// Length in bytes of the start, session and RC4 keys: 8, 8 and 16.
    pub fn key_len(self) -> usize {
        match self {
            Self::Bits40 | Self::Bits56 => 8,
            Self::Bits128 => 16,
        }
    }

    /// The bytes that replace the start of every session key (RFC 3079 §3.1, §3.2); empty for
    /// 128-bit keys.
    pub(crate) fn salt(self) -> &'static [u8] {
        match self {
            Self::Bits40 => &[0xd1, 0x26, 0x9e],
            Self::Bits56 => &[0xd1],
            Self::Bits128 => &[],
        }
    }
}

/// Which end of the link derives the keys: RFC 3079's `IsServer` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// The authenticator (the PPTP server, `IsServer = TRUE`).
    Server,
    /// The authenticated peer (the PPTP client, `IsServer = FALSE`).
    Client,
}

/// `GetMasterKey` (RFC 3079 §3.4): the first 16 bytes of
/// SHA-1(PasswordHashHash | NT-Response | Magic1).
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> [u8; 16] {
    let digest = Sha1::new()
        .chain_update(password_hash_hash)
        .chain_update(nt_response)
        .chain_update(MAGIC_MASTER_KEY)
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// `GetAsymmetricStartKey` (RFC 3079 §3.4): the first `key_len` bytes of
/// SHA-1(MasterKey | SHSpad1 | Magic | SHSpad2); bytes beyond `key_len` are zero and a
/// `key_len` above 16 is treated as 16.
///
/// RFC 3079: "if (IsSend) { if (IsServer) s = Magic3 else s = Magic2 } else { if (IsServer)
/// s = Magic2 else s = Magic3 }".
pub fn asymmetric_start_key(
    master_key: &[u8; 16],
    key_len: usize,
    is_send: bool,
    is_server: bool,
) -> [u8; 16] {
    let magic = if is_send == is_server {
        MAGIC_CLIENT_RECEIVE
    } else {
        MAGIC_CLIENT_SEND
    };
    let digest = Sha1::new()
        .chain_update(master_key)
        .chain_update(SHA_PAD_1)
        .chain_update(magic)
        .chain_update(SHA_PAD_2)
        .finalize();
    let len = key_len.min(16);
    let mut key = [0u8; 16];
    key[..len].copy_from_slice(&digest[..len]);
    key
}

/// The two 16-byte start keys of one end of the link: `send` keys what it transmits, `recv`
/// what it receives. The server's `send` is the client's `recv` and vice versa.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MppeStartKeys {
    /// Start key for the transmit direction (`MasterSendKey`).
    pub send: [u8; 16],
    /// Start key for the receive direction (`MasterReceiveKey`).
    pub recv: [u8; 16],
}

/// The 16-byte start keys of `role` after a successful MS-CHAPv2 exchange (RFC 3079 §3.3),
/// from the user's NT password hash and the peer's NT-Response. The cipher truncates them to
/// 8 bytes for 40/56-bit MPPE.
pub fn start_keys(
    role: KeyRole,
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
) -> MppeStartKeys {
    let master = master_key(&hash_nt_password_hash(password_hash), nt_response);
    let is_server = role == KeyRole::Server;
    MppeStartKeys {
        send: asymmetric_start_key(&master, 16, true, is_server),
        recv: asymmetric_start_key(&master, 16, false, is_server),
    }
}

/// The initial session key for a start key (RFC 3079 §3.1-3.3: `GetNewKeyFromSHA(StartKey,
/// StartKey)`, then the 40/56-bit salt); bytes beyond the strength's key length are zero.
///
/// Stateful MPPE encrypts the first packet with this key; stateless MPPE rekeys once more before
/// it. Exposed for tests and key logging.
pub fn initial_session_key(start_key: &[u8; 16], strength: MppeStrength) -> [u8; 16] {
    let len = strength.key_len();
    let digest = Sha1::new()
        .chain_update(&start_key[..len])
        .chain_update(SHA_PAD_1)
        .chain_update(&start_key[..len])
        .chain_update(SHA_PAD_2)
        .finalize();
    let mut key = [0u8; 16];
    key[..len].copy_from_slice(&digest[..len]);
    let salt = strength.salt();
    key[..salt.len()].copy_from_slice(salt);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_follow_the_strength() {
        assert_eq!(MppeStrength::Bits40.key_len(), 8);
        assert_eq!(MppeStrength::Bits56.key_len(), 8);
        assert_eq!(MppeStrength::Bits128.key_len(), 16);
    }

    #[test]
    fn send_of_one_side_is_receive_of_the_other() {
        let master = [7u8; 16];
        assert_eq!(
            asymmetric_start_key(&master, 16, true, true),
            asymmetric_start_key(&master, 16, false, false)
        );
        assert_eq!(
            asymmetric_start_key(&master, 16, false, true),
            asymmetric_start_key(&master, 16, true, false)
        );
        assert_ne!(
            asymmetric_start_key(&master, 16, true, true),
            asymmetric_start_key(&master, 16, false, true)
        );
    }

    #[test]
    fn short_start_key_is_a_zero_padded_prefix() {
        let master = [9u8; 16];
        let full = asymmetric_start_key(&master, 16, true, true);
        let short = asymmetric_start_key(&master, 8, true, true);
        assert_eq!(short[..8], full[..8]);
        assert_eq!(short[8..], [0u8; 8]);
        assert_eq!(asymmetric_start_key(&master, 99, true, true), full);
    }
}
