//! The only place that runs `nft`: `nft -j -f -` to apply a transaction, `nft -j list ...`
//! (through `nftables::helper`) to read.
//!
//! Applying does not use `nftables::helper::apply_ruleset`: in nftables 0.6.3 it leaves nft's
//! stderr unpiped, so a failure would carry no reason (the text would land on our own stderr).

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use nftables::helper::{self, DEFAULT_NFT, NftablesError};
use nftables::schema::Nftables;

use crate::error::NatError;
use crate::nft_listing::{self, ForeignChain};
use crate::nft_rules::{self, NFT_TABLE};

/// The program we run.
const NFT: &str = "nft";

/// Applies a transaction in one `nft -j -f -` (atomic: all or nothing); a failure carries nft's
/// error text.
pub(crate) fn apply(ruleset: &Nftables<'_>) -> Result<(), NatError> {
    let payload = serde_json::to_string(ruleset).map_err(NatError::EncodeRuleset)?;
    tracing::debug!(%payload, "nft -j -f -");
    let spawn_error = |source| NatError::Spawn {
        program: NFT.to_owned(),
        source,
    };
    let mut child = Command::new(NFT)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // nft reads all of its input before it writes anything, so writing first cannot deadlock.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(payload.as_bytes()).map_err(spawn_error)?;
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NatError::CommandFailed {
            command: "nft -j -f -".to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `nft -j <args>`; `None` when `nft` is not installed.
fn list(args: &[&str]) -> Result<Option<String>, NatError> {
    match helper::get_current_ruleset_raw(DEFAULT_NFT, args) {
        Ok(json) => Ok(Some(json)),
        Err(NftablesError::NftExecution { inner, .. }) if inner.kind() == ErrorKind::NotFound => {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Can we talk to nf_tables (binary present, kernel support, privilege)?
pub(crate) fn usable() -> bool {
    matches!(list(&["list", "tables"]), Ok(Some(_)))
}

/// Deletes our table if it exists; `true` when something was deleted. Without `nft` (CentOS 7)
/// there is nothing of ours to delete.
pub(crate) fn remove_our_table() -> Result<bool, NatError> {
    let Some(tables) = list(&["list", "tables"])? else {
        return Ok(false);
    };
    if !nft_listing::lists_our_table(&tables)? {
        return Ok(false);
    }
    apply(&nft_rules::nft_removal())?;
    Ok(true)
}

/// How many rules our table holds now: 0 when it is gone (or `nft` is).
pub(crate) fn our_rule_count() -> Result<usize, NatError> {
    let Some(tables) = list(&["list", "tables"])? else {
        return Ok(0);
    };
    if !nft_listing::lists_our_table(&tables)? {
        return Ok(0);
    }
    match list(&["list", "table", "ip", NFT_TABLE])? {
        Some(json) => nft_listing::count_our_rules(&json),
        None => Ok(0),
    }
}

/// Foreign forward chains with policy `drop` (empty when `nft` is not installed).
pub(crate) fn forward_drop_chains() -> Result<Vec<ForeignChain>, NatError> {
    match list(&["list", "chains"])? {
        Some(json) => nft_listing::forward_drop_chains(&json),
        None => Ok(Vec::new()),
    }
}
