//! The shipped systemd unit (`packaging/pptpd-rs.service`): systemd accepts it, its commands
//! are ones pptpd-rs understands, and the gateway does its whole job — control connection,
//! GRE, TUN device, routes, NAT rules, ip_forward — with only the capabilities the unit's
//! `CapabilityBoundingSet=` leaves it and `NoNewPrivileges=` (reproduced with setpriv(1)).

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use pptpd_tests::gateway::{Gateway, GatewayConfig, leftovers};
use pptpd_tests::test_client;
use pptpd_tests::tool::NetnsTool;
use pptpd_tests::topology::INET_IP;
use pptpd_tests::{Topology, gateway_bin, netns_tool, require_root, test_client_bin};

/// Where the unit installs the binary and expects the configuration.
const INSTALLED_BIN: &str = "/usr/local/sbin/pptpd-rs";
const INSTALLED_CONF: &str = "/etc/pptpd.conf";

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pptpd-rs.service")
}

fn unit() -> String {
    std::fs::read_to_string(unit_path()).expect("packaging/pptpd-rs.service is readable")
}

/// The value of `key=` in the unit (the last assignment wins, as in systemd).
fn setting(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .map(str::to_owned)
}

/// Writes an executable shell script at `path` that runs `command "$@"` (with `exec`).
fn write_wrapper(path: &Path, command: &str) {
    std::fs::write(path, format!("#!/bin/sh\nexec {command} \"$@\"\n")).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// `CAP_NET_ADMIN CAP_NET_RAW` as setpriv(1) takes it: `-all,+net_admin,+net_raw`.
fn setpriv_bounding_set(caps: &str) -> String {
    let mut spec = String::from("-all");
    for cap in caps.split_whitespace() {
        let name = cap
            .strip_prefix("CAP_")
            .expect("capabilities are written CAP_*");
        spec.push_str(",+");
        spec.push_str(&name.to_ascii_lowercase());
    }
    spec
}

#[test]
fn the_unit_runs_the_binary_it_installs_with_the_poptop_config_path() {
    let unit = unit();
    assert_eq!(
        setting(&unit, "ExecStart").as_deref(),
        Some(format!("{INSTALLED_BIN} -c {INSTALLED_CONF}").as_str())
    );
    // The configuration is checked first: a broken file fails the start with its line number
    // in the journal instead of a restart loop.
    assert_eq!(
        setting(&unit, "ExecStartPre").as_deref(),
        Some(format!("{INSTALLED_BIN} --check -c {INSTALLED_CONF}").as_str())
    );
    // `systemctl reload` is SIGHUP (reload), `systemctl stop` SIGTERM (tell the clients,
    // clean up), with time for the 5 s the daemon may take.
    assert_eq!(
        setting(&unit, "ExecReload").as_deref(),
        Some("/bin/kill -HUP $MAINPID")
    );
    assert_eq!(setting(&unit, "KillSignal").as_deref(), Some("SIGTERM"));
    let stop: u64 = setting(&unit, "TimeoutStopSec").unwrap().parse().unwrap();
    assert!(stop > 5, "TimeoutStopSec={stop}");
    assert_eq!(setting(&unit, "Restart").as_deref(), Some("on-failure"));
    assert_eq!(setting(&unit, "Type").as_deref(), Some("notify"));
}

#[test]
fn the_daemon_tells_systemd_when_it_is_ready_and_when_it_stops() {
    if !require_root("the_daemon_tells_systemd_when_it_is_ready_and_when_it_stops") {
        return;
    }
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    // systemd's side of `Type=notify`: a datagram socket named in $NOTIFY_SOCKET.
    let socket_path = topo.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let wrapper = topo.path("pptpd-rs-notifying");
    write_wrapper(
        &wrapper,
        &format!(
            "env NOTIFY_SOCKET={} {}",
            socket_path.display(),
            gateway_bin!().display()
        ),
    );
    let conf = GatewayConfig::default().write(topo.workdir()).unwrap();
    let mut gateway = Gateway::start_with(&wrapper, topo.gw(), &conf, false).unwrap();
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).unwrap();
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready
            .lines()
            .any(|l| l == "STATUS=listening on 0.0.0.0:1723"),
        "{ready:?}"
    );
    // Ready means serving: the rules are in place (the log line came before it).
    assert!(gateway.log().iter().any(|l| l.contains("listening on")));

    let (status, _) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    // Sent when the stop began; the socket kept it.
    let n = socket.recv(&mut buf).unwrap();
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(stopping.trim_end(), "STOPPING=1");
    assert!(status.success(), "{status}");
    let left = leftovers(topo.gw()).unwrap();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

