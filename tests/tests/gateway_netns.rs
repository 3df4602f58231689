//! pptpd-rs against our own Rust client (`pptp-client`: the client roles of the
//! core crates, with a TUN device in the client's namespace) in the standard
//! topology: a "VPC" namespace with the client, the gateway's namespace, and an
//! "internet" host behind the gateway's egress that can only answer NATed
//! traffic. Real kernel TCP and UDP run through the tunnel, MPPE, the gateway's
//! TUN device and NAT, and are checked byte for byte both ways.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pptpd_tests::blob::Blob;
use pptpd_tests::gateway::{Gateway, GatewayConfig, LOCAL_IP, POOL_FIRST, TUN, leftovers};
use pptpd_tests::gre_counter::GreOutputCounter;
use pptpd_tests::nic_tuning;
use pptpd_tests::process::Process;
use pptpd_tests::test_client;
use pptpd_tests::tool::{NetnsTool, peer_ips};
use pptpd_tests::topology::{GW_WAN_IP, HOST_DEV, INET_IP, client_ip};
use pptpd_tests::{Topology, gateway_bin, netns_tool, require_root, test_client_bin};

fn tool() -> NetnsTool {
    netns_tool!()
}

fn client(topo: &Topology, args: &[&str]) -> Process {
    test_client::spawn(test_client_bin!(), topo, args).unwrap()
}

/// A client logged in as root that stays up until signalled, once it is up; and its
/// `PPTP-CLIENT up` line.
fn root_client_up(topo: &Topology) -> (Process, String) {
    let pptp = client(
        topo,
        &["--user", "root", "--password", "123456", "--until-signal"],
    );
    let up = pptp
        .wait_for_line(Duration::from_secs(20), |l| l.starts_with("PPTP-CLIENT up"))
        .unwrap();
    (pptp, up)
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Waits for the gateway's `link up` line for the client at `address`: the session counts
/// (status report, direct frames) from its route on, a little after the client is up.
fn wait_for_link_up(gateway: &Gateway, address: &str) {
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains(&format!("link up, {address} "))
        })
        .unwrap();
}

/// The gateway with [`GatewayConfig::default`] in `topo`'s gateway namespace.
fn start_default_gateway(topo: &Topology) -> Gateway {
    Gateway::start(
        gateway_bin!(),
        topo.gw(),
        topo.workdir(),
        &GatewayConfig::default(),
    )
    .unwrap()
}

/// Stops the gateway with SIGTERM: it must exit 0 and leave nothing behind.
fn stop_cleanly(gateway: &mut Gateway, topo: &Topology) {
    let (status, _) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert!(status.success(), "{status}");
    assert_clean(topo);
}

fn assert_clean(topo: &Topology) {
    let left = leftovers(topo.gw()).unwrap();
    assert!(
        left.is_empty(),
        "left behind in the gateway namespace: {left:#?}"
    );
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap().trim(), "0");
}

#[test]
fn tcp_and_udp_through_the_tunnel_and_nat_arrive_intact_from_the_egress_address() {
    if !require_root("tcp_and_udp_through_the_tunnel_and_nat_arrive_intact_from_the_egress_address")
    {
        return;
    }
    // The default: the TUN device with virtio-net headers and offloads, data sent as frames.
    traffic_through_the_tunnel(GatewayConfig::default(), DataPath::Frames);
}

#[test]
fn the_same_traffic_passes_with_a_plain_tun_device_and_two_workers() {
    if !require_root("the_same_traffic_passes_with_a_plain_tun_device_and_two_workers") {
        return;
    }
    traffic_through_the_tunnel(
        GatewayConfig::default()
            .conf("tun-offload no")
            .conf("workers 2")
            .conf("gre-direct no"),
        DataPath::IpStack,
    );
}

/// How the gateway's downstream GRE data is expected to leave.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DataPath {
    /// As finished frames on a packet socket (`gre-direct yes`): past the IP output path.
    Frames,
    /// Through the raw GRE socket and the kernel's IP output (`gre-direct no`).
    IpStack,
}

