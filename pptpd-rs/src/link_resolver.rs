//! Looks up where a client's downstream GRE goes on the link (`gre-direct`):
//! the kernel's route to the client's underlay address from our address (policy
//! rules included, like `ip route get CLIENT from LOCAL`), the next hop's
//! hardware address in the neighbour table (`ip neigh get`) and the outgoing
//! device's type, address and MTU, all through rtnetlink.
//!
//! The answer is a [`LinkRoute`] only when the datagrams can really be framed
//! by hand: a unicast route out of an Ethernet device, and a neighbour entry
//! whose address is known (reachable, stale, delayed, probed, permanent). Any
//! other case — a local or blackhole route, a tunnel or PPP device, a neighbour
//! not resolved yet — answers `None`, and the session's data takes the raw GRE
//! socket, whose sends make the kernel resolve the neighbour for the next look.
//!
//! So does a host with IPsec output policies (`ip xfrm policy`, asked over
//! NETLINK_XFRM for the policy counts, as `ip xfrm policy count` does): frames
//! written by hand would skip the kernel's IPsec transforms, and a client meant
//! to be reached through IPsec would get our GRE in the clear.

use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::link::{LinkAttribute, LinkLayerType};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::datapath::frame_socket::LinkRoute;

/// Errors of a lookup (not: "no usable answer", which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The netlink socket could not be opened.
    #[error("netlink: {0}")]
    Io(#[from] std::io::Error),
    /// A request failed in an unexpected way.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// A netlink handle for route, neighbour and link lookups.
#[derive(Clone, Debug)]
pub struct LinkResolver {
    handle: Handle,
}

impl LinkResolver {
    /// Connects to rtnetlink (spawning its connection task on the current tokio runtime).
    pub fn connect() -> Result<Self, ResolveError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Self::with_handle(handle))
    }

    /// A resolver asking over an rtnetlink connection that is already open.
    pub fn with_handle(handle: Handle) -> Self {
        Self { handle }
    }

    /// Where datagrams from `local` to `peer` go on the link, if they can be
    /// framed by hand (see the module comment).
    pub async fn resolve(
        &self,
        peer: Ipv4Addr,
        local: Ipv4Addr,
    ) -> Result<Option<LinkRoute>, ResolveError> {
        if ipsec_output_policies() != Some(0) {
            return Ok(None);
        }
        let Some((ifindex, next_hop)) = self.route(peer, local).await? else {
            return Ok(None);
        };
        let Some((src_mac, mtu)) = self.ethernet_link(ifindex).await? else {
            return Ok(None);
        };
        let Some(dst_mac) = self.neighbour(ifindex, next_hop).await? else {
            return Ok(None);
        };
        Ok(Some(LinkRoute {
            ifindex,
            mtu,
            src_mac,
            dst_mac,
            src_ip: local,
            dst_ip: peer,
            next_hop,
        }))
    }

    /// The outgoing device and the next hop (the gateway, or `peer` on-link) of
    /// a unicast route from `local` to `peer`.
    async fn route(
        &self,
        peer: Ipv4Addr,
        local: Ipv4Addr,
    ) -> Result<Option<(u32, Ipv4Addr)>, ResolveError> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(peer, 32)
            .source_prefix(local, 32)
            .build();
        let reply = match self.handle.route().get(query).execute().try_next().await {
            Ok(reply) => reply,
            // Unreachable, prohibited, no route: nothing to frame.
            Err(rtnetlink::Error::NetlinkError(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(route) = reply.filter(|r| r.header.kind == RouteType::Unicast) else {
            return Ok(None);
        };
        let mut oif = None;
        let mut gateway = None;
        for attribute in &route.attributes {
            match attribute {
                RouteAttribute::Oif(index) => oif = Some(*index),
                RouteAttribute::Gateway(RouteAddress::Inet(addr)) => gateway = Some(*addr),
                _ => {}
            }
        }
        Ok(oif.map(|oif| (oif, gateway.unwrap_or(peer))))
    }

    /// The hardware address and MTU of device `ifindex`, if it is an Ethernet device.
    async fn ethernet_link(&self, ifindex: u32) -> Result<Option<([u8; 6], u16)>, ResolveError> {
        let mut links = self.handle.link().get().match_index(ifindex).execute();
        let Some(link) = links.try_next().await? else {
            return Ok(None);
        };
        if link.header.link_layer_type != LinkLayerType::Ether {
            return Ok(None);
        }
        let mut mac = None;
        let mut mtu = None;
        for attribute in &link.attributes {
            match attribute {
                LinkAttribute::Address(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                LinkAttribute::Mtu(m) => mtu = u16::try_from(*m).ok(),
                _ => {}
            }
        }
        Ok(mac.zip(mtu))
    }

    /// The hardware address of `next_hop` on device `ifindex`, if the kernel knows it.
    async fn neighbour(
        &self,
        ifindex: u32,
        next_hop: Ipv4Addr,
    ) -> Result<Option<[u8; 6]>, ResolveError> {
        let mut query = NeighbourMessage::default();
        query.header.family = AddressFamily::Inet;
        query.header.ifindex = ifindex;
        query
            .attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                next_hop,
            )));
        // One entry (RTM_GETNEIGH without NLM_F_DUMP, as `ip neigh get` asks), not the table.
        let mut request = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbour(query));
        request.header.flags = NLM_F_REQUEST;
        let mut replies = self.handle.clone().request(request)?;
        use futures_util::StreamExt;
        if let Some(reply) = replies.next().await {
            let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(entry)) =
                reply.payload
            else {
                // An error (no such entry) or the end of the answer.
                return Ok(None);
            };
            if !usable(entry.header.state) {
                return Ok(None);
            }
            return Ok(entry.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(bytes) => {
                    <[u8; 6]>::try_from(bytes.as_slice()).ok()
                }
                _ => None,
            }));
        }
        Ok(None)
    }
}

