//! Stateless MPPE (RFC 3078 §7.1, §8.1) between our own encryptor and decryptor: a new key for
//! every coherency count, catch-up over skipped counts, late packets dropped, the 4096 wrap.

use mschap::{MppeConfig, MppeDecryptor, MppeEncryptor, MppeError, MppeStrength, RECENT_KEYS};

const START_KEY: [u8; 16] = *b"0123456789abcdef";
const STRENGTHS: [MppeStrength; 3] = [
    MppeStrength::Bits40,
    MppeStrength::Bits56,
    MppeStrength::Bits128,
];

fn stateless(strength: MppeStrength) -> MppeConfig {
    MppeConfig {
        strength,
        stateless: true,
    }
}

/// A recognisable PPP payload for packet `index`: protocol 00 21 then bytes derived from it.
fn payload(index: usize) -> Vec<u8> {
    let mut data = vec![0x00, 0x21];
    data.extend((0..40 + index % 50).map(|byte| (byte * 7 + index) as u8));
    data
}

/// Encrypts `count` packets and returns them as MPPE packets (header + ciphertext).
fn encrypt_packets(encryptor: &mut MppeEncryptor, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|index| {
            let mut data = payload(index);
            let header = encryptor.encrypt(&mut data);
            let mut packet = header.to_vec();
            packet.extend_from_slice(&data);
            packet
        })
        .collect()
}

#[test]
fn every_packet_is_flushed_and_counts_up_from_zero() {
    let mut encryptor = MppeEncryptor::new(&START_KEY, stateless(MppeStrength::Bits128));
    let packets = encrypt_packets(&mut encryptor, 3);
    assert_eq!(packets[0][..2], [0x90, 0x00]);
    assert_eq!(packets[1][..2], [0x90, 0x01]);
    assert_eq!(packets[2][..2], [0x90, 0x02]);
    assert_eq!(encryptor.coherency_count(), 3);
}

#[test]
fn in_order_round_trip_for_every_strength() {
    for strength in STRENGTHS {
        let mut encryptor = MppeEncryptor::new(&START_KEY, stateless(strength));
        let mut decryptor = MppeDecryptor::new(&START_KEY, stateless(strength));
        for (index, mut packet) in encrypt_packets(&mut encryptor, 300).into_iter().enumerate() {
            assert_ne!(
                packet[2..],
                payload(index)[..],
                "{strength:?}: not encrypted"
            );
            let plaintext = decryptor.decrypt(&mut packet).unwrap();
            assert_eq!(
                plaintext,
                payload(index).as_slice(),
                "{strength:?} packet {index}"
            );
        }
        assert!(!decryptor.needs_reset_request());
    }
}

