//! The control packet shared by LCP, IPCP and CCP (RFC 1661 §5: Code, Identifier, Length,
//! Data), a bounded field reader, and the configuration option list (RFC 1661 §6: Type,
//! Length, Data).
//!
//! RFC 1661 §5: "Octets outside the range of the Length field are treated as Data Link Layer
//! padding and MUST be ignored on reception", and a Length longer than what was received is an
//! error ("packets with an invalid Length field are silently discarded").

use crate::error::{OptionError, PacketError};

/// Octets in the Code, Identifier and Length header.
pub const HEADER_LEN: usize = 4;

/// A control packet Code (RFC 1661 §5; CCP adds 14 and 15, RFC 1962 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub u8);

impl Code {
    /// Configure-Request.
    pub const CONFIGURE_REQUEST: Code = Code(1);
    /// Configure-Ack.
    pub const CONFIGURE_ACK: Code = Code(2);
    /// Configure-Nak.
    pub const CONFIGURE_NAK: Code = Code(3);
    /// Configure-Reject.
    pub const CONFIGURE_REJECT: Code = Code(4);
    /// Terminate-Request.
    pub const TERMINATE_REQUEST: Code = Code(5);
    /// Terminate-Ack.
    pub const TERMINATE_ACK: Code = Code(6);
    /// Code-Reject.
    pub const CODE_REJECT: Code = Code(7);
    /// Protocol-Reject (LCP only).
    pub const PROTOCOL_REJECT: Code = Code(8);
    /// Echo-Request (LCP only).
    pub const ECHO_REQUEST: Code = Code(9);
    /// Echo-Reply (LCP only).
    pub const ECHO_REPLY: Code = Code(10);
    /// Discard-Request (LCP only).
    pub const DISCARD_REQUEST: Code = Code(11);
    /// Identification (LCP, RFC 1570).
    pub const IDENTIFICATION: Code = Code(12);
    /// Time-Remaining (LCP, RFC 1570).
    pub const TIME_REMAINING: Code = Code(13);
    /// Reset-Request (CCP only, RFC 1962 §1.2).
    pub const RESET_REQUEST: Code = Code(14);
    /// Reset-Ack (CCP only, RFC 1962 §1.2).
    pub const RESET_ACK: Code = Code(15);

    /// The name pppd prints for this code in a packet of the given protocol family.
    pub fn name(self, lcp: bool, ccp: bool) -> Option<&'static str> {
        Some(match self.0 {
            1 => "ConfReq",
            2 => "ConfAck",
            3 => "ConfNak",
            4 => "ConfRej",
            5 => "TermReq",
            6 => "TermAck",
            7 => "CodeRej",
            8 if lcp => "ProtRej",
            9 if lcp => "EchoReq",
            10 if lcp => "EchoRep",
            11 if lcp => "DiscReq",
            12 if lcp => "Ident",
            13 if lcp => "TimeRem",
            14 if ccp => "ResetReq",
            15 if ccp => "ResetAck",
            _ => return None,
        })
    }
}

/// A packet Identifier, used to match replies with requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Identifier(pub u8);

impl Identifier {
    /// The identifier after this one (wrapping).
    pub fn next(self) -> Identifier {
        Identifier(self.0.wrapping_add(1))
    }
}

/// A decoded control packet borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPacket<'a> {
    /// The Code field.
    pub code: Code,
    /// The Identifier field.
    pub identifier: Identifier,
    /// The Data field (exactly Length - 4 octets).
    pub data: &'a [u8],
    /// The whole packet up to Length (header included), for Code-Reject and Protocol-Reject.
    pub raw: &'a [u8],
}

impl<'a> ControlPacket<'a> {
    /// Decodes a packet, validating the Length field and ignoring padding after it.
    pub fn decode(buf: &'a [u8]) -> Result<Self, PacketError> {
        let mut reader = Reader::new(buf);
        let header = reader
            .take(HEADER_LEN)
            .map_err(|_| PacketError::Truncated(buf.len()))?;
        let [code, identifier, high, low] = header else {
            return Err(PacketError::Truncated(buf.len()));
        };
        let length = u16::from_be_bytes([*high, *low]);
        let total = usize::from(length);
        if total < HEADER_LEN {
            return Err(PacketError::LengthTooShort(length));
        }
        let raw = buf.get(..total).ok_or(PacketError::LengthOverrun {
            length,
            available: buf.len(),
        })?;
        Ok(ControlPacket {
            code: Code(*code),
            identifier: Identifier(*identifier),
            data: raw.get(HEADER_LEN..).unwrap_or_default(),
            raw,
        })
    }

    /// Appends the encoded packet to `out` (Length computed from `data`).
    pub fn encode(code: Code, identifier: Identifier, data: &[u8], out: &mut Vec<u8>) {
        // Our own packets never come near 64 KiB; clamp rather than write a lying Length.
        let data = data
            .get(..usize::from(u16::MAX) - HEADER_LEN)
            .unwrap_or(data);
        let length = (HEADER_LEN + data.len()) as u16;
        out.reserve(usize::from(length));
        out.push(code.0);
        out.push(identifier.0);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(data);
    }

    /// Encodes a packet into a fresh vector.
    pub fn to_vec(code: Code, identifier: Identifier, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + data.len());
        Self::encode(code, identifier, data, &mut out);
        out
    }
}

