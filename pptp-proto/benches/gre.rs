//! Enhanced GRE header (RFC 2637 §4.1) parse and emit: the per-packet cost on the data path.
//!
//! Run with `cargo bench -p pptp-proto --bench gre`; `cargo test --benches` runs each once.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, GreReceiver, GreSender, Ipv4Envelope};

/// A full-size data packet: header with sequence and acknowledgement, 1400 octets of payload.
fn data_packet() -> Vec<u8> {
    let header = GreHeader::data(CallId(27020), 1400, 10, Some(9));
    let mut packet = vec![0xa5; header.len() + 1400];
    header.emit(&mut packet).expect("room for the header");
    packet
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("gre");
    group.throughput(Throughput::Elements(1));

    let packet = data_packet();
    group.bench_function("parse", |b| b.iter(|| GreHeader::parse(black_box(&packet))));
    group.bench_function("parse_packet", |b| {
        b.iter(|| GreHeader::parse_packet(black_box(&packet)).map(|(h, p)| (h, p.len())))
    });

    let ack_only = {
        let mut buf = [0u8; 12];
        GreHeader::ack_only(CallId(0), 2)
            .emit(&mut buf)
            .expect("room for the header");
        buf
    };
    group.bench_function("parse_ack_only", |b| {
        b.iter(|| GreHeader::parse(black_box(&ack_only)))
    });

    let mut datagram = vec![
        0x45, 0x00, 0x00, 0x00, 0x07, 0x84, 0x40, 0x00, 0x40, 0x2f, 0x00, 0x00, 10, 100, 100, 2,
        10, 100, 100, 1,
    ];
    datagram.extend_from_slice(&packet);
    let total = u16::try_from(datagram.len()).expect("fits");
    datagram[2..4].copy_from_slice(&total.to_be_bytes());
    group.bench_function("parse_ipv4_and_gre", |b| {
        b.iter(|| {
            let (envelope, _) = Ipv4Envelope::parse(black_box(&datagram))?;
            GreHeader::parse(envelope.payload(&datagram))
        })
    });

    let header = GreHeader::data(CallId(27020), 1400, 10, Some(9));
    let mut out = [0u8; 16];
    group.bench_function("emit", |b| {
        b.iter(|| black_box(header).emit(black_box(&mut out)))
    });

    let mut sender = GreSender::new();
    let mut receiver = GreReceiver::new();
    let mut seq = 0u32;
    group.bench_function("sequence_and_emit", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            receiver.receive(black_box(seq));
            sender
                .data_header(CallId(27020), 1400, &mut receiver)
                .emit(&mut out)
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
