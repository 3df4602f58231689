//! The sample values of RFC 2759 §9.2 (MS-CHAPv2) and RFC 3079 §3.5 (MPPE keys from MS-CHAPv2
//! credentials, 40-, 56- and 128-bit), checked through the public API.

use hex_literal::hex;
use mschap::{
    KeyRole, MppeConfig, MppeEncryptor, MppeStrength, asymmetric_start_key, authenticator_response,
    challenge_hash, generate_nt_response, hash_nt_password_hash, initial_session_key, master_key,
    nt_password_hash, parse_success_message, start_keys, success_message,
    verify_authenticator_response, verify_nt_response,
};

// RFC 2759 §9.2 (the same inputs open RFC 3079 §3.5.1-3.5.3).
const USER_NAME: &[u8] = b"User";
const PASSWORD: &str = "clientPass";
const AUTHENTICATOR_CHALLENGE: [u8; 16] = hex!("5B5D7C7D7B3F2F3E3C2C602132262628");
const PEER_CHALLENGE: [u8; 16] = hex!("21402324255E262A28295F2B3A337C7E");
const CHALLENGE: [u8; 8] = hex!("D02E4386BCE91226");
const PASSWORD_HASH: [u8; 16] = hex!("44EBBA8D5312B8D611474411F56989AE");
const NT_RESPONSE: [u8; 24] = hex!("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
const PASSWORD_HASH_HASH: [u8; 16] = hex!("41C00C584BD2D91C4017A2A12FA59F3F");
const AUTHENTICATOR_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";

// RFC 3079 §3.5.
const MASTER_KEY: [u8; 16] = hex!("FDECE3717A8C838CB388E527AE3CDD31");
const SEND_START_KEY_128: [u8; 16] = hex!("8B7CDC149B993A1BA118CB153F56DCCB");
const SEND_START_KEY_64: [u8; 8] = hex!("8B7CDC149B993A1B");
const SEND_SESSION_KEY_40: [u8; 8] = hex!("D1269EC49FA62E3E");
const SEND_SESSION_KEY_56: [u8; 8] = hex!("D15C00C49FA62E3E");
const SEND_SESSION_KEY_128: [u8; 16] = hex!("405CB2247A7956E6E211007AE27B22D4");
const TEST_MESSAGE: &[u8; 12] = b"test message";
const ENCRYPTED_40: [u8; 12] = hex!("929137917E5803D668D75898");
/// RFC 3079 §3.5.2 prints `3F 10 68 33 FA 44 8D A8 42 BC 57 58`, but RC4 under the RFC's own
/// SendSessionKey56 (`D1 5C 00 C4 9F A6 2E 3E`) gives `B8` as the last byte (checked with an
/// independent RC4); the first eleven bytes agree. The 40- and 128-bit samples match exactly.
const ENCRYPTED_56: [u8; 12] = hex!("3F106833FA448DA842BC57B8");
const ENCRYPTED_128: [u8; 12] = hex!("81848317DF68846272FB5ABE");

#[test]
fn rfc2759_password_hashes() {
    assert_eq!(nt_password_hash(PASSWORD), PASSWORD_HASH);
    assert_eq!(hash_nt_password_hash(&PASSWORD_HASH), PASSWORD_HASH_HASH);
}

#[test]
fn rfc2759_challenge_hash() {
    assert_eq!(
        challenge_hash(&PEER_CHALLENGE, &AUTHENTICATOR_CHALLENGE, USER_NAME),
        CHALLENGE
    );
}

#[test]
fn rfc2759_nt_response() {
    let response = generate_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &PEER_CHALLENGE,
        USER_NAME,
        &PASSWORD_HASH,
    );
    assert_eq!(response, NT_RESPONSE);
    assert!(verify_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &PEER_CHALLENGE,
        USER_NAME,
        &PASSWORD_HASH,
        &NT_RESPONSE
    ));
}

#[test]
fn rfc2759_nt_response_rejects_wrong_password_and_flipped_bits() {
    let wrong_hash = nt_password_hash("clientpass");
    assert!(!verify_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &PEER_CHALLENGE,
        USER_NAME,
        &wrong_hash,
        &NT_RESPONSE
    ));
    for byte in 0..24 {
        let mut flipped = NT_RESPONSE;
        flipped[byte] ^= 0x01;
        assert!(!verify_nt_response(
            &AUTHENTICATOR_CHALLENGE,
            &PEER_CHALLENGE,
            USER_NAME,
            &PASSWORD_HASH,
            &flipped
        ));
    }
}