/// A bounded big-endian reader: every read checks what is left and fails with a typed error.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Octets not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Takes the next `n` octets.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], PacketError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        match end.and_then(|end| self.buf.get(self.pos..end).map(|s| (end, s))) {
            Some((end, slice)) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(PacketError::FieldTruncated {
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Reads one octet.
    pub fn u8(&mut self) -> Result<u8, PacketError> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, PacketError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, PacketError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], PacketError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Takes everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }
}

/// One configuration option (RFC 1661 §6): Type and Data (Length is implied by Data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigOption<'a> {
    /// The Type octet.
    pub kind: u8,
    /// The Data octets (Length - 2 of them).
    pub data: &'a [u8],
    /// The whole option, Type and Length included, as received (to copy into Nak/Reject lists).
    pub raw: &'a [u8],
}

impl<'a> ConfigOption<'a> {
    /// Appends an option with the given type and data to `out`.
    pub fn encode(kind: u8, data: &[u8], out: &mut Vec<u8>) {
        // Options we build are a few octets; clamp rather than emit an inconsistent Length.
        let data = data.get(..usize::from(u8::MAX) - 2).unwrap_or(data);
        out.push(kind);
        out.push((data.len() + 2) as u8);
        out.extend_from_slice(data);
    }

    /// Requires the data to be exactly `N` octets.
    pub fn fixed<const N: usize>(&self) -> Result<[u8; N], OptionError> {
        <[u8; N]>::try_from(self.data).map_err(|_| OptionError::BadLength {
            kind: self.kind,
            length: self.data.len(),
            expected: N,
        })
    }

    /// Requires no data.
    pub fn empty(&self) -> Result<(), OptionError> {
        self.fixed::<0>().map(|_| ())
    }

    /// Requires at least `min` data octets.
    pub fn at_least(&self, min: usize) -> Result<&'a [u8], OptionError> {
        if self.data.len() < min {
            return Err(OptionError::BadLength {
                kind: self.kind,
                length: self.data.len(),
                expected: min,
            });
        }
        Ok(self.data)
    }
}

/// Iterator over an option list; yields one error and then stops on a malformed option.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> OptionIter<'a> {
    /// Iterates over the options in `list` (the Data of a Configure-* packet).
    pub fn new(list: &'a [u8]) -> Self {
        OptionIter {
            rest: list,
            failed: false,
        }
    }

    /// The octets not yet consumed (after an error: the malformed tail).
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<ConfigOption<'a>, OptionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (kind, length) = match self.rest {
            [] => return None,
            [kind] => {
                self.failed = true;
                return Some(Err(OptionError::MissingLength { kind: *kind }));
            }
            [kind, length, ..] => (*kind, *length),
        };
        let result = if length < 2 {
            Err(OptionError::LengthTooShort { kind, length })
        } else if let Some((raw, rest)) = self.rest.split_at_checked(usize::from(length)) {
            self.rest = rest;
            return Some(Ok(ConfigOption {
                kind,
                data: raw.get(2..).unwrap_or_default(),
                raw,
            }));
        } else {
            Err(OptionError::LengthOverrun {
                kind,
                length,
                available: self.rest.len(),
            })
        };
        // Stop after the first malformed option; `remainder` keeps the tail for a Reject.
        self.failed = true;
        Some(result)
    }
}

/// Parses a whole option list, failing on the first malformed option.
pub fn parse_options(list: &[u8]) -> Result<Vec<ConfigOption<'_>>, OptionError> {
    OptionIter::new(list).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn decodes_header_and_ignores_padding() {
        let buf = hex!("0101000801020304 eeee");
        let packet = ControlPacket::decode(&buf).unwrap();
        assert_eq!(packet.code, Code::CONFIGURE_REQUEST);
        assert_eq!(packet.identifier, Identifier(1));
        assert_eq!(packet.data, &hex!("01020304"));
        assert_eq!(packet.raw, &buf[..8]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            ControlPacket::decode(&hex!("0101")),
            Err(PacketError::Truncated(2))
        );
        assert_eq!(
            ControlPacket::decode(&hex!("01010003")),
            Err(PacketError::LengthTooShort(3))
        );
        assert_eq!(
            ControlPacket::decode(&hex!("0101000900")),
            Err(PacketError::LengthOverrun {
                length: 9,
                available: 5
            })
        );
    }

    #[test]
    fn encodes_length() {
        assert_eq!(
            ControlPacket::to_vec(Code::TERMINATE_ACK, Identifier(7), &[9]),
            hex!("0607000509")
        );
    }

    #[test]
    fn option_list_parses_and_reports_errors() {
        let list = hex!("0206000000000702");
        let options = parse_options(&list).unwrap();
        assert_eq!(options.len(), 2);
        assert_eq!(options[0].kind, 2);
        assert_eq!(options[0].data, &hex!("00000000"));
        assert_eq!(options[1].raw, &hex!("0702"));

        assert_eq!(
            parse_options(&hex!("0702 05")),
            Err(OptionError::MissingLength { kind: 5 })
        );
        assert_eq!(
            parse_options(&hex!("0701")),
            Err(OptionError::LengthTooShort { kind: 7, length: 1 })
        );
        assert_eq!(
            parse_options(&hex!("050600")),
            Err(OptionError::LengthOverrun {
                kind: 5,
                length: 6,
                available: 3
            })
        );
    }

    #[test]
    fn reader_is_bounded() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u16(), Ok(0x0102));
        assert_eq!(
            reader.u16(),
            Err(PacketError::FieldTruncated {
                needed: 2,
                available: 1
            })
        );
        assert_eq!(reader.u8(), Ok(3));
        assert_eq!(reader.rest(), &[] as &[u8]);
        assert!(reader.take(usize::MAX).is_err());
    }
}