#[test]
fn systemd_accepts_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped systemd_accepts_the_unit: no systemd-analyze");
        return;
    };
    assert!(version.status.success());
    // verify(1) wants the commands to exist: point them at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pptpd-rs.service");
    let bin = gateway_bin!().to_str().unwrap();
    std::fs::write(&copy, unit().replace(INSTALLED_BIN, bin)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    // Unknown keys and bad values are warnings with exit 0: none allowed either.
    let about_ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("pptpd-rs.service"))
        .collect();
    assert!(about_ours.is_empty(), "{about_ours:#?}");
}

#[test]
fn the_gateway_does_its_job_with_only_the_capabilities_the_unit_leaves() {
    if !require_root("the_gateway_does_its_job_with_only_the_capabilities_the_unit_leaves") {
        return;
    }
    let unit = unit();
    let caps = setting(&unit, "CapabilityBoundingSet").expect("the unit bounds capabilities");
    assert_eq!(setting(&unit, "NoNewPrivileges").as_deref(), Some("yes"));
    let topo = Topology::builder().vpc_clients(1).build().unwrap();
    // The daemon as systemd would start it: root, but only these capabilities, for itself and
    // for the nft/iptables it runs, and no way to gain more.
    let wrapper = topo.path("pptpd-rs-as-unit");
    write_wrapper(
        &wrapper,
        &format!(
            "setpriv --bounding-set {} --no-new-privs -- {}",
            setpriv_bounding_set(&caps),
            gateway_bin!().display()
        ),
    );

    // Two workers: the TUN steering program is loaded too (CAP_BPF).
    let config = GatewayConfig::default().conf("workers 2");
    let conf = config.write(topo.workdir()).unwrap();
    let check = topo
        .gw()
        .exec(&[
            wrapper.to_str().unwrap(),
            "--check",
            "-c",
            conf.to_str().unwrap(),
        ])
        .unwrap();
    assert!(
        check.status.success(),
        "ExecStartPre: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let mut gateway = Gateway::start_with(&wrapper, topo.gw(), &conf, false).unwrap();
    // The capabilities really are bounded (else this test proves nothing). `ip netns exec`,
    // the wrapper and setpriv all exec: the spawned process is the daemon.
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", gateway.pid())).unwrap_or_default();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap());
    assert_eq!(bounding, Some(expected_mask(&caps)), "{status}");
    gateway
        .wait_for_log(Duration::from_secs(5), |l| l.contains("TUN steering on"))
        .expect("the unit's capabilities let the daemon steer its TUN queues");

    let tool: NetnsTool = netns_tool!();
    let echo_log = topo.path("udp.log");
    let _echo = tool
        .udp_echo(
            topo.inet(),
            SocketAddr::new(INET_IP.into(), 7000),
            &echo_log,
        )
        .unwrap();
    let pptp = test_client::spawn_tunnel(test_client_bin!(), &topo, "root", "123456").unwrap();
    // Through GRE, MPPE, the TUN device, the route and the NAT rules, both ways.
    let report = tool
        .udp_check(
            topo.vpc(),
            SocketAddr::new(INET_IP.into(), 7000),
            200,
            1000,
            None,
        )
        .unwrap();
    assert!(report.passed(), "{report:?}");

    test_client::hang_up(&pptp).unwrap();
    let (status, _) = gateway
        .stop(Signal::SIGTERM, Duration::from_secs(10))
        .unwrap();
    assert!(status.success(), "{status}: {:#?}", gateway.log());
    let left = leftovers(topo.gw()).unwrap();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_eq!(topo.gw().sysctl("net.ipv4.ip_forward").unwrap().trim(), "0");
}

/// The capability bit mask of `CAP_*` names, as /proc/PID/status shows it.
fn expected_mask(caps: &str) -> u64 {
    caps.split_whitespace()
        .map(|cap| match cap {
            "CAP_NET_BIND_SERVICE" => 10,
            "CAP_NET_ADMIN" => 12,
            "CAP_NET_RAW" => 13,
            "CAP_BPF" => 39,
            other => panic!("{other}: add its number (capabilities(7))"),
        })
        .fold(0u64, |mask, bit| mask | 1 << bit)
}
