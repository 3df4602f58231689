//! The command line: `pptpd-rs -c /etc/pptpd.conf [-d] [--check] [--chap-secrets FILE]`.

use std::path::PathBuf;

use clap::Parser;

/// A PPTP egress gateway: one process in place of poptop pptpd, pppd and hand-written iptables.
#[derive(Debug, Clone, Parser)]
#[command(name = "pptpd-rs", version, about, long_about = None)]
pub struct Args {
    /// The poptop-style configuration file.
    #[arg(
        short = 'c',
        long = "config",
        default_value = "/etc/pptpd.conf",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// Log every control message and PPP packet (as pppd's `debug` does).
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Parse and validate every file, print what would run, and exit.
    #[arg(long = "check")]
    pub check: bool,
    /// Use this chap-secrets file instead of the one the configuration names.
    #[arg(long = "chap-secrets", value_name = "FILE")]
    pub chap_secrets: Option<PathBuf>,
}
