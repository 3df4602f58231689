//! PPP frame codec: Address/Control and Protocol fields (RFC 1661 §2, RFC 1662 §3 without the
//! HDLC flags, escaping and FCS, since PPTP carries whole frames in GRE).
//!
//! Decoding is tolerant whatever was negotiated: RFC 1661 §6.6/§6.5 allow a peer that agreed to
//! Address-and-Control-Field-Compression and Protocol-Field-Compression to omit `FF 03` and to
//! send a one-octet Protocol field, and pppd does so right after LCP opens (capture frame 27),
//! so both forms are always accepted. Encoding always writes `FF 03` and two protocol octets:
//! "LCP packets MUST be sent with the Address and Control fields" and we never compress.

use std::fmt;

use crate::error::FrameError;

/// The All-Stations address octet (RFC 1662 §3.1).
pub const ADDRESS: u8 = 0xFF;
/// The Unnumbered Information control octet (RFC 1662 §3.1).
pub const CONTROL: u8 = 0x03;

/// A PPP Protocol field value (RFC 1661 §2, assigned numbers in RFC 1700 / IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Protocol(pub u16);

impl Protocol {
    /// Internet Protocol version 4 datagrams.
    pub const IPV4: Protocol = Protocol(0x0021);
    /// Van Jacobson compressed TCP/IP.
    pub const VJ_COMPRESSED: Protocol = Protocol(0x002D);
    /// Van Jacobson uncompressed TCP/IP.
    pub const VJ_UNCOMPRESSED: Protocol = Protocol(0x002F);
    /// Multilink PPP fragments (RFC 1990).
    pub const MULTILINK: Protocol = Protocol(0x003D);
    /// Internet Protocol version 6 datagrams.
    pub const IPV6: Protocol = Protocol(0x0057);
    /// Compressed datagram (RFC 1962), carrying MPPE (RFC 3078).
    pub const COMPRESSED: Protocol = Protocol(0x00FD);
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: Protocol = Protocol(0x8021);
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: Protocol = Protocol(0x8057);
    /// Compression Control Protocol (RFC 1962).
    pub const CCP: Protocol = Protocol(0x80FD);
    /// Link Control Protocol (RFC 1661).
    pub const LCP: Protocol = Protocol(0xC021);
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: Protocol = Protocol(0xC023);
    /// Link Quality Report (RFC 1989).
    pub const LQR: Protocol = Protocol(0xC025);
    /// Callback Control Protocol (Microsoft CBCP).
    pub const CBCP: Protocol = Protocol(0xC029);
    /// Challenge Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: Protocol = Protocol(0xC223);
    /// Extensible Authentication Protocol (RFC 3748).
    pub const EAP: Protocol = Protocol(0xC227);

    /// The short name pppd uses in its logs, if the protocol is a known one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Protocol::IPV4 => "IP",
            Protocol::VJ_COMPRESSED => "VJC",
            Protocol::VJ_UNCOMPRESSED => "VJUC",
            Protocol::MULTILINK => "MP",
            Protocol::IPV6 => "IPv6",
            Protocol::COMPRESSED => "Comp",
            Protocol::IPCP => "IPCP",
            Protocol::IPV6CP => "IPV6CP",
            Protocol::CCP => "CCP",
            Protocol::LCP => "LCP",
            Protocol::PAP => "PAP",
            Protocol::LQR => "LQR",
            Protocol::CBCP => "CBCP",
            Protocol::CHAP => "CHAP",
            Protocol::EAP => "EAP",
            _ => return None,
        })
    }

    /// Whether the value is a valid PPP protocol number (RFC 1661 §2: the low octet is odd and
    /// the high octet even).
    pub fn is_valid(self) -> bool {
        self.0 & 0x0001 == 1 && self.0 & 0x0100 == 0
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

/// A decoded PPP frame: the protocol and the information field it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PppFrame<'a> {
    /// The Protocol field.
    pub protocol: Protocol,
    /// The Information field (plus any padding: the frame layer cannot tell them apart).
    pub payload: &'a [u8],
}

