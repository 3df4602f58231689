//! The IPv4 header in front of a datagram read from a raw GRE socket (RFC 791; IP protocol 47,
//! RFC 2637 §4.1 "The GRE packet is carried in an IP packet").
//!
//! On Linux a raw `IPPROTO_GRE` socket returns every datagram with its IPv4 header, Total
//! Length in network order, after the kernel has verified the header checksum and reassembled
//! fragments. This parser finds where the GRE packet starts and ends and who sent it, and
//! refuses anything that is not a whole, unfragmented GRE datagram.

use core::net::Ipv4Addr;

use crate::error::GreError;

/// IP protocol number of GRE.
pub const PROTOCOL_GRE: u8 = 47;
/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Fragment word: More Fragments.
const MORE_FRAGMENTS: u16 = 0x2000;
/// Fragment word: Fragment Offset.
const FRAGMENT_OFFSET: u16 = 0x1fff;

/// The parts of an IPv4 header a GRE receiver needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Envelope {
    /// Source address: must be the control connection's peer for the call.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Header length (IHL x 4): the GRE packet starts here.
    pub header_len: usize,
    /// Total Length: the GRE packet ends here (anything after it in the buffer is ignored).
    pub total_len: usize,
}

impl Ipv4Envelope {
    /// Parses and validates the IPv4 header at the start of `buf`: version 4, IHL of at least
    /// 5, a Total Length within `buf`, protocol 47, and not a fragment. Returns the envelope and
    /// the header length (where the GRE packet starts), like
    /// [`GreHeader::parse`](crate::gre::GreHeader::parse).
    pub fn parse(buf: &[u8]) -> Result<(Ipv4Envelope, usize), GreError> {
        let [
            version_ihl,
            _tos,
            total_hi,
            total_lo,
            _id_hi,
            _id_lo,
            frag_hi,
            frag_lo,
            _ttl,
            protocol,
            _sum_hi,
            _sum_lo,
            s0,
            s1,
            s2,
            s3,
            d0,
            d1,
            d2,
            d3,
            ..,
        ] = *buf
        else {
            return Err(GreError::Truncated {
                needed: MIN_HEADER_LEN,
                available: buf.len(),
            });
        };
        let version = version_ihl >> 4;
        if version != 4 {
            return Err(GreError::NotIpv4(version));
        }
        let ihl = version_ihl & 0x0f;
        if ihl < 5 {
            return Err(GreError::BadHeaderLength(ihl));
        }
        let header_len = usize::from(ihl) * 4;
        if buf.len() < header_len {
            return Err(GreError::Truncated {
                needed: header_len,
                available: buf.len(),
            });
        }
        let total = u16::from_be_bytes([total_hi, total_lo]);
        if usize::from(total) < header_len || usize::from(total) > buf.len() {
            return Err(GreError::BadTotalLength {
                total,
                header_len,
                available: buf.len(),
            });
        }
        if protocol != PROTOCOL_GRE {
            return Err(GreError::NotGre(protocol));
        }
        let fragment = u16::from_be_bytes([frag_hi, frag_lo]);
        let more_fragments = fragment & MORE_FRAGMENTS != 0;
        let offset = fragment & FRAGMENT_OFFSET;
        if more_fragments || offset != 0 {
            return Err(GreError::Fragment {
                offset,
                more_fragments,
            });
        }
        let envelope = Ipv4Envelope {
            src: Ipv4Addr::new(s0, s1, s2, s3),
            dst: Ipv4Addr::new(d0, d1, d2, d3),
            header_len,
            total_len: usize::from(total),
        };
        Ok((envelope, header_len))
    }

    /// The GRE packet inside the datagram `buf` this envelope was parsed from.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.header_len..self.total_len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// Frame 28 of the fixture without its Ethernet header: an acknowledgement-only GRE packet
    /// from pptp-linux (10.100.100.2 -> 10.100.100.1).
    const ACK_ONLY_DATAGRAM: [u8; 32] = hex!(
        "45000020 07844000 402f5660 0a646402 0a646401"
        "2081880b 00000000 00000002"
    );

    #[test]
    fn parses_the_fixture_datagram() {
        let (envelope, header_len) = Ipv4Envelope::parse(&ACK_ONLY_DATAGRAM).unwrap();
        assert_eq!(header_len, 20);
        assert_eq!(envelope.src, Ipv4Addr::new(10, 100, 100, 2));
        assert_eq!(envelope.dst, Ipv4Addr::new(10, 100, 100, 1));
        assert_eq!(envelope.header_len, 20);
        assert_eq!(envelope.total_len, 32);
        assert_eq!(
            envelope.payload(&ACK_ONLY_DATAGRAM),
            &hex!("2081880b 00000000 00000002")
        );
    }

    #[test]
    fn trailing_bytes_after_total_length_are_not_payload() {
        let mut padded = ACK_ONLY_DATAGRAM.to_vec();
        padded.extend_from_slice(&[0xee; 6]);
        let (envelope, _) = Ipv4Envelope::parse(&padded).unwrap();
        assert_eq!(envelope.payload(&padded).len(), 12);
    }

    #[test]
    fn honours_options_in_the_header() {
        let mut datagram = ACK_ONLY_DATAGRAM.to_vec();
        datagram[0] = 0x46; // IHL 6: four octets of options
        datagram.splice(20..20, [1, 1, 1, 0]); // NOP NOP NOP EOL
        datagram[3] = 36;
        let (envelope, header_len) = Ipv4Envelope::parse(&datagram).unwrap();
        assert_eq!(header_len, 24);
        assert_eq!(envelope.header_len, 24);
        assert_eq!(envelope.payload(&datagram)[0], 0x20);
    }

    #[test]
    fn rejects_what_is_not_one_whole_gre_datagram() {
        let with = |at: usize, value: u8| {
            let mut d = ACK_ONLY_DATAGRAM;
            d[at] = value;
            Ipv4Envelope::parse(&d).map(|(envelope, _)| envelope)
        };
        assert_eq!(with(0, 0x65), Err(GreError::NotIpv4(6)));
        assert_eq!(with(0, 0x44), Err(GreError::BadHeaderLength(4)));
        assert_eq!(with(9, 6), Err(GreError::NotGre(6)));
        assert_eq!(
            with(3, 33),
            Err(GreError::BadTotalLength {
                total: 33,
                header_len: 20,
                available: 32
            })
        );
        assert_eq!(
            with(3, 19),
            Err(GreError::BadTotalLength {
                total: 19,
                header_len: 20,
                available: 32
            })
        );
        assert_eq!(
            with(0, 0x4f),
            Err(GreError::Truncated {
                needed: 60,
                available: 32
            })
        );
        assert_eq!(
            Ipv4Envelope::parse(&ACK_ONLY_DATAGRAM[..19]).map(|(e, _)| e),
            Err(GreError::Truncated {
                needed: 20,
                available: 19
            })
        );
    }

    #[test]
    fn reports_fragments_distinctly() {
        let mut first = ACK_ONLY_DATAGRAM;
        first[6] = 0x20; // MF, offset 0
        first[7] = 0x00;
        assert_eq!(
            Ipv4Envelope::parse(&first).map(|(e, _)| e),
            Err(GreError::Fragment {
                offset: 0,
                more_fragments: true
            })
        );
        let mut last = ACK_ONLY_DATAGRAM;
        last[6] = 0x40; // DF is fine, but the offset is not
        last[7] = 0xb9;
        assert_eq!(
            Ipv4Envelope::parse(&last).map(|(e, _)| e),
            Err(GreError::Fragment {
                offset: 0xb9,
                more_fragments: false
            })
        );
    }
}