/// Bulk TCP down, checksummed UDP both ways, only the egress address seen outside, and a
/// clean hang-up that gives everything back.
fn traffic_through_the_tunnel(config: GatewayConfig, path: DataPath) {
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();
    let blob = Blob::new(8_000_000, 3);
    let http_log = topo.path("http.log");
    let udp_log = topo.path("udp.log");
    let _http = tool()
        .http_serve(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 8080),
            blob,
            &http_log,
        )
        .unwrap();
    let _echo = tool()
        .udp_echo(topo.inet(), SocketAddr::new(INET_IP.into(), 7000), &udp_log)
        .unwrap();

    let pptp = client(&topo, &test_client::tunnel_args("root", "123456"));
    let up = pptp
        .wait_for_line(Duration::from_secs(20), |l| l.starts_with("PPTP-CLIENT up"))
        .unwrap();
    assert_eq!(
        field(&up, "local"),
        Some(POOL_FIRST.to_string().as_str()),
        "{up}"
    );
    assert_eq!(
        field(&up, "peer"),
        Some(LOCAL_IP.to_string().as_str()),
        "{up}"
    );
    assert_eq!(field(&up, "mppe"), Some("128"), "{up}");
    test_client::wait_for_tunnel(&pptp, Duration::from_secs(10)).unwrap();

    // Downstream bulk: kernel TCP from the internet host to the client, verified byte for byte.
    let ip_stack = GreOutputCounter::install(topo.gw()).unwrap();
    let fetched = tool()
        .fetch(topo.vpc(), "http://198.51.100.2:8080/blob", blob, None)
        .unwrap();
    eprintln!(
        "fetch through the tunnel: {} bytes at {:.1} Mbit/s",
        fetched.bytes, fetched.mbit_s
    );
    assert_eq!(fetched.bytes, blob.size);
    // At least size ÷ 1400 data datagrams went down; which way did they leave?
    let data_datagrams = blob.size / 1400;
    let via_ip_stack = ip_stack.packets().unwrap();
    eprintln!("GRE datagrams through the IP output path during the fetch: {via_ip_stack}");
    match path {
        // Only control frames and bare acknowledgements take the IP stack.
        DataPath::Frames => assert!(via_ip_stack < data_datagrams / 20, "{via_ip_stack}"),
        DataPath::IpStack => assert!(via_ip_stack >= data_datagrams, "{via_ip_stack}"),
    }
    drop(ip_stack);
    // Upstream bulk: kernel TCP from the client to the internet host, which verifies every
    // byte (the gateway coalesces these segments into trains on the TUN device).
    let uploaded = tool()
        .upload(topo.vpc(), "http://198.51.100.2:8080/blob", blob)
        .unwrap();
    eprintln!(
        "upload through the tunnel: {} bytes at {:.1} Mbit/s",
        uploaded.bytes, uploaded.mbit_s
    );
    assert_eq!(uploaded.bytes, blob.size);
    // Both ways: checksummed UDP datagrams echoed, small and near the tunnel's MTU.
    for size in [32, 1000, 1300] {
        let report = tool()
            .udp_check(
                topo.vpc(),
                SocketAddr::new(INET_IP.into(), 7000),
                300,
                size,
                None,
            )
            .unwrap();
        assert!(report.passed(), "size {size}: {report:?}");
    }
    // The internet host saw the gateway's egress address only.
    let egress: BTreeSet<IpAddr> = BTreeSet::from([IpAddr::V4(GW_WAN_IP)]);
    assert!(eventually(
        || peer_ips(&http_log).is_ok_and(|ips| !ips.is_empty())
    ));
    assert_eq!(peer_ips(&http_log).unwrap(), egress);
    assert_eq!(peer_ips(&udp_log).unwrap(), egress);

    // A clean hang-up by the client gives everything back.
    let down = test_client::hang_up(&pptp).unwrap();
    assert!(down.contains("reason=hang-up"), "{down}");
    let down = gateway
        .wait_for_log(Duration::from_secs(10), |l| l.contains("(root): link down"))
        .unwrap();
    // The totals, as pppd logs them at the end of a link: the blob went down and came back
    // up, with the UDP checks and the other direction's ACKs (IP bytes: ~13 % more here).
    let count = |label: &str| -> u64 {
        let at = down
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {down}"));
        down[at + label.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label} in {down}"))
    };
    let (sent, received) = (count("sent "), count("received "));
    assert!((blob.size..blob.size * 5 / 4).contains(&sent), "{down}");
    assert!((blob.size..blob.size * 5 / 4).contains(&received), "{down}");
    let routes = topo.gw().ip(&["route", "show"]).unwrap();
    assert!(
        !routes.contains(&POOL_FIRST.to_string()),
        "the client's route is gone: {routes}"
    );

    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn wrong_password_gets_e691_and_server_shutdown_is_announced_to_clients() {
    if !require_root("wrong_password_gets_e691_and_server_shutdown_is_announced_to_clients") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);

    let mut refused = client(
        &topo,
        &[
            "--user",
            "root",
            "--password",
            "wrong",
            "--expect-auth-failure",
        ],
    );
    let line = refused
        .wait_for_line(Duration::from_secs(20), |l| {
            l.starts_with("PPTP-CLIENT auth-failed")
        })
        .unwrap();
    assert!(
        line.contains("E=691 R=1 C=") && line.contains("V=0 M=Access denied"),
        "{line}"
    );
    assert!(
        refused
            .wait_timeout(Duration::from_secs(20))
            .unwrap()
            .is_some_and(|s| s.success())
    );

    let (held, up) = root_client_up(&topo);
    // The refused login gave its address back; addresses rotate, so this one is the next.
    assert!(field(&up, "local").is_some(), "{up}");
    let (status, took) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    eprintln!(
        "gateway exit with a client up: {status} in {:.2} s",
        took.as_secs_f64()
    );
    assert!(status.success());
    let down = held
        .wait_for_line(Duration::from_secs(10), |l| {
            l.starts_with("PPTP-CLIENT down")
        })
        .unwrap();
    for told in [
        "reason=server-terminated",
        "lcp-term-req=yes",
        "cdn=admin-shutdown",
        "stop-req=yes",
    ] {
        assert!(
            down.contains(told),
            "the client was not told {told}: {down}"
        );
    }
    assert_clean(&topo);
}

