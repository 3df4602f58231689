//! Direct sending of downstream GRE data (`gre-direct yes`): a packet socket
//! (AF_PACKET) that hands finished Ethernet frames to the outgoing device.
//!
//! Sent through the raw GRE socket, every datagram pays for the kernel's IP
//! output: a route lookup, netfilter's OUTPUT and POSTROUTING hooks (connection
//! tracking and NAT), a checksumming copy and neighbour output — about as much
//! per datagram as the whole kernel forwarding of a packet, half the kernel
//! work of the downstream path. A session's next hop does not change from one
//! datagram to the next, so the control plane looks it up once
//! ([`crate::link_resolver`]) and the worker writes the Ethernet and IPv4
//! headers (RFC 791 §3.1) itself. The frames still pass the device's queueing
//! discipline and packet taps (tc and tcpdump see them); they skip the host's
//! netfilter, which has no business with our own tunnel datagrams.
//!
//! Only data takes this way: PPP control frames and acknowledgements keep the
//! raw socket, so that connection tracking sees our side of each call (a host
//! firewall that accepts only `ct state established` GRE keeps working), and
//! the kernel resolves the neighbour for the next lookup. A datagram larger
//! than the device's MTU goes by the raw socket too, where the kernel fragments
//! it. The IPv4 header carries DF clear (we cannot hear path-MTU messages on
//! this path, so routers must be free to fragment) and an ID from the worker's
//! own counter.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use super::gre_socket::{IPPROTO_GRE, SOCKET_BUFFER, force_buffer};

/// Length of an Ethernet header without VLAN tag.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of the IPv4 header we write (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// The headers [`write_frame_header`] puts in front of a GRE datagram.
pub const FRAME_HEADER_LEN: usize = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN;
/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;

/// Where a session's downstream datagrams go on the link: the outgoing device
/// and the two hardware addresses, as the kernel's route and neighbour tables
/// had them at the last lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRoute {
    /// The outgoing device.
    pub ifindex: u32,
    /// Its MTU: larger datagrams take the raw socket.
    pub mtu: u16,
    /// Its hardware address (the frame's source).
    pub src_mac: [u8; 6],
    /// The next hop's hardware address: the client's, or its router's.
    pub dst_mac: [u8; 6],
    /// Our address the client talks to (the control connection's local address).
    pub src_ip: Ipv4Addr,
    /// The client's underlay address.
    pub dst_ip: Ipv4Addr,
    /// The neighbour the frames go to (whose address `dst_mac` is): the client
    /// on-link, or its router.
    pub next_hop: Ipv4Addr,
}

impl LinkRoute {
    /// Whether a GRE datagram of `gre_len` bytes fits the device with its IPv4 header.
    pub fn fits(&self, gre_len: usize) -> bool {
        IPV4_HEADER_LEN + gre_len <= usize::from(self.mtu)
    }

    /// The link-layer address of the frames, as `sendmmsg` takes it.
    pub fn sockaddr(&self) -> libc::sockaddr_ll {
        let mut sll_addr = [0u8; 8];
        sll_addr[..6].copy_from_slice(&self.dst_mac);
        libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as libc::c_ushort,
            sll_protocol: ETHERTYPE_IPV4.to_be(),
            sll_ifindex: self.ifindex as libc::c_int,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr,
        }
    }
}

/// "interface #N to MAC": the device and the next hop, for log lines.
impl std::fmt::Display for LinkRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interface #{} to {}",
            self.ifindex,
            mac_to_string(&self.dst_mac)
        )
    }
}

