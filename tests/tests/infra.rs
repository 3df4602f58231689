//! Tests of the test infrastructure itself: the topology comes up as described and
//! goes away completely (after a panic and after a killed test process too), the
//! netns-tool programs work across a routed veth path and notice wrong answers, the
//! internet host can only answer NATed traffic, the stock-client guest boots on a
//! TAP in a namespace and reports what it saw, and against poptop (the reference
//! server) every check of the guest passes. All of them need root.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pptpd_tests::blob::Blob;
use pptpd_tests::capture::CaptureSummary;
use pptpd_tests::netns::{self, link_names, list_ours, process_alive};
use pptpd_tests::reference_server::{
    POOL_FIRST_IP, POOL_LOCAL_IP, ReferenceNetwork, ReferenceServer,
};
use pptpd_tests::tool::{NetnsTool, peer_ips, read_peer_log};
use pptpd_tests::topology::{GW_LAN_IP, GW_WAN_IP, INET_IP, client_ip, guest_ip};
use pptpd_tests::vm::{ClientVm, ClientVmConfig, Expect};
use pptpd_tests::{Topology, cleanup_leftovers, netns_tool, require_root};

/// Set in the child process of `leftovers_of_a_killed_test_process_are_removed`.
const LEFTOVER_CHILD_ENV: &str = "PPTPDT_LEFTOVER_CHILD";

fn tool() -> NetnsTool {
    netns_tool!()
}

fn root_links() -> BTreeSet<String> {
    link_names(&netns::ip(&["-o", "link", "show"]).unwrap())
        .into_iter()
        .collect()
}

fn ips(list: &[Ipv4Addr]) -> BTreeSet<IpAddr> {
    list.iter().map(|ip| IpAddr::V4(*ip)).collect()
}

/// Polls `cond` for up to two seconds.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[test]
fn topology_comes_up_as_described_and_goes_away() {
    if !require_root("topology_comes_up_as_described_and_goes_away") {
        return;
    }
    let links_before = root_links();
    let topo = Topology::builder().vpc_clients(3).build().unwrap();
    let names = topo.namespaces();
    assert_eq!(names.len(), 3);
    let listed = list_ours().unwrap();
    for name in &names {
        assert!(listed.contains(name), "{name} not in {listed:?}");
        assert!(name.starts_with(&format!("pptpdt-{}-", std::process::id())));
    }

    assert_eq!(topo.lan_dev(), "lan0");
    assert_eq!(topo.gw().addresses("lan0").unwrap(), ["10.100.100.1/24"]);
    assert_eq!(topo.gw().addresses("wan0").unwrap(), ["198.51.100.1/24"]);
    assert_eq!(
        topo.vpc().addresses("eth0").unwrap(),
        ["10.100.100.2/24", "10.100.100.3/24", "10.100.100.4/24"]
    );
    assert_eq!(topo.inet().addresses("eth0").unwrap(), ["198.51.100.2/24"]);
    // The gateway's default route names the egress interface (a lookup sends nothing).
    let route = topo.gw().ip(&["route", "get", "192.0.2.1"]).unwrap();
    assert!(route.contains("via 198.51.100.2 dev wan0"), "{route}");
    // The internet host has no way back to the LAN: only NATed traffic gets answers.
    assert!(topo.inet().ip(&["route", "get", "10.100.100.2"]).is_err());
    // Forwarding is the daemon's job.
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap(), "0");

    drop(topo);
    let listed = list_ours().unwrap();
    for name in &names {
        assert!(!listed.contains(name), "{name} survived the drop");
    }
    assert_eq!(
        root_links(),
        links_before,
        "the root namespace's links changed"
    );
}

