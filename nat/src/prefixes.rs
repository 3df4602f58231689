//! Turns an address pool written as ranges (`192.168.0.234-238,192.168.0.245`) into the minimal
//! list of CIDR prefixes that covers exactly those addresses, for firewall rules.
//!
//! The minimal exact cover of a set of addresses is the set of its *maximal* aligned blocks:
//! aligned blocks either nest or are disjoint, so the maximal ones are disjoint, cover every
//! address, and any other exact cover splits at least one of them.

use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv4Subnets};

/// The minimal list of prefixes, in address order, that covers exactly the given inclusive
/// ranges. Ranges may overlap, touch or come in any order; a range whose start lies after its
/// end is empty.
pub fn ranges_to_prefixes(ranges: &[(Ipv4Addr, Ipv4Addr)]) -> Vec<Ipv4Net> {
    merge_ranges(ranges)
        .into_iter()
        .flat_map(|(start, end)| Ipv4Subnets::new(start.into(), end.into(), 0))
        .collect()
}

/// Sorts the non-empty ranges and joins those that overlap or touch.
fn merge_ranges(ranges: &[(Ipv4Addr, Ipv4Addr)]) -> Vec<(u32, u32)> {
    let mut sorted: Vec<(u32, u32)> = ranges
        .iter()
        .map(|&(start, end)| (u32::from(start), u32::from(end)))
        .filter(|&(start, end)| start <= end)
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some((_, last_end)) if start <= last_end.saturating_add(1) => {
                *last_end = (*last_end).max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    #[test]
    fn pptpd_style_pool_becomes_four_prefixes() {
        // localip/remoteip "192.168.0.234-238,192.168.0.245" in pptpd.conf syntax.
        let ranges = [
            (addr("192.168.0.234"), addr("192.168.0.238")),
            (addr("192.168.0.245"), addr("192.168.0.245")),
        ];
        assert_eq!(
            ranges_to_prefixes(&ranges),
            vec![
                net("192.168.0.234/31"),
                net("192.168.0.236/31"),
                net("192.168.0.238/32"),
                net("192.168.0.245/32"),
            ]
        );
    }

    #[test]
    fn whole_subnet_is_one_prefix() {
        let ranges = [(addr("192.168.1.0"), addr("192.168.1.255"))];
        assert_eq!(ranges_to_prefixes(&ranges), vec![net("192.168.1.0/24")]);
    }

    #[test]
    fn touching_and_overlapping_ranges_merge() {
        let ranges = [
            (addr("10.0.0.128"), addr("10.0.0.255")),
            (addr("10.0.0.0"), addr("10.0.0.127")),
            (addr("10.0.0.10"), addr("10.0.0.20")),
        ];
        assert_eq!(ranges_to_prefixes(&ranges), vec![net("10.0.0.0/24")]);
    }

    #[test]
    fn extremes_of_the_address_space() {
        let all = [(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)];
        assert_eq!(ranges_to_prefixes(&all), vec![net("0.0.0.0/0")]);
        let last = [(Ipv4Addr::BROADCAST, Ipv4Addr::BROADCAST)];
        assert_eq!(ranges_to_prefixes(&last), vec![net("255.255.255.255/32")]);
    }

    #[test]
    fn reversed_range_is_empty() {
        let ranges = [(addr("10.0.0.9"), addr("10.0.0.1"))];
        assert!(ranges_to_prefixes(&ranges).is_empty());
        assert!(ranges_to_prefixes(&[]).is_empty());
    }

    /// Is every address of `[start, end]` inside one of the merged intervals?
    fn covered(intervals: &[(u32, u32)], start: u32, end: u32) -> bool {
        intervals.iter().any(|&(s, e)| s <= start && end <= e)
    }

    /// Ranges drawn from a small window (so that they overlap and touch) or anywhere.
    fn ranges_strategy() -> impl Strategy<Value = Vec<(Ipv4Addr, Ipv4Addr)>> {
        let small = (0u32..300, 0u32..300).prop_map(|(a, b)| {
            let base = 0x0a00_0000u32;
            (Ipv4Addr::from(base + a), Ipv4Addr::from(base + b))
        });
        let any = (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (a.min(b), a.max(b)));
        let any = any.prop_map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b)));
        prop::collection::vec(prop_oneof![3 => small, 1 => any], 0..6)
    }

    proptest! {
        #[test]
        fn prefixes_cover_exactly_without_overlap_and_are_minimal(ranges in ranges_strategy()) {
            let prefixes = ranges_to_prefixes(&ranges);
            let merged = merge_ranges(&ranges);

            // Disjoint and in order: each prefix starts after the previous one ends.
            for pair in prefixes.windows(2) {
                prop_assert!(u32::from(pair[0].broadcast()) < u32::from(pair[1].network()));
            }
            // Every prefix lies inside the pool ...
            for p in &prefixes {
                prop_assert_eq!(p.network(), p.addr());
                prop_assert!(covered(&merged, p.network().into(), p.broadcast().into()));
            }
            // ... and the prefixes add up to every address of the pool.
            let pool_size: u64 = merged.iter().map(|&(s, e)| u64::from(e - s) + 1).sum();
            let cover_size: u64 = prefixes.iter().map(|p| 1u64 << (32 - p.prefix_len())).sum();
            prop_assert_eq!(pool_size, cover_size);
            // Minimal: no prefix could grow into its parent block, i.e. all blocks are maximal.
            for p in &prefixes {
                if let Some(parent) = p.supernet() {
                    prop_assert!(
                        !covered(&merged, parent.network().into(), parent.broadcast().into()),
                        "{} could be replaced by {}", p, parent
                    );
                }
            }
        }

        #[test]
        fn small_pools_match_a_brute_force_membership_check(ranges in prop::collection::vec(
            (0u32..64, 0u32..64), 0..5)
        ) {
            let ranges: Vec<(Ipv4Addr, Ipv4Addr)> = ranges
                .into_iter()
                .map(|(a, b)| (Ipv4Addr::from(0xc0a8_0000 + a), Ipv4Addr::from(0xc0a8_0000 + b)))
                .collect();
            let prefixes = ranges_to_prefixes(&ranges);
            for offset in 0u32..80 {
                let candidate = Ipv4Addr::from(0xc0a8_0000 + offset);
                let in_pool = ranges.iter().any(|&(s, e)| s <= candidate && candidate <= e);
                let hits = prefixes.iter().filter(|p| p.contains(&candidate)).count();
                prop_assert_eq!(hits, usize::from(in_pool), "address {}", candidate);
            }
        }
    }
}
