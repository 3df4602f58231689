//! Reads the Ethernet captures qemu writes for a guest ([`ClientVmConfig::pcap`]):
//! the raw frames, and a summary of the IPv4 packets in them (how much GRE, how
//! much PPTP control traffic on TCP 1723) for quick assertions.
//!
//! [`ClientVmConfig::pcap`]: crate::vm::ClientVmConfig::pcap

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;

use crate::error::{Error, Result};

/// IP protocol number of GRE (RFC 2637 §4.1 carries PPP in enhanced GRE).
pub const IP_PROTO_GRE: u8 = 47;
/// The PPTP control connection's TCP port (RFC 2637 §2).
pub const PPTP_PORT: u16 = 1723;

/// Every frame of a pcap file, in order.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bad = |e: &dyn std::fmt::Display| Error::BadOutput {
        tool: format!("pcap {}", path.display()),
        output: e.to_string(),
    };
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = PcapReader::new(file).map_err(|e| bad(&e))?;
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet.map_err(|e| bad(&e))?.data.into_owned());
    }
    Ok(frames)
}

/// What a capture holds, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureSummary {
    /// All frames.
    pub frames: usize,
    /// IPv4 packets by IP protocol number.
    pub ipv4_by_protocol: BTreeMap<u8, usize>,
    /// TCP segments to or from port 1723.
    pub pptp_control: usize,
}

impl CaptureSummary {
    /// Summarises the frames of a pcap file.
    pub fn read(path: &Path) -> Result<CaptureSummary> {
        Ok(CaptureSummary::of(&read_frames(path)?))
    }

    /// Summarises Ethernet frames.
    pub fn of(frames: &[Vec<u8>]) -> CaptureSummary {
        let mut summary = CaptureSummary {
            frames: frames.len(),
            ..CaptureSummary::default()
        };
        for frame in frames {
            let Ok(packet) = SlicedPacket::from_ethernet(frame) else {
                continue;
            };
            if let Some(NetSlice::Ipv4(ip)) = &packet.net {
                *summary
                    .ipv4_by_protocol
                    .entry(ip.header().protocol().0)
                    .or_default() += 1;
            }
            if let Some(TransportSlice::Tcp(tcp)) = &packet.transport
                && (tcp.source_port() == PPTP_PORT || tcp.destination_port() == PPTP_PORT)
            {
                summary.pptp_control += 1;
            }
        }
        summary
    }

    /// GRE packets (PPP frames and acknowledgements).
    pub fn gre(&self) -> usize {
        self.ipv4_by_protocol
            .get(&IP_PROTO_GRE)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn gre_and_pptp_control_are_counted() {
        let mut tcp = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 100, 100, 20], [10, 100, 100, 1], 64)
            .tcp(40000, PPTP_PORT, 1, 1000)
            .write(&mut tcp, &[])
            .unwrap();
        let mut gre = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 100, 100, 20], [10, 100, 100, 1], 64)
            .write(
                &mut gre,
                etherparse::IpNumber(IP_PROTO_GRE),
                &[0x30, 0x01, 0x88, 0x0b],
            )
            .unwrap();
        let summary = CaptureSummary::of(&[tcp, gre.clone(), gre, vec![0; 3]]);
        assert_eq!(summary.frames, 4);
        assert_eq!(summary.gre(), 2);
        assert_eq!(summary.pptp_control, 1);
        assert_eq!(summary.ipv4_by_protocol.get(&6), Some(&1));
    }
}
