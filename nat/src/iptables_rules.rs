//! Renders an [`EgressPlan`] as `iptables` command lines, and computes the removal of our chains
//! from an `iptables -S` listing.
//!
//! We own three chains and one jump to each, inserted at the top of the built-in chain:
//!
//! ```text
//! -t nat    -I POSTROUTING 1 -j PPTPD_RS_POST   -s <prefix> -o eth0 -j MASQUERADE   (or SNAT --to-source <EIP>)
//! -t filter -I FORWARD 1     -j PPTPD_RS_FWD    -i pptp0 -o eth0 -s <prefix> -j ACCEPT
//!                                               -i eth0 -o pptp0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//! -t mangle -I FORWARD 1     -j PPTPD_RS_MSS    -i pptp0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1360
//!                                               -o pptp0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1360
//! ```
//!
//! The jump into `PPTPD_RS_FWD` sits at the top of `FORWARD`, so our ACCEPTs win over a
//! `-P FORWARD DROP` policy or a later `-j DROP`/`-j REJECT` of the host (Docker sets the policy to
//! DROP). Chains are filled before the jumps are added, and the jumps are removed before the
//! chains, so a half-done install or removal never leaves a dangling jump.
//!
//! `TCPMSS --set-mss N` rather than `--clamp-mss-to-pmtu`: the latter uses the MTU of the route
//! the SYN leaves by, which for a client's SYN is the egress interface (1500) and would not clamp
//! the direction that matters; `--set-mss` never raises a smaller MSS (Linux ≥ 2.6.25).
//!
//! Every command carries `-w` (wait for the xtables lock; the bare form is what CentOS 7's
//! iptables 1.4.21 understands) and an explicit `-t`.

use crate::plan::{EgressPlan, SourceNat};

/// The program we run (the host's default alternative: legacy or nf_tables flavour).
pub const IPTABLES: &str = "iptables";
/// Our chain in `nat`, jumped to from `POSTROUTING`.
pub const POST_CHAIN: &str = "PPTPD_RS_POST";
/// Our chain in `filter`, jumped to from `FORWARD`.
pub const FORWARD_CHAIN: &str = "PPTPD_RS_FWD";
/// Our chain in `mangle`, jumped to from `FORWARD`.
pub const MSS_CHAIN: &str = "PPTPD_RS_MSS";

/// One chain of ours: its table, the built-in chain that jumps to it, and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnedChain {
    /// `nat`, `filter` or `mangle`.
    pub table: &'static str,
    /// The built-in chain holding our jump.
    pub builtin: &'static str,
    /// Our chain.
    pub chain: &'static str,
}

/// All chains this crate ever creates, in install order.
pub(crate) const OWNED_CHAINS: [OwnedChain; 3] = [
    OwnedChain {
        table: "nat",
        builtin: "POSTROUTING",
        chain: POST_CHAIN,
    },
    OwnedChain {
        table: "filter",
        builtin: "FORWARD",
        chain: FORWARD_CHAIN,
    },
    OwnedChain {
        table: "mangle",
        builtin: "FORWARD",
        chain: MSS_CHAIN,
    },
];

