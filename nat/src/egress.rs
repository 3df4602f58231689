//! The installed egress: clean up leftovers, apply the plan, switch forwarding on; undo it all
//! on [`Egress::remove`] or drop.

use std::net::Ipv4Addr;

use crate::config::EgressConfig;
use crate::detect::Backend;
use crate::error::NatError;
use crate::ip_forward::IpForward;
use crate::iptables_process;
use crate::nft_listing::ForeignChain;
use crate::nft_process;
use crate::nft_rules;
use crate::plan::EgressPlan;

/// The egress rules and `ip_forward` setting while installed. Dropping it removes them (best
/// effort, failures logged); [`Egress::remove`] does the same and reports failures.
///
/// One `Egress` per network namespace at a time: a second install replaces the first one's
/// rules, and whichever is removed first removes them for both.
#[derive(Debug)]
pub struct Egress {
    plan: EgressPlan,
    ip_forward: Option<(IpForward, bool)>,
    forward_blockers: Vec<ForeignChain>,
    installed: bool,
}

impl Egress {
    /// Chooses the backend, removes leftovers of an earlier run, applies the rules (nftables: one
    /// atomic transaction that also replaces any old copy of our table; iptables: command by
    /// command, rolled back on failure), then switches `ip_forward` on if configured.
    pub fn install(config: &EgressConfig) -> Result<Egress, NatError> {
        let backend = config.backend.resolve()?;
        let plan = EgressPlan::new(config, backend)?;
        for line in plan.describe() {
            tracing::info!("egress: {line}");
        }
        remove_leftovers(backend)?;
        apply_rules(&plan)?;

        let forward = IpForward::for_config(config);
        let ip_forward = if config.ip_forward {
            match forward.enable() {
                Ok(original) => Some((forward, original)),
                Err(error) => {
                    if let Err(undo) = remove_rules(backend) {
                        tracing::warn!(%undo, "removing rules after an ip_forward failure");
                    }
                    return Err(error);
                }
            }
        } else {
            // Not ours to manage now, but a record left by an earlier run still is.
            if forward.restore_recorded()? {
                tracing::info!("restored ip_forward recorded by an earlier run");
            }
            None
        };

        let forward_blockers = forward_blockers(backend);
        for chain in &forward_blockers {
            tracing::warn!(
                "{chain} drops forwarded packets by policy, and no rule of ours can override it: \
                 clients will not reach the internet unless it accepts traffic from {}",
                plan.tun_interface()
            );
        }
        Ok(Egress {
            plan,
            ip_forward,
            forward_blockers,
            installed: true,
        })
    }

    /// Restores `ip_forward`, then removes our rules; reports the first failure.
    pub fn remove(mut self) -> Result<(), NatError> {
        self.teardown()
    }

    /// The backend the rules were installed into.
    pub fn backend(&self) -> Backend {
        self.plan.backend()
    }

    /// The plan that was installed.
    pub fn plan(&self) -> &EgressPlan {
        &self.plan
    }

    /// Foreign chains found at install that drop forwarded packets and that our rules cannot
    /// override (see [`crate::detect_backend`]).
    pub fn forward_blockers(&self) -> &[ForeignChain] {
        &self.forward_blockers
    }

    /// Installs the rules again (e.g. after `firewall-cmd --reload` flushed iptables) and
    /// switches `ip_forward` back on if it is managed; the recorded original stays.
    pub fn reapply(&self) -> Result<(), NatError> {
        replace_rules(&self.plan)?;
        if let Some((forward, _)) = &self.ip_forward {
            forward.enable()?;
        }
        Ok(())
    }

    /// Whether our rules are all still there and `ip_forward` (if we manage it) is still on:
    /// anything on the host may flush them (`nft flush ruleset` when nftables.service
    /// restarts, `firewall-cmd --reload`). Runs `nft` (twice) or `iptables -S` (per table).
    pub fn intact(&self) -> Result<bool, NatError> {
        if !self.installed {
            return Ok(true);
        }
        let rules = match self.plan.backend() {
            Backend::Nftables => nft_process::our_rule_count()? == self.plan.nft_rule_count(),
            Backend::Iptables => {
                iptables_process::our_line_count()? == self.plan.iptables_commands().len()
            }
        };
        let forwarding = match &self.ip_forward {
            Some((forward, _)) => forward.current()?,
            None => true,
        };
        Ok(rules && forwarding)
    }

    /// Whether [`cover`](Self::cover) would have to change the rules for `address`: they are
    /// installed and do not cover it yet.
    pub fn misses(&self, address: Ipv4Addr) -> bool {
        self.installed && !self.plan.covers(address)
    }