#[test]
fn lan_with_taps_is_a_bridge_and_a_lone_tap_carries_the_address() {
    if !require_root("lan_with_taps_is_a_bridge_and_a_lone_tap_carries_the_address") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).taps(2).build().unwrap();
    assert_eq!(topo.lan_dev(), "br0");
    assert_eq!(topo.gw().addresses("br0").unwrap(), ["10.100.100.1/24"]);
    let ports = link_names(
        &topo
            .gw()
            .ip(&["-o", "link", "show", "master", "br0"])
            .unwrap(),
    );
    assert_eq!(
        ports.into_iter().collect::<BTreeSet<_>>(),
        ["lan0", "tap0", "tap1"].map(String::from).into()
    );
    assert_eq!((topo.tap(0), topo.tap(1)), ("tap0", "tap1"));

    let alone = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    assert!(alone.try_vpc().is_none());
    assert_eq!(alone.lan_dev(), "tap0");
    assert_eq!(alone.gw().addresses("tap0").unwrap(), ["10.100.100.1/24"]);
    assert!(!alone.gw().links().unwrap().contains(&"br0".to_owned()));

    assert!(Topology::builder().vpc_clients(0).taps(0).build().is_err());
}

#[test]
fn a_panicking_test_leaves_no_namespace_and_no_process() {
    if !require_root("a_panicking_test_leaves_no_namespace_and_no_process") {
        return;
    }
    let seen: Arc<Mutex<(Vec<String>, u32)>> = Arc::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let topo = Topology::new().unwrap();
        let echo = tool()
            .udp_echo(
                topo.inet(),
                SocketAddr::new(INET_IP.into(), 7100),
                &topo.path("echo.log"),
            )
            .unwrap();
        *seen.lock().unwrap() = (topo.namespaces(), echo.id());
        // The server is deliberately leaked: the namespace must still go.
        std::mem::forget(echo);
        panic!("deliberate panic inside a topology");
    }));
    assert!(outcome.is_err());
    let (names, echo_pid) = seen.lock().unwrap().clone();
    assert_eq!(names.len(), 3);
    let listed = list_ours().unwrap();
    for name in &names {
        assert!(!listed.contains(name), "{name} survived the panic");
    }
    assert!(
        eventually(|| !process_alive(echo_pid)),
        "udp-echo {echo_pid} survived"
    );
}

/// Run only as the child of `leftovers_of_a_killed_test_process_are_removed`: builds a
/// topology with a server inside and dies without running any destructor.
#[test]
#[ignore = "the child half of leftovers_of_a_killed_test_process_are_removed"]
fn leftover_child() {
    if std::env::var_os(LEFTOVER_CHILD_ENV).is_none() {
        return;
    }
    let topo = Topology::new().unwrap();
    let echo = tool()
        .udp_echo(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 7200),
            &topo.path("echo.log"),
        )
        .unwrap();
    println!("LEFTOVER {} {}", echo.id(), topo.namespaces().join(" "));
    std::process::abort();
}

#[test]
fn leftovers_of_a_killed_test_process_are_removed() {
    if !require_root("leftovers_of_a_killed_test_process_are_removed") {
        return;
    }
    // Run this process's automatic once-only clean-up now, so that it cannot race
    // with the explicit one below.
    drop(Topology::new().unwrap());

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "leftover_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(LEFTOVER_CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child should have aborted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| Some(&l[l.find("LEFTOVER ")? + "LEFTOVER ".len()..]))
        .unwrap_or_else(|| panic!("no LEFTOVER line in {stdout}"));
    let mut words = line.split_whitespace();
    let echo_pid: u32 = words.next().unwrap().parse().unwrap();
    let names: Vec<String> = words.map(str::to_owned).collect();
    assert_eq!(names.len(), 3);

    let listed = list_ours().unwrap();
    for name in &names {
        assert!(listed.contains(name), "{name} should be left over");
    }
    assert!(
        process_alive(echo_pid),
        "the leaked server should still run"
    );

    let removed = cleanup_leftovers().unwrap();
    let listed = list_ours().unwrap();
    for name in &names {
        assert!(removed.contains(name), "{name} not reported as removed");
        assert!(!listed.contains(name), "{name} survived the clean-up");
    }
    assert!(
        eventually(|| !process_alive(echo_pid)),
        "udp-echo {echo_pid} survived the clean-up"
    );
}