/// `XFRM_MSG_GETSPDINFO` and its answer `XFRM_MSG_NEWSPDINFO` (linux/xfrm.h).
const XFRM_MSG_GETSPDINFO: u16 = 0x25;
const XFRM_MSG_NEWSPDINFO: u16 = 0x24;
/// The attribute with the policy counts (`struct xfrmu_spdinfo`).
const XFRMA_SPD_INFO: u16 = 1;

/// How many IPsec policies apply to output (plain and per-socket), from the
/// kernel's policy database counts; `Some(0)` on a host without XFRM support.
/// `None` when the kernel could not be asked: treated as "there may be some".
pub fn ipsec_output_policies() -> Option<u32> {
    use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_XFRM};
    let mut socket = match Socket::new(NETLINK_XFRM) {
        Ok(socket) => socket,
        // No XFRM in this kernel: nothing can transform our datagrams.
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => return Some(0),
        Err(_) => return None,
    };
    socket.bind_auto().ok()?;
    // nlmsghdr (16 bytes) + a u32 of flags, as `ip xfrm policy count` sends it.
    let mut request = [0u8; 20];
    request[0..4].copy_from_slice(&20u32.to_ne_bytes());
    request[4..6].copy_from_slice(&XFRM_MSG_GETSPDINFO.to_ne_bytes());
    request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    socket.send_to(&request, &SocketAddr::new(0, 0), 0).ok()?;
    let (reply, _) = socket.recv_from_full().ok()?;
    spd_output_count(&reply)
}

