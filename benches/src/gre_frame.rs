//! The tunnel's data packets as the benchmark builds and reads them: enhanced GRE (RFC 2637
//! §4.1) around a PPP frame (`FF 03 00 FD`, RFC 1662/1962) around MPPE (RFC 3078 §3), and the
//! classic BPF programs that split a raw GRE socket's traffic between the `pptp_client`
//! tunnels (control frames) and the benchmark's own receivers (MPPE data).

use mschap::{MPPE_HEADER_LEN, MppeEncryptor, MppeHeader};
use pptp_proto::CallId;
use pptp_proto::gre::{GreHeader, Ipv4Envelope};
use socket2::SockFilter;

/// `FF 03` and the protocol of a compressed datagram, 0x00FD: every MPPE frame starts so.
pub const PPP_MPPE: [u8; 4] = [0xff, 0x03, 0x00, 0xfd];
/// The inner PPP protocol of IPv4, sent uncompressed inside MPPE.
pub const INNER_IPV4: [u8; 2] = [0x00, 0x21];
/// GRE header with a sequence number and no acknowledgement.
pub const GRE_DATA_HEADER_LEN: usize = 12;
/// Everything a data packet adds in front of the IPv4 datagram it carries (GRE, PPP, MPPE
/// header, inner protocol), not counting the outer IPv4 header.
pub const FRAME_OVERHEAD: usize = GRE_DATA_HEADER_LEN + PPP_MPPE.len() + MPPE_HEADER_LEN + 2;

/// Appends to `out` the GRE packet (no IPv4 header) that carries `datagram` on the call the
/// server knows as `peer_call_id`, numbered `seq`, MPPE-encrypted with `encryptor`.
pub fn build_data_frame(
    out: &mut Vec<u8>,
    peer_call_id: CallId,
    seq: u32,
    encryptor: &mut MppeEncryptor,
    datagram: &[u8],
) {
    let payload_len = (PPP_MPPE.len() + MPPE_HEADER_LEN + INNER_IPV4.len() + datagram.len()) as u16;
    let header = GreHeader::data(peer_call_id, payload_len, seq, None);
    let start = out.len();
    out.resize(start + GRE_DATA_HEADER_LEN, 0);
    // A data header without acknowledgement is exactly 12 bytes; emit cannot fail on them.
    let _ = header.emit(&mut out[start..]);
    out.extend_from_slice(&PPP_MPPE);
    let mppe_at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&INNER_IPV4);
    out.extend_from_slice(datagram);
    let mppe = encryptor.encrypt(&mut out[mppe_at + MPPE_HEADER_LEN..]);
    out[mppe_at..mppe_at + MPPE_HEADER_LEN].copy_from_slice(&mppe);
}

/// What the downstream receiver reads from a data packet without decrypting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPacket {
    /// Our Call ID (the key of the packet).
    pub call_id: CallId,
    /// The GRE sequence number.
    pub seq: u32,
    /// The MPPE coherency count (12 bits).
    pub coherency_count: u16,
    /// Where the MPPE packet (MPPE header, then ciphertext) starts in the datagram.
    pub mppe_at: usize,
    /// Where the datagram's GRE payload ends.
    pub end: usize,
}

/// Reads a datagram from a raw GRE socket (IPv4 header included): `Some` for an MPPE data
/// packet with a sequence number, `None` for anything else.
pub fn parse_data_packet(datagram: &[u8]) -> Option<DataPacket> {
    let (envelope, ip_len) = Ipv4Envelope::parse(datagram).ok()?;
    let gre = datagram.get(ip_len..envelope.total_len)?;
    let (header, header_len) = GreHeader::parse(gre).ok()?;
    let seq = header.seq?;
    let frame = gre.get(header_len..header_len + usize::from(header.payload_len))?;
    let mppe_offset = match frame {
        [0xff, 0x03, 0x00, 0xfd, ..] => 4,
        [0x00, 0xfd, ..] => 2,
        _ => return None,
    };
    let mppe = MppeHeader::decode(frame.get(mppe_offset..)?)?;
    Some(DataPacket {
        call_id: header.call_id,
        seq,
        coherency_count: mppe.coherency_count,
        mppe_at: ip_len + header_len + mppe_offset,
        end: ip_len + header_len + frame.len(),
    })
}

/// Which GRE packets a socket filter keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreFilter {
    /// GRE packets with a PPP frame that is not MPPE data (LCP, CHAP, CCP, IPCP ...): what a
    /// `pptp_client` tunnel needs while the benchmark moves the data itself.
    ControlOnly,
    /// GRE packets carrying MPPE data (PPP protocol 0x00FD): what the downstream receiver
    /// counts.
    MppeDataOnly,
    /// Nothing: for sockets that only send.
    Nothing,
}