#[test]
fn many_sessions_get_distinct_addresses_and_the_limit_is_enforced() {
    if !require_root("many_sessions_get_distinct_addresses_and_the_limit_is_enforced") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let config = GatewayConfig {
        remoteip: "10.77.0.1-250".into(),
        connections: 40,
        ..GatewayConfig::default()
    };
    let mut gateway = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();

    let load = client(
        &topo,
        &[
            "--user",
            "root",
            "--password",
            "123456",
            "--sessions",
            "40",
            "--until-signal",
        ],
    );
    let line = load
        .wait_for_line(Duration::from_secs(60), |l| {
            l.starts_with("PPTP-CLIENT sessions up=")
        })
        .unwrap();
    assert!(line.contains("up=40 failed=0"), "{line}");
    let routes = topo.gw().ip(&["route", "show", "dev", "pptp0"]).unwrap();
    let clients: BTreeSet<&str> = routes
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(clients.len(), 40, "one /32 route per client: {routes}");

    // The 41st session is refused while 40 are up.
    let extra = client(&topo, &["--user", "root", "--password", "123456"]);
    let failed = extra
        .wait_for_line(Duration::from_secs(20), |l| {
            l.starts_with("PPTP-CLIENT failed")
        })
        .unwrap();
    assert!(
        failed.to_lowercase().contains("refused") || failed.contains("Busy"),
        "{failed}"
    );
    drop(extra);

    load.signal(Signal::SIGTERM);
    let down = load
        .wait_for_line(Duration::from_secs(30), |l| {
            l.starts_with("PPTP-CLIENT sessions down")
        })
        .unwrap();
    assert!(down.contains("clean=40"), "{down}");
    assert!(eventually(|| topo
        .gw()
        .ip(&["route", "show", "dev", "pptp0"])
        .is_ok_and(|r| r.trim().is_empty())));
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn sighup_gives_new_sessions_the_new_options_and_keeps_live_ones() {
    if !require_root("sighup_gives_new_sessions_the_new_options_and_keeps_live_ones") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);
    let (first, up) = root_client_up(&topo);
    assert_eq!(field(&up, "dns"), Some("192.168.0.1"), "{up}");
    let first_ip = field(&up, "local").unwrap().to_owned();

    let options = topo.workdir().join("pptpd-options");
    let text = std::fs::read_to_string(&options)
        .unwrap()
        .replace("ms-dns 192.168.0.1", "ms-dns 192.168.0.53");
    std::fs::write(&options, text).unwrap();
    gateway.signal(Signal::SIGHUP);
    gateway
        .wait_for_log(Duration::from_secs(10), |l| l.contains("reloaded"))
        .unwrap();

    let (second, up2) = root_client_up(&topo);
    assert_eq!(field(&up2, "dns"), Some("192.168.0.53"), "{up2}");
    // The first session lived through the reload: its route is still there and it hangs up cleanly.
    let routes = topo.gw().ip(&["route", "show", "dev", "pptp0"]).unwrap();
    assert!(routes.contains(&first_ip), "{routes}");
    for process in [&first, &second] {
        let down = test_client::hang_up(process).unwrap();
        assert!(down.contains("reason=hang-up"), "{down}");
    }
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn sigusr1_logs_every_live_session_with_its_traffic() {
    if !require_root("sigusr1_logs_every_live_session_with_its_traffic") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);
    let sessions: Vec<(Process, String)> = (0..2)
        .map(|_| {
            let (pptp, up) = root_client_up(&topo);
            let address = field(&up, "local").unwrap().to_owned();
            (pptp, address)
        })
        .collect();
    // The client is up once IPCP is done; the gateway counts a session from its route on.
    for (_, address) in &sessions {
        wait_for_link_up(&gateway, address);
    }
    gateway.signal(Signal::SIGUSR1);
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("status: 2 session(s) up")
        })
        .unwrap();
    for (_, address) in &sessions {
        let line = gateway
            .wait_for_log(Duration::from_secs(10), |l| {
                l.contains("status: call") && l.contains(&format!("(root) {address} from "))
            })
            .unwrap();
        assert!(line.contains("; sent "), "{line}");
        // gre-direct (the default) on a veth: the data leaves as frames.
        assert!(
            line.contains("; data leaves by frames on interface #"),
            "{line}"
        );
    }
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("status: 4 of 6 pool addresses free")
        })
        .unwrap();

    // After a hang-up, the report has one session left, the other one.
    let (first, gone) = &sessions[0];
    test_client::hang_up(first).unwrap();
    gateway
        .wait_for_log(Duration::from_secs(10), |l| l.contains("link down"))
        .unwrap();
    gateway.signal(Signal::SIGUSR1);
    // The pool line ends the report: once it is there, the session lines before it are too.
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("status: 5 of 6 pool addresses free")
        })
        .unwrap();
    let reported: Vec<String> = gateway
        .log()
        .into_iter()
        .skip_while(|l| !l.contains("status: 1 session(s) up"))
        .filter(|l| l.contains("status: call"))
        .collect();
    assert_eq!(reported.len(), 1, "{reported:#?}");
    assert!(
        !reported[0].contains(&format!(" {gone} from ")),
        "{reported:#?}"
    );
    assert!(
        reported[0].contains(&format!(" {} from ", sessions[1].1)),
        "{reported:#?}"
    );

    let (second, _) = &sessions[1];
    test_client::hang_up(second).unwrap();
    stop_cleanly(&mut gateway, &topo);
}

