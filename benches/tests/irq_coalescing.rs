//! The benchmark's model of a NIC with coalesced interrupts (`--irq-coalesce-us`): after
//! `coalesce_interrupts`, what the client LAN and the internet host send to the gateway is
//! received by the gateway's veths through NAPI (counted in `ethtool -S` as
//! `rx_queue_0_xdp_packets`), with the timer settings in sysfs. Without it a veth takes no
//! NAPI path at all. Needs root (namespaces); without it the test says so and passes vacuously.

use std::net::{SocketAddrV4, UdpSocket};

use pptpd_benches::namespace::{self, DEFERRED_POLLS, coalesce_interrupts};
use pptpd_tests::topology::{GW_LAN_IP, GW_WAN_IP};
use pptpd_tests::{Netns, Topology};

/// Packets a veth of the gateway received through NAPI.
fn napi_packets(gw: &Netns, dev: &str) -> u64 {
    let stats = gw.run(&["ethtool", "-S", dev]).expect("ethtool -S runs");
    stats
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rx_queue_0_xdp_packets:"))
        .map(|n| n.trim().parse::<u64>().expect("a counter"))
        .sum()
}

/// Sends `n` datagrams from inside `from` to the discard port of `to`.
fn send(from: &Netns, to: SocketAddrV4, n: usize) {
    namespace::within(from, || {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
        for _ in 0..n {
            socket.send_to(b"coalesce me", to).expect("sent");
        }
    })
    .expect("entered the namespace");
}

fn sysfs(gw: &Netns, dev: &str, file: &str) -> String {
    gw.run(&["cat", &format!("/sys/class/net/{dev}/{file}")])
        .expect("sysfs readable")
        .trim()
        .to_owned()
}

#[test]
fn coalesced_veths_receive_through_napi_with_the_timer_set() {
    if !pptpd_tests::require_root("coalesced_veths_receive_through_napi_with_the_timer_set") {
        return;
    }
    let topology = Topology::builder()
        .wan_checksums_in_software(false)
        .build()
        .expect("namespaces");
    let gw = topology.gw();
    let (lan, wan) = (topology.lan_dev(), topology.wan_dev());
    let lan_target = SocketAddrV4::new(GW_LAN_IP, 9);
    let wan_target = SocketAddrV4::new(GW_WAN_IP, 9);

    send(topology.vpc(), lan_target, 10);
    send(topology.inet(), wan_target, 10);
    assert_eq!(napi_packets(gw, lan), 0, "a plain veth receives at once");
    assert_eq!(napi_packets(gw, wan), 0, "a plain veth receives at once");

    coalesce_interrupts(&topology, 50).expect("coalescing set up");
    for dev in [lan, wan] {
        assert_eq!(sysfs(gw, dev, "gro_flush_timeout"), "50000");
        assert_eq!(
            sysfs(gw, dev, "napi_defer_hard_irqs"),
            DEFERRED_POLLS.to_string()
        );
    }
    send(topology.vpc(), lan_target, 10);
    send(topology.inet(), wan_target, 10);
    assert!(
        napi_packets(gw, lan) >= 10,
        "lan0 polls what the client LAN sends"
    );
    assert!(
        napi_packets(gw, wan) >= 10,
        "wan0 polls what the internet host sends"
    );
}
