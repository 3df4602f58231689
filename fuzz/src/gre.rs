//! Harness for the GRE receive path (RFC 2637 §4.1): the IPv4 envelope a raw socket hands over,
//! and the enhanced GRE header inside it.

use pptp_proto::{GreHeader, Ipv4Envelope};

/// `gre_datagram`: the input as a raw-socket datagram (IPv4 header + GRE packet) and as a bare
/// GRE packet. A parsed envelope lies within the buffer; a parsed GRE header's payload lies
/// within the buffer, its length is the header's wire length, and the header re-emits to
/// octets that parse back to the same header.
pub fn gre_datagram(data: &[u8]) {
    check_gre(data);
    if let Ok((envelope, header_len)) = Ipv4Envelope::parse(data) {
        assert_eq!(header_len, envelope.header_len);
        assert!(envelope.header_len >= 20, "IHL below 5 accepted");
        assert!(
            envelope.header_len <= envelope.total_len && envelope.total_len <= data.len(),
            "envelope {envelope:?} outside a {}-octet buffer",
            data.len()
        );
        let payload = envelope.payload(data);
        assert_eq!(payload.len(), envelope.total_len - envelope.header_len);
        check_gre(payload);
    }
}

/// Parses `packet` as a GRE packet and checks the header.
fn check_gre(packet: &[u8]) {
    let parsed = GreHeader::parse(packet);
    let with_payload = GreHeader::parse_packet(packet);
    let (header, header_len) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            assert_eq!(
                with_payload.map(|(h, _)| h).err(),
                Some(error),
                "parse and parse_packet disagree"
            );
            return;
        }
    };
    assert_eq!(header_len, header.len(), "header length");
    let end = header_len + usize::from(header.payload_len);
    assert!(end <= packet.len(), "payload runs past the buffer");
    match with_payload {
        Ok((same, payload)) => {
            assert_eq!(same, header);
            assert_eq!(payload.len(), usize::from(header.payload_len));
        }
        Err(error) => panic!("parse accepted what parse_packet refused: {error}"),
    }
    assert!(
        header.seq.is_some() || header.payload_len == 0,
        "payload without a sequence number"
    );
    let mut emitted = [0u8; 16];
    let len = match header.emit(&mut emitted) {
        Ok(len) => len,
        Err(error) => panic!("a parsed header {header:?} does not emit: {error}"),
    };
    assert_eq!(len, header_len);
    let mut reparsed = emitted[..len].to_vec();
    reparsed.extend_from_slice(&packet[header_len..end]);
    assert_eq!(
        GreHeader::parse(&reparsed).map(|(h, _)| h),
        Ok(header),
        "emit/parse round trip"
    );
}
