//! One-line renderings of PPP frames in the style of pppd's debug log, for the daemon's
//! `--debug` (`rcvd [LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x622e65eb> <pcomp> <accomp>]`).
//!
//! [`describe_frame`] never panics; what it cannot decode it prints as hex.

use std::fmt::Write as _;

use crate::frame::{PppFrame, Protocol};
use crate::packet::{Code, ConfigOption, ControlPacket, OptionIter, Reader};

/// Octets of trailing or undecodable data printed before `...`.
const HEX_LIMIT: usize = 32;

/// Renders a PPP frame (with or without `FF 03`) like pppd's `sent [...]` / `rcvd [...]` lines.
pub fn describe_frame(frame: &[u8]) -> String {
    let mut out = String::from("[");
    match PppFrame::decode(frame) {
        Ok((protocol, payload)) => describe_payload(protocol, payload, &mut out),
        Err(_) => {
            out.push_str("junk");
            hex_bytes(frame, &mut out);
        }
    }
    out.push(']');
    out
}

fn describe_payload(protocol: Protocol, payload: &[u8], out: &mut String) {
    match protocol {
        Protocol::LCP => control_packet(
            "LCP",
            payload,
            crate::lcp::describe_option,
            true,
            false,
            out,
        ),
        Protocol::IPCP => control_packet(
            "IPCP",
            payload,
            crate::ipcp::describe_option,
            false,
            false,
            out,
        ),
        Protocol::CCP => control_packet(
            "CCP",
            payload,
            crate::ccp::describe_option,
            false,
            true,
            out,
        ),
        Protocol::IPV6CP => control_packet("IPV6CP", payload, ipv6cp_option, false, false, out),
        Protocol::CHAP => {
            out.push_str("CHAP");
            if !crate::chap::describe_packet(payload, out) {
                out.push_str(" malformed");
                hex_bytes(payload, out);
            }
        }
        Protocol::IPV4 | Protocol::IPV6 | Protocol::COMPRESSED => {
            let name = match protocol {
                Protocol::IPV4 => "IP",
                Protocol::IPV6 => "IPv6",
                _ => "MPPE",
            };
            let _ = write!(out, "{name} len={}", payload.len());
        }
        other => {
            let _ = write!(out, "proto=0x{:x}", other.0);
            hex_bytes(payload, out);
        }
    }
}