/// `gre-direct` writes the next hop's hardware address into every data frame. When the
/// client's address moves to another hardware address (a failover, a rebuilt machine) and
/// announces it, the kernel's neighbour entry changes: the gateway must stop writing the old
/// address at once, not at its next periodic lookup (20 s later), or the client's downstream
/// data goes nowhere meanwhile.
#[test]
fn a_client_whose_address_moves_to_another_hardware_address_keeps_getting_its_data() {
    if !require_root(
        "a_client_whose_address_moves_to_another_hardware_address_keeps_getting_its_data",
    ) {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);
    let udp_log = topo.path("udp.log");
    let _echo = tool()
        .udp_echo(topo.inet(), SocketAddr::new(INET_IP.into(), 7000), &udp_log)
        .unwrap();
    let pptp = test_client::spawn_tunnel(test_client_bin!(), &topo, "root", "123456").unwrap();
    let echoes = |what: &str| {
        let report = tool()
            .udp_check(
                topo.vpc(),
                SocketAddr::new(INET_IP.into(), 7000),
                200,
                1000,
                None,
            )
            .unwrap();
        assert!(report.passed(), "{what}: {report:?}");
    };
    echoes("before the move");
    gateway.signal(Signal::SIGUSR1);
    let before = gateway
        .wait_for_log(Duration::from_secs(10), |l| l.contains("status: call"))
        .unwrap();
    assert!(
        before.contains("data leaves by frames on interface #"),
        "{before}"
    );

    // The client's address now answers from another hardware address, and says so (what a
    // gratuitous ARP does to the gateway's neighbour table).
    let moved_to = "02:00:00:00:aa:bb";
    topo.vpc()
        .ip(&["link", "set", "dev", HOST_DEV, "address", moved_to])
        .unwrap();
    topo.gw()
        .ip(&[
            "neigh",
            "replace",
            &client_ip(0).to_string(),
            "lladdr",
            moved_to,
            "dev",
            topo.lan_dev(),
            "nud",
            "reachable",
        ])
        .unwrap();
    let noticed = gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains(&format!("now answers from {moved_to}"))
        })
        .unwrap();
    assert!(
        noticed.contains("the data of 1 session(s) leaves through the IP stack"),
        "{noticed}"
    );
    // Well before the next periodic lookup, the data reaches the client at its new address.
    echoes("after the move");

    test_client::hang_up(&pptp).unwrap();
    stop_cleanly(&mut gateway, &topo);
}

