//! Finds the egress interface: the device of the IPv4 default route in `/proc/net/route`.
//!
//! `/proc/net/route` shows the `main` routing table only. Where policy routing sends the
//! clients' traffic out of another interface, configure the egress interface explicitly.

use std::fs;

use crate::error::NatError;

/// The kernel's IPv4 routing table, one route a line, fields in host-endian hex.
const PROC_NET_ROUTE: &str = "/proc/net/route";
/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x0001;

/// The interface of the IPv4 default route (lowest metric wins if there are several).
pub fn default_route_interface() -> Result<String, NatError> {
    let text = fs::read_to_string(PROC_NET_ROUTE).map_err(|source| NatError::Io {
        action: "read",
        path: PROC_NET_ROUTE.into(),
        source,
    })?;
    parse_default_route(&text).ok_or(NatError::NoDefaultRoute)
}

/// The interface of the up default route with the lowest metric in a `/proc/net/route` text.
///
/// Columns: `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`.
pub fn parse_default_route(text: &str) -> Option<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [
                iface,
                destination,
                _gateway,
                flags,
                _refcnt,
                _use,
                metric,
                mask,
                ..,
            ] = fields.as_slice()
            else {
                return None;
            };
            let hex = |field: &str| u32::from_str_radix(field, 16).ok();
            let is_default = hex(destination)? == 0 && hex(mask)? == 0;
            let is_up = hex(flags)? & RTF_UP != 0;
            let metric: u32 = metric.parse().ok()?;
            (is_default && is_up).then(|| (metric, (*iface).to_owned()))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, iface)| iface)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn picks_the_default_route() {
        let text = format!(
            "{HEADER}eth1\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
        );
        assert_eq!(parse_default_route(&text).as_deref(), Some("eth0"));
    }

    #[test]
    fn lowest_metric_wins_and_down_routes_are_ignored() {
        let text = format!(
            "{HEADER}wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
             ens5\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth9\t00000000\t0100000A\t0002\t0\t0\t1\t00000000\t0\t0\t0\n"
        );
        assert_eq!(parse_default_route(&text).as_deref(), Some("ens5"));
    }

    #[test]
    fn no_default_route_and_garbage_give_none() {
        let text = format!("{HEADER}eth1\t0064A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        assert_eq!(parse_default_route(&text), None);
        assert_eq!(parse_default_route(""), None);
        assert_eq!(
            parse_default_route(&format!("{HEADER}eth0 zz 0 1\n\u{0}\n")),
            None
        );
    }
}
