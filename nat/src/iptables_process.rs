//! The only place that runs `iptables`: install a plan command by command (rolling back on
//! failure), and remove our chains from what `iptables -S` lists.

use std::fs;
use std::io::ErrorKind;
use std::process::Command;

use crate::detect::IptablesFlavor;
use crate::error::NatError;
use crate::iptables_rules::{self, IPTABLES, OWNED_CHAINS};
use crate::plan::EgressPlan;

/// The tables a legacy (x_tables) kernel has loaded; per network namespace.
const LEGACY_TABLE_NAMES: &str = "/proc/net/ip_tables_names";

/// Runs the plan's commands in order. If one fails, removes whatever was already added and
/// returns that failure.
pub(crate) fn install(plan: &EgressPlan) -> Result<(), NatError> {
    for argv in plan.iptables_commands() {
        if let Err(error) = run(&argv) {
            if let Err(rollback) = remove_ours() {
                tracing::warn!(%rollback, "rolling back a failed iptables install");
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Removes every jump to our chains and the chains themselves, in every table that may hold
/// them; `true` when something was removed. Tries every table even if one fails, and reports
/// the first failure. Without `iptables` there is nothing of ours to remove.
pub(crate) fn remove_ours() -> Result<bool, NatError> {
    let Some(flavor) = flavor()? else {
        return Ok(false);
    };
    let tables = match (flavor, legacy_tables()) {
        // No x_tables loaded: no legacy table can hold our chains; listing would load modules.
        (IptablesFlavor::Legacy, Ok(None)) => return Ok(false),
        (IptablesFlavor::Legacy, Ok(Some(loaded))) => OWNED_CHAINS
            .iter()
            .map(|o| o.table)
            .filter(|t| loaded.iter().any(|l| l == t))
            .collect(),
        _ => OWNED_CHAINS.iter().map(|o| o.table).collect::<Vec<_>>(),
    };
    let mut removed = false;
    let mut first_error = None;
    for table in tables {
        let result = output(&iptables_rules::iptables(table, &["-S"])).and_then(|listing| {
            let commands = iptables_rules::cleanup_commands(table, &listing);
            for argv in &commands {
                run(argv)?;
            }
            Ok(!commands.is_empty())
        });
        match result {
            Ok(did) => removed |= did,
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(removed),
    }
}

/// How many lines of ours `iptables -S` lists now, over our tables: 0 when they are gone.
pub(crate) fn our_line_count() -> Result<usize, NatError> {
    let mut tables: Vec<&str> = OWNED_CHAINS.iter().map(|o| o.table).collect();
    tables.dedup();
    let mut count = 0;
    for table in tables {
        let listing = output(&iptables_rules::iptables(table, &["-S"]))?;
        count += iptables_rules::count_our_lines(table, &listing);
    }
    Ok(count)
}

/// The flavour of the `iptables` binary, from `iptables --version`; `None` if not installed.
pub(crate) fn flavor() -> Result<Option<IptablesFlavor>, NatError> {
    match output(&[IPTABLES.to_owned(), "--version".to_owned()]) {
        Ok(text) => Ok(Some(IptablesFlavor::from_version(&text))),
        Err(NatError::Spawn { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The legacy tables in use in this namespace: `Ok(None)` when x_tables is not loaded at all.
pub(crate) fn legacy_tables() -> Result<Option<Vec<String>>, NatError> {
    match fs::read_to_string(LEGACY_TABLE_NAMES) {
        Ok(text) => Ok(Some(text.lines().map(|l| l.trim().to_owned()).collect())),
        Err(source) if source.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NatError::Io {
            action: "read",
            path: LEGACY_TABLE_NAMES.into(),
            source,
        }),
    }
}

/// Runs one argv, logging it; fails with the tool's stderr.
fn run(argv: &[String]) -> Result<(), NatError> {
    tracing::debug!(command = %argv.join(" "), "iptables");
    output(argv).map(drop)
}

/// Runs one argv and returns its stdout.
fn output(argv: &[String]) -> Result<String, NatError> {
    let (program, args) = argv.split_first().ok_or_else(|| NatError::BadOutput {
        program: IPTABLES.to_owned(),
        detail: "empty command".to_owned(),
    })?;
    let result = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| NatError::Spawn {
            program: program.clone(),
            source,
        })?;
    if !result.status.success() {
        return Err(NatError::CommandFailed {
            command: argv.join(" "),
            status: result.status.to_string(),
            stderr: String::from_utf8_lossy(&result.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}