/// Frames written by hand skip the kernel's IPsec transforms: an IPsec policy added while
/// sessions run sends their data through the IP stack at once, not at their next lookup.
#[test]
fn an_ipsec_policy_added_while_running_sends_the_data_through_the_ip_stack() {
    if !require_root("an_ipsec_policy_added_while_running_sends_the_data_through_the_ip_stack") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);
    let (pptp, up) = root_client_up(&topo);
    let address = field(&up, "local").unwrap().to_owned();
    wait_for_link_up(&gateway, &address);
    // A policy for traffic that is not ours: the gateway cannot know which clients a policy
    // is meant for, so any policy counts.
    topo.gw()
        .ip(&[
            "xfrm",
            "policy",
            "add",
            "src",
            "192.0.2.0/24",
            "dst",
            "192.0.2.0/24",
            "dir",
            "out",
        ])
        .unwrap();
    let noticed = gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("an IPsec policy was added")
        })
        .unwrap();
    assert!(
        noticed.contains("the data of 1 session(s) leaves through the IP stack"),
        "{noticed}"
    );
    gateway.signal(Signal::SIGUSR1);
    let line = gateway
        .wait_for_log(Duration::from_secs(10), |l| l.contains("status: call"))
        .unwrap();
    assert!(line.contains("; data leaves by the IP stack"), "{line}");

    test_client::hang_up(&pptp).unwrap();
    topo.gw().ip(&["xfrm", "policy", "flush"]).unwrap();
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn sighup_restores_egress_rules_a_host_firewall_reload_flushed() {
    if !require_root("sighup_restores_egress_rules_a_host_firewall_reload_flushed") {
        return;
    }
    // The periodic check off: only the SIGHUP can have repaired it.
    let config = GatewayConfig::default().conf("egress-check 0");
    flushed_egress_comes_back(config, true, |gateway| gateway.signal(Signal::SIGHUP));
}

