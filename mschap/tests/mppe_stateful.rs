//! Stateful MPPE (RFC 3078 §7.2, §8.2) between our own encryptor and decryptor: the RC4 stream
//! runs across packets, the key changes on flag packets (count low octet 0xFF) and after a CCP
//! Reset-Request, and a receiver that lost packets discards until a flushed packet.

use mschap::{MppeConfig, MppeDecryptor, MppeEncryptor, MppeError, MppeStrength};

const START_KEY: [u8; 16] = *b"fedcba9876543210";
const STRENGTHS: [MppeStrength; 3] = [
    MppeStrength::Bits40,
    MppeStrength::Bits56,
    MppeStrength::Bits128,
];
const FLUSHED: u8 = 0x80;

fn stateful(strength: MppeStrength) -> MppeConfig {
    MppeConfig {
        strength,
        stateless: false,
    }
}

/// A recognisable PPP payload for packet `index`.
fn payload(index: usize) -> Vec<u8> {
    let mut data = vec![0x00, 0x21];
    data.extend((0..20 + index % 37).map(|byte| (byte * 13 + index * 3) as u8));
    data
}

/// Encrypts packet `index` into an MPPE packet (header + ciphertext).
fn encrypt(encryptor: &mut MppeEncryptor, index: usize) -> Vec<u8> {
    let mut data = payload(index);
    let header = encryptor.encrypt(&mut data);
    let mut packet = header.to_vec();
    packet.extend_from_slice(&data);
    packet
}

/// Decrypts `packet` and checks it is packet `index`.
fn assert_decrypts(decryptor: &mut MppeDecryptor, mut packet: Vec<u8>, index: usize) {
    let plaintext = decryptor.decrypt(&mut packet).unwrap();
    assert_eq!(plaintext, payload(index).as_slice(), "packet {index}");
}

#[test]
fn round_trip_across_flag_packet_rekeys_and_the_wrap() {
    for strength in STRENGTHS {
        let mut encryptor = MppeEncryptor::new(&START_KEY, stateful(strength));
        let mut decryptor = MppeDecryptor::new(&START_KEY, stateful(strength));
        for index in 0..4096 + 600 {
            let packet = encrypt(&mut encryptor, index);
            let count = u16::from_be_bytes([packet[0] & 0x0f, packet[1]]);
            assert_eq!(usize::from(count), index % 4096);
            // Only flag packets (low octet 0xFF) carry the A bit: they change the key.
            assert_eq!(
                packet[0] & FLUSHED != 0,
                count & 0xff == 0xff,
                "{strength:?} {index}"
            );
            assert_eq!(packet[0] & 0x70, 0x10, "D set, B and C clear");
            assert_decrypts(&mut decryptor, packet, index);
        }
    }
}

#[test]
fn key_changes_on_the_flag_packet() {
    // Packet 255 is the first under a new key: a decryptor that did not rekey on it (or did
    // so without the A bit) would turn it into garbage.
    let config = stateful(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    for index in 0..255 {
        assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
    }
    let mut flag = encrypt(&mut encryptor, 255);
    assert_eq!(flag[..2], [0x90, 0xff]);
    // Stripping the A bit of a flag packet is a protocol violation, refused without state change.
    flag[0] &= !FLUSHED;
    assert_eq!(
        decryptor.decrypt(&mut flag.clone()),
        Err(MppeError::FlushedBitMissing)
    );
    flag[0] |= FLUSHED;
    assert_decrypts(&mut decryptor, flag, 255);
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 256), 256);
}

#[test]
fn lost_packet_needs_a_reset_request_then_recovers() {
    for strength in STRENGTHS {
        let mut encryptor = MppeEncryptor::new(&START_KEY, stateful(strength));
        let mut decryptor = MppeDecryptor::new(&START_KEY, stateful(strength));
        for index in 0..10 {
            assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
        }
        let _lost = encrypt(&mut encryptor, 10);
        for index in 11..14 {
            let mut packet = encrypt(&mut encryptor, index);
            assert_eq!(decryptor.decrypt(&mut packet), Err(MppeError::ResyncNeeded));
            assert!(decryptor.needs_reset_request());
        }
        // The caller sent a CCP Reset-Request; the peer's encryptor rekeys and flushes.
        encryptor.reset();
        let packet = encrypt(&mut encryptor, 14);
        assert_eq!(packet[0] & FLUSHED, FLUSHED);
        assert_decrypts(&mut decryptor, packet, 14);
        assert!(!decryptor.needs_reset_request());
        for index in 15..300 {
            assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
        }
    }
}

