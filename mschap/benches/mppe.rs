//! MPPE cipher throughput: encrypt + decrypt of one packet at 64, 576 and 1400 bytes, stateless
//! (a key change per packet on each side) and stateful (one key change per 256 packets), plus the
//! cost of one stateless rekey on its own.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mschap::{MPPE_HEADER_LEN, MppeConfig, MppeDecryptor, MppeEncryptor, MppeStrength};

const START_KEY: [u8; 16] = *b"benchmark-key-16";
const SIZES: [usize; 3] = [64, 576, 1400];

/// One encrypt on the sending side and one decrypt on the receiving side, reusing one buffer.
fn encrypt_decrypt(c: &mut Criterion, group_name: &str, config: MppeConfig) {
    let mut group = c.benchmark_group(group_name);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let mut encryptor = MppeEncryptor::new(&START_KEY, config);
            let mut decryptor = MppeDecryptor::new(&START_KEY, config);
            let mut packet = vec![0u8; MPPE_HEADER_LEN + size];
            packet[MPPE_HEADER_LEN] = 0x00;
            packet[MPPE_HEADER_LEN + 1] = 0x21;
            b.iter(|| {
                let (header, payload) = packet.split_at_mut(MPPE_HEADER_LEN);
                header.copy_from_slice(&encryptor.encrypt(payload));
                let plaintext = decryptor.decrypt(black_box(&mut packet)).expect("in sync");
                black_box(plaintext.len())
            });
        });
    }
    group.finish();
}

fn stateless(c: &mut Criterion) {
    let config = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: true,
    };
    encrypt_decrypt(c, "mppe_stateless_128", config);
}

fn stateful(c: &mut Criterion) {
    let config = MppeConfig {
        strength: MppeStrength::Bits128,
        stateless: false,
    };
    encrypt_decrypt(c, "mppe_stateful_128", config);
}

/// One stateless key change in isolation: encrypting a 1-byte payload is the rekey (one SHA-1,
/// two RC4 key schedules) plus one keystream byte.
fn rekey(c: &mut Criterion) {
    let mut group = c.benchmark_group("mppe_rekey");
    for strength in [MppeStrength::Bits40, MppeStrength::Bits128] {
        let config = MppeConfig {
            strength,
            stateless: true,
        };
        let mut encryptor = MppeEncryptor::new(&START_KEY, config);
        let mut byte = [0u8; 1];
        group.bench_function(format!("{strength:?}"), |b| {
            b.iter(|| black_box(encryptor.encrypt(black_box(&mut byte))));
        });
    }
    group.finish();
}

criterion_group!(benches, stateless, stateful, rekey);
criterion_main!(benches);