fn control_packet(
    name: &str,
    payload: &[u8],
    describe_option: fn(&ConfigOption<'_>, &mut String),
    lcp: bool,
    ccp: bool,
    out: &mut String,
) {
    out.push_str(name);
    let Ok(packet) = ControlPacket::decode(payload) else {
        out.push_str(" malformed");
        hex_bytes(payload, out);
        return;
    };
    match packet.code.name(lcp, ccp) {
        Some(code) => {
            let _ = write!(out, " {code}");
        }
        None => {
            let _ = write!(out, " code=0x{:x}", packet.code.0);
        }
    }
    let _ = write!(out, " id=0x{:x}", packet.identifier.0);
    let mut rest = packet.data;
    match packet.code {
        Code::CONFIGURE_REQUEST
        | Code::CONFIGURE_ACK
        | Code::CONFIGURE_NAK
        | Code::CONFIGURE_REJECT => {
            let mut iter = OptionIter::new(packet.data);
            for option in iter.by_ref() {
                let Ok(option) = option else { break };
                out.push_str(" <");
                describe_option(&option, out);
                out.push('>');
            }
            rest = iter.remainder();
        }
        Code::TERMINATE_REQUEST | Code::TERMINATE_ACK
            if packet
                .data
                .first()
                .is_some_and(|byte| (b' '..0x7f).contains(byte)) =>
        {
            out.push(' ');
            quoted(packet.data, out);
            rest = &[];
        }
        Code::PROTOCOL_REJECT if lcp => {
            let mut reader = Reader::new(packet.data);
            if let Ok(protocol) = reader.u16() {
                let _ = write!(out, " proto=0x{protocol:x}");
                rest = reader.rest();
            }
        }
        Code::ECHO_REQUEST | Code::ECHO_REPLY | Code::DISCARD_REQUEST | Code::IDENTIFICATION
            if lcp =>
        {
            let mut reader = Reader::new(packet.data);
            if let Ok(magic) = reader.u32() {
                let _ = write!(out, " magic=0x{magic:x}");
                rest = reader.rest();
                if packet.code == Code::IDENTIFICATION && !rest.is_empty() {
                    out.push(' ');
                    quoted(rest, out);
                    rest = &[];
                }
            }
        }
        Code::TIME_REMAINING if lcp => {
            let mut reader = Reader::new(packet.data);
            if let (Ok(magic), Ok(seconds)) = (reader.u32(), reader.u32()) {
                let _ = write!(out, " magic=0x{magic:x} seconds={seconds}");
                rest = reader.rest();
            }
        }
        _ => {}
    }
    hex_bytes(rest, out);
}

fn ipv6cp_option(option: &ConfigOption<'_>, out: &mut String) {
    match (option.kind, option.data) {
        (1, [a, b, c, d, e, f, g, h]) => {
            let _ = write!(
                out,
                "addr fe80::{:x}:{:x}:{:x}:{:x}",
                u16::from_be_bytes([*a, *b]),
                u16::from_be_bytes([*c, *d]),
                u16::from_be_bytes([*e, *f]),
                u16::from_be_bytes([*g, *h])
            );
        }
        _ => raw_option(option, out),
    }
}

/// An option we have no name for: its type and data in hex, e.g. `0x11 05 4e`.
pub(crate) fn raw_option(option: &ConfigOption<'_>, out: &mut String) {
    let _ = write!(out, "0x{:x}", option.kind);
    for byte in option.data.iter().take(HEX_LIMIT) {
        let _ = write!(out, " {byte:02x}");
    }
    if option.data.len() > HEX_LIMIT {
        out.push_str(" ...");
    }
}

/// Space-separated hex of at most [`HEX_LIMIT`] octets, then ` ...` if there are more.
pub(crate) fn hex_bytes(bytes: &[u8], out: &mut String) {
    for byte in bytes.iter().take(HEX_LIMIT) {
        let _ = write!(out, " {byte:02x}");
    }
    if bytes.len() > HEX_LIMIT {
        out.push_str(" ...");
    }
}

/// A double-quoted string with non-printable octets escaped (pppd's `print_string`).
pub(crate) fn quoted(bytes: &[u8], out: &mut String) {
    out.push('"');
    for byte in bytes {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(*byte));
            }
            b' '..=b'~' => out.push(char::from(*byte)),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            other => {
                let _ = write!(out, "\\x{other:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn lcp_like_pppd() {
        assert_eq!(
            describe_frame(&hex!(
                "ff03c021010100190206000000000305c223810506bc49b70807020802"
            )),
            "[LCP ConfReq id=0x1 <asyncmap 0x0> <auth chap MS-v2> <magic 0xbc49b708> <pcomp> <accomp>]"
        );
        assert_eq!(
            describe_frame(&hex!("ff03c0210902000863a1b2c3")),
            "[LCP EchoReq id=0x2 magic=0x63a1b2c3]"
        );
        assert_eq!(
            describe_frame(&hex!("ff03c021050300085573657222")),
            "[LCP TermReq id=0x3 \"User\"]"
        );
    }

    #[test]
    fn chap_ccp_ipcp_like_pppd() {
        assert_eq!(
            describe_frame(&hex!(
                "c2230157001a10c8197cc8a3afa2abe302902be73a89907070747064"
            )),
            "[CHAP Challenge id=0x57 <c8197cc8a3afa2abe302902be73a8990>, name = \"pptpd\"]"
        );
        assert_eq!(
            describe_frame(&hex!("80fd0101000a120601000040")),
            "[CCP ConfReq id=0x1 <mppe +H -M +S -L -D -C>]"
        );
        assert_eq!(
            describe_frame(&hex!("80210301000a0306c0a800ea")),
            "[IPCP ConfNak id=0x1 <addr 192.168.0.234>]"
        );
        assert_eq!(
            describe_frame(&hex!("8021010100100206002d0f01030600000000")),
            "[IPCP ConfReq id=0x1 <compress VJ 0f 01> <addr 0.0.0.0>]"
        );
        assert_eq!(
            describe_frame(&hex!("80570101000e010a4994c69271c1901d")),
            "[IPV6CP ConfReq id=0x1 <addr fe80::4994:c692:71c1:901d>]"
        );
    }

    #[test]
    fn junk_prints_hex() {
        assert_eq!(describe_frame(&[]), "[junk]");
        assert_eq!(describe_frame(&hex!("ff0a01")), "[junk ff 0a 01]");
        assert_eq!(
            describe_frame(&hex!("c021 0101ffff")),
            "[LCP malformed 01 01 ff ff]"
        );
        assert_eq!(describe_frame(&hex!("fd900078")), "[MPPE len=3]");
        assert_eq!(
            describe_frame(&hex!("c021 0101000a 0701 0506 0000")),
            "[LCP ConfReq id=0x1 07 01 05 06 00 00]"
        );
    }
}
