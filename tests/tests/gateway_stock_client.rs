//! The stock client (pptp-linux + pppd in a qemu guest, configured as
//! `pptpsetup --create test ... --encrypt` and `pppd call test`) against pptpd-rs
//! in the standard topology: the guest on a TAP in the gateway's namespace, an
//! "internet" host behind the gateway's egress interface that can only answer
//! NATed traffic. Each test leaves nothing behind: no nft table, TUN device or
//! route of ours, `ip_forward` as it was, no namespace, no qemu.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pptpd_tests::blob::Blob;
use pptpd_tests::gateway::{Gateway, GatewayConfig, LOCAL_IP, POOL_FIRST, leftovers};
use pptpd_tests::gre_counter::GreOutputCounter;
use pptpd_tests::tool::{NetnsTool, peer_ips};
use pptpd_tests::topology::{GW_WAN_IP, INET_IP};
use pptpd_tests::vm::{ClientVm, ClientVmConfig, Expect, SecondConnection};
use pptpd_tests::{Topology, gateway_bin, netns_tool, require_root};

fn tool() -> NetnsTool {
    netns_tool!()
}

/// Polls `cond` for up to five seconds.
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

fn assert_clean(topo: &Topology) {
    let left = leftovers(topo.gw()).unwrap();
    assert!(
        left.is_empty(),
        "left behind in the gateway namespace: {left:#?}"
    );
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap().trim(), "0");
}

#[test]
fn stock_client_connects_reaches_the_internet_through_nat_and_hangs_up() {
    if !require_root("stock_client_connects_reaches_the_internet_through_nat_and_hangs_up") {
        return;
    }
    // The one retry: the guest's own network died under it (its kernel reports that its
    // emulated NIC stopped sending, or after the failure it cannot even ping the server on
    // the LAN): qemu's virtio-net under software emulation on a busy host. The guest's NIC
    // runs with event_idx=off, which made it go away in our runs (tests/vm/README.md); the
    // retry stays as a net. Any other failure fails at once.
    if let Some(console) = stock_client_run() {
        eprintln!(
            "the guest's own network died (its NIC stopped sending, or it could not ping the \
             server on the LAN after the failure): not the gateway's doing; running the whole \
             test once more on a fresh topology and gateway. The guest's console:\n{console}"
        );
        if let Some(console) = stock_client_run() {
            panic!("the guest's own network died twice in a row:\n{console}");
        }
    }
}

/// One run of [`stock_client_connects_reaches_the_internet_through_nat_and_hangs_up`]: panics
/// on any failure, except that it returns the guest's console when the guest's own NIC hung.
fn stock_client_run() -> Option<String> {
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let config = GatewayConfig::default().user("user2", "p@ss:w0rd!", "192.168.0.245");
    let mut gateway = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();

    let blob = Blob::new(4_000_000, 7);
    let md5 = blob.md5().unwrap();
    let http_log = topo.path("http.log");
    let _http = tool()
        .http_serve(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 8080),
            blob,
            &http_log,
        )
        .unwrap();

    let vm = ClientVmConfig::on_topology(&topo, 0, "root", "123456")
        .ping(INET_IP)
        .bigping(1400)
        .fetch("http://198.51.100.2:8080/blob", Some(&md5))
        .second_login("user2", "p@ss:w0rd!", Expect::Up)
        .logins(2)
        .timeout(Duration::from_secs(240));
    let ip_stack = GreOutputCounter::install(topo.gw()).unwrap();
    let report = ClientVm::run(&vm).unwrap();
    // Shown when the test fails: whether datagrams to the guest were dropped in front of it.
    for command in [
        &["ip", "-s", "link", "show", topo.tap(0)][..],
        &["tc", "-s", "qdisc", "show", "dev", topo.tap(0)][..],
    ] {
        eprintln!("{}", topo.gw().run(command).unwrap_or_default());
    }
    if report.guest_nic_hung() {
        // Stopped as a clean run stops it (its state directory goes too); the topology goes
        // with its drop.
        let _ = gateway.stop(Signal::SIGTERM, Duration::from_secs(10));
        return Some(report.to_string());
    }
    let via_ip_stack = ip_stack.packets().unwrap();
    drop(ip_stack);
    eprintln!("GRE datagrams through the gateway's IP output path: {via_ip_stack}");
    // The fetch alone was blob.size / 1400 data datagrams down: they left as frames
    // (gre-direct); control frames and bare acknowledgements take the IP stack.
    assert!(via_ip_stack < blob.size / 1400, "{via_ip_stack}");
    eprintln!(
        "stock client against pptpd-rs: {:.1} s; {}",
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
    assert_eq!(connect.value("addr"), Some(POOL_FIRST.to_string().as_str()));
    assert_eq!(connect.value("peer"), Some(LOCAL_IP.to_string().as_str()));
    assert!(
        report.assert_ok("mppe").detail.contains("128-bit"),
        "{report}"
    );
    assert_eq!(report.assert_ok("fetch").value("md5"), Some(md5.as_str()));
    // The fetched file went back up through the tunnel, verified by the internet host.
    assert_eq!(
        report.assert_ok("upload").value("bytes"),
        Some(blob.size.to_string().as_str())
    );
    // user2's chap-secrets line pins its address.
    assert_eq!(
        report.assert_ok("connect2").value("addr"),
        Some("192.168.0.245")
    );
    for name in [
        "peer-ping",
        "egress-ping",
        "big-ping",
        "hangup",
        "distinct-addresses",
        "first-survives",
    ] {
        report.assert_ok(name);
    }
    // The internet host saw the gateway's egress address only.
    assert!(eventually(
        || peer_ips(&http_log).is_ok_and(|ips| !ips.is_empty())
    ));
    let seen: BTreeSet<IpAddr> = peer_ips(&http_log).unwrap();
    assert_eq!(seen, BTreeSet::from([IpAddr::V4(GW_WAN_IP)]));

    let log = gateway.log().join("\n");
    assert!(log.contains("(root): link up"), "{log}");
    assert!(log.contains("(user2): link up"), "{log}");
    let (status, took) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    eprintln!(
        "gateway exit after SIGTERM: {status} in {:.2} s",
        took.as_secs_f64()
    );
    assert!(status.success(), "{status}");
    assert_clean(&topo);
    None
}

