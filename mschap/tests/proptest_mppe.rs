//! Property tests: MPPE round trips for random payloads in every strength and mode, loss
//! tolerance in stateless mode, and decoders that never panic on random or truncated input.

use mschap::{
    MppeConfig, MppeDecryptor, MppeEncryptor, MppeError, MppeHeader, MppeStrength,
    parse_success_message, success_message,
};
use proptest::prelude::*;

fn strength() -> impl Strategy<Value = MppeStrength> {
    prop_oneof![
        Just(MppeStrength::Bits40),
        Just(MppeStrength::Bits56),
        Just(MppeStrength::Bits128)
    ]
}

fn config() -> impl Strategy<Value = MppeConfig> {
    (strength(), any::<bool>()).prop_map(|(strength, stateless)| MppeConfig {
        strength,
        stateless,
    })
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..1500), 1..24)
}

/// Encrypts one payload into an MPPE packet (header + ciphertext).
fn to_packet(encryptor: &mut MppeEncryptor, payload: &[u8]) -> Vec<u8> {
    let mut data = payload.to_vec();
    let header = encryptor.encrypt(&mut data);
    let mut packet = header.to_vec();
    packet.extend_from_slice(&data);
    packet
}

proptest! {
    #[test]
    fn encrypt_to_equals_encrypt_in_place(
        key in any::<[u8; 16]>(),
        config in config(),
        payloads in payloads(),
        protocol in any::<u16>(),
    ) {
        let mut in_place = MppeEncryptor::new(&key, config);
        let mut copying = MppeEncryptor::new(&key, config);
        for payload in &payloads {
            let mut expected = protocol.to_be_bytes().to_vec();
            expected.extend_from_slice(payload);
            let expected_header = in_place.encrypt(&mut expected);
            // A buffer of the wrong size is refused and costs no coherency count.
            let mut short = vec![0u8; payload.len() + 1];
            prop_assert_eq!(copying.encrypt_to(protocol, payload, &mut short), None);
            let mut out = vec![0u8; payload.len() + 2];
            let header = copying.encrypt_to(protocol, payload, &mut out);
            prop_assert_eq!(header, Some(expected_header));
            prop_assert_eq!(&out, &expected);
        }
    }

    #[test]
    fn round_trip(key in any::<[u8; 16]>(), config in config(), payloads in payloads()) {
        let mut encryptor = MppeEncryptor::new(&key, config);
        let mut decryptor = MppeDecryptor::new(&key, config);
        for payload in &payloads {
            let mut packet = to_packet(&mut encryptor, payload);
            prop_assert_eq!(packet.len(), payload.len() + 2);
            prop_assert_eq!(packet[0] & 0x10, 0x10);
            let plaintext = decryptor.decrypt(&mut packet).unwrap();
            prop_assert_eq!(&plaintext[..], &payload[..]);
        }
    }

    #[test]
    fn stateless_survives_random_loss(
        key in any::<[u8; 16]>(),
        strength in strength(),
        payloads in payloads(),
        delivered in prop::collection::vec(any::<bool>(), 24),
    ) {
        let config = MppeConfig { strength, stateless: true };
        let mut encryptor = MppeEncryptor::new(&key, config);
        let mut decryptor = MppeDecryptor::new(&key, config);
        for (payload, deliver) in payloads.iter().zip(delivered) {
            let mut packet = to_packet(&mut encryptor, payload);
            if deliver {
                let plaintext = decryptor.decrypt(&mut packet).unwrap();
                prop_assert_eq!(&plaintext[..], &payload[..]);
            }
        }
    }

    #[test]
    fn stateful_loss_is_detected_and_recovered(
        key in any::<[u8; 16]>(),
        strength in strength(),
        payloads in payloads(),
        lost in 0usize..24,
    ) {
        let config = MppeConfig { strength, stateless: false };
        let mut encryptor = MppeEncryptor::new(&key, config);
        let mut decryptor = MppeDecryptor::new(&key, config);
        let mut resyncing = false;
        for (index, payload) in payloads.iter().enumerate() {
            let mut packet = to_packet(&mut encryptor, payload);
            if index == lost {
                continue;
            }
            match decryptor.decrypt(&mut packet) {
                Ok(plaintext) => {
                    prop_assert_eq!(&plaintext[..], &payload[..]);
                    resyncing = false;
                }
                Err(MppeError::ResyncNeeded) => {
                    prop_assert!(index > lost);
                    prop_assert!(decryptor.needs_reset_request());
                    if !resyncing {
                        encryptor.reset();
                        resyncing = true;
                    }
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }

    #[test]
    fn decrypt_of_random_bytes_never_panics(
        key in any::<[u8; 16]>(),
        config in config(),
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..32),
    ) {
        let mut decryptor = MppeDecryptor::new(&key, config);
        for mut packet in packets {
            let len = packet.len();
            match decryptor.decrypt(&mut packet) {
                Ok(plaintext) => prop_assert_eq!(plaintext.len(), len - 2),
                Err(MppeError::Truncated) => prop_assert!(len <= 2),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn truncations_of_a_valid_packet_never_panic(
        key in any::<[u8; 16]>(),
        config in config(),
        payload in prop::collection::vec(any::<u8>(), 1..200),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut encryptor = MppeEncryptor::new(&key, config);
        let packet = to_packet(&mut encryptor, &payload);
        let cut = cut.index(packet.len() + 1);
        let mut decryptor = MppeDecryptor::new(&key, config);
        let mut truncated = packet[..cut].to_vec();
        let result = decryptor.decrypt(&mut truncated);
        if cut <= 2 {
            prop_assert_eq!(result, Err(MppeError::Truncated));
        } else {
            // RC4 is a stream cipher: a prefix decrypts to the prefix of the payload.
            prop_assert_eq!(&result.unwrap()[..], &payload[..cut - 2]);
        }
    }

    #[test]
    fn header_round_trip(bytes in any::<[u8; 2]>()) {
        let header = MppeHeader::decode(&bytes).unwrap();
        prop_assert_eq!(header.encode(), bytes);
        prop_assert!(header.coherency_count < 4096);
    }

    #[test]
    fn success_message_round_trip(value in any::<[u8; 20]>()) {
        let message = success_message(&value);
        prop_assert_eq!(message.len(), 2 + 40 + 17);
        prop_assert_eq!(parse_success_message(message.as_bytes()), Some(value));
    }

    #[test]
    fn parse_success_message_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse_success_message(&bytes);
        let mut prefixed = b"S=".to_vec();
        prefixed.extend_from_slice(&bytes);
        let _ = parse_success_message(&prefixed);
    }
}