// Classic BPF opcodes (linux/filter.h).
const LDX_B_MSH: u16 = 0xb1; // X = 4 * (pkt[k] & 0xf)
const LD_H_IND: u16 = 0x48; // A = u16 at pkt[X + k]
const ALU_AND_K: u16 = 0x54;
const ALU_RSH_K: u16 = 0x74;
const ALU_ADD_K: u16 = 0x04;
const ALU_ADD_X: u16 = 0x0c;
const ST: u16 = 0x02; // M[k] = A
const LDX_MEM: u16 = 0x61; // X = M[k]
const TAX: u16 = 0x07;
const TXA: u16 = 0x87;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;

/// The classic BPF program (for a raw IPv4 socket: the packet starts with the IPv4 header)
/// that keeps what `filter` says, ready for `Socket::attach_filter`.
pub fn filter_program(filter: GreFilter) -> Vec<SockFilter> {
    filter_instructions(filter)
        .into_iter()
        .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect()
}

/// The instructions of [`filter_program`] as `(code, jt, jf, k)`.
///
/// It checks GRE version 1 with protocol 0x880B, drops acknowledgement-only packets (payload
/// length 0), finds the PPP frame behind the optional sequence and acknowledgement numbers (S
/// bit 0x1000, A bit 0x0080, four bytes each), reads its protocol with or without `FF 03`
/// (a one-byte compressed protocol counts as "not MPPE") and keeps MPPE data or the rest.
pub fn filter_instructions(filter: GreFilter) -> Vec<(u16, u8, u8, u32)> {
    let (keep_mppe, keep_other) = match filter {
        GreFilter::ControlOnly => (0, u32::MAX),
        GreFilter::MppeDataOnly => (u32::MAX, 0),
        GreFilter::Nothing => return vec![(RET_K, 0, 0, 0)],
    };
    let i = |code, jt, jf, k| (code, jt, jf, k);
    vec![
        /* 0 */ i(LDX_B_MSH, 0, 0, 0),
        /* 1 */ i(LD_H_IND, 0, 0, 2),
        /* 2 */ i(JMP_JEQ_K, 0, 23, 0x880b), // not PPTP GRE: drop (26)
        /* 3 */ i(LD_H_IND, 0, 0, 0),
        /* 4 */ i(ALU_AND_K, 0, 0, 0x0007),
        /* 5 */ i(JMP_JEQ_K, 0, 20, 1), // not version 1: drop
        /* 6 */ i(LD_H_IND, 0, 0, 4),
        /* 7 */ i(JMP_JEQ_K, 18, 0, 0), // acknowledgement only: drop
        // M[0] = 4 if S, M[1] = 4 if A
        /* 8 */ i(LD_H_IND, 0, 0, 0),
        /* 9 */ i(ALU_AND_K, 0, 0, 0x1000),
        /* 10 */ i(ALU_RSH_K, 0, 0, 10),
        /* 11 */ i(ST, 0, 0, 0),
        /* 12 */ i(LD_H_IND, 0, 0, 0),
        /* 13 */ i(ALU_AND_K, 0, 0, 0x0080),
        /* 14 */ i(ALU_RSH_K, 0, 0, 5),
        /* 15 */ i(ST, 0, 0, 1),
        // X = IPv4 header + 8 + M[0] + M[1]: the PPP frame
        /* 16 */ i(TXA, 0, 0, 0),
        /* 17 */ i(LDX_MEM, 0, 0, 0),
        /* 18 */ i(ALU_ADD_X, 0, 0, 0),
        /* 19 */ i(LDX_MEM, 0, 0, 1),
        /* 20 */ i(ALU_ADD_X, 0, 0, 0),
        /* 21 */ i(ALU_ADD_K, 0, 0, 8),
        /* 22 */ i(TAX, 0, 0, 0),
        /* 23 */ i(LD_H_IND, 0, 0, 0),
        /* 24 */ i(JMP_JEQ_K, 2, 0, 0xff03), // FF 03: the protocol follows (27)
        /* 25 */ i(JMP_JA, 0, 0, 2), // otherwise it is right here (28)
        /* 26 */ i(RET_K, 0, 0, 0),
        /* 27 */ i(LD_H_IND, 0, 0, 2),
        /* 28 */ i(JMP_JEQ_K, 0, 1, 0x00fd),
        /* 29 */ i(RET_K, 0, 0, keep_mppe),
        /* 30 */ i(RET_K, 0, 0, keep_other),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use mschap::{MppeConfig, MppeDecryptor, MppeStrength};

    /// A classic BPF interpreter for the instructions [`filter_program`] uses.
    fn run(program: &[(u16, u8, u8, u32)], packet: &[u8]) -> u32 {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        let half = |at: usize| -> Option<u32> {
            Some(u32::from(u16::from_be_bytes([
                *packet.get(at)?,
                *packet.get(at + 1)?,
            ])))
        };
        loop {
            let (code, jt, jf, k) = program[pc];
            pc += 1;
            match code {
                LDX_B_MSH => x = 4 * u32::from(packet[k as usize] & 0xf),
                LD_H_IND => match half((x + k) as usize) {
                    Some(v) => a = v,
                    None => return 0,
                },
                ALU_AND_K => a &= k,
                ALU_RSH_K => a >>= k,
                ALU_ADD_K => a += k,
                ALU_ADD_X => a += x,
                ST => mem[k as usize] = a,
                LDX_MEM => x = mem[k as usize],
                TAX => x = a,
                TXA => a = x,
                JMP_JA => pc += k as usize,
                JMP_JEQ_K => pc += usize::from(if a == k { jt } else { jf }),
                RET_K => return k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn program(filter: GreFilter) -> Vec<(u16, u8, u8, u32)> {
        assert_eq!(
            filter_program(filter).len(),
            filter_instructions(filter).len()
        );
        filter_instructions(filter)
    }

    fn ipv4(gre: &[u8]) -> Vec<u8> {
        let mut packet = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 47, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let total = (packet.len() + gre.len()) as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet.extend_from_slice(gre);
        packet
    }

    fn gre(seq: Option<u32>, ack: Option<u32>, ppp: &[u8]) -> Vec<u8> {
        let header = GreHeader {
            payload_len: ppp.len() as u16,
            call_id: CallId(0x1234),
            seq,
            ack,
        };
        let mut out = vec![0; header.len()];
        header.emit(&mut out).unwrap();
        out.extend_from_slice(ppp);
        ipv4(&out)
    }

    const LCP: &[u8] = &[0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];
    const MPPE: &[u8] = &[0xff, 0x03, 0x00, 0xfd, 0x90, 0x07, 0xaa, 0xbb, 0xcc];
    const MPPE_ACFC: &[u8] = &[0x00, 0xfd, 0x90, 0x07, 0xaa, 0xbb, 0xcc];

    #[test]
    fn control_filter_keeps_ppp_control_frames_only() {
        let control = program(GreFilter::ControlOnly);
        for (seq, ack) in [(Some(1), None), (Some(1), Some(9))] {
            assert_ne!(run(&control, &gre(seq, ack, LCP)), 0, "{seq:?} {ack:?}");
            assert_eq!(run(&control, &gre(seq, ack, MPPE)), 0, "{seq:?} {ack:?}");
            assert_eq!(run(&control, &gre(seq, ack, MPPE_ACFC)), 0);
        }
        assert_eq!(run(&control, &gre(None, Some(5), &[])), 0, "ack-only");
    }

    #[test]
    fn data_filter_keeps_mppe_data_only() {
        let data = program(GreFilter::MppeDataOnly);
        for (seq, ack) in [(Some(1), None), (Some(1), Some(9))] {
            assert_eq!(run(&data, &gre(seq, ack, LCP)), 0);
            assert_ne!(run(&data, &gre(seq, ack, MPPE)), 0);
            assert_ne!(run(&data, &gre(seq, ack, MPPE_ACFC)), 0);
        }
        assert_eq!(run(&data, &gre(None, Some(5), &[])), 0, "ack-only");
        // Not enhanced GRE: version 0, or another protocol type.
        let mut v0 = gre(Some(1), None, MPPE);
        v0[21] &= !0x07;
        assert_eq!(run(&data, &v0), 0);
        let mut other = gre(Some(1), None, MPPE);
        other[22] = 0x08;
        other[23] = 0x00;
        assert_eq!(run(&data, &other), 0);
        assert_eq!(
            run(&program(GreFilter::Nothing), &gre(Some(1), None, MPPE)),
            0
        );
    }

    #[test]
    fn built_frames_parse_and_decrypt() {
        let config = MppeConfig {
            strength: MppeStrength::Bits128,
            stateless: true,
        };
        let key = [7u8; 16];
        let mut encryptor = MppeEncryptor::new(&key, config);
        let mut decryptor = MppeDecryptor::new(&key, config);
        let datagram: Vec<u8> = (0..100u8).collect();
        for n in 0..3u32 {
            let mut frame = Vec::new();
            build_data_frame(
                &mut frame,
                CallId(0x1234),
                1000 + n,
                &mut encryptor,
                &datagram,
            );
            assert_eq!(frame.len(), FRAME_OVERHEAD + datagram.len());
            let packet = ipv4(&frame);
            let parsed = parse_data_packet(&packet).expect("a data packet");
            assert_eq!(parsed.call_id, CallId(0x1234));
            assert_eq!(parsed.seq, 1000 + n);
            assert_eq!(parsed.coherency_count, n as u16);
            assert_eq!(parsed.end, packet.len());
            let mut mppe = packet[parsed.mppe_at..parsed.end].to_vec();
            let plain = decryptor.decrypt(&mut mppe).unwrap();
            assert_eq!(&plain[..2], INNER_IPV4);
            assert_eq!(&plain[2..], &datagram[..]);
        }
        assert_eq!(parse_data_packet(&gre(Some(1), None, LCP)), None);
        assert_eq!(parse_data_packet(&gre(None, Some(1), &[])), None);
    }
}
