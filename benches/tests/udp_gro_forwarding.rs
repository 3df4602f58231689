//! The benchmark's model of a NIC with GRO for forwarded UDP (`--udp-gro-forwarding`): after
//! `merge_forwarded_udp`, the gateway's WAN veth has `rx-udp-gro-forwarding` on (it is off on
//! a fresh veth) and still receives through NAPI, where GRO runs. The data the merged trains
//! carry is checked by the benchmark itself (its "checked ok" column). Needs root
//! (namespaces); without it the test says so and passes vacuously.

use std::net::{SocketAddrV4, UdpSocket};

use pptpd_benches::namespace::{self, coalesce_interrupts, merge_forwarded_udp};
use pptpd_tests::topology::GW_WAN_IP;
use pptpd_tests::{Netns, Topology};

/// The state of one offload feature of `dev` in `gw`, as `ethtool -k` prints it.
fn feature(gw: &Netns, dev: &str, name: &str) -> String {
    let features = gw.run(&["ethtool", "-k", dev]).expect("ethtool -k runs");
    features
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{dev} lists no {name}"))
}

/// Packets a veth of the gateway received through NAPI.
fn napi_packets(gw: &Netns, dev: &str) -> u64 {
    let stats = gw.run(&["ethtool", "-S", dev]).expect("ethtool -S runs");
    stats
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rx_queue_0_xdp_packets:"))
        .map(|n| n.trim().parse::<u64>().expect("a counter"))
        .sum()
}

#[test]
fn wan_veth_merges_forwarded_udp_and_polls_with_napi() {
    if !pptpd_tests::require_root("wan_veth_merges_forwarded_udp_and_polls_with_napi") {
        return;
    }
    let topology = Topology::builder()
        .wan_checksums_in_software(false)
        .build()
        .expect("namespaces");
    let gw = topology.gw();
    let wan = topology.wan_dev();
    assert_eq!(
        feature(gw, wan, "rx-udp-gro-forwarding"),
        "off",
        "a fresh veth does not merge forwarded UDP"
    );

    coalesce_interrupts(&topology, 50).expect("coalescing set up");
    merge_forwarded_udp(&topology).expect("GRO for forwarded UDP turned on");
    assert_eq!(feature(gw, wan, "rx-udp-gro-forwarding"), "on");
    assert_eq!(feature(gw, wan, "generic-receive-offload"), "on");
    assert_eq!(
        feature(gw, topology.lan_dev(), "rx-udp-gro-forwarding"),
        "off",
        "only the WAN side takes downloads"
    );

    namespace::within(topology.inet(), || {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
        for _ in 0..10 {
            socket
                .send_to(b"merge me", SocketAddrV4::new(GW_WAN_IP, 9))
                .expect("sent");
        }
    })
    .expect("entered the namespace");
    assert!(
        napi_packets(gw, wan) >= 10,
        "wan0 polls what the internet host sends, so GRO sees it"
    );
}