#[test]
fn the_periodic_check_restores_egress_rules_a_host_firewall_reload_flushed() {
    if !require_root("the_periodic_check_restores_egress_rules_a_host_firewall_reload_flushed") {
        return;
    }
    // The check may run before the traffic could show the damage: that part is the SIGHUP
    // test's.
    let config = GatewayConfig::default().conf("egress-check 1");
    flushed_egress_comes_back(config, false, |gateway| {
        gateway
            .wait_for_log(Duration::from_secs(10), |l| {
                l.contains("changed by someone else") && l.contains("re-installing")
            })
            .unwrap();
    });
}

/// A session passes UDP to the internet host; then the host's firewall is reloaded the way
/// `systemctl restart nftables` does it (`flush ruleset`) and forwarding switched off, which
/// cuts the session off (checked when `show_damage`); `repair` must bring both back, and the
/// traffic with them.
fn flushed_egress_comes_back(config: GatewayConfig, show_damage: bool, repair: impl Fn(&Gateway)) {
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();
    let udp_log = topo.path("udp.log");
    let _echo = tool()
        .udp_echo(topo.inet(), SocketAddr::new(INET_IP.into(), 7000), &udp_log)
        .unwrap();
    let pptp = test_client::spawn_tunnel(test_client_bin!(), &topo, "root", "123456").unwrap();
    let check = |count| {
        tool()
            .udp_check(
                topo.vpc(),
                SocketAddr::new(INET_IP.into(), 7000),
                count,
                200,
                None,
            )
            .unwrap()
    };
    assert!(check(20).passed());

    topo.gw().run(&["nft", "flush", "ruleset"]).unwrap();
    topo.gw()
        .run(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
        .unwrap();
    if show_damage {
        let broken = check(3);
        assert_eq!(broken.received, 0, "{broken:?}");
    }

    repair(&gateway);
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("egress rules and ip_forward re-applied")
        })
        .unwrap();
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap(), "1");
    let repaired = check(20);
    assert!(repaired.passed(), "{repaired:?}");

    test_client::hang_up(&pptp).unwrap();
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn a_gateway_started_with_sigterm_blocked_still_stops_on_it() {
    if !require_root("a_gateway_started_with_sigterm_blocked_still_stops_on_it") {
        return;
    }
    use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    // The signal mask is inherited across fork and exec: start the gateway from a thread that
    // blocks SIGTERM, as some supervisors and harnesses do.
    let mut gateway = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut set = SigSet::empty();
                set.add(Signal::SIGTERM);
                pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
                Gateway::start(
                    gateway_bin!(),
                    topo.gw(),
                    topo.workdir(),
                    &GatewayConfig::default(),
                )
            })
            .join()
            .unwrap()
    })
    .unwrap();
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn a_static_address_added_to_chap_secrets_while_running_is_masqueraded_too() {
    if !require_root("a_static_address_added_to_chap_secrets_while_running_is_masqueraded_too") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    let mut gateway = start_default_gateway(&topo);
    let udp_log = topo.path("udp.log");
    let _echo = tool()
        .udp_echo(topo.inet(), SocketAddr::new(INET_IP.into(), 7000), &udp_log)
        .unwrap();
    // Outside remoteip: the egress rules installed at start do not cover it. chap-secrets is
    // re-read at each login, so no signal is needed.
    let secrets = topo.workdir().join("chap-secrets");
    let mut text = std::fs::read_to_string(&secrets).unwrap();
    text.push_str("fixed\tpptpd\t\"f1xed pass\"\t10.77.0.5\n");
    std::fs::write(&secrets, text).unwrap();

    let pptp = client(&topo, &test_client::tunnel_args("fixed", "f1xed pass"));
    let up = pptp
        .wait_for_line(Duration::from_secs(20), |l| l.starts_with("PPTP-CLIENT up"))
        .unwrap();
    assert_eq!(field(&up, "local"), Some("10.77.0.5"), "{up}");
    gateway
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("10.77.0.5") && l.contains("now leaves through")
        })
        .unwrap();
    test_client::wait_for_tunnel(&pptp, Duration::from_secs(10)).unwrap();
    // The internet host can only answer what the gateway masquerades.
    let report = tool()
        .udp_check(
            topo.vpc(),
            SocketAddr::new(INET_IP.into(), 7000),
            100,
            500,
            None,
        )
        .unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(
        peer_ips(&udp_log).unwrap(),
        BTreeSet::from([IpAddr::V4(GW_WAN_IP)])
    );

    test_client::hang_up(&pptp).unwrap();
    stop_cleanly(&mut gateway, &topo);
}