#[test]
fn udp_echo_sees_only_the_sender_and_udp_check_notices_silence() {
    if !require_root("udp_echo_sees_only_the_sender_and_udp_check_notices_silence") {
        return;
    }
    let topo = Topology::new().unwrap();
    let log = topo.path("udp.log");
    let echo_addr = SocketAddr::new(INET_IP.into(), 7000);
    let _echo = tool().udp_echo(topo.inet(), echo_addr, &log).unwrap();

    let report = tool()
        .udp_check(topo.gw(), echo_addr, 20, 1400, None)
        .unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(read_peer_log(&log).unwrap().len(), 20);
    assert_eq!(peer_ips(&log).unwrap(), ips(&[GW_WAN_IP]));

    // Nothing listens on 7001: every datagram is reported lost.
    let silent = tool()
        .udp_check(
            topo.gw(),
            SocketAddr::new(INET_IP.into(), 7001),
            2,
            100,
            None,
        )
        .unwrap();
    assert!(!silent.passed());
    assert_eq!((silent.received, silent.lost), (0, 2));
}

#[test]
fn http_blob_is_fetched_intact_and_corruption_is_noticed() {
    if !require_root("http_blob_is_fetched_intact_and_corruption_is_noticed") {
        return;
    }
    let topo = Topology::new().unwrap();
    let log = topo.path("http.log");
    let blob = Blob::new(3_000_000, 42);
    let _server = tool()
        .http_serve(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 8080),
            blob,
            &log,
        )
        .unwrap();
    let url = "http://198.51.100.2:8080/blob";

    let report = tool().fetch(topo.gw(), url, blob, None).unwrap();
    assert_eq!(report.bytes, blob.size);
    assert!(report.mbit_s > 0.0, "{report:?}");
    eprintln!("fetch over a veth: {report:?}");

    // Other content of the same size is caught byte by byte; other sizes too.
    let wrong = tool().fetch(topo.gw(), url, Blob::new(blob.size, 43), None);
    assert!(format!("{:?}", wrong.unwrap_err()).contains("differs"));
    let short = tool().fetch(topo.gw(), url, Blob::new(blob.size + 1, 42), None);
    assert!(short.is_err());
    let missing = tool().fetch(topo.gw(), "http://198.51.100.2:8080/nothing", blob, None);
    assert!(format!("{:?}", missing.unwrap_err()).contains("404"));

    assert_eq!(read_peer_log(&log).unwrap().len(), 4);
    assert_eq!(peer_ips(&log).unwrap(), ips(&[GW_WAN_IP]));
}

#[test]
fn the_internet_host_answers_lan_clients_only_through_nat() {
    if !require_root("the_internet_host_answers_lan_clients_only_through_nat") {
        return;
    }
    let topo = Topology::builder().vpc_clients(2).build().unwrap();
    topo.gw().set_sysctl("net.ipv4.ip_forward", "1").unwrap();
    topo.vpc().add_route("default", GW_LAN_IP).unwrap();
    let plain_log = topo.path("plain.log");
    let plain = SocketAddr::new(INET_IP.into(), 7000);
    let _plain = tool().udp_echo(topo.inet(), plain, &plain_log).unwrap();

    // Routed without NAT, the request arrives from the private address and the
    // answer has no way back.
    let report = tool()
        .udp_check(topo.vpc(), plain, 1, 200, Some(client_ip(1).into()))
        .unwrap();
    assert_eq!((report.received, report.lost), (0, 1));
    assert_eq!(peer_ips(&plain_log).unwrap(), ips(&[client_ip(1)]));

    if Command::new("nft").arg("--version").output().is_err() {
        eprintln!("nft is not installed: the masquerade half of this test is skipped");
        return;
    }
    for rule in [
        "add table ip pptpdt",
        "add chain ip pptpdt post { type nat hook postrouting priority 100 ; }",
        "add rule ip pptpdt post oifname wan0 masquerade",
    ] {
        let args: Vec<&str> = std::iter::once("nft").chain(rule.split(' ')).collect();
        topo.gw().run(&args).unwrap();
    }
    let nat_log = topo.path("nat.log");
    let natted = SocketAddr::new(INET_IP.into(), 7001);
    let _natted = tool().udp_echo(topo.inet(), natted, &nat_log).unwrap();
    for client in topo.client_ips() {
        let report = tool()
            .udp_check(topo.vpc(), natted, 5, 1000, Some(client.into()))
            .unwrap();
        assert!(report.passed(), "{client}: {report:?}");
    }
    assert_eq!(peer_ips(&nat_log).unwrap(), ips(&[GW_WAN_IP]));
}

