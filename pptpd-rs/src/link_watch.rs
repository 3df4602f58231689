//! Watches the kernel's neighbour, route, device and policy-rule notifications
//! (rtnetlink multicast groups, as `ip monitor` listens) for changes under the
//! sessions whose data leaves as finished frames (`gre-direct`, see
//! [`crate::link_resolver`]).
//!
//! Frames written by hand carry the next hop's hardware address as the last
//! lookup found it; when the next hop answers from another address (a router
//! failover, an address moved to another machine), those frames go nowhere.
//! Each notification becomes a [`LinkChange`], which says which [`LinkRoute`]s
//! it may have made wrong: a next hop whose address changed or that became
//! unreachable, a route added or removed over a client's address, a device
//! whose address, MTU or state changed, any policy-rule change, a new IPsec
//! policy ([`crate::ipsec_policies`]: frames written by hand would skip its
//! transforms), or notifications lost to a full receive buffer. Those sessions
//! go back to the IP stack at once (always right: the kernel resolves
//! everything itself), and their next periodic lookup frames their data again
//! where it can.
//!
//! Neighbour entries change state every few tens of seconds without changing
//! address (REACHABLE, STALE, DELAY, PROBE); [`NeighbourCache`] lets only real
//! address changes through.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use futures_util::StreamExt;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, TokioSocket};
use tracing::warn;

use crate::datapath::frame_socket::{LinkRoute, mac_to_string};
use crate::ipsec_policies::{
    IpsecPolicies, PolicyNews, output_policy_count, policy_news, policy_socket,
};
use crate::link_resolver::usable;

/// A device's state as a notification describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceState {
    /// Its hardware address (`None`: none of six bytes).
    pub mac: Option<[u8; 6]>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Administratively up and with a carrier (IFF_UP and IFF_LOWER_UP).
    pub up: bool,
}

/// One kernel notification that may concern frames written by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// The IPv4 neighbour `ip` on device `ifindex` now answers from `mac`
    /// (`None`: unresolved, failed or deleted).
    Neighbour {
        /// The device.
        ifindex: u32,
        /// The neighbour's address.
        ip: Ipv4Addr,
        /// Its hardware address, when the kernel holds a usable one.
        mac: Option<[u8; 6]>,
    },
    /// An IPv4 route to `prefix/len` was added, changed or removed (any table).
    Route {
        /// The route's destination.
        prefix: Ipv4Addr,
        /// Its prefix length.
        len: u8,
    },
    /// Device `ifindex` changed (`None`: it was removed).
    Device {
        /// The device.
        ifindex: u32,
        /// What it is now.
        state: Option<DeviceState>,
    },
    /// An IPv4 policy rule was added or removed: any route may be another now.
    Rules,
    /// An IPsec policy was added or changed: no data may skip the kernel's transforms.
    Ipsec,
    /// Notifications were lost (a socket's receive buffer overflowed, ENOBUFS): any of the
    /// above may have happened.
    Lost,
}

impl LinkChange {
    /// Reads a notification; `None` for the ones that cannot concern a
    /// [`LinkRoute`] (other address families, other messages).
    pub fn from_message(message: &RouteNetlinkMessage) -> Option<LinkChange> {
        match message {
            RouteNetlinkMessage::NewNeighbour(n) => neighbour(n, false),
            RouteNetlinkMessage::DelNeighbour(n) => neighbour(n, true),
            RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r) => route(r),
            RouteNetlinkMessage::NewLink(l) => Some(device(l, false)),
            RouteNetlinkMessage::DelLink(l) => Some(device(l, true)),
            RouteNetlinkMessage::NewRule(r) | RouteNetlinkMessage::DelRule(r) => {
                (r.header.family == AddressFamily::Inet).then_some(LinkChange::Rules)
            }
            _ => None,
        }
    }

    /// Whether frames written by `route` may be wrong after this change.
    pub fn invalidates(&self, route: &LinkRoute) -> bool {
        match *self {
            LinkChange::Neighbour { ifindex, ip, mac } => {
                ifindex == route.ifindex && ip == route.next_hop && mac != Some(route.dst_mac)
            }
            LinkChange::Route { prefix, len } => covers(prefix, len, route.dst_ip),
            LinkChange::Device { ifindex, state } => {
                ifindex == route.ifindex
                    && state.is_none_or(|s| {
                        !s.up || s.mac != Some(route.src_mac) || s.mtu != Some(u32::from(route.mtu))
                    })
            }
            LinkChange::Rules | LinkChange::Ipsec | LinkChange::Lost => true,
        }
    }
}

