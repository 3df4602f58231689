//! MS-CHAPv2 (RFC 2759 §8): the NT password hash, the NT-Response, the Authenticator Response
//! and the Success/Failure message texts, as pppd's `chap_ms.c` produces and checks them.
//!
//! User names are the raw bytes of the CHAP Name field. Like pppd, every hash that takes the
//! user name first strips a `DOMAIN\` prefix (RFC 2759 §8.2: "Only the user name (as presented
//! by the peer and excluding any prepended domain name) is used as input to SHAUpdate()").

use des::Des;
use des::cipher::{Block, BlockCipherEncrypt, Key, KeyInit};
use md4::{Digest as _, Md4};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// RFC 2759 §8.7 Magic1: "Magic server to client signing constant".
const MAGIC_SERVER_SIGNING: &[u8; 39] = b"Magic server to client signing constant";
/// RFC 2759 §8.7 Magic2: "Pad to make it do more than one iteration".
const MAGIC_PAD: &[u8; 41] = b"Pad to make it do more than one iteration";

/// The text pppd puts after `M=` in a Success message.
const SUCCESS_TEXT: &str = "Access granted";
/// The text pppd puts after `M=` in a Failure message.
const FAILURE_TEXT: &str = "Access denied";

/// `NtPasswordHash` (RFC 2759 §8.3): MD4 over the UTF-16LE encoding of the password.
///
/// For ASCII passwords this equals pppd's byte-to-UCS-2 widening; for non-ASCII passwords it is
/// what Windows computes (pppd widens each UTF-8 *byte* instead).
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let mut md4 = Md4::new();
    for unit in password.encode_utf16() {
        md4.update(unit.to_le_bytes());
    }
    md4.finalize().into()
}

/// `HashNtPasswordHash` (RFC 2759 §8.4): MD4 of the 16-byte NT password hash.
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(password_hash).into()
}

/// The user name with any `DOMAIN\` prefix removed (everything up to the last backslash).
fn strip_domain(user_name: &[u8]) -> &[u8] {
    match user_name.iter().rposition(|&byte| byte == b'\\') {
        Some(backslash) => user_name.get(backslash + 1..).unwrap_or_default(),
        None => user_name,
    }
}

/// `ChallengeHash` (RFC 2759 §8.2): the first 8 bytes of
/// SHA-1(PeerChallenge | AuthenticatorChallenge | UserName), the user name without domain.
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 8] {
    let digest = Sha1::new()
        .chain_update(peer_challenge)
        .chain_update(authenticator_challenge)
        .chain_update(strip_domain(user_name))
        .finalize();
    let mut challenge = [0u8; 8];
    challenge.copy_from_slice(&digest[..8]);
    challenge
}

/// Spreads 7 key bytes (56 bits) over 8 DES key bytes, 7 bits each, with the low bit of every
/// byte set to odd parity (RFC 2759 §8.6 `DesEncrypt`, "MakeKey").
fn des_key_from_7_bytes(seven: &[u8; 7]) -> [u8; 8] {
    let mut wide = [0u8; 8];
    wide[1..].copy_from_slice(seven);
    let bits = u64::from_be_bytes(wide);
    let mut key = [0u8; 8];
    for (index, byte) in key.iter_mut().enumerate() {
        // Bits 55..49 go to byte 0, 48..42 to byte 1, and so on (the `as u8` keeps 7 bits).
        let seven_bits = ((bits >> (49 - 7 * index)) & 0x7f) as u8;
        let shifted = seven_bits << 1;
        // Odd parity: the parity bit makes the number of ones odd.
        *byte = shifted | u8::from(shifted.count_ones().is_multiple_of(2));
    }
    key
}

/// `ChallengeResponse` (RFC 2759 §8.5): the password hash, zero-padded to 21 bytes, is three
/// 7-byte DES keys; each encrypts the 8-byte challenge.
fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut padded_hash = [0u8; 21];
    padded_hash[..16].copy_from_slice(password_hash);
    let mut response = [0u8; 24];
    for (key_bytes, out) in padded_hash
        .chunks_exact(7)
        .zip(response.chunks_exact_mut(8))
    {
        let mut seven = [0u8; 7];
        seven.copy_from_slice(key_bytes);
        let des = Des::new(&Key::<Des>::from(des_key_from_7_bytes(&seven)));
        let mut block = Block::<Des>::from(*challenge);
        des.encrypt_block(&mut block);
        out.copy_from_slice(&block);
    }
    response
}

/// `GenerateNTResponse` (RFC 2759 §8.1): the 24-byte NT-Response a peer sends for this
/// challenge pair, user name and NT password hash.
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    challenge_response(&challenge, password_hash)
}

/// The authenticator's check of a peer's NT-Response: recomputes it and compares in constant
/// time.
pub fn verify_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user_name: &[u8],
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
) -> bool {
    let expected = generate_nt_response(
        authenticator_challenge,
        peer_challenge,
        user_name,
        password_hash,
    );
    expected.ct_eq(nt_response).into()
}

/// `GenerateAuthenticatorResponse` (RFC 2759 §8.7): the 20-byte value the authenticator proves
/// knowledge of the password with (the `S=` of the Success message).
pub fn authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    user_name: &[u8],
) -> [u8; 20] {
    let password_hash_hash = hash_nt_password_hash(password_hash);
    let digest = Sha1::new()
        .chain_update(password_hash_hash)
        .chain_update(nt_response)
        .chain_update(MAGIC_SERVER_SIGNING)
        .finalize();
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    Sha1::new()
        .chain_update(digest)
        .chain_update(challenge)
        .chain_update(MAGIC_PAD)
        .finalize()
        .into()
}