/// A hardware address as `ip link` prints it: `02:00:00:00:00:ab`.
pub fn mac_to_string(mac: &[u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Reads a hardware address printed as by [`mac_to_string`].
pub fn mac_from_str(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

/// Writes the Ethernet and IPv4 headers of a GRE datagram of `gre_len` bytes
/// along `route` into `out`; `id` is the IPv4 identification, `ttl` the host's.
pub fn write_frame_header(
    out: &mut [u8; FRAME_HEADER_LEN],
    route: &LinkRoute,
    gre_len: usize,
    id: u16,
    ttl: u8,
) {
    out[0..6].copy_from_slice(&route.dst_mac);
    out[6..12].copy_from_slice(&route.src_mac);
    out[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip = &mut out[ETHERNET_HEADER_LEN..];
    let total = (IPV4_HEADER_LEN + gre_len) as u16;
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6..8].copy_from_slice(&[0, 0]);
    ip[8] = ttl;
    ip[9] = IPPROTO_GRE as u8;
    ip[10..12].copy_from_slice(&[0, 0]);
    ip[12..16].copy_from_slice(&route.src_ip.octets());
    ip[16..20].copy_from_slice(&route.dst_ip.octets());
    let checksum = ipv4_header_checksum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
}

/// The RFC 791 header checksum of `header` (its checksum field taken as is).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut sum = super::checksum::Checksum::new();
    sum.add_bytes(header);
    u16::from_be_bytes(sum.checksum())
}

/// A packet socket that only sends (protocol 0: the kernel delivers it nothing).
#[derive(Debug)]
pub struct FrameSocket {
    socket: Socket,
}

impl FrameSocket {
    /// Opens the socket, nonblocking, with a large send buffer.
    pub fn open() -> io::Result<Self> {
        let socket =
            Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0))).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot open a packet socket (needs CAP_NET_RAW): {e}"),
                )
            })?;
        socket.set_nonblocking(true)?;
        // Without CAP_NET_ADMIN this fails and the default buffer stays: fine.
        force_buffer(&socket, libc::SO_SNDBUFFORCE, SOCKET_BUFFER).ok();
        Ok(Self { socket })
    }
}

impl AsRawFd for FrameSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Test help for the modules that talk to real devices.
#[cfg(test)]
pub(crate) mod test_devices {
    use std::process::Command;

    /// Runs a command line (words split at spaces) in this thread's namespace; it must succeed.
    pub fn run(command: &str) {
        let args: Vec<&str> = command.split(' ').collect();
        let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{command}");
    }

    /// Runs `test` on a thread of its own, in a network namespace of its own (gone with the
    /// thread, whatever the test leaves in it); skipped, with a line saying so, without root.
    pub fn in_private_namespace(test: impl FnOnce() + Send + 'static) {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for a network namespace");
            return;
        }
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            test();
        })
        .join()
        .unwrap();
    }

    /// A one-thread tokio runtime for the async part of a test.
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The hardware address `command` (an `ip -o link show ...`, in this thread's
    /// namespace, whose /sys this process may not see) prints for an Ethernet device.
    pub fn mac_of(command: &str) -> [u8; 6] {
        let args: Vec<&str> = command.split(' ').collect();
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let at = text.find("link/ether ").expect("an Ethernet device") + "link/ether ".len();
        super::mac_from_str(&text[at..at + 17]).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn hardware_addresses_print_and_read_back() {
        let mac = [2, 0, 0, 0x1f, 0, 0xab];
        assert_eq!(mac_to_string(&mac), "02:00:00:1f:00:ab");
        assert_eq!(mac_from_str("02:00:00:1f:00:ab"), Some(mac));
        assert_eq!(mac_from_str("02:00:00:1f:00"), None);
        assert_eq!(mac_from_str("02:00:00:1f:00:zz"), None);
    }

    /// The IPv4 header of frame 47 of the poptop capture in `../shared/fixtures`
    /// (pptp-linux → poptop, GRE, DF set): our checksum gives the one on the wire.
    #[test]
    fn checksum_matches_a_captured_header() {
        let header = hex!("45000059078e4000402f561d0a6464020a646401");
        let mut zeroed = header;
        zeroed[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(ipv4_header_checksum(&zeroed), 0x561d);
        // A header with its checksum in place sums to zero.
        assert_eq!(ipv4_header_checksum(&header), 0);
    }

    #[test]
    fn frame_header_carries_route_length_id_and_a_valid_checksum() {
        let route = LinkRoute {
            ifindex: 3,
            mtu: 1500,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(10, 100, 100, 1),
            dst_ip: Ipv4Addr::new(10, 100, 100, 2),
            next_hop: Ipv4Addr::new(10, 100, 100, 2),
        };
        let mut out = [0u8; FRAME_HEADER_LEN];
        write_frame_header(&mut out, &route, 100, 0x1234, 64);
        let expected = hex!(
            "020000000002 020000000001 0800"
            "45000078 12340000 402f 0000 0a646401 0a646402"
        );
        assert_eq!(out[..24], expected[..24]);
        assert_eq!(out[26..], expected[26..]);
        // The checksum field makes the header sum to zero.
        assert_eq!(ipv4_header_checksum(&out[ETHERNET_HEADER_LEN..]), 0);
        assert!(route.fits(1480));
        assert!(!route.fits(1481));
    }
}