#[test]
fn strengths_and_keys_produce_different_ciphertexts() {
    let mut seen = Vec::new();
    for strength in STRENGTHS {
        let mut encryptor = MppeEncryptor::new(&START_KEY, stateless(strength));
        seen.push(encrypt_packets(&mut encryptor, 1).remove(0));
    }
    let mut other_key = MppeEncryptor::new(&[0x55; 16], stateless(MppeStrength::Bits128));
    seen.push(encrypt_packets(&mut other_key, 1).remove(0));
    for (left, a) in seen.iter().enumerate() {
        for b in &seen[left + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn skipped_counts_are_caught_up() {
    for strength in STRENGTHS {
        let mut encryptor = MppeEncryptor::new(&START_KEY, stateless(strength));
        let mut decryptor = MppeDecryptor::new(&START_KEY, stateless(strength));
        let packets = encrypt_packets(&mut encryptor, 40);
        for index in [0, 3, 4, 17, 39] {
            let mut packet = packets[index].clone();
            let plaintext = decryptor.decrypt(&mut packet).unwrap();
            assert_eq!(
                plaintext,
                payload(index).as_slice(),
                "{strength:?} packet {index}"
            );
        }
        assert_eq!(decryptor.expected_coherency_count(), 40);
    }
}

#[test]
fn late_packets_within_the_recent_keys_decrypt_and_older_ones_are_dropped() {
    let config = stateless(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    let total = usize::from(RECENT_KEYS) + 10;
    let packets = encrypt_packets(&mut encryptor, total);
    for index in [0, 2, 3] {
        decryptor.decrypt(&mut packets[index].clone()).unwrap();
    }
    // Packet 1 arrives after 3 (reordered): its count's key was remembered.
    assert_eq!(
        decryptor.decrypt(&mut packets[1].clone()).unwrap(),
        payload(1).as_slice()
    );
    // The newest count again (a duplicate the GRE layer would have caught): dropped.
    assert_eq!(
        decryptor.decrypt(&mut packets[3].clone()),
        Err(MppeError::Late { count: 3 })
    );
    // None of that disturbed the running state.
    let last = total - 1;
    let mut packet = packets[last].clone();
    assert_eq!(
        decryptor.decrypt(&mut packet).unwrap(),
        payload(last).as_slice()
    );
    // Counts within the last RECENT_KEYS still decrypt; older ones are late.
    let oldest_kept = last - usize::from(RECENT_KEYS) + 1;
    assert_eq!(
        decryptor
            .decrypt(&mut packets[oldest_kept].clone())
            .unwrap(),
        payload(oldest_kept).as_slice()
    );
    let too_old = oldest_kept - 1;
    assert_eq!(
        decryptor.decrypt(&mut packets[too_old].clone()),
        Err(MppeError::Late {
            count: too_old as u16
        })
    );
    assert_eq!(decryptor.expected_coherency_count(), total as u16);
}

#[test]
fn forward_window_is_half_the_count_space() {
    let config = stateless(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let packets = encrypt_packets(&mut encryptor, 2050);
    // Expected count 0: count 2048 skips 2048 counts, the most that is still "ahead".
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    let mut packet = packets[2048].clone();
    assert_eq!(
        decryptor.decrypt(&mut packet).unwrap(),
        payload(2048).as_slice()
    );
    // Count 2049 would skip 2049: (2049 - 0) mod 4096 > 2048, so it counts as late.
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    assert_eq!(
        decryptor.decrypt(&mut packets[2049].clone()),
        Err(MppeError::Late { count: 2049 })
    );
    assert_eq!(decryptor.expected_coherency_count(), 0);
}

#[test]
fn coherency_count_wraps_at_4096() {
    let config = stateless(MppeStrength::Bits40);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    let packets = encrypt_packets(&mut encryptor, 4096 + 300);
    assert_eq!(packets[4095][..2], [0x9f, 0xff]);
    assert_eq!(packets[4096][..2], [0x90, 0x00]);
    // Deliver every 13th packet, across the wrap.
    for index in (0..packets.len()).step_by(13) {
        let mut packet = packets[index].clone();
        assert_eq!(
            decryptor.decrypt(&mut packet).unwrap(),
            payload(index).as_slice()
        );
    }
    // Across the wrap with gaps: 2048, 4090, then 4100 (count 4).
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    for index in [2048, 4090, 4100] {
        let mut packet = packets[index].clone();
        assert_eq!(
            decryptor.decrypt(&mut packet).unwrap(),
            payload(index).as_slice()
        );
    }
    assert_eq!(encryptor.coherency_count(), 300);
}

#[test]
fn malformed_packets_are_refused_and_change_nothing() {
    let config = stateless(MppeStrength::Bits128);
    let mut encryptor = MppeEncryptor::new(&START_KEY, config);
    let mut decryptor = MppeDecryptor::new(&START_KEY, config);
    let packets = encrypt_packets(&mut encryptor, 2);
    let good = &packets[0];

    for len in 0..=2 {
        assert_eq!(
            decryptor.decrypt(&mut good[..len].to_vec()),
            Err(MppeError::Truncated)
        );
    }
    let mut not_encrypted = good.clone();
    not_encrypted[0] &= !0x10;
    assert_eq!(
        decryptor.decrypt(&mut not_encrypted),
        Err(MppeError::NotEncrypted)
    );
    let mut compressed = good.clone();
    compressed[0] |= 0x20;
    assert_eq!(
        decryptor.decrypt(&mut compressed),
        Err(MppeError::Compressed)
    );
    let mut not_flushed = good.clone();
    not_flushed[0] &= !0x80;
    assert_eq!(
        decryptor.decrypt(&mut not_flushed),
        Err(MppeError::FlushedBitMissing)
    );
    // The refused packets were left as they came (nothing decrypted in place).
    assert_eq!(not_flushed[2..], good[2..]);

    for (index, packet) in packets.iter().enumerate() {
        let mut packet = packet.clone();
        assert_eq!(
            decryptor.decrypt(&mut packet).unwrap(),
            payload(index).as_slice()
        );
    }
}

#[test]
fn reset_changes_nothing_in_stateless_mode() {
    let config = stateless(MppeStrength::Bits56);
    let mut plain = MppeEncryptor::new(&START_KEY, config);
    let mut reset = MppeEncryptor::new(&START_KEY, config);
    reset.reset();
    assert_eq!(
        encrypt_packets(&mut plain, 3),
        encrypt_packets(&mut reset, 3)
    );
}