impl EgressPlan {
    /// The install commands, in order, each a full argv (`["iptables", "-w", "-t", ...]`): create
    /// and fill our chains, then insert the jumps.
    pub fn iptables_commands(&self) -> Vec<Vec<String>> {
        let tun = self.tun_interface();
        let egress = self.egress_interface();
        let mut commands = Vec::new();

        let [post, forward, mss] = OWNED_CHAINS;
        commands.push(iptables(post.table, &["-N", post.chain]));
        for prefix in self.pool() {
            let source = prefix.to_string();
            let mut args = vec!["-A", post.chain, "-s", &source, "-o", egress, "-j"];
            let to;
            match self.source_nat() {
                SourceNat::Masquerade => args.push("MASQUERADE"),
                SourceNat::Snat(addr) => {
                    to = addr.to_string();
                    args.extend(["SNAT", "--to-source", &to]);
                }
            }
            commands.push(iptables(post.table, &args));
        }

        commands.push(iptables(forward.table, &["-N", forward.chain]));
        for prefix in self.pool() {
            let source = prefix.to_string();
            commands.push(iptables(
                forward.table,
                &[
                    "-A",
                    forward.chain,
                    "-i",
                    tun,
                    "-o",
                    egress,
                    "-s",
                    &source,
                    "-j",
                    "ACCEPT",
                ],
            ));
        }
        commands.push(iptables(
            forward.table,
            &[
                "-A",
                forward.chain,
                "-i",
                egress,
                "-o",
                tun,
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
        ));

        let chains: &[OwnedChain] = match self.clamp_mss() {
            Some(value) => {
                let value = value.to_string();
                commands.push(iptables(mss.table, &["-N", mss.chain]));
                for direction in ["-i", "-o"] {
                    commands.push(iptables(
                        mss.table,
                        &[
                            "-A",
                            mss.chain,
                            direction,
                            tun,
                            "-p",
                            "tcp",
                            "-m",
                            "tcp",
                            "--tcp-flags",
                            "SYN,RST",
                            "SYN",
                            "-j",
                            "TCPMSS",
                            "--set-mss",
                            &value,
                        ],
                    ));
                }
                &OWNED_CHAINS
            }
            None => &OWNED_CHAINS[..2],
        };
        for owned in chains {
            commands.push(iptables(
                owned.table,
                &["-I", owned.builtin, "1", "-j", owned.chain],
            ));
        }
        commands
    }

    /// The removal commands for what [`Self::iptables_commands`] installs: jumps first, then
    /// flush and delete our chains. (Removal at run time works from a listing instead, so that it
    /// also removes duplicates and partial leftovers.)
    pub fn iptables_removal_commands(&self) -> Vec<Vec<String>> {
        let chains = if self.clamp_mss().is_some() {
            &OWNED_CHAINS[..]
        } else {
            &OWNED_CHAINS[..2]
        };
        let mut commands: Vec<Vec<String>> = chains
            .iter()
            .map(|o| iptables(o.table, &["-D", o.builtin, "-j", o.chain]))
            .collect();
        for owned in chains {
            commands.push(iptables(owned.table, &["-F", owned.chain]));
            commands.push(iptables(owned.table, &["-X", owned.chain]));
        }
        commands
    }
}

/// The commands that remove every trace of ours from `table`, given its `iptables -t table -S`
/// listing: each jump we add (`-A <builtin> -j <ours>`, however many copies), then our chain.
/// Rules of others that happen to jump to our chain are left alone (and `-X` will then fail).
pub(crate) fn cleanup_commands(table: &str, listing: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for owned in OWNED_CHAINS.iter().filter(|o| o.table == table) {
        let jump = format!("-A {} -j {}", owned.builtin, owned.chain);
        let declared = format!("-N {}", owned.chain);
        let lines = || listing.lines().map(str::trim);
        for _ in lines().filter(|line| *line == jump) {
            commands.push(iptables(table, &["-D", owned.builtin, "-j", owned.chain]));
        }
        if lines().any(|line| line == declared) {
            commands.push(iptables(table, &["-F", owned.chain]));
            commands.push(iptables(table, &["-X", owned.chain]));
        }
    }
    commands
}

/// How many lines of an `iptables -t table -S` listing are ours: each chain's `-N`, its
/// rules and the jump to it — one line per command of [`EgressPlan::iptables_commands`].
pub(crate) fn count_our_lines(table: &str, listing: &str) -> usize {
    let owned: Vec<&OwnedChain> = OWNED_CHAINS.iter().filter(|o| o.table == table).collect();
    listing
        .lines()
        .map(str::trim)
        .filter(|line| {
            owned.iter().any(|o| {
                *line == format!("-N {}", o.chain)
                    || line.starts_with(&format!("-A {} ", o.chain))
                    || *line == format!("-A {} -j {}", o.builtin, o.chain)
            })
        })
        .count()
}

/// `iptables -w -t <table> <args...>` as an argv.
pub(crate) fn iptables(table: &str, args: &[&str]) -> Vec<String> {
    [IPTABLES, "-w", "-t", table]
        .iter()
        .chain(args)
        .map(|s| (*s).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::detect::Backend;
    use crate::plan::tests::sample_config;

    fn lines(commands: &[Vec<String>]) -> Vec<String> {
        commands.iter().map(|argv| argv.join(" ")).collect()
    }

    /// What `iptables -S` lists after [`EgressPlan::iptables_commands`] ran, per table.
    fn listing_after_install(plan: &EgressPlan, table: &str) -> String {
        plan.iptables_commands()
            .iter()
            .filter(|argv| argv[3] == table)
            .map(|argv| match argv[4].as_str() {
                "-I" => format!("-A {} {}", argv[5], argv[7..].join(" ")),
                _ => argv[4..].join(" "),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn our_lines_in_a_listing_are_one_per_install_command() {
        let plan = EgressPlan::new(&sample_config(), Backend::Iptables).unwrap();
        let host = "-P FORWARD DROP\n-N DOCKER\n-A FORWARD -j DOCKER\n-A FORWARD -i lo -j ACCEPT";
        let mut total = 0;
        for table in ["nat", "filter", "mangle"] {
            let listing = format!("{host}\n{}", listing_after_install(&plan, table));
            total += count_our_lines(table, &listing);
            // A flushed table has none of ours; our jump alone (chain gone) is one.
            assert_eq!(count_our_lines(table, host), 0);
        }
        assert_eq!(total, plan.iptables_commands().len());
        assert_eq!(
            count_our_lines(
                "filter",
                "-A FORWARD -j PPTPD_RS_FWD\n-A FORWARD -j PPTPD_RS_MSS"
            ),
            1,
            "the mangle chain's jump does not count in filter"
        );
    }

    #[test]
    fn masquerade_plan_renders_exact_commands() {
        let plan = EgressPlan::new(&sample_config(), Backend::Iptables).unwrap();
        let expected = [
            "iptables -w -t nat -N PPTPD_RS_POST",
            "iptables -w -t nat -A PPTPD_RS_POST -s 192.168.0.234/31 -o eth0 -j MASQUERADE",
            "iptables -w -t nat -A PPTPD_RS_POST -s 192.168.0.236/31 -o eth0 -j MASQUERADE",
            "iptables -w -t nat -A PPTPD_RS_POST -s 192.168.0.238/32 -o eth0 -j MASQUERADE",
            "iptables -w -t nat -A PPTPD_RS_POST -s 192.168.0.245/32 -o eth0 -j MASQUERADE",
            "iptables -w -t filter -N PPTPD_RS_FWD",
            "iptables -w -t filter -A PPTPD_RS_FWD -i pptp0 -o eth0 -s 192.168.0.234/31 -j ACCEPT",
            "iptables -w -t filter -A PPTPD_RS_FWD -i pptp0 -o eth0 -s 192.168.0.236/31 -j ACCEPT",
            "iptables -w -t filter -A PPTPD_RS_FWD -i pptp0 -o eth0 -s 192.168.0.238/32 -j ACCEPT",
            "iptables -w -t filter -A PPTPD_RS_FWD -i pptp0 -o eth0 -s 192.168.0.245/32 -j ACCEPT",
            "iptables -w -t filter -A PPTPD_RS_FWD -i eth0 -o pptp0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "iptables -w -t mangle -N PPTPD_RS_MSS",
            "iptables -w -t mangle -A PPTPD_RS_MSS -i pptp0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1360",
            "iptables -w -t mangle -A PPTPD_RS_MSS -o pptp0 -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1360",
            "iptables -w -t nat -I POSTROUTING 1 -j PPTPD_RS_POST",
            "iptables -w -t filter -I FORWARD 1 -j PPTPD_RS_FWD",
            "iptables -w -t mangle -I FORWARD 1 -j PPTPD_RS_MSS",
        ];
        assert_eq!(lines(&plan.iptables_commands()), expected);
    }

    #[test]
    fn snat_plan_uses_to_source_and_skips_mss_when_off() {
        let mut config = sample_config();
        config.pool = vec!["192.168.1.0/24".parse().unwrap()];
        config.snat_to = Some(Ipv4Addr::new(203, 0, 113, 7));
        config.mss_clamp = false;
        let plan = EgressPlan::new(&config, Backend::Iptables).unwrap();
        let commands = lines(&plan.iptables_commands());
        assert_eq!(
            commands[1],
            "iptables -w -t nat -A PPTPD_RS_POST -s 192.168.1.0/24 -o eth0 -j SNAT --to-source 203.0.113.7"
        );
        assert!(!commands.iter().any(|c| c.contains("mangle")));
        assert_eq!(
            commands.last().unwrap(),
            "iptables -w -t filter -I FORWARD 1 -j PPTPD_RS_FWD"
        );
    }

    #[test]
    fn jumps_come_after_the_chains_they_target_and_go_first_on_removal() {
        let plan = EgressPlan::new(&sample_config(), Backend::Iptables).unwrap();
        let install = lines(&plan.iptables_commands());
        let first_jump = install.iter().position(|c| c.contains(" -I ")).unwrap();
        assert!(install[first_jump..].iter().all(|c| c.contains(" -I ")));
        let removal = lines(&plan.iptables_removal_commands());
        assert_eq!(
            removal,
            [
                "iptables -w -t nat -D POSTROUTING -j PPTPD_RS_POST",
                "iptables -w -t filter -D FORWARD -j PPTPD_RS_FWD",
                "iptables -w -t mangle -D FORWARD -j PPTPD_RS_MSS",
                "iptables -w -t nat -F PPTPD_RS_POST",
                "iptables -w -t nat -X PPTPD_RS_POST",
                "iptables -w -t filter -F PPTPD_RS_FWD",
                "iptables -w -t filter -X PPTPD_RS_FWD",
                "iptables -w -t mangle -F PPTPD_RS_MSS",
                "iptables -w -t mangle -X PPTPD_RS_MSS",
            ]
        );
    }

    #[test]
    fn cleanup_removes_every_copy_of_our_jump_and_nothing_else() {
        // `iptables -t nat -S` after two crashed runs, beside a host rule.
        let listing = "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n\
                       -P POSTROUTING ACCEPT\n-N PPTPD_RS_POST\n\
                       -A POSTROUTING -j PPTPD_RS_POST\n-A POSTROUTING -j PPTPD_RS_POST\n\
                       -A POSTROUTING -s 10.9.0.0/16 -o eth0 -j MASQUERADE\n\
                       -A PPTPD_RS_POST -s 192.168.0.234/31 -o eth0 -j MASQUERADE\n";
        assert_eq!(
            lines(&cleanup_commands("nat", listing)),
            [
                "iptables -w -t nat -D POSTROUTING -j PPTPD_RS_POST",
                "iptables -w -t nat -D POSTROUTING -j PPTPD_RS_POST",
                "iptables -w -t nat -F PPTPD_RS_POST",
                "iptables -w -t nat -X PPTPD_RS_POST",
            ]
        );
        // Only our jump goes, Docker's stays; no `-N` line means no chain to delete.
        let jump_only = "-P FORWARD DROP\n-A FORWARD -j PPTPD_RS_FWD\n-A FORWARD -j DOCKER-USER\n";
        assert_eq!(
            lines(&cleanup_commands("filter", jump_only)),
            ["iptables -w -t filter -D FORWARD -j PPTPD_RS_FWD"]
        );
        assert!(cleanup_commands("mangle", "-P FORWARD ACCEPT\n").is_empty());
        // Our chain name in another table's listing is not ours to touch there.
        assert!(cleanup_commands("mangle", listing).is_empty());
    }
}