impl std::fmt::Display for LinkChange {
    /// What changed, for the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkChange::Neighbour {
                ifindex,
                ip,
                mac: Some(mac),
            } => write!(
                f,
                "next hop {ip} on interface #{ifindex} now answers from {}",
                mac_to_string(mac)
            ),
            LinkChange::Neighbour {
                ifindex,
                ip,
                mac: None,
            } => {
                write!(f, "next hop {ip} on interface #{ifindex} is unreachable")
            }
            LinkChange::Route { prefix, len } => write!(f, "the route to {prefix}/{len} changed"),
            LinkChange::Device {
                ifindex,
                state: Some(_),
            } => write!(f, "interface #{ifindex} changed"),
            LinkChange::Device {
                ifindex,
                state: None,
            } => write!(f, "interface #{ifindex} was removed"),
            LinkChange::Rules => write!(f, "the policy rules changed"),
            LinkChange::Ipsec => write!(f, "an IPsec policy was added"),
            LinkChange::Lost => write!(f, "netlink notifications were lost"),
        }
    }
}

/// Whether `prefix/len` contains `addr`.
fn covers(prefix: Ipv4Addr, len: u8, addr: Ipv4Addr) -> bool {
    let len = u32::from(len.min(32));
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(prefix) & mask == u32::from(addr) & mask
}

fn neighbour(n: &NeighbourMessage, deleted: bool) -> Option<LinkChange> {
    if n.header.family != AddressFamily::Inet {
        return None;
    }
    let ip = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })?;
    let mac = (!deleted && usable(n.header.state))
        .then(|| {
            n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(bytes) => {
                    <[u8; 6]>::try_from(bytes.as_slice()).ok()
                }
                _ => None,
            })
        })
        .flatten();
    Some(LinkChange::Neighbour {
        ifindex: n.header.ifindex,
        ip,
        mac,
    })
}

fn route(r: &RouteMessage) -> Option<LinkChange> {
    if r.header.address_family != AddressFamily::Inet {
        return None;
    }
    let prefix = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Some(LinkChange::Route {
        prefix,
        len: r.header.destination_prefix_length,
    })
}

fn device(l: &LinkMessage, deleted: bool) -> LinkChange {
    let state = (!deleted).then(|| {
        let mut state = DeviceState {
            mac: None,
            mtu: None,
            up: l.header.flags.contains(LinkFlags::Up)
                && l.header.flags.contains(LinkFlags::LowerUp),
        };
        for attribute in &l.attributes {
            match attribute {
                LinkAttribute::Address(bytes) => {
                    state.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok();
                }
                LinkAttribute::Mtu(mtu) => state.mtu = Some(*mtu),
                _ => {}
            }
        }
        state
    });
    LinkChange::Device {
        ifindex: l.header.index,
        state,
    }
}

/// The hardware address each IPv4 neighbour last announced, to pass on only
/// the notifications that change one.
#[derive(Debug, Default)]
pub struct NeighbourCache {
    /// Resolved neighbours only: an unresolved one is forgotten.
    known: HashMap<(u32, Ipv4Addr), [u8; 6]>,
}

impl NeighbourCache {
    /// Whether `change` must be passed on: anything but a neighbour
    /// notification that repeats the address already known (state changes).
    pub fn is_news(&mut self, change: &LinkChange) -> bool {
        let LinkChange::Neighbour { ifindex, ip, mac } = *change else {
            return true;
        };
        match mac {
            // New, or another address.
            Some(mac) => self.known.insert((ifindex, ip), mac) != Some(mac),
            // News only if it had an address.
            None => self.known.remove(&(ifindex, ip)).is_some(),
        }
    }