#[test]
fn downloads_the_egress_side_merges_with_gro_arrive_intact_udp_and_tcp() {
    if !require_root("downloads_the_egress_side_merges_with_gro_arrive_intact_udp_and_tcp") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    // The gateway's side tuned as the README's "Throughput tuning" says: a poll waits for a
    // timer (200 µs), so it holds a burst's datagrams, and GRO merges forwarded UDP too.
    nic_tuning::coalesce_interrupts(&topo, 200).unwrap();
    nic_tuning::merge_forwarded_udp(&topo).unwrap();
    let mut gateway = start_default_gateway(&topo);
    let echo = SocketAddr::new(INET_IP.into(), 7000);
    let _echo = tool()
        .udp_echo(topo.inet(), echo, &topo.path("udp.log"))
        .unwrap();
    let pptp = client(&topo, &test_client::tunnel_args("root", "123456"));
    pptp.wait_for_line(Duration::from_secs(20), |l| l.starts_with("PPTP-CLIENT up"))
        .unwrap();
    test_client::wait_for_tunnel(&pptp, Duration::from_secs(10)).unwrap();

    // What the kernel hands to the gateway's TUN device: one packet per read, a train is one.
    let tun_packets = || -> u64 {
        let path = format!("/sys/class/net/{}/statistics/tx_packets", TUN);
        topo.gw()
            .run(&["cat", &path])
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = tun_packets();
    let mut delivered = 0;
    for size in [200, 1300] {
        let report = tool()
            .udp_check_bursts(topo.vpc(), echo, 640, size, 32)
            .unwrap();
        assert!(report.passed(), "size {size}: {report:?}");
        delivered += u64::from(report.received);
    }
    let reads = tun_packets() - before;
    eprintln!("{delivered} echoed datagrams reached the TUN device as {reads} packets");
    assert!(
        reads < delivered / 2,
        "the kernel merged the bursts into trains: {reads} TUN packets for {delivered} datagrams"
    );

    // A TCP download, verified byte for byte: GRO merges TCP segments without being told to.
    let blob = Blob::new(4_000_000, 5);
    let _http = tool()
        .http_serve(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 8080),
            blob,
            &topo.path("http.log"),
        )
        .unwrap();
    let before = tun_packets();
    let fetched = tool()
        .fetch(topo.vpc(), "http://198.51.100.2:8080/blob", blob, None)
        .unwrap();
    assert_eq!(fetched.bytes, blob.size);
    let reads = tun_packets() - before;
    let segments = blob.size / 1360;
    eprintln!(
        "a {} byte download (at least {segments} segments) reached the TUN device as {reads} packets",
        blob.size
    );
    assert!(
        reads < segments / 2,
        "GRO merged the download into trains: {reads} TUN packets for {segments} segments"
    );

    let down = test_client::hang_up(&pptp).unwrap();
    assert!(down.contains("reason=hang-up"), "{down}");
    stop_cleanly(&mut gateway, &topo);
}