#[test]
fn rfc2759_domain_prefix_does_not_change_the_response() {
    let with_domain = generate_nt_response(
        &AUTHENTICATOR_CHALLENGE,
        &PEER_CHALLENGE,
        b"EXAMPLE\\User",
        &PASSWORD_HASH,
    );
    assert_eq!(with_domain, NT_RESPONSE);
}

#[test]
fn rfc2759_authenticator_response_and_success_message() {
    let value = authenticator_response(
        &PASSWORD_HASH,
        &NT_RESPONSE,
        &PEER_CHALLENGE,
        &AUTHENTICATOR_CHALLENGE,
        USER_NAME,
    );
    let message = success_message(&value);
    assert_eq!(
        message,
        format!("{AUTHENTICATOR_RESPONSE} M=Access granted")
    );
    assert_eq!(parse_success_message(message.as_bytes()), Some(value));
    assert!(verify_authenticator_response(&value, message.as_bytes()));
    assert!(verify_authenticator_response(
        &value,
        AUTHENTICATOR_RESPONSE.as_bytes()
    ));
    let mut other = value;
    other[19] ^= 0x80;
    assert!(!verify_authenticator_response(&other, message.as_bytes()));
}

#[test]
fn rfc3079_master_key_and_start_keys() {
    assert_eq!(master_key(&PASSWORD_HASH_HASH, &NT_RESPONSE), MASTER_KEY);
    // Step 4 of §3.5.1/§3.5.2: GetAsymmetricStartKey(MasterKey, 8, TRUE, TRUE).
    assert_eq!(
        asymmetric_start_key(&MASTER_KEY, 8, true, true)[..8],
        SEND_START_KEY_64
    );
    // Step 3 of §3.5.3: GetAsymmetricStartKey(MasterKey, 16, TRUE, TRUE).
    assert_eq!(
        asymmetric_start_key(&MASTER_KEY, 16, true, true),
        SEND_START_KEY_128
    );
    let server = start_keys(KeyRole::Server, &PASSWORD_HASH, &NT_RESPONSE);
    assert_eq!(server.send, SEND_START_KEY_128);
    let client = start_keys(KeyRole::Client, &PASSWORD_HASH, &NT_RESPONSE);
    assert_eq!(client.recv, server.send);
    assert_eq!(client.send, server.recv);
}

#[test]
fn rfc3079_initial_session_keys() {
    let key_40 = initial_session_key(&SEND_START_KEY_128, MppeStrength::Bits40);
    assert_eq!(key_40[..8], SEND_SESSION_KEY_40);
    assert_eq!(key_40[8..], [0u8; 8]);
    let key_56 = initial_session_key(&SEND_START_KEY_128, MppeStrength::Bits56);
    assert_eq!(key_56[..8], SEND_SESSION_KEY_56);
    assert_eq!(key_56[8..], [0u8; 8]);
    let key_128 = initial_session_key(&SEND_START_KEY_128, MppeStrength::Bits128);
    assert_eq!(key_128, SEND_SESSION_KEY_128);
}

/// RFC 3079 encrypts "test message" with the initial session key: that is the first packet of
/// a stateful encryptor (stateful mode changes the key only on flag packets and resets).
#[test]
fn rfc3079_sample_encryptions() {
    for (strength, expected) in [
        (MppeStrength::Bits40, ENCRYPTED_40),
        (MppeStrength::Bits56, ENCRYPTED_56),
        (MppeStrength::Bits128, ENCRYPTED_128),
    ] {
        let config = MppeConfig {
            strength,
            stateless: false,
        };
        let mut encryptor = MppeEncryptor::new(&SEND_START_KEY_128, config);
        let mut data = *TEST_MESSAGE;
        let header = encryptor.encrypt(&mut data);
        assert_eq!(data, expected, "{strength:?}");
        // D bit only, coherency count 0: no key change on the first stateful packet.
        assert_eq!(header, [0x10, 0x00]);
    }
}
