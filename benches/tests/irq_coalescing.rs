//! The benchmark's model of a tuned NIC. With coalesced interrupts (`--irq-coalesce-us`):
//! after `coalesce_interrupts`, what the client LAN and the internet host send to the gateway
//! is received by the gateway's veths through NAPI (counted in `ethtool -S` as
//! `rx_queue_0_xdp_packets`), with the timer settings in sysfs. Without it a veth takes no
//! NAPI path at all. With GRO for forwarded UDP (`--udp-gro-forwarding`): after
//! `merge_forwarded_udp` the WAN veth has `rx-udp-gro-forwarding` on (off on a fresh veth) and
//! still polls with NAPI, where GRO runs; the data of the merged trains is checked by the
//! benchmark itself (its "checked ok" column). Needs root (namespaces); without it each test
//! says so and passes vacuously.

use std::net::{SocketAddrV4, UdpSocket};

use pptpd_benches::namespace;
use pptpd_tests::nic_tuning::{DEFERRED_POLLS, coalesce_interrupts, merge_forwarded_udp};
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

/// The state of one offload feature of `dev` in `gw`, as `ethtool -k` prints it.
fn feature(gw: &Netns, dev: &str, name: &str) -> String {
    let features = gw.run(&["ethtool", "-k", dev]).expect("ethtool -k runs");
    features
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{dev} lists no {name}"))
}

fn sysfs(gw: &Netns, dev: &str, file: &str) -> String {
    gw.run(&["cat", &format!("/sys/class/net/{dev}/{file}")])
        .expect("sysfs readable")
        .trim()
        .to_owned()
}

/// The namespaces as the benchmark builds them (the WAN veth offloads checksums).
fn benchmark_topology() -> Topology {
    Topology::builder()
        .wan_checksums_in_software(false)
        .build()
        .expect("namespaces")
}

#[test]
fn coalesced_veths_receive_through_napi_with_the_timer_set() {
    if !pptpd_tests::require_root("coalesced_veths_receive_through_napi_with_the_timer_set") {
        return;
    }
    let topology = benchmark_topology();
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

#[test]
fn wan_veth_merges_forwarded_udp_and_polls_with_napi() {
    if !pptpd_tests::require_root("wan_veth_merges_forwarded_udp_and_polls_with_napi") {
        return;
    }
    let topology = benchmark_topology();
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
    send(topology.inet(), SocketAddrV4::new(GW_WAN_IP, 9), 10);
    assert!(
        napi_packets(gw, wan) >= 10,
        "wan0 polls what the internet host sends, so GRO sees it"
    );
}
