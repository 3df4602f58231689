//! Root tests: install and remove the egress for real, each inside network namespaces the test
//! creates and deletes, never in the host's own. They skip (with a printed reason) when not root.
//!
//! Each `#[test]` parent creates namespaces and runs a *role* (an `#[ignore]`d test of this same
//! binary) inside them through `ip netns exec`; the role uses the library and asserts.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use nat::{
    Backend, BackendChoice, Egress, EgressConfig, HostFirewall, NatError, cleanup_stale,
    default_route_interface, detect_backend,
};
use support::{Netns, enter_role, field, run, skip_unless_root};

const BACKEND_ENV: &str = "NAT_TEST_BACKEND";
const STATE_DIR_ENV: &str = "NAT_TEST_STATE_DIR";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

// ---------------------------------------------------------------------------------------------
// Parents
// ---------------------------------------------------------------------------------------------

fn in_fresh_netns(test: &str, role: &str, backend: &str) {
    if skip_unless_root(test) {
        return;
    }
    let netns = Netns::new("fw");
    netns.run_role(role, &[(BACKEND_ENV, backend)]);
}

#[test]
fn nftables_install_remove_leaves_host_rules_untouched() {
    in_fresh_netns("nftables_install_remove", "role_install_remove", "nftables");
}

#[test]
fn iptables_install_remove_leaves_host_rules_untouched() {
    in_fresh_netns("iptables_install_remove", "role_install_remove", "iptables");
}

#[test]
fn nftables_crash_then_cleanup_and_reinstall() {
    in_fresh_netns("nftables_crash", "role_crash_cleanup_reinstall", "nftables");
}

#[test]
fn iptables_crash_then_cleanup_and_reinstall() {
    in_fresh_netns("iptables_crash", "role_crash_cleanup_reinstall", "iptables");
}

#[test]
fn nftables_double_install_keeps_one_copy() {
    in_fresh_netns("nftables_double_install", "role_double_install", "nftables");
}

#[test]
fn iptables_double_install_keeps_one_copy() {
    in_fresh_netns("iptables_double_install", "role_double_install", "iptables");
}

#[test]
fn nftables_notices_a_flush_and_reapply_repairs_it() {
    in_fresh_netns("nftables_flush", "role_flush_then_reapply", "nftables");
}

#[test]
fn iptables_notices_a_flush_and_reapply_repairs_it() {
    in_fresh_netns("iptables_flush", "role_flush_then_reapply", "iptables");
}

#[test]
fn auto_detection_follows_the_forward_policy() {
    in_fresh_netns("auto_detection", "role_detect", "auto");
}

/// One run of [`through_gateway`].
struct GatewayCase {
    /// "nftables" or "iptables".
    backend: &'static str,
    /// `EgressConfig::snat_to`.
    snat: Option<&'static str>,
    /// The source address the internet host must see.
    expect: &'static str,
    /// Add a foreign nftables forward chain with policy drop (and expect no traffic).
    foreign_drop: bool,
}

const MASQUERADE: &str = "198.51.100.1";
const EIP: &str = "203.0.113.7";

#[test]
fn nftables_masquerade_reaches_the_internet() {
    through_gateway(
        "nftables_masquerade",
        GatewayCase {
            backend: "nftables",
            snat: None,
            expect: MASQUERADE,
            foreign_drop: false,
        },
    );
}

#[test]
fn nftables_snat_uses_the_eip() {
    through_gateway(
        "nftables_snat",
        GatewayCase {
            backend: "nftables",
            snat: Some(EIP),
            expect: EIP,
            foreign_drop: false,
        },
    );
}

#[test]
fn iptables_masquerade_reaches_the_internet_through_forward_drop() {
    through_gateway(
        "iptables_masquerade",
        GatewayCase {
            backend: "iptables",
            snat: None,
            expect: MASQUERADE,
            foreign_drop: false,
        },
    );
}

#[test]
fn iptables_snat_uses_the_eip() {
    through_gateway(
        "iptables_snat",
        GatewayCase {
            backend: "iptables",
            snat: Some(EIP),
            expect: EIP,
            foreign_drop: false,
        },
    );
}

#[test]
fn nftables_foreign_forward_drop_is_named_and_wins() {
    through_gateway(
        "nftables_foreign_drop",
        GatewayCase {
            backend: "nftables",
            snat: None,
            expect: MASQUERADE,
            foreign_drop: true,
        },
    );
}