/// Appends the hex digits of `bytes` to `out`, upper or lower case.
fn push_hex(out: &mut String, bytes: &[u8], uppercase: bool) {
    let digits: &[u8; 16] = if uppercase {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    for byte in bytes {
        out.push(char::from(digits[usize::from(byte >> 4)]));
        out.push(char::from(digits[usize::from(byte & 0x0f)]));
    }
}

/// The Success message text, exactly as pppd sends it: `S=<40 uppercase hex> M=Access granted`.
///
/// RFC 2759 §5: the auth string is "encoded in ASCII as 40 hexadecimal digits. The hexadecimal
/// digits A-F MUST be uppercase."
pub fn success_message(authenticator_response: &[u8; 20]) -> String {
    let mut message = String::with_capacity(2 + 40 + 3 + SUCCESS_TEXT.len());
    message.push_str("S=");
    push_hex(&mut message, authenticator_response, true);
    message.push_str(" M=");
    message.push_str(SUCCESS_TEXT);
    message
}

/// The Failure message text, exactly as pppd sends it for a wrong password:
/// `E=691 R=1 C=<32 lowercase hex> V=0 M=Access denied`.
///
/// pppd formats the challenge with its `%0.*B` conversion, which prints lowercase hex; `E=691`
/// is ERROR_AUTHENTICATION_FAILURE and `R=1` allows a retry.
pub fn failure_message(authenticator_challenge: &[u8; 16]) -> String {
    let mut message = String::with_capacity(13 + 32 + 5 + 2 + FAILURE_TEXT.len());
    message.push_str("E=691 R=1 C=");
    push_hex(&mut message, authenticator_challenge, false);
    message.push_str(" V=0 M=");
    message.push_str(FAILURE_TEXT);
    message
}

/// The value of one ASCII hex digit, either case.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Client side: extracts the 20-byte Authenticator Response from a Success message.
///
/// Accepts what pppd's `chapms2_check_success` accepts: `S=` and 40 hex digits, then nothing,
/// ` M=<text>` or `M=<text>`. Returns `None` for anything else.
pub fn parse_success_message(message: &[u8]) -> Option<[u8; 20]> {
    let rest = message.strip_prefix(b"S=")?;
    let hex = rest.get(..40)?;
    let trailer = rest.get(40..)?;
    if !(trailer.is_empty() || trailer.starts_with(b" M=") || trailer.starts_with(b"M=")) {
        return None;
    }
    let mut value = [0u8; 20];
    for (byte, pair) in value.iter_mut().zip(hex.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *byte = (hex_value(*high)? << 4) | hex_value(*low)?;
    }
    Some(value)
}

/// Client side: whether a Success message carries the expected Authenticator Response (the
/// comparison is constant-time; a malformed message is `false`).
pub fn verify_authenticator_response(expected: &[u8; 20], message: &[u8]) -> bool {
    match parse_success_message(message) {
        Some(received) => expected.ct_eq(&received).into(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn des_key_spreading_sets_odd_parity() {
        // 56 one-bits: every key byte is 0xFE plus a parity bit; seven ones is odd -> bit 0 clear.
        assert_eq!(des_key_from_7_bytes(&[0xff; 7]), [0xfe; 8]);
        // 56 zero-bits: zero ones is even -> the parity bit is set.
        assert_eq!(des_key_from_7_bytes(&[0x00; 7]), [0x01; 8]);
        // 0x80 then zeros: only bit 55 set, which lands in the top bit of byte 0.
        assert_eq!(des_key_from_7_bytes(&hex!("80000000000000"))[0], 0x80);
    }

    #[test]
    fn domain_prefix_is_stripped_up_to_the_last_backslash() {
        assert_eq!(strip_domain(b"CORP\\alice"), b"alice");
        assert_eq!(strip_domain(b"A\\B\\bob"), b"bob");
        assert_eq!(strip_domain(b"carol"), b"carol");
        assert_eq!(strip_domain(b"trailing\\"), b"");
    }

    #[test]
    fn challenge_hash_ignores_the_domain() {
        let peer = [1u8; 16];
        let auth = [2u8; 16];
        assert_eq!(
            challenge_hash(&peer, &auth, b"DOM\\User"),
            challenge_hash(&peer, &auth, b"User")
        );
        assert_ne!(
            challenge_hash(&peer, &auth, b"User"),
            challenge_hash(&peer, &auth, b"user")
        );
    }

    #[test]
    fn parse_success_message_rejects_malformed_text() {
        let hex40 = "407A5589115FD0D6209F510FE9C04566932CDA56";
        assert!(parse_success_message(format!("S={hex40}").as_bytes()).is_some());
        assert!(parse_success_message(format!("S={hex40}M=hi").as_bytes()).is_some());
        assert!(parse_success_message(format!("S={}", hex40.to_lowercase()).as_bytes()).is_some());
        assert!(parse_success_message(format!("S={hex40} X=1").as_bytes()).is_none());
        assert!(parse_success_message(format!("s={hex40}").as_bytes()).is_none());
        assert!(parse_success_message(&format!("S={hex40}").as_bytes()[..41]).is_none());
        assert!(parse_success_message(b"S=407A5589115FD0D6209F510FE9C04566932CDA5G").is_none());
        assert!(parse_success_message(b"").is_none());
    }
}
