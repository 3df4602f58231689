//! The configuration files an operator brings from poptop: `/etc/pptpd.conf`, the pppd options
//! file it names (`option /etc/ppp/pptpd-options`) and `/etc/ppp/chap-secrets`.
//!
//! Each reader is a pure function over text (`parse(text, file_name)`) plus a thin `load(path)`:
//! [`PptpdConf`] (poptop's pptpd.conf(5) plus pptpd-rs keywords), [`PppOptions`] (the pppd(8)
//! options pptpd-rs acts upon), [`ChapSecrets`] (pppd's secrets file, re-read at every login).
//! [`Config::load`] reads the first two, checks that the third exists and parses, and returns
//! every [`Warning`] for the daemon to log.
//!
//! Relative paths: poptop hands `option` to pppd as written, and a daemonised poptop runs in `/`,
//! so a relative path there is relative to whatever directory pptpd happened to run in.
//! pptpd-rs resolves every relative path written in pptpd.conf (`option`, `chap-secrets`,
//! `pidfile`) against the directory of pptpd.conf, and a relative `chap-secrets` in the options
//! file against the directory of the options file; paths given on the command line are relative
//! to the working directory, as usual. So a config set works from any directory.

mod address_list;
mod chap_secrets;
mod error;
mod ppp_options;
mod pptpd_conf;
mod words;

use std::path::{Path, PathBuf};

pub use address_list::{AddressList, AddressListError, MAX_ADDRESSES, is_unicast_host};
pub use chap_secrets::{AddressPolicy, AddressRule, ChapSecrets, MAX_SECRET_CHARS, SecretEntry};
pub use error::{ConfigError, Location, Problem, Warning};
pub use ppp_options::{DEFAULT_NAME, MAX_MRU, MIN_MRU, MppeSetting, PppOptions};
pub use pptpd_conf::{
    DEFAULT_CHAP_SECRETS, DEFAULT_CONNECTIONS, DEFAULT_LOCALIP, DEFAULT_PIDFILE, DEFAULT_REMOTEIP,
    DEFAULT_STIMEOUT, DEFAULT_TUN, FirewallBackend, LocalIp, MAX_CONNECTIONS, MAX_STIMEOUT,
    MAX_WORKERS, PptpdConf,
};

/// Settings from the command line that override the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--chap-secrets FILE`: use this secrets file instead of the one the files name.
    pub chap_secrets: Option<PathBuf>,
    /// `--debug`: as `debug` in pptpd.conf.
    pub debug: bool,
}

/// Everything the daemon needs from the configuration files, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// pptpd.conf.
    pub pptpd: PptpdConf,
    /// The options file (pptpd-rs's defaults when pptpd.conf names none).
    pub ppp: PppOptions,
    /// The options file that was read, resolved; `None` when pptpd.conf names none.
    pub options_file: Option<PathBuf>,
    /// The chap-secrets file to read at each login, resolved: `--chap-secrets`, else
    /// `chap-secrets` in pptpd.conf, else `chap-secrets` in the options file, else
    /// `/etc/ppp/chap-secrets`.
    pub chap_secrets: PathBuf,
    /// The PID file, resolved (default `/var/run/pptpd.pid`).
    pub pidfile: PathBuf,
    /// Debug logging for the PPTP side: `debug` in pptpd.conf or `--debug`. (PPP debugging is
    /// `ppp.debug`.)
    pub debug: bool,
}

impl Config {
    /// Reads pptpd.conf at `path` and the options file it names, and checks that the chap-secrets
    /// file exists and parses (what `--check` reports). Warnings come back for the caller to log.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<(Self, Vec<Warning>), ConfigError> {
        let (pptpd, mut warnings) = PptpdConf::load(path)?;
        let conf_dir = parent_dir(path);

        let options_file = pptpd.option.as_deref().map(|p| resolve(&conf_dir, p));
        let ppp = match &options_file {
            Some(options_path) => {
                let (ppp, options_warnings) = PppOptions::load(options_path)?;
                warnings.extend(options_warnings);
                ppp
            }
            None => {
                warnings.push(Warning::new(
                    Location::file(&path.display().to_string()),
                    "no option line: pptpd-rs does not read /etc/ppp/options; using built-in PPP defaults (name pptpd, 128-bit MPPE required)",
                ));
                PppOptions::default()
            }
        };

        let chap_secrets = match (&overrides.chap_secrets, &pptpd.chap_secrets) {
            (Some(cli), _) => cli.clone(),
            (None, Some(from_conf)) => resolve(&conf_dir, from_conf),
            (None, None) => match (&ppp.chap_secrets, &options_file) {
                (Some(from_options), Some(options_path)) => {
                    resolve(&parent_dir(options_path), from_options)
                }
                _ => PathBuf::from(DEFAULT_CHAP_SECRETS),
            },
        };
        let pidfile = pptpd
            .pidfile
            .as_deref()
            .map_or_else(|| PathBuf::from(DEFAULT_PIDFILE), |p| resolve(&conf_dir, p));

        let secrets = ChapSecrets::load(&chap_secrets)?;
        warnings.extend(secrets.warnings().iter().cloned());
        let secrets_file = chap_secrets.display().to_string();
        if !secrets.serves(&ppp.name) {
            warnings.push(Warning::new(
                Location::file(&secrets_file),
                format!(
                    "no entry has \"{}\" (the options file's name) or * in the server column: no client can log in",
                    ppp.name
                ),
            ));
        }
        let local = pptpd.localip.addresses();
        for (address, line) in secrets.static_address_lines() {
            if local.contains(&address) {
                warnings.push(Warning::new(
                    Location::line(&secrets_file, line),
                    format!("{address} is a localip address: a client pinned to it cannot get it"),
                ));
            }
        }

        let debug = pptpd.debug || overrides.debug;
        let config = Self {
            pptpd,
            ppp,
            options_file,
            chap_secrets,
            pidfile,
            debug,
        };
        Ok((config, warnings))
    }
}

/// The directory `path` is in ("." for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` if absolute, else `path` under `dir`.
fn resolve(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// Reads a whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let line = error
            .as_bytes()
            .get(..valid)
            .map_or(0, |prefix| prefix.iter().filter(|&&b| b == b'\n').count());
        ConfigError::invalid(
            Location::line(&file, u32::try_from(line + 1).unwrap_or(u32::MAX)),
            Problem::NotUtf8 { what: "the file" },
        )
    })
}