#[test]
fn failed_installs_report_the_tool_error_and_leave_nothing() {
    if skip_unless_root("failed_installs") {
        return;
    }
    // Fake `nft`/`iptables` first on PATH: they fail on one command and run the real tool
    // otherwise.
    let fakes = tempfile::tempdir().unwrap();
    let real_nft = run(&["sh", "-c", "command -v nft"]);
    let real_iptables = run(&["sh", "-c", "command -v iptables"]);
    write_script(
        &fakes.path().join("nft"),
        &format!(
            "case \"$*\" in *\"-f -\"*) cat >/dev/null; \
             echo 'Error: simulated nft failure' >&2; exit 1;; esac\nexec {} \"$@\"\n",
            real_nft.trim()
        ),
    );
    write_script(
        &fakes.path().join("iptables"),
        &format!(
            "case \"$*\" in *\"-t mangle -N PPTPD_RS_MSS\"*) \
             echo 'iptables: simulated failure' >&2; exit 1;; esac\nexec {} \"$@\"\n",
            real_iptables.trim()
        ),
    );
    let path = format!(
        "{}:{}",
        fakes.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for backend in ["nftables", "iptables"] {
        let netns = Netns::new("fail");
        netns.run_role(
            "role_failed_install",
            &[(BACKEND_ENV, backend), ("PATH", path.as_str())],
        );
    }
}

fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Three namespaces:
///
/// ```text
/// client  cli0 10.200.1.2/24 ── tun0 10.200.1.1/24   gateway   wan0 198.51.100.1/24 ── inet0 198.51.100.2/24  internet
///         default via .1                             + EIP 203.0.113.7/32 on wan0       route 203.0.113.0/24 via .1
///                                                    default via 198.51.100.2           (no route to 10.200.1.0/24)
/// ```
/// `tun0` stands in for the TUN device; the client's address is in the pool.
fn through_gateway(test: &str, case: GatewayCase) {
    if skip_unless_root(test) {
        return;
    }
    let client = Netns::new("cli");
    let gateway = Netns::new("gw");
    let internet = Netns::new("inet");
    gateway.ip(&[
        "link",
        "add",
        "tun0",
        "type",
        "veth",
        "peer",
        "name",
        "cli0",
        "netns",
        &client.name,
    ]);
    gateway.ip(&[
        "link",
        "add",
        "wan0",
        "type",
        "veth",
        "peer",
        "name",
        "inet0",
        "netns",
        &internet.name,
    ]);
    client.ip(&["addr", "add", "10.200.1.2/24", "dev", "cli0"]);
    client.ip(&["link", "set", "cli0", "up"]);
    client.ip(&["route", "add", "default", "via", "10.200.1.1"]);
    gateway.ip(&["addr", "add", "10.200.1.1/24", "dev", "tun0"]);
    gateway.ip(&["link", "set", "tun0", "up"]);
    gateway.ip(&["addr", "add", "198.51.100.1/24", "dev", "wan0"]);
    gateway.ip(&["addr", "add", "203.0.113.7/32", "dev", "wan0"]);
    gateway.ip(&["link", "set", "wan0", "up"]);
    gateway.ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.51.100.2",
        "dev",
        "wan0",
    ]);
    internet.ip(&["addr", "add", "198.51.100.2/24", "dev", "inet0"]);
    internet.ip(&["link", "set", "inet0", "up"]);
    internet.ip(&["route", "add", "203.0.113.0/24", "via", "198.51.100.1"]);

    let mut envs = vec![
        (BACKEND_ENV, case.backend),
        ("NAT_TEST_CLIENT_NS", client.name.as_str()),
        ("NAT_TEST_SERVER_NS", internet.name.as_str()),
        ("NAT_TEST_EXPECT_SOURCE", case.expect),
    ];
    if let Some(snat) = case.snat {
        envs.push(("NAT_TEST_SNAT", snat));
    }
    if case.foreign_drop {
        envs.push(("NAT_TEST_FOREIGN_DROP", "1"));
    }
    gateway.run_role("role_gateway", &envs);
}

// ---------------------------------------------------------------------------------------------
// Roles: helpers
// ---------------------------------------------------------------------------------------------

