//! What one session needs from the configuration, derived once at start and
//! again on SIGHUP: the PPP link template, the secrets file, limits and timers.
//! New sessions take the settings current when their call arrives; live
//! sessions keep theirs.

use std::path::PathBuf;
use std::time::Duration;

use ppp_core::{LinkConfig, MppePolicy};

use crate::config::{Config, MppeSetting};

/// Default MRU we offer: 1500-byte underlay minus IPv4 (20), GRE (16), PPP (4) and MPPE (4),
/// rounded down, as accel-ppp and most PPTP servers do.
pub const DEFAULT_MRU: u16 = 1400;

/// Settings for new sessions.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The template of each session's PPP link (server role).
    pub link: LinkConfig,
    /// The chap-secrets file, re-read at each authentication.
    pub chap_secrets: PathBuf,
    /// Strip a `DOMAIN\` prefix from user names before looking them up (`chapms-strip-domain`).
    pub strip_domain: bool,
    /// Most sessions at once (`connections`).
    pub max_sessions: usize,
    /// End a session after this long without data (`idle`).
    pub idle: Option<Duration>,
    /// Seconds to wait for the Start-Control-Connection-Request (`stimeout`).
    pub start_timeout: Duration,
    /// Log every control message (`debug` in pptpd.conf).
    pub debug_pptp: bool,
    /// Log every PPP packet (`debug` in the options file).
    pub debug_ppp: bool,
}

impl Settings {
    /// Derives the settings from a loaded configuration.
    pub fn from_config(config: &Config) -> Self {
        let ppp = &config.ppp;
        let mut link = LinkConfig::server(&ppp.name);
        link.mru = ppp.mru.unwrap_or(DEFAULT_MRU);
        link.mppe = mppe_policy(&ppp.mppe);
        link.dns = first_two(&ppp.ms_dns);
        link.nbns = first_two(&ppp.ms_wins);
        if let Some(interval) = ppp.lcp_echo_interval {
            link.echo_interval = (interval > 0).then(|| Duration::from_secs(u64::from(interval)));
        }
        if let Some(failure) = ppp.lcp_echo_failure {
            link.echo_failure = failure;
        }
        Settings {
            link,
            chap_secrets: config.chap_secrets.clone(),
            strip_domain: ppp.strip_domain,
            max_sessions: config.pptpd.connections as usize,
            idle: ppp
                .idle
                .filter(|&s| s > 0)
                .map(|s| Duration::from_secs(u64::from(s))),
            start_timeout: Duration::from_secs(u64::from(config.pptpd.stimeout.max(1))),
            debug_pptp: config.debug,
            debug_ppp: config.ppp.debug || config.debug,
        }
    }

    /// The MTU of the TUN device: what the client may send us (our MRU), or `mtu` when smaller.
    pub fn tun_mtu(config: &Config) -> u16 {
        let mru = config.ppp.mru.unwrap_or(DEFAULT_MRU);
        config.ppp.mtu.map_or(mru, |mtu| mtu.min(mru))
    }
}

fn mppe_policy(setting: &MppeSetting) -> MppePolicy {
    MppePolicy {
        required: setting.required,
        allow_128: setting.allow_128,
        allow_56: setting.allow_56,
        allow_40: setting.allow_40,
        allow_stateful: setting.stateful,
    }
}

fn first_two(list: &[std::net::Ipv4Addr]) -> [Option<std::net::Ipv4Addr>; 2] {
    [list.first().copied(), list.get(1).copied()]
}