    /// Extends the rules to the client addresses among `addresses` that the pool does not
    /// cover yet (a static address from chap-secrets added while running): the plan gets
    /// their /32s and the rules are installed again (nftables: our table replaced in one
    /// transaction; iptables: our chains removed and added back). `true` when the rules
    /// changed; on failure the rules stay as they were (nftables) or may be missing
    /// (iptables, reported), and the old plan is kept.
    pub fn cover(&mut self, addresses: &[Ipv4Addr]) -> Result<bool, NatError> {
        let missing: Vec<Ipv4Addr> = addresses
            .iter()
            .copied()
            .filter(|&a| self.misses(a))
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        let plan = self.plan.with_addresses(&missing);
        replace_rules(&plan)?;
        for address in &missing {
            tracing::info!(
                "egress: {address} (a static address outside the pool) now leaves through {} too",
                plan.egress_interface()
            );
        }
        self.plan = plan;
        Ok(true)
    }

    fn teardown(&mut self) -> Result<(), NatError> {
        if !std::mem::replace(&mut self.installed, false) {
            return Ok(());
        }
        // Forwarding off first: never forward without the NAT rules.
        let forward = match self.ip_forward.take() {
            Some((forward, original)) => forward.restore(original),
            None => Ok(()),
        };
        let rules = remove_rules(self.plan.backend()).map(drop);
        match (forward, rules) {
            (Err(first), Err(second)) => {
                tracing::error!(error = %second, "removing the egress rules failed");
                Err(first)
            }
            (forward, rules) => forward.and(rules),
        }
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        if let Err(error) = self.teardown() {
            tracing::error!(%error, "removing the egress failed");
        }
    }
}

/// Removes everything an earlier run may have left, for both backends: restores `ip_forward`
/// from the state file, deletes `table ip pptpd_rs`, removes the `PPTPD_RS_*` chains and the
/// jumps to them. `true` when something was removed. Tries every step and reports the first
/// failure; a backend whose tool is not installed has nothing to remove.
pub fn cleanup_stale(config: &EgressConfig) -> Result<bool, NatError> {
    // Evaluated in order: forwarding first, then the rules.
    let outcomes = [
        (
            "ip_forward from the state file",
            IpForward::for_config(config).restore_recorded(),
        ),
        ("nftables table", nft_process::remove_our_table()),
        ("iptables chains", iptables_process::remove_ours()),
    ];
    let mut removed = false;
    let mut first_error = None;
    for (what, outcome) in outcomes {
        match outcome {
            Ok(true) => {
                tracing::info!("cleaned up after an earlier run: {what}");
                removed = true;
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "cleaning up {what}");
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(removed),
    }
}

/// Before install: leftovers of the chosen backend must go (failure is fatal); leftovers of the
/// other backend (the configuration changed since the crash) are removed best effort. Our
/// nftables table needs no separate step: the install transaction replaces it atomically.
fn remove_leftovers(backend: Backend) -> Result<(), NatError> {
    let (own, other): (RemoveStep, RemoveStep) = match backend {
        Backend::Nftables => (|| Ok(false), iptables_process::remove_ours),
        Backend::Iptables => (iptables_process::remove_ours, nft_process::remove_our_table),
    };
    if own()? {
        tracing::info!("removed {backend:?} rules left by an earlier run");
    }
    match other() {
        Ok(true) => tracing::info!("removed rules of the other backend left by an earlier run"),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "removing leftovers of the other backend"),
    }
    Ok(())
}

/// Removes one backend's leftovers; `true` when something was removed.
type RemoveStep = fn() -> Result<bool, NatError>;

fn apply_rules(plan: &EgressPlan) -> Result<(), NatError> {
    match plan.backend() {
        Backend::Nftables => nft_process::apply(&plan.nft_ruleset()),
        Backend::Iptables => iptables_process::install(plan),
    }
}

/// Installs `plan` over whatever copy of our rules is there now: nftables replaces our table
/// in its one transaction; iptables needs ours removed first (its commands only add).
fn replace_rules(plan: &EgressPlan) -> Result<(), NatError> {
    if plan.backend() == Backend::Iptables {
        iptables_process::remove_ours()?;
    }
    apply_rules(plan)
}

fn remove_rules(backend: Backend) -> Result<bool, NatError> {
    match backend {
        Backend::Nftables => nft_process::apply(&nft_rules::nft_removal()).map(|()| true),
        Backend::Iptables => iptables_process::remove_ours(),
    }
}

/// Foreign drop-by-policy forward chains that our rules do not sit in. With the iptables
/// backend our jump is inside iptables' own `filter FORWARD`, so that one is not a blocker.
fn forward_blockers(backend: Backend) -> Vec<ForeignChain> {
    let chains = nft_process::forward_drop_chains().unwrap_or_else(|error| {
        tracing::debug!(%error, "cannot list nftables chains");
        Vec::new()
    });
    chains
        .into_iter()
        .filter(|chain| !(backend == Backend::Iptables && chain.is_iptables_filter_forward()))
        .collect()
}