#[test]
fn guest_boots_on_a_tap_and_reports_connect_fail_without_a_server() {
    if !require_root("guest_boots_on_a_tap_and_reports_connect_fail_without_a_server") {
        return;
    }
    // A bridge: the guest and a vpc client share the LAN, as in the gateway tests.
    let topo = Topology::builder().vpc_clients(1).taps(1).build().unwrap();
    let config = ClientVmConfig::on_topology(&topo, 0, "root", "123456")
        .connect_timeout(20)
        .timeout(Duration::from_secs(120));
    let vm = ClientVm::boot(&config).unwrap();
    let eth0 = vm.wait_for_check("eth0", Duration::from_secs(90)).unwrap();
    assert_eq!(eth0.value("addr"), Some("10.100.100.20/24"));
    assert!(vm.qemu_pid().is_some_and(process_alive));

    let report = vm.wait().unwrap();
    eprintln!(
        "guest without a server: {:.1} s wall, kernel to init {} s, powered off at {} s",
        report.elapsed.as_secs_f64(),
        report.info("init-uptime").unwrap_or("?"),
        report.info("done-uptime").unwrap_or("?"),
    );
    assert!(!report.timed_out, "{report}");
    report.assert_ok("eth0");
    assert_eq!(report.assert_ok("lan-ping").detail, GW_LAN_IP.to_string());
    let connect = report.assert_failed("connect");
    assert!(connect.detail.contains("no-ppp0-address"), "{report}");
    assert_eq!(report.result, Some(false));
    assert_eq!(report.exit_code, Some(1));
    // pptp's complaint reaches us through pppd's log.
    assert!(
        report
            .pppd_log("pppd")
            .iter()
            .any(|l| l.contains("Connection refused")),
        "{report}"
    );
    assert!(
        report.elapsed < Duration::from_secs(60),
        "a refused connect should fail promptly:\n{report}"
    );
    assert_eq!(guest_ip(0), Ipv4Addr::new(10, 100, 100, 20));
}

#[test]
fn dropping_a_running_guest_kills_qemu() {
    if !require_root("dropping_a_running_guest_kills_qemu") {
        return;
    }
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let config =
        ClientVmConfig::on_topology(&topo, 0, "root", "123456").timeout(Duration::from_secs(120));
    let vm = ClientVm::boot(&config).unwrap();
    vm.wait_for_check("eth0", Duration::from_secs(90)).unwrap();
    let pid = vm.qemu_pid().expect("qemu wrote its pid file");
    assert!(process_alive(pid));
    drop(vm);
    assert!(eventually(|| !process_alive(pid)), "qemu {pid} survived");
    assert!(topo.gw().pids().unwrap().is_empty());
}