    /// Forgets every neighbour (notifications were lost: what it knew may be stale).
    pub fn clear(&mut self) {
        self.known.clear();
    }

    /// Neighbours remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

/// Receive buffer of the notification sockets: room for thousands of notifications while
/// the task is busy (a neighbour storm); what does not fit is a [`LinkChange::Lost`].
pub const NOTIFICATION_BUFFER: usize = 4 << 20;

/// Sets a netlink socket's receive buffer to `bytes`: past `net.core.rmem_max` where allowed
/// (`SO_RCVBUFFORCE`, CAP_NET_ADMIN), else as far as that limit; a failure keeps the default.
pub(crate) fn set_receive_buffer(socket: &rtnetlink::sys::Socket, bytes: usize) {
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    if setsockopt(socket, RcvBufForce, &bytes).is_err() {
        let _ = socket.set_rx_buf_sz(bytes);
    }
}

/// Subscribes to the neighbour, IPv4 route, device and IPv4 rule groups and
/// to the IPsec policy notifications, and calls `on_change` with every change
/// that may concern a [`LinkRoute`], on a task of the current tokio runtime,
/// for as long as the process runs. Keeps `policies` up to date for the lookups.
pub fn spawn(
    policies: IpsecPolicies,
    on_change: impl FnMut(LinkChange) + Send + 'static,
) -> std::io::Result<()> {
    spawn_with_buffer(NOTIFICATION_BUFFER, policies, on_change)
}

/// [`spawn`] with notification sockets of `buffer` bytes.
fn spawn_with_buffer(
    buffer: usize,
    policies: IpsecPolicies,
    mut on_change: impl FnMut(LinkChange) + Send + 'static,
) -> std::io::Result<()> {
    let (mut connection, _handle, mut messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Neigh,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Link,
        MulticastGroup::Ipv4Rule,
    ])?;
    set_receive_buffer(connection.socket_mut().socket_mut(), buffer);
    let mut xfrm = policy_socket(buffer)?;
    tokio::spawn(connection);
    tokio::spawn(async move {
        // Counted after subscribing: a policy added since will be announced.
        policies.counted(output_policy_count().await);
        let mut neighbours = NeighbourCache::default();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some((message, _)) = message else { break };
                    match message.payload {
                        NetlinkPayload::InnerMessage(message) => {
                            if let Some(change) = LinkChange::from_message(&message)
                                && neighbours.is_news(&change)
                            {
                                on_change(change);
                            }
                        }
                        NetlinkPayload::Overrun(_) => {
                            warn!("route and neighbour notifications were lost (receive buffer full)");
                            neighbours.clear();
                            on_change(LinkChange::Lost);
                        }
                        _ => {}
                    }
                }
                datagram = recv_xfrm(&mut xfrm) => match datagram {
                    Ok(datagram) => match policy_news(&datagram) {
                        PolicyNews::Added => {
                            policies.forget();
                            on_change(LinkChange::Ipsec);
                        }
                        PolicyNews::Removed => policies.counted(output_policy_count().await),
                        PolicyNews::Nothing => {}
                    },
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        warn!("IPsec policy notifications were lost (receive buffer full)");
                        policies.forget();
                        on_change(LinkChange::Lost);
                        policies.counted(output_policy_count().await);
                    }
                    Err(e) => {
                        warn!("IPsec policy notifications: {e}: each lookup asks for the policy count");
                        xfrm = None;
                        policies.forget();
                        on_change(LinkChange::Ipsec);
                    }
                },
            }
        }
        policies.forget();
        warn!(
            "netlink notifications ended: next-hop changes are noticed at the periodic lookups only"
        );
    });
    Ok(())
}