#[test]
fn recovery_catches_up_the_key_changes_of_lost_flag_packets() {
    let config = stateful(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    for index in 0..200 {
        assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
    }
    // Packets 200..=700 are lost, among them the flag packets 255 and 511.
    for index in 200..=700 {
        encrypt(&mut encryptor, index);
    }
    let mut packet = encrypt(&mut encryptor, 701);
    assert_eq!(decryptor.decrypt(&mut packet), Err(MppeError::ResyncNeeded));
    encryptor.reset();
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 702), 702);
    for index in 703..1100 {
        assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
    }
}

#[test]
fn a_flushed_packet_after_a_gap_resynchronises_at_once() {
    // The flag packet 767 arrives after a loss that swallowed flags 255 and 511: it carries the
    // A bit, so no Reset-Request round trip is needed.
    let config = stateful(MppeStrength::Bits40);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    for index in 0..100 {
        assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
    }
    for index in 100..767 {
        encrypt(&mut encryptor, index);
    }
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 767), 767);
    assert!(!decryptor.needs_reset_request());
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 768), 768);
}

#[test]
fn several_reset_requests_cause_one_key_change() {
    let config = stateful(MppeStrength::Bits56);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 0), 0);
    // A spurious Reset-Request, repeated because our Reset-Ack was lost.
    encryptor.reset();
    encryptor.reset();
    let packet = encrypt(&mut encryptor, 1);
    assert_eq!(packet[..2], [0x90, 0x01]);
    assert_decrypts(&mut decryptor, packet, 1);
    let packet = encrypt(&mut encryptor, 2);
    assert_eq!(
        packet[..2],
        [0x10, 0x02],
        "the flush applies to one packet only"
    );
    assert_decrypts(&mut decryptor, packet, 2);
}

#[test]
fn late_packet_is_dropped_without_losing_sync() {
    let config = stateful(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    let packets: Vec<Vec<u8>> = (0..5).map(|index| encrypt(&mut encryptor, index)).collect();
    for (index, packet) in packets.iter().enumerate().take(3) {
        assert_decrypts(&mut decryptor, packet.clone(), index);
    }
    assert_eq!(
        decryptor.decrypt(&mut packets[1].clone()),
        Err(MppeError::Late { count: 1 })
    );
    assert_eq!(
        decryptor.decrypt(&mut packets[2].clone()),
        Err(MppeError::Late { count: 2 })
    );
    assert!(!decryptor.needs_reset_request());
    assert_decrypts(&mut decryptor, packets[3].clone(), 3);
    assert_decrypts(&mut decryptor, packets[4].clone(), 4);
}

#[test]
fn stateful_decryptor_follows_a_peer_that_flushes_every_packet() {
    // Every flushed packet changes the key once, which is exactly what stateless mode does.
    let stateless = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };
    let mut encryptor = MppeEncryptor::new(&START_KEY, stateless);
    let mut decryptor = MppeDecryptor::new(&START_KEY, stateful(MppeStrength::Bits128));
    for index in 0..600 {
        assert_decrypts(&mut decryptor, encrypt(&mut encryptor, index), index);
    }
}

#[test]
fn stateless_decryptor_refuses_stateful_packets() {
    let mut encryptor = MppeEncryptor::new(&START_KEY, stateful(MppeStrength::Bits128));
    let stateless = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };
    let mut decryptor = MppeDecryptor::new(&START_KEY, stateless);
    let mut packet = encrypt(&mut encryptor, 0);
    assert_eq!(
        decryptor.decrypt(&mut packet),
        Err(MppeError::FlushedBitMissing)
    );
}

#[test]
fn a_long_discard_still_ends_on_the_next_flushed_packet() {
    // The peer ignores Reset-Requests for more than half the count space; the next flushed
    // packet we see, over 3000 counts ahead, must still resynchronise us.
    let config = stateful(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 0), 0);
    encrypt(&mut encryptor, 1);
    assert_eq!(
        decryptor.decrypt(&mut encrypt(&mut encryptor, 2)),
        Err(MppeError::ResyncNeeded)
    );
    for index in 3..3000 {
        let mut packet = encrypt(&mut encryptor, index);
        if packet[0] & FLUSHED == 0 {
            assert!(decryptor.decrypt(&mut packet).is_err());
        }
    }
    // Flag packets were withheld above; 3071 (count 0xBFF) is the next one delivered.
    for index in 3000..3071 {
        encrypt(&mut encryptor, index);
    }
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 3071), 3071);
    assert_decrypts(&mut decryptor, encrypt(&mut encryptor, 3072), 3072);
}