#[test]
fn stock_client_passes_every_check_against_the_poptop_reference() {
    if !require_root("stock_client_passes_every_check_against_the_poptop_reference") {
        return;
    }
    let net = ReferenceNetwork::new().unwrap();
    let ns = net.netns();
    let blob = Blob::new(1_000_000, 9);
    let http_log = net.path("http.log");
    let _http = tool()
        .http_serve(ns, SocketAddr::new(INET_IP.into(), 8080), blob, &http_log)
        .unwrap();
    let users = [("root", "123456"), ("user2", "pass2")];
    let mut server = ReferenceServer::boot(&net, &users).unwrap();

    let md5 = blob.md5().unwrap();
    let config = net
        .client("root", "123456")
        .ping(INET_IP)
        .bigping(1400)
        .fetch("http://198.51.100.2:8080/blob", Some(&md5))
        .second_login("user2", "pass2", Expect::Up)
        .logins(2)
        .pcap(net.path("client.pcap"))
        // Two emulated guests beside the other tests' guests on two cores: as the
        // gateway's own stock-client test, give a slow machine room (a run takes ~20 s).
        .timeout(Duration::from_secs(240));
    let mut report = ClientVm::run(&config).unwrap();
    if report.timed_out || report.guest_nic_hung() {
        // The reference is third-party software in two emulated guests; a rare stall
        // there (seen once in CI: an upload through poptop hung; the stock-client guest's
        // emulated NIC can stop sending, which its kernel reports) is not ours to fail on.
        // Show what happened, then give it one more run on a fresh server (so that the
        // pool and the logs start clean); a second stall fails the test.
        let server_log = server.log();
        eprintln!(
            "the reference run timed out or its guest's NIC hung; running it once more. \
             Its console:\n{report}\n\
             --- the server's last log lines ---\n{}\n--- http log ---\n{}",
            server_log[server_log.len().saturating_sub(40)..].join("\n"),
            std::fs::read_to_string(&http_log).unwrap_or_default()
        );
        drop(server);
        server = ReferenceServer::boot(&net, &users).unwrap();
        std::fs::File::create(&http_log).unwrap();
        report = ClientVm::run(&config).unwrap();
    }
    eprintln!(
        "stock client against poptop: {:.1} s; checks: {}",
        report.elapsed.as_secs_f64(),
        report
            .checks
            .iter()
            .map(|c| format!("{} {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    );
    report.assert_passed();
    let connect = report.assert_ok("connect");
    assert_eq!(
        connect.value("addr"),
        Some(POOL_FIRST_IP.to_string().as_str())
    );
    assert_eq!(
        connect.value("peer"),
        Some(POOL_LOCAL_IP.to_string().as_str())
    );
    assert!(report.assert_ok("mppe").detail.contains("128-bit"));
    assert_eq!(report.assert_ok("fetch").value("md5"), Some(md5.as_str()));
    for name in ["peer-ping", "egress-ping", "big-ping", "hangup"] {
        report.assert_ok(name);
    }
    for name in [
        "connect2",
        "distinct-addresses",
        "peer-ping2",
        "first-still-up",
    ] {
        report.assert_ok(name);
    }
    for name in ["hangup2", "first-survives", "connect#2", "hangup#2"] {
        report.assert_ok(name);
    }
    // The reference forwards without NAT: the internet host saw the PPP address,
    // which proves the fetch went through the tunnel.
    assert!(eventually(
        || peer_ips(&http_log).is_ok_and(|ips| !ips.is_empty())
    ));
    assert_eq!(peer_ips(&http_log).unwrap(), ips(&[POOL_FIRST_IP]));
    // The capture shows the PPTP control connection and the GRE-carried PPP.
    let capture = CaptureSummary::read(&net.path("client.pcap")).unwrap();
    assert!(capture.pptp_control > 10, "{capture:?}");
    assert!(capture.gre() > 1000, "{capture:?}");
    // pppd's packet log is there to read when negotiation fails.
    assert!(
        report
            .pppd_log("pppd")
            .iter()
            .any(|l| l.contains("CHAP authentication succeeded"))
    );

    // A wrong password: refused with E=691, and pppd gives up by itself.
    let refused = ClientVm::run(&net.client("root", "wrong").expect(Expect::Reject)).unwrap();
    refused.assert_passed();
    assert!(
        refused
            .assert_ok("auth-failure")
            .detail
            .starts_with("E=691 ")
    );
    assert_eq!(refused.assert_ok("pppd-exited").value("status"), Some("19"));
    assert!(server.log().iter().any(|l| l.contains("pptpd")));
}