/// The next datagram of the XFRM socket; never, without one.
async fn recv_xfrm(socket: &mut Option<TokioSocket>) -> std::io::Result<Vec<u8>> {
    match socket {
        Some(socket) => socket.recv_from_full().await.map(|(datagram, _)| datagram),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::frame_socket::test_devices::{in_private_namespace, run, runtime};
    use rtnetlink::packet_route::neighbour::NeighbourState;

    const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];

    fn route() -> LinkRoute {
        LinkRoute {
            ifindex: 2,
            mtu: 1500,
            src_mac: OUR_MAC,
            dst_mac: ROUTER_MAC,
            src_ip: Ipv4Addr::new(10, 0, 0, 5),
            dst_ip: Ipv4Addr::new(10, 1, 7, 9),
            next_hop: Ipv4Addr::new(10, 0, 0, 1),
        }
    }

    /// Whether notification `message` invalidates [`route`].
    fn invalidates_route(message: &RouteNetlinkMessage) -> bool {
        LinkChange::from_message(message)
            .expect("a change")
            .invalidates(&route())
    }

    fn neighbour_message(
        ip: Ipv4Addr,
        state: NeighbourState,
        mac: Option<[u8; 6]>,
    ) -> NeighbourMessage {
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.ifindex = 2;
        n.header.state = state;
        n.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        if let Some(mac) = mac {
            n.attributes
                .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        }
        n
    }

    #[test]
    fn a_next_hop_that_moved_or_failed_invalidates_its_frames_and_no_other() {
        let router = Ipv4Addr::new(10, 0, 0, 1);
        let moved = RouteNetlinkMessage::NewNeighbour(neighbour_message(
            router,
            NeighbourState::Reachable,
            Some(OTHER_MAC),
        ));
        let change = LinkChange::from_message(&moved).unwrap();
        assert_eq!(
            change,
            LinkChange::Neighbour {
                ifindex: 2,
                ip: router,
                mac: Some(OTHER_MAC)
            }
        );
        assert!(change.invalidates(&route()));

        let same = RouteNetlinkMessage::NewNeighbour(neighbour_message(
            router,
            NeighbourState::Stale,
            Some(ROUTER_MAC),
        ));
        assert!(!invalidates_route(&same));

        // FAILED carries no usable address; a deleted entry neither.
        let failed = RouteNetlinkMessage::NewNeighbour(neighbour_message(
            router,
            NeighbourState::Failed,
            Some(ROUTER_MAC),
        ));
        assert!(invalidates_route(&failed));
        let deleted = RouteNetlinkMessage::DelNeighbour(neighbour_message(
            router,
            NeighbourState::Reachable,
            Some(ROUTER_MAC),
        ));
        assert!(invalidates_route(&deleted));

        // Another neighbour, or the same address on another device: not ours.
        let other = RouteNetlinkMessage::NewNeighbour(neighbour_message(
            Ipv4Addr::new(10, 0, 0, 2),
            NeighbourState::Reachable,
            Some(OTHER_MAC),
        ));
        assert!(!invalidates_route(&other));
        let mut elsewhere = neighbour_message(router, NeighbourState::Reachable, Some(OTHER_MAC));
        elsewhere.header.ifindex = 3;
        let elsewhere = RouteNetlinkMessage::NewNeighbour(elsewhere);
        assert!(!invalidates_route(&elsewhere));

        // IPv6 neighbours are not read at all.
        let mut v6 = NeighbourMessage::default();
        v6.header.family = AddressFamily::Inet6;
        assert_eq!(
            LinkChange::from_message(&RouteNetlinkMessage::NewNeighbour(v6)),
            None
        );
    }

    #[test]
    fn routes_over_the_client_and_rules_invalidate() {
        let change = |prefix: [u8; 4], len: u8| LinkChange::Route {
            prefix: Ipv4Addr::from(prefix),
            len,
        };
        assert!(change([10, 1, 7, 9], 32).invalidates(&route()));
        assert!(change([10, 1, 0, 0], 16).invalidates(&route()));
        assert!(change([0, 0, 0, 0], 0).invalidates(&route()));
        assert!(!change([10, 2, 0, 0], 16).invalidates(&route()));
        // A client address in the pool (a /32 on the TUN device) is not the client's underlay.
        assert!(!change([192, 168, 0, 234], 32).invalidates(&route()));
        assert!(LinkChange::Rules.invalidates(&route()));
        assert!(LinkChange::Ipsec.invalidates(&route()));

        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.destination_prefix_length = 16;
        message
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                Ipv4Addr::new(10, 1, 0, 0),
            )));
        assert_eq!(
            LinkChange::from_message(&RouteNetlinkMessage::DelRoute(message.clone())),
            Some(change([10, 1, 0, 0], 16))
        );
        // The default route has no destination attribute.
        message.attributes.clear();
        message.header.destination_prefix_length = 0;
        assert_eq!(
            LinkChange::from_message(&RouteNetlinkMessage::NewRoute(message)),
            Some(change([0, 0, 0, 0], 0))
        );
    }

    #[test]
    fn a_device_that_changed_address_mtu_or_state_invalidates() {
        let same = DeviceState {
            mac: Some(OUR_MAC),
            mtu: Some(1500),
            up: true,
        };
        let device = |state| LinkChange::Device { ifindex: 2, state };
        assert!(!device(Some(same)).invalidates(&route()));
        assert!(
            device(Some(DeviceState {
                mtu: Some(9001),
                ..same
            }))
            .invalidates(&route())
        );
        assert!(
            device(Some(DeviceState {
                mac: Some(OTHER_MAC),
                ..same
            }))
            .invalidates(&route())
        );
        assert!(device(Some(DeviceState { up: false, ..same })).invalidates(&route()));
        assert!(device(None).invalidates(&route()));
        let other = LinkChange::Device {
            ifindex: 9,
            state: None,
        };
        assert!(!other.invalidates(&route()));

        let mut message = LinkMessage::default();
        message.header.index = 2;
        message.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        message.attributes.push(LinkAttribute::Mtu(1500));
        message
            .attributes
            .push(LinkAttribute::Address(OUR_MAC.to_vec()));
        assert_eq!(
            LinkChange::from_message(&RouteNetlinkMessage::NewLink(message)),
            Some(device(Some(same)))
        );
    }

    /// The real notifications of the kernel, in a private namespace: a neighbour entry that
    /// changes address (and one that only changes state, which must not come through), a
    /// route, a device's MTU.
    #[test]
    fn the_kernel_notifications_arrive_as_changes() {
        in_private_namespace(|| {
            run("ip link add wa type veth peer name wb");
            run("ip addr add 10.78.0.1/24 dev wa");
            run("ip link set wa up");
            run("ip link set wb up");
            let ifindex = nix::net::if_::if_nametoindex("wa").unwrap();
            runtime().block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let policies = IpsecPolicies::default();
                spawn(policies.clone(), move |change| {
                    let _ = tx.send(change);
                })
                .unwrap();
                // Let the subscription settle before the first change.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                assert!(policies.known_none(), "counted at start");
                let mut next = async |wanted: &dyn Fn(&LinkChange) -> bool| {
                    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                    loop {
                        let change = tokio::time::timeout_at(deadline, rx.recv())
                            .await
                            .expect("a notification in time")
                            .unwrap();
                        if wanted(&change) {
                            return change;
                        }
                    }
                };
                let neighbour = Ipv4Addr::new(10, 78, 0, 2);
                let about_it = |c: &LinkChange| matches!(c, LinkChange::Neighbour { ip, .. } if *ip == neighbour);
                run("ip neigh replace 10.78.0.2 lladdr 02:00:00:00:00:01 dev wa nud reachable");
                assert_eq!(
                    next(&about_it).await,
                    LinkChange::Neighbour { ifindex, ip: neighbour, mac: Some(ROUTER_MAC) }
                );
                // Same address, another state: swallowed; the move after it comes through.
                run("ip neigh replace 10.78.0.2 lladdr 02:00:00:00:00:01 dev wa nud stale");
                run("ip neigh replace 10.78.0.2 lladdr 02:00:00:00:00:02 dev wa nud reachable");
                assert_eq!(
                    next(&about_it).await,
                    LinkChange::Neighbour { ifindex, ip: neighbour, mac: Some(OTHER_MAC) }
                );
                run("ip neigh del 10.78.0.2 dev wa");
                assert_eq!(
                    next(&about_it).await,
                    LinkChange::Neighbour { ifindex, ip: neighbour, mac: None }
                );
                run("ip route add 10.89.0.0/24 via 10.78.0.2");
                assert_eq!(
                    next(&|c| matches!(c, LinkChange::Route { len: 24, .. })).await,
                    LinkChange::Route { prefix: Ipv4Addr::new(10, 89, 0, 0), len: 24 }
                );
                run("ip link set wa mtu 1280");
                let device = next(&|c| {
                    matches!(c, LinkChange::Device { ifindex: i, state: Some(s) } if *i == ifindex && s.mtu == Some(1280))
                })
                .await;
                let LinkChange::Device { state: Some(state), .. } = device else {
                    unreachable!()
                };
                assert!(state.up && state.mac.is_some(), "{state:?}");
                run("ip xfrm policy add src 10.78.0.0/24 dst 10.89.0.0/24 dir out");
                assert_eq!(next(&|c| *c == LinkChange::Ipsec).await, LinkChange::Ipsec);
                assert!(!policies.known_none(), "the lookups ask again");
                // Flushed: counted again, and the lookups are spared their question again.
                run("ip xfrm policy flush");
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                while !policies.known_none() {
                    assert!(tokio::time::Instant::now() < deadline, "recounted in time");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            });
        });
    }

    /// Notifications the kernel drops on a full receive buffer (here the smallest there is,
    /// and the task unable to read while the commands run on its only thread) are a
    /// [`LinkChange::Lost`], which sends every session back to the IP stack.
    #[test]
    fn lost_notifications_are_a_change_that_concerns_every_session() {
        in_private_namespace(|| {
            run("ip link add wa type veth peer name wb");
            run("ip addr add 10.78.0.1/16 dev wa");
            run("ip link set wa up");
            let batch = std::env::temp_dir().join(format!("pptpd-lw-{}", std::process::id()));
            let lines: String = (1..=200)
                .map(|i| {
                    format!(
                        "neigh replace 10.78.1.{i} lladdr 02:00:00:00:01:{:02x} dev wa\n",
                        i % 256
                    )
                })
                .collect();
            std::fs::write(&batch, lines).unwrap();
            let lost = runtime().block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                spawn_with_buffer(0, IpsecPolicies::default(), move |change| {
                    let _ = tx.send(change);
                })
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                run(&format!("ip -batch {}", batch.display()));
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                loop {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(LinkChange::Lost)) => return true,
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => return false,
                    }
                }
            });
            let _ = std::fs::remove_file(&batch);
            assert!(
                lost,
                "no LinkChange::Lost after 200 notifications into a full buffer"
            );
            assert!(LinkChange::Lost.invalidates(&route()));
        });
    }

    #[test]
    fn the_cache_passes_address_changes_and_swallows_state_changes() {
        let mut cache = NeighbourCache::default();
        let router = Ipv4Addr::new(10, 0, 0, 1);
        let seen = |mac| LinkChange::Neighbour {
            ifindex: 2,
            ip: router,
            mac,
        };
        assert!(cache.is_news(&seen(Some(ROUTER_MAC))), "first sight");
        assert!(!cache.is_news(&seen(Some(ROUTER_MAC))), "REACHABLE → STALE");
        assert!(cache.is_news(&seen(Some(OTHER_MAC))), "moved");
        assert!(cache.is_news(&seen(None)), "failed");
        assert!(cache.is_empty());
        assert!(!cache.is_news(&seen(None)), "still failed");
        assert!(cache.is_news(&seen(Some(OTHER_MAC))), "back");
        assert_eq!(cache.len(), 1);
        assert!(cache.is_news(&LinkChange::Rules));
    }
}
