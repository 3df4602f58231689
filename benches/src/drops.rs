//! Where packets were dropped: the kernel's drop counters of the benchmark's namespaces and of
//! the receive backlogs, read before and after a cell. A cell's loss is then attributed (a full
//! TUN queue, a socket buffer, a receive backlog) instead of guessed.
//!
//! Read: `/proc/net/softnet_stat` (per core; the second column counts packets dropped because
//! the backlog was full, `net.core.netdev_max_backlog`), and in each namespace `/proc/net/snmp`
//! (UDP and IP error counters), `/proc/net/raw` (drops per raw socket, summed) and every
//! interface's `rx_dropped`/`tx_dropped`.

use std::collections::BTreeMap;

use pptpd_tests::Topology;

/// Named drop counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounters(BTreeMap<String, u64>);

impl DropCounters {
    /// Reads every counter now (missing ones are left out).
    pub fn read(topology: &Topology) -> Self {
        let mut counters = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string("/proc/net/softnet_stat") {
            for (cpu, line) in text.lines().enumerate() {
                if let Some(dropped) = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                {
                    counters.insert(format!("cpu{cpu} backlog full"), dropped);
                }
            }
        }
        let namespaces = [
            ("gw", Some(topology.gw())),
            ("vpc", topology.try_vpc()),
            ("inet", Some(topology.inet())),
        ];
        for (role, ns) in namespaces {
            let Some(ns) = ns else { continue };
            let script = "cat /proc/net/snmp; echo RAW; cat /proc/net/raw; echo DEV; \
                          grep -H . /sys/class/net/*/statistics/rx_dropped \
                          /sys/class/net/*/statistics/tx_dropped 2>/dev/null; true";
            if let Ok(text) = ns.run(&["sh", "-c", script]) {
                parse_namespace(role, &text, &mut counters);
            }
        }
        DropCounters(counters)
    }

    /// The counters that grew from `earlier` to `self`, with how much.
    pub fn since(&self, earlier: &DropCounters) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter_map(|(name, &now)| {
                let before = earlier.0.get(name).copied().unwrap_or(0);
                (now > before).then(|| (name.clone(), now - before))
            })
            .collect()
    }
}

/// The SNMP counters that mean a datagram was dropped.
const SNMP_DROPS: &[(&str, &str)] = &[
    ("Ip", "InDiscards"),
    ("Ip", "OutDiscards"),
    ("Ip", "OutNoRoutes"),
    ("Udp", "InErrors"),
    ("Udp", "RcvbufErrors"),
    ("Udp", "SndbufErrors"),
    ("Udp", "NoPorts"),
];

/// Parses the output of the script in [`DropCounters::read`] for namespace `role`.
pub fn parse_namespace(role: &str, text: &str, counters: &mut BTreeMap<String, u64>) {
    let (snmp, rest) = text.split_once("\nRAW\n").unwrap_or((text, ""));
    let (raw, devices) = rest.split_once("\nDEV\n").unwrap_or((rest, ""));
    // /proc/net/snmp: a header line and a value line per protocol.
    let lines: Vec<&str> = snmp.lines().collect();
    for pair in lines.windows(2) {
        let (Some((proto, names)), Some((proto2, values))) =
            (pair[0].split_once(": "), pair[1].split_once(": "))
        else {
            continue;
        };
        if proto != proto2 || names.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if SNMP_DROPS.contains(&(proto, name))
                && let Ok(value) = value.parse()
            {
                counters.insert(format!("{role} {proto} {name}"), value);
            }
        }
    }
    let raw_drops: u64 = raw
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum();
    counters.insert(format!("{role} raw socket drops"), raw_drops);
    for line in devices.lines() {
        // /sys/class/net/pptp0/statistics/tx_dropped:12
        let Some((path, value)) = line.rsplit_once(':') else {
            continue;
        };
        let parts: Vec<&str> = path.split('/').collect();
        if let (Some(dev), Some(stat), Ok(value)) =
            (parts.get(4), parts.get(6), value.trim().parse::<u64>())
        {
            counters.insert(format!("{role} {dev} {stat}"), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_counters_are_read_from_snmp_raw_and_sysfs() {
        let text = "Ip: Forwarding DefaultTTL InReceives InDiscards OutDiscards OutNoRoutes\n\
                    Ip: 1 64 100 3 0 0\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 10 0 7 5 7 0\n\
                    RAW\n\
                      sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                      47: 00000000:002F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 12\n\
                      47: 00000000:002F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 30\n\
                    DEV\n\
                    /sys/class/net/pptp0/statistics/tx_dropped:9\n\
                    /sys/class/net/lan0/statistics/rx_dropped:0\n";
        let mut counters = BTreeMap::new();
        parse_namespace("gw", text, &mut counters);
        assert_eq!(counters["gw Ip InDiscards"], 3);
        assert_eq!(counters["gw Udp RcvbufErrors"], 7);
        assert_eq!(counters["gw Udp InErrors"], 7);
        assert_eq!(counters["gw raw socket drops"], 42);
        assert_eq!(counters["gw pptp0 tx_dropped"], 9);
        assert_eq!(counters["gw lan0 rx_dropped"], 0);
        assert!(!counters.contains_key("gw Ip InReceives"));
    }

    #[test]
    fn since_keeps_what_grew() {
        let before = DropCounters(BTreeMap::from([("a".into(), 1), ("b".into(), 5)]));
        let after = DropCounters(BTreeMap::from([
            ("a".into(), 1),
            ("b".into(), 9),
            ("c".into(), 2),
        ]));
        assert_eq!(
            after.since(&before),
            BTreeMap::from([("b".into(), 4), ("c".into(), 2)])
        );
    }
}