fn backend_from_env() -> BackendChoice {
    match std::env::var(BACKEND_ENV).as_deref() {
        Ok("nftables") => BackendChoice::Nftables,
        Ok("iptables") => BackendChoice::Iptables,
        _ => BackendChoice::Auto,
    }
}

/// The brief's pool `192.168.0.234-238,192.168.0.245` on `pptp0` out of `eth0` (the interfaces
/// need not exist for the rules to load).
fn sample_config(state_dir: &Path) -> EgressConfig {
    let pool = nat::ranges_to_prefixes(&[
        (
            Ipv4Addr::new(192, 168, 0, 234),
            Ipv4Addr::new(192, 168, 0, 238),
        ),
        (
            Ipv4Addr::new(192, 168, 0, 245),
            Ipv4Addr::new(192, 168, 0, 245),
        ),
    ]);
    let mut config = EgressConfig::new(pool, "eth0");
    config.backend = backend_from_env();
    config.state_dir = state_dir.to_owned();
    config
}

/// Unrelated rules of "the host", in both frameworks, that we must never disturb.
fn add_host_rules() {
    run(&["nft", "add", "table", "inet", "hostfw"]);
    run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hostfw",
        "hostforward",
        "{ type filter hook forward priority 0; policy accept; }",
    ]);
    run(&[
        "nft",
        "add",
        "rule",
        "inet",
        "hostfw",
        "hostforward",
        "iifname",
        "lo",
        "counter",
        "accept",
    ]);
    run(&[
        "iptables",
        "-w",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "10.9.0.0/16",
        "-o",
        "eth0",
        "-j",
        "MASQUERADE",
    ]);
    run(&["iptables", "-w", "-t", "filter", "-N", "HOST_CHAIN"]);
    run(&[
        "iptables",
        "-w",
        "-t",
        "filter",
        "-A",
        "FORWARD",
        "-i",
        "lo",
        "-j",
        "HOST_CHAIN",
    ]);
    run(&[
        "iptables", "-w", "-t", "mangle", "-A", "FORWARD", "-i", "lo", "-j", "ACCEPT",
    ]);
}

/// Everything the firewall holds, in both frameworks, without counters and timestamps.
fn snapshot() -> String {
    let nft = run(&["nft", "list", "ruleset"]);
    let iptables: String = run(&["iptables-save"])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.find(" [") {
            Some(at) if l.starts_with(':') => format!("{}\n", &l[..at]),
            _ => format!("{l}\n"),
        })
        .collect();
    format!("{nft}\n--- iptables-save\n{iptables}")
}

/// How many objects of ours exist: nftables rules in `table ip pptpd_rs`, or iptables-save
/// lines naming a `PPTPD_RS_*` chain (declarations, rules, jumps).
fn count_ours(backend: Backend) -> usize {
    match backend {
        Backend::Nftables => {
            let output = std::process::Command::new("nft")
                .args(["-j", "list", "table", "ip", "pptpd_rs"])
                .output()
                .unwrap();
            if !output.status.success() {
                return 0;
            }
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            json["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o.get("rule").is_some())
                .count()
        }
        Backend::Iptables => run(&["iptables-save"])
            .lines()
            .filter(|l| l.contains("PPTPD_RS_"))
            .count(),
    }
}

/// Our objects for [`sample_config`]: nftables 1 NAT + 2 MSS rules; iptables 3
/// chains + 4 NAT + 5 forward + 2 MSS rules + 3 jumps.
fn expected_ours(backend: Backend) -> usize {
    match backend {
        Backend::Nftables => 3,
        Backend::Iptables => 17,
    }
}

fn ip_forward() -> String {
    fs::read_to_string(IP_FORWARD).unwrap().trim().to_owned()
}

fn state_file(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join(nat::IP_FORWARD_STATE_FILE)).ok()
}