impl<'a> PppFrame<'a> {
    /// Decodes a frame into its protocol and payload, accepting compressed and uncompressed
    /// Address/Control and Protocol fields (RFC 1661 §6.5, §6.6) whatever was negotiated.
    pub fn decode(buf: &'a [u8]) -> Result<(Protocol, &'a [u8]), FrameError> {
        let frame = Self::parse(buf)?;
        Ok((frame.protocol, frame.payload))
    }

    /// Like [`PppFrame::decode`], returning the frame as a struct.
    pub fn parse(buf: &'a [u8]) -> Result<PppFrame<'a>, FrameError> {
        let rest = match buf {
            [ADDRESS, CONTROL, rest @ ..] => rest,
            [ADDRESS, control, ..] => return Err(FrameError::BadControl(*control)),
            [ADDRESS] | [] => return Err(FrameError::Truncated(buf.len())),
            _ => buf,
        };
        match rest {
            // RFC 1661 §2: "an odd first byte means a one-octet field" (PFC).
            [low, payload @ ..] if low & 1 == 1 => Ok(PppFrame {
                protocol: Protocol(u16::from(*low)),
                payload,
            }),
            [high, low, payload @ ..] => {
                let protocol = Protocol(u16::from_be_bytes([*high, *low]));
                if low & 1 == 0 {
                    return Err(FrameError::BadProtocol(protocol.0));
                }
                Ok(PppFrame { protocol, payload })
            }
            _ => Err(FrameError::Truncated(buf.len())),
        }
    }
}

/// Appends a full frame to `out`: `FF 03`, the two-octet protocol, then `payload`.
pub fn encode_frame(protocol: Protocol, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(4 + payload.len());
    out.extend_from_slice(&[ADDRESS, CONTROL]);
    out.extend_from_slice(&protocol.0.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn full_header() {
        let frame = hex!("ff03c021010100040000");
        assert_eq!(
            PppFrame::decode(&frame),
            Ok((Protocol::LCP, &hex!("010100040000")[..]))
        );
    }

    #[test]
    fn compressed_address_and_two_byte_protocol() {
        // Capture frame 27: pppd sends CHAP without FF 03 once ACFC is agreed.
        let frame = hex!("c2230157001a");
        assert_eq!(
            PppFrame::decode(&frame),
            Ok((Protocol::CHAP, &hex!("0157001a")[..]))
        );
    }

    #[test]
    fn one_byte_protocol_with_and_without_address() {
        // Capture frame 44: MPPE data as `FD 90 00 ...`.
        assert_eq!(
            PppFrame::decode(&hex!("fd9000")),
            Ok((Protocol::COMPRESSED, &hex!("9000")[..]))
        );
        assert_eq!(
            PppFrame::decode(&hex!("ff0321450000")),
            Ok((Protocol::IPV4, &hex!("450000")[..]))
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(PppFrame::decode(&[]), Err(FrameError::Truncated(0)));
        assert_eq!(PppFrame::decode(&[0xff]), Err(FrameError::Truncated(1)));
        assert_eq!(
            PppFrame::decode(&[0xff, 0x03]),
            Err(FrameError::Truncated(2))
        );
        assert_eq!(
            PppFrame::decode(&[0xff, 0x13, 0xc0]),
            Err(FrameError::BadControl(0x13))
        );
        assert_eq!(PppFrame::decode(&[0xc0]), Err(FrameError::Truncated(1)));
        assert_eq!(
            PppFrame::decode(&[0xc0, 0x22]),
            Err(FrameError::BadProtocol(0xc022))
        );
    }

    #[test]
    fn encode_writes_uncompressed_header() {
        let mut out = vec![0xaa];
        encode_frame(Protocol::COMPRESSED, &[1, 2], &mut out);
        assert_eq!(out, hex!("aaff0300fd0102"));
    }

    #[test]
    fn display_names() {
        assert_eq!(Protocol::LCP.to_string(), "LCP");
        assert_eq!(Protocol(0x8281).to_string(), "0x8281");
        assert!(Protocol::IPV6CP.is_valid());
        assert!(!Protocol(0x0100).is_valid());
    }
}