#[test]
fn a_second_call_on_the_same_control_connection_gets_its_own_link() {
    if !require_root("a_second_call_on_the_same_control_connection_gets_its_own_link") {
        return;
    }
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let config = GatewayConfig::default().user("user2", "secret2", "*");
    let mut gateway = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();
    let mut vm = ClientVmConfig::on_topology(&topo, 0, "root", "123456")
        .ping(INET_IP)
        .second_login("user2", "secret2", Expect::Up)
        .timeout(Duration::from_secs(180));
    if let Some(second) = vm.second.as_mut() {
        second.connection = SecondConnection::Shared;
    }
    let report = ClientVm::run(&vm).unwrap();
    report.assert_passed();
    let first = report.assert_ok("connect").value("addr").map(str::to_owned);
    let second = report
        .assert_ok("connect2")
        .value("addr")
        .map(str::to_owned);
    assert_ne!(first, second);
    for name in ["peer-ping2", "first-still-up", "hangup2", "first-survives"] {
        report.assert_ok(name);
    }
    let (status, _) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert!(status.success());
    assert_clean(&topo);
}

#[test]
fn a_wrong_password_is_refused_with_e691() {
    if !require_root("a_wrong_password_is_refused_with_e691") {
        return;
    }
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let mut gateway = Gateway::start(
        gateway_bin!(),
        topo.gw(),
        topo.workdir(),
        &GatewayConfig::default(),
    )
    .unwrap();
    let vm = ClientVmConfig::on_topology(&topo, 0, "root", "not-the-password")
        .expect(Expect::Reject)
        .timeout(Duration::from_secs(180));
    let report = ClientVm::run(&vm).unwrap();
    report.assert_passed();
    report.assert_ok("connect-refused");
    report.assert_ok("auth-failure");
    assert!(
        report
            .pppd_log("pppd")
            .iter()
            .any(|l| l.contains("E=691 R=1 C=") && l.contains("V=0 M=Access denied")),
        "{report}"
    );
    gateway
        .wait_for_log(Duration::from_secs(5), |l| {
            l.contains("authentication failed for user \"root\"")
        })
        .unwrap();
    // The refused session gave its address back: the next client gets the first one.
    assert!(eventually(|| gateway
        .log()
        .iter()
        .any(|l| l.contains("link down: authentication failed"))));
    let (status, _) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert!(status.success());
    assert_clean(&topo);
}

#[test]
fn sigterm_tells_the_connected_client_and_exits_cleanly() {
    if !require_root("sigterm_tells_the_connected_client_and_exits_cleanly") {
        return;
    }
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let mut gateway = Gateway::start(
        gateway_bin!(),
        topo.gw(),
        topo.workdir(),
        &GatewayConfig::default(),
    )
    .unwrap();
    let vm = ClientVm::boot(
        &ClientVmConfig::on_topology(&topo, 0, "root", "123456")
            .hold(60)
            .timeout(Duration::from_secs(180)),
    )
    .unwrap();
    vm.wait_for_check("peer-ping", Duration::from_secs(120))
        .unwrap();
    let (status, took) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    eprintln!(
        "gateway exit with a client connected: {status} in {:.2} s",
        took.as_secs_f64()
    );
    assert!(status.success(), "{status}");
    // The client heard it from us: LCP Terminate-Request, then the call and the control
    // connection ended, and pppd exited by itself.
    let console = vm
        .wait_for_console_line(Duration::from_secs(30), |l| {
            l.contains("Connection terminated")
        })
        .unwrap();
    assert!(console.contains("Connection terminated"));
    let report = vm.wait().unwrap();
    assert!(
        report
            .pppd_log("pppd")
            .iter()
            .any(|l| l.contains("rcvd [LCP TermReq") && l.contains("administrative close")),
        "{report}"
    );
    let log = gateway.log().join("\n");
    assert!(log.contains("sent [CDN call_id="), "{log}");
    assert!(log.contains("rcvd [StopCCRP result=Ok"), "{log}");
    assert_clean(&topo);
}

#[test]
fn after_sigkill_a_restart_cleans_up_and_a_stop_leaves_nothing() {
    if !require_root("after_sigkill_a_restart_cleans_up_and_a_stop_leaves_nothing") {
        return;
    }
    let topo = Topology::builder().vpc_clients(0).taps(1).build().unwrap();
    let config = GatewayConfig::default();
    let mut first = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap().trim(), "1");
    first.kill();
    // A crash leaves the rules (the TUN device goes with the process).
    let left = leftovers(topo.gw()).unwrap();
    assert!(left.iter().any(|l| l.starts_with("nft")), "{left:?}");
    assert!(!left.iter().any(|l| l.contains("link pptp0")), "{left:?}");

    let mut second = Gateway::start(gateway_bin!(), topo.gw(), topo.workdir(), &config).unwrap();
    let tables = topo.gw().run(&["nft", "list", "tables"]).unwrap();
    assert_eq!(tables.matches("pptpd_rs").count(), 1, "{tables}");
    let (status, _) = second
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert!(status.success());
    assert_clean(&topo);
}