/// Reads the output policy counts from an `XFRM_MSG_NEWSPDINFO` answer.
fn spd_output_count(reply: &[u8]) -> Option<u32> {
    let u16_at = |at: usize| Some(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    let total = usize::try_from(u32_at(0)?).ok()?.min(reply.len());
    if u16_at(4)? != XFRM_MSG_NEWSPDINFO {
        return None;
    }
    // Attributes follow the header (16) and the flags (4), each 4-byte aligned.
    let mut at = 20;
    while at + 4 <= total {
        let len = usize::from(u16_at(at)?);
        if len < 4 {
            return None;
        }
        if u16_at(at + 2)? & 0x3fff == XFRMA_SPD_INFO {
            // incnt, outcnt, fwdcnt, inscnt, outscnt, fwdscnt
            if at + len > total {
                return None;
            }
            return Some(u32_at(at + 8)?.saturating_add(u32_at(at + 20)?));
        }
        at += (len + 3) & !3;
    }
    None
}

/// Whether a neighbour entry in `state` has a hardware address we may send to.
pub(crate) fn usable(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::frame_socket::test_devices::{mac_of, run};

    /// An `XFRM_MSG_NEWSPDINFO` answer as the kernel builds it, with `out` output
    /// policies and `out_socket` per-socket ones.
    fn spd_reply(out: u32, out_socket: u32) -> Vec<u8> {
        let mut r = Vec::new();
        let info: Vec<u32> = vec![3, out, 0, 0, out_socket, 0];
        let attr_len = 4 + 4 * info.len();
        // A first attribute (hash info, type 2) the reader must step over.
        let total = 16 + 4 + 12 + attr_len;
        r.extend((total as u32).to_ne_bytes());
        r.extend(XFRM_MSG_NEWSPDINFO.to_ne_bytes());
        r.extend([0u8; 10]);
        r.extend(0u32.to_ne_bytes());
        r.extend(12u16.to_ne_bytes());
        r.extend(2u16.to_ne_bytes());
        r.extend([0u8; 8]);
        r.extend((attr_len as u16).to_ne_bytes());
        r.extend(XFRMA_SPD_INFO.to_ne_bytes());
        for v in info {
            r.extend(v.to_ne_bytes());
        }
        r
    }

    #[test]
    fn output_policy_counts_are_read_from_the_answer() {
        assert_eq!(spd_output_count(&spd_reply(0, 0)), Some(0));
        assert_eq!(spd_output_count(&spd_reply(2, 1)), Some(3));
        // Truncated, wrong type, or a zero-length attribute: no answer, never a panic.
        let whole = spd_reply(1, 0);
        for cut in 0..whole.len() {
            assert_eq!(spd_output_count(&whole[..cut]), None, "cut at {cut}");
        }
        let mut wrong = whole.clone();
        wrong[4] = 0x10;
        assert_eq!(spd_output_count(&wrong), None);
        let mut zero = whole;
        zero[20..22].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(spd_output_count(&zero), None);
    }

    #[test]
    fn only_entries_with_a_known_address_are_usable() {
        assert!(usable(NeighbourState::Reachable));
        assert!(usable(NeighbourState::Stale));
        assert!(usable(NeighbourState::Permanent));
        assert!(!usable(NeighbourState::Incomplete));
        assert!(!usable(NeighbourState::Failed));
        assert!(!usable(NeighbourState::Noarp));
        assert!(!usable(NeighbourState::None));
    }

    use std::process::Command;
    use std::time::Duration;

    /// A named namespace, deleted on drop (also when the test fails).
    struct PeerNamespace(String);

    impl Drop for PeerNamespace {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// In a private namespace `A` joined by a veth pair to a peer namespace (10.77.0.1 ⇄
    /// 10.77.0.2): no answer before the neighbour is resolved, then the device, both
    /// hardware addresses and the MTU; a gateway route gives the router's address; local,
    /// blackhole and non-Ethernet routes give none.
    #[test]
    fn resolves_on_link_and_routed_peers_and_nothing_else() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for network namespaces");
            return;
        }
        let peer = PeerNamespace(format!("pptpd-lr-{}", std::process::id()));
        let peer_name = peer.0.clone();
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            run(&format!("ip netns add {peer_name}"));
            run(&format!(
                "ip link add la type veth peer name lb netns {peer_name}"
            ));
            run("ip link set lo up");
            run("ip addr add 10.77.0.1/24 dev la");
            run("ip link set la mtu 1400 up");
            run(&format!("ip -n {peer_name} addr add 10.77.0.2/24 dev lb"));
            run(&format!("ip -n {peer_name} link set lb up"));
            run("ip route add 10.88.0.0/24 via 10.77.0.2");
            run("ip route add blackhole 10.99.0.0/24");
            run("ip tuntap add tun9 mode tun");
            run("ip link set tun9 up");
            run("ip route add 10.66.0.0/24 dev tun9");
            let router_mac = mac_of(&format!("ip -n {peer_name} -o link show dev lb"));
            let our_mac = mac_of("ip -o link show dev la");
            let ifindex = nix::net::if_::if_nametoindex("la").unwrap();
            let local = Ipv4Addr::new(10, 77, 0, 1);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let resolver = LinkResolver::connect().unwrap();
                let on_link = Ipv4Addr::new(10, 77, 0, 2);
                assert_eq!(resolver.resolve(on_link, local).await.unwrap(), None);
                // Any datagram makes the kernel resolve the neighbour.
                let socket = std::net::UdpSocket::bind((local, 0)).unwrap();
                socket.send_to(b"x", (on_link, 9)).unwrap();
                let mut route = None;
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    route = resolver.resolve(on_link, local).await.unwrap();
                    if route.is_some() {
                        break;
                    }
                }
                let expected = LinkRoute {
                    ifindex,
                    mtu: 1400,
                    src_mac: our_mac,
                    dst_mac: router_mac,
                    src_ip: local,
                    dst_ip: on_link,
                    next_hop: on_link,
                };
                assert_eq!(route, Some(expected));
                let behind_router = Ipv4Addr::new(10, 88, 0, 5);
                assert_eq!(
                    resolver.resolve(behind_router, local).await.unwrap(),
                    Some(LinkRoute {
                        dst_ip: behind_router,
                        ..expected
                    })
                );
                for nothing in [
                    local,
                    Ipv4Addr::new(10, 99, 0, 1),
                    Ipv4Addr::new(10, 66, 0, 1),
                ] {
                    assert_eq!(
                        resolver.resolve(nothing, local).await.unwrap(),
                        None,
                        "{nothing}"
                    );
                }
                // An IPsec output policy anywhere on the host: nothing is framed by hand.
                assert_eq!(ipsec_output_policies(), Some(0));
                run(
                    "ip xfrm policy add src 10.77.0.1/32 dst 10.77.0.2/32 dir out \
                     tmpl proto esp mode transport",
                );
                assert_eq!(ipsec_output_policies(), Some(1));
                assert_eq!(resolver.resolve(on_link, local).await.unwrap(), None);
                run("ip xfrm policy flush");
                assert_eq!(
                    resolver.resolve(on_link, local).await.unwrap(),
                    Some(expected)
                );
            });
        })
        .join()
        .unwrap();
        drop(peer);
    }
}
