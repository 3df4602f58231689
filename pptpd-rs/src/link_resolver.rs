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
//! So does a host with IPsec output policies ([`crate::ipsec_policies`]):
//! frames written by hand would skip the kernel's IPsec transforms.

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
use crate::ipsec_policies::IpsecPolicies;

/// Errors of a lookup (not: "no usable answer", which is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A request failed in an unexpected way.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// A netlink handle for route, neighbour and link lookups.
#[derive(Clone, Debug)]
pub struct LinkResolver {
    handle: Handle,
    /// What is known of the host's IPsec output policies (kept up to date by
    /// [`crate::link_watch`], if it runs).
    ipsec: IpsecPolicies,
}

impl LinkResolver {
    /// A resolver asking over an rtnetlink connection that is already open.
    pub fn with_handle(handle: Handle) -> Self {
        Self {
            handle,
            ipsec: IpsecPolicies::default(),
        }
    }

    /// What the lookups know of the IPsec policies, for the watch to keep up to date.
    pub fn ipsec_policies(&self) -> &IpsecPolicies {
        &self.ipsec
    }

    /// Where datagrams from `local` to `peer` go on the link, if they can be
    /// framed by hand (see the module comment).
    pub async fn resolve(
        &self,
        peer: Ipv4Addr,
        local: Ipv4Addr,
    ) -> Result<Option<LinkRoute>, ResolveError> {
        if !self.ipsec.none().await {
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
    use crate::datapath::frame_socket::test_devices::{in_private_namespace, mac_of, run, runtime};

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
        let peer = PeerNamespace(format!("pptpd-lr-{}", std::process::id()));
        let peer_name = peer.0.clone();
        in_private_namespace(move || {
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
            runtime().block_on(async {
                let (connection, handle, _) = rtnetlink::new_connection().unwrap();
                tokio::spawn(connection);
                let resolver = LinkResolver::with_handle(handle);
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
                run(
                    "ip xfrm policy add src 10.77.0.1/32 dst 10.77.0.2/32 dir out \
                     tmpl proto esp mode transport",
                );
                assert_eq!(resolver.resolve(on_link, local).await.unwrap(), None);
                run("ip xfrm policy flush");
                assert_eq!(
                    resolver.resolve(on_link, local).await.unwrap(),
                    Some(expected)
                );
            });
        });
        drop(peer);
    }
}