// ---------------------------------------------------------------------------------------------
// Roles: firewall state
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_install_remove() {
    enter_role();
    let state = tempfile::tempdir().unwrap();
    let config = sample_config(state.path());
    add_host_rules();
    let before = snapshot();
    assert_eq!(ip_forward(), "0", "a fresh namespace does not forward");

    let egress = Egress::install(&config).unwrap();
    let backend = egress.backend();
    assert_eq!(count_ours(backend), expected_ours(backend));
    assert_eq!(ip_forward(), "1");
    assert_eq!(state_file(state.path()).as_deref(), Some("0\n"));
    let during = snapshot();
    for host_rule in [
        "iifname \"lo\" counter",
        "-A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE",
        "-A FORWARD -i lo -j HOST_CHAIN",
        "-A FORWARD -i lo -j ACCEPT",
    ] {
        assert!(
            during.contains(host_rule),
            "host rule {host_rule:?} lost:\n{during}"
        );
    }
    if backend == Backend::Iptables {
        let filter = run(&["iptables", "-w", "-t", "filter", "-S", "FORWARD"]);
        let first = filter
            .lines()
            .find(|l| l.starts_with("-A FORWARD"))
            .unwrap();
        assert_eq!(
            first, "-A FORWARD -j PPTPD_RS_FWD",
            "our jump must come first"
        );
    } else {
        let table = run(&["nft", "list", "table", "ip", "pptpd_rs"]);
        println!("{table}");
        assert!(table.contains(
            "oifname \"eth0\" ip saddr { 192.168.0.234-192.168.0.238, 192.168.0.245 } masquerade"
        ));
        assert!(table.contains("tcp option maxseg size > 1360 tcp option maxseg size set 1360"));
    }

    egress.remove().unwrap();
    assert_eq!(count_ours(backend), 0);
    assert_eq!(
        snapshot(),
        before,
        "the host's rules must be exactly as before"
    );
    assert_eq!(ip_forward(), "0");
    assert_eq!(state_file(state.path()), None);
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_crash_cleanup_reinstall() {
    let netns = enter_role();
    let state = tempfile::tempdir().unwrap();
    let config = sample_config(state.path());
    add_host_rules();
    let before = snapshot();

    // Crash 1: the handle is lost without running Drop.
    let egress = Egress::install(&config).unwrap();
    let backend = egress.backend();
    std::mem::forget(egress);
    assert_eq!(count_ours(backend), expected_ours(backend));
    assert_eq!(ip_forward(), "1");
    assert!(cleanup_stale(&config).unwrap(), "leftovers must be found");
    assert_eq!(snapshot(), before);
    assert_eq!(ip_forward(), "0", "restored from the state file");
    assert_eq!(state_file(state.path()), None);
    assert!(
        !cleanup_stale(&config).unwrap(),
        "nothing left the second time"
    );

    // Crash 2: a process that installs and aborts.
    let dir = state.path().to_str().unwrap();
    let backend_name = std::env::var(BACKEND_ENV).unwrap();
    let output = support::role_command(
        &netns,
        "role_install_then_abort",
        &[(BACKEND_ENV, backend_name.as_str()), (STATE_DIR_ENV, dir)],
    )
    .output()
    .unwrap();
    assert!(
        !output.status.success(),
        "the child must die without cleaning up"
    );
    assert_eq!(count_ours(backend), expected_ours(backend));
    assert_eq!(ip_forward(), "1");
    assert_eq!(state_file(state.path()).as_deref(), Some("0\n"));

    // The next start cleans up and installs exactly one copy, keeping the true original.
    let egress = Egress::install(&config).unwrap();
    assert_eq!(count_ours(backend), expected_ours(backend));
    assert_eq!(
        state_file(state.path()).as_deref(),
        Some("0\n"),
        "not the leftover 1"
    );
    egress.remove().unwrap();
    assert_eq!(snapshot(), before);
    assert_eq!(ip_forward(), "0");
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_flush_then_reapply() {
    enter_role();
    let state = tempfile::tempdir().unwrap();
    let config = sample_config(state.path());
    let egress = Egress::install(&config).unwrap();
    let backend = egress.backend();
    assert!(egress.intact().unwrap());

    // What a firewall reload on the host does: everything flushed, custom chains deleted.
    match backend {
        Backend::Nftables => {
            run(&["nft", "flush", "ruleset"]);
        }
        Backend::Iptables => {
            for table in ["nat", "filter", "mangle"] {
                run(&["iptables", "-w", "-t", table, "-F"]);
                run(&["iptables", "-w", "-t", table, "-X"]);
            }
        }
    }
    assert_eq!(count_ours(backend), 0);
    assert!(!egress.intact().unwrap(), "a flush must be noticed");
    egress.reapply().unwrap();
    assert!(egress.intact().unwrap());
    assert_eq!(count_ours(backend), expected_ours(backend));

    // One rule gone is noticed too, and so is forwarding switched off.
    match backend {
        Backend::Nftables => {
            run(&["nft", "flush", "chain", "ip", "pptpd_rs", "mss"]);
        }
        Backend::Iptables => {
            run(&["iptables", "-w", "-t", "mangle", "-F", "PPTPD_RS_MSS"]);
        }
    }
    assert!(!egress.intact().unwrap(), "a missing rule must be noticed");
    egress.reapply().unwrap();
    assert!(egress.intact().unwrap());
    fs::write(IP_FORWARD, "0\n").unwrap();
    assert!(!egress.intact().unwrap(), "forwarding off must be noticed");
    egress.reapply().unwrap();
    assert!(egress.intact().unwrap());
    assert_eq!(ip_forward(), "1");

    egress.remove().unwrap();
    assert_eq!(count_ours(backend), 0);
    assert_eq!(ip_forward(), "0");
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_install_then_abort() {
    enter_role();
    let dir = std::env::var(STATE_DIR_ENV).unwrap();
    let egress = Egress::install(&sample_config(Path::new(&dir))).unwrap();
    println!("installed with {:?}; aborting", egress.backend());
    std::process::abort();
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_double_install() {
    enter_role();
    let state = tempfile::tempdir().unwrap();
    let config = sample_config(state.path());
    add_host_rules();
    let before = snapshot();

    let first = Egress::install(&config).unwrap();
    let second = Egress::install(&config).unwrap();
    let backend = second.backend();
    assert_eq!(
        count_ours(backend),
        expected_ours(backend),
        "one copy, not two"
    );
    assert_eq!(ip_forward(), "1");
    assert_eq!(state_file(state.path()).as_deref(), Some("0\n"));
    // The first handle was superseded; removing the second takes everything back.
    std::mem::forget(first);
    second.remove().unwrap();
    assert_eq!(snapshot(), before);
    assert_eq!(ip_forward(), "0");
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_detect() {
    enter_role();
    let state = tempfile::tempdir().unwrap();
    let host = HostFirewall::probe();
    println!("fresh namespace: {host:?}");
    assert!(host.nft_usable);
    assert_eq!(detect_backend().unwrap(), Backend::Nftables);

    // Docker-style: iptables-nft FORWARD policy DROP. Only a rule inside that chain helps.
    run(&["iptables", "-w", "-P", "FORWARD", "DROP"]);
    let host = HostFirewall::probe();
    println!("after -P FORWARD DROP: {host:?}");
    assert!(
        host.forward_drop_chains
            .iter()
            .any(|c| c.is_iptables_filter_forward())
    );
    assert_eq!(detect_backend().unwrap(), Backend::Iptables);
    let mut config = sample_config(state.path());
    config.ip_forward = false;
    let egress = Egress::install(&config).unwrap();
    assert_eq!(egress.backend(), Backend::Iptables);
    assert!(
        egress.forward_blockers().is_empty(),
        "our jump sits inside that chain"
    );
    egress.remove().unwrap();

    // A drop in a pure nftables table blocks either backend; install reports it.
    run(&["nft", "add", "table", "inet", "hostfw"]);
    run(&[
        "nft",
        "add",
        "chain",
        "inet",
        "hostfw",
        "hostforward",
        "{ type filter hook forward priority 0; policy drop; }",
    ]);
    config.backend = BackendChoice::Nftables;
    let egress = Egress::install(&config).unwrap();
    let mut blockers: Vec<String> = egress
        .forward_blockers()
        .iter()
        .map(|c| c.to_string())
        .collect();
    blockers.sort();
    assert_eq!(
        blockers,
        [
            "table inet hostfw chain hostforward",
            "table ip filter chain FORWARD"
        ]
    );
    egress.remove().unwrap();
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_failed_install() {
    enter_role();
    let state = tempfile::tempdir().unwrap();
    let config = sample_config(state.path());
    add_host_rules();
    let before = snapshot();
    let error = Egress::install(&config).unwrap_err();
    println!("install failed as expected: {error}");
    let expected = match config.backend {
        BackendChoice::Nftables => "simulated nft failure",
        _ => "simulated failure",
    };
    assert!(
        matches!(&error, NatError::CommandFailed { stderr, .. } if stderr.contains(expected)),
        "the tool's own message must reach the caller: {error:?}"
    );
    // The iptables chains created before the failing command were rolled back.
    assert_eq!(snapshot(), before);
    assert_eq!(
        ip_forward(),
        "0",
        "forwarding is only switched on after the rules"
    );
    assert_eq!(state_file(state.path()), None);
}

// ---------------------------------------------------------------------------------------------
// Roles: traffic through the gateway
// ---------------------------------------------------------------------------------------------

/// Runs in the gateway namespace: checks that nothing passes before install, that the client's
/// UDP reaches the internet with the expected source and the answer comes back, that TCP SYNs are
/// clamped both ways, and that nothing passes after removal.
#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_gateway() {
    enter_role();
    let env = |name: &str| std::env::var(name).ok();
    let client = env("NAT_TEST_CLIENT_NS").unwrap();
    let server = env("NAT_TEST_SERVER_NS").unwrap();
    let expect = env("NAT_TEST_EXPECT_SOURCE").unwrap();
    let snat: Option<Ipv4Addr> = env("NAT_TEST_SNAT").map(|a| a.parse().unwrap());
    let foreign_drop = env("NAT_TEST_FOREIGN_DROP").is_some();
    let state = tempfile::tempdir().unwrap();

    let egress_interface = default_route_interface().unwrap();
    assert_eq!(egress_interface, "wan0");
    let mut config = EgressConfig::new(vec!["10.200.1.2/31".parse().unwrap()], egress_interface);
    config.tun_interface = "tun0".into();
    config.snat_to = snat;
    config.backend = backend_from_env();
    config.state_dir = state.path().to_owned();

    assert_eq!(
        udp_probe(&client, &server, 40000),
        None,
        "no forwarding before install"
    );

    if config.backend == BackendChoice::Iptables {
        // The host drops forwarded packets by policy; our jump must override it.
        run(&["iptables", "-w", "-P", "FORWARD", "DROP"]);
    }
    if foreign_drop {
        run(&["nft", "add", "table", "inet", "hostfw"]);
        run(&[
            "nft",
            "add",
            "chain",
            "inet",
            "hostfw",
            "hostforward",
            "{ type filter hook forward priority 0; policy drop; }",
        ]);
        let egress = Egress::install(&config).unwrap();
        assert_eq!(egress.forward_blockers().len(), 1);
        assert_eq!(
            udp_probe(&client, &server, 40001),
            None,
            "no rule in our table can override a drop in another table"
        );
        egress.remove().unwrap();
        return;
    }

    // Without clamping, the MSS is the veth's 1500 - 40 (minus 12 for timestamps).
    config.mss_clamp = false;
    let egress = Egress::install(&config).unwrap();
    let (server_mss, client_mss) = tcp_probe(&client, &server, 40002);
    println!("unclamped: server sees MSS {server_mss}, client sees {client_mss}");
    assert!(server_mss > 1360 && client_mss > 1360);
    egress.remove().unwrap();

    config.mss_clamp = true;
    let egress = Egress::install(&config).unwrap();
    let seen = udp_probe(&client, &server, 40003);
    assert_eq!(
        seen.as_deref(),
        Some(expect.as_str()),
        "source address seen by the internet"
    );
    let (server_mss, client_mss) = tcp_probe(&client, &server, 40004);
    println!("clamped to 1360: server sees MSS {server_mss}, client sees {client_mss}");
    assert!(
        (1300..=1360).contains(&server_mss),
        "client SYN clamped: {server_mss}"
    );
    assert!(
        (1300..=1360).contains(&client_mss),
        "server SYN-ACK clamped: {client_mss}"
    );
    egress.remove().unwrap();

    // A pool that does not hold the client (a static address outside it, added while
    // running): nothing passes until `cover` extends the rules, which it does once.
    let pool = std::mem::replace(&mut config.pool, vec!["10.200.9.0/30".parse().unwrap()]);
    let mut egress = Egress::install(&config).unwrap();
    assert_eq!(udp_probe(&client, &server, 40006), None, "outside the pool");
    let client_ip = Ipv4Addr::new(10, 200, 1, 2);
    assert!(egress.misses(client_ip), "outside the pool: missed");
    assert!(
        !egress.misses(Ipv4Addr::new(10, 200, 9, 1)),
        "in the pool: covered"
    );
    assert!(egress.cover(&[client_ip]).unwrap(), "rules extended");
    assert!(!egress.misses(client_ip), "covered now");
    assert!(!egress.cover(&[client_ip]).unwrap(), "already covered");
    assert_eq!(
        udp_probe(&client, &server, 40007).as_deref(),
        Some(expect.as_str()),
        "covered: the source address seen by the internet"
    );
    egress.remove().unwrap();
    config.pool = pool;

    assert_eq!(
        udp_probe(&client, &server, 40005),
        None,
        "no forwarding after removal"
    );
}

/// Sends UDP from the client to the internet host; the answer is the source address the
/// internet host saw, or `None` if nothing came back.
fn udp_probe(client: &str, server: &str, port: u16) -> Option<String> {
    let port = port.to_string();
    let listener = support::spawn_role(server, "role_udp_server", &[("NAT_TEST_PORT", &port)]);
    let target = format!("198.51.100.2:{port}");
    let output = support::role_command(client, "role_udp_client", &[("NAT_TEST_TARGET", &target)])
        .output()
        .unwrap();
    let client_out = support::check_role("role_udp_client", &output);
    let server_out = support::stop_role(listener);
    let reply = field(&client_out, "REPLY");
    if let Some(reply) = &reply {
        assert_eq!(field(&server_out, "SAW").as_ref(), Some(reply));
    }
    reply
}

/// Opens a TCP connection from the client to the internet host; returns the MSS each end ended
/// up with (`TCP_MAXSEG`), which reflects the MSS option of the other end's SYN.
fn tcp_probe(client: &str, server: &str, port: u16) -> (u32, u32) {
    let port = port.to_string();
    let listener = support::spawn_role(server, "role_tcp_server", &[("NAT_TEST_PORT", &port)]);
    let target = format!("198.51.100.2:{port}");
    let output = support::role_command(client, "role_tcp_client", &[("NAT_TEST_TARGET", &target)])
        .output()
        .unwrap();
    let client_out = support::check_role("role_tcp_client", &output);
    support::stop_role(listener);
    let number = |name| field(&client_out, name).unwrap().parse().unwrap();
    (number("SERVER_MSS"), number("CLIENT_MSS"))
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_udp_server() {
    enter_role();
    let port: u16 = std::env::var("NAT_TEST_PORT").unwrap().parse().unwrap();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buffer = [0u8; 64];
    while let Ok((_, peer)) = socket.recv_from(&mut buffer) {
        let seen = peer.ip().to_string();
        println!("SAW {seen}");
        // Without NAT there is no route back; the client then sees nothing, which is the point.
        let _ = socket.send_to(seen.as_bytes(), peer);
    }
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_udp_client() {
    enter_role();
    let target: SocketAddr = std::env::var("NAT_TEST_TARGET").unwrap().parse().unwrap();
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket.connect(target).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buffer = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // Resend: the server may not be bound yet (then, with NAT working, an ICMP port
        // unreachable comes back at once as ECONNREFUSED).
        let _ = socket.send(b"probe");
        match socket.recv(&mut buffer) {
            Ok(len) => {
                println!("REPLY {}", String::from_utf8_lossy(&buffer[..len]));
                return;
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => {}
        }
    }
    println!("NO_REPLY");
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_tcp_server() {
    enter_role();
    let port: u16 = std::env::var("NAT_TEST_PORT").unwrap().parse().unwrap();
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
    let (mut stream, peer) = listener.accept().unwrap();
    let mss = socket2::SockRef::from(&stream).tcp_mss().unwrap();
    println!("ACCEPTED {peer} MSS {mss}");
    writeln!(stream, "SERVER_MSS {mss}").unwrap();
}

#[test]
#[ignore = "role: runs inside a throwaway namespace, started by its parent test"]
fn role_tcp_client() {
    enter_role();
    let target: SocketAddr = std::env::var("NAT_TEST_TARGET").unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        // Retry: the server may not be listening yet.
        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() < deadline => {
                eprintln!("connect: {error}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("cannot connect to {target}: {error}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mss = socket2::SockRef::from(&stream).tcp_mss().unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    print!("{line}");
    println!("CLIENT_MSS {mss}");
}
