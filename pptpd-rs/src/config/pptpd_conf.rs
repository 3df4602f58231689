//! `/etc/pptpd.conf`: poptop's configuration file, read the way poptop reads it, plus the
//! keywords pptpd-rs adds for the things poptop left to pppd and to hand-written iptables.
//!
//! Syntax (poptop `configfile.c`): one `keyword [value]` per line; lines whose first character is
//! `#` are comments; blank lines are skipped; the value is the rest of the line. Where poptop and
//! pptpd-rs differ, pptpd-rs warns:
//! - poptop ignores a line that starts with white space; pptpd-rs reads it and warns;
//! - a `#` after white space starts a comment (poptop would make it part of the value);
//! - poptop uses the *first* line of a keyword that appears twice; so does pptpd-rs, and it warns
//!   about the later ones;
//! - an unknown keyword is a warning (poptop never looks at it).
//!
//! Addresses, pptpd.conf(5): "localip: If one address only is given, this address is used for all
//! clients. Otherwise, one address per client must be given". poptop (`pptpd.c`,
//! `processIPStr`) fills connection slot *i* with `localip[i]` and `remoteip[i]`, keeps only as
//! many slots as `connections` and as the shorter list allows ("extra IP addresses ignored"), and
//! uses `192.168.0.1-100` / `192.168.1.1-100` when `localip` / `remoteip` are missing. pptpd-rs
//! does the same (see [`LocalIp`]) and warns each time an address is dropped or a default used.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::address_list::{AddressList, AddressListError, is_unicast_host};
use super::error::{ConfigError, Location, Problem, Warning};

/// `connections` when pptpd.conf does not say (poptop's `CONNECTIONS_DEFAULT`).
pub const DEFAULT_CONNECTIONS: u32 = 100;
/// The most `connections` pptpd-rs accepts (one per 16-bit PPTP call ID).
pub const MAX_CONNECTIONS: u32 = 65536;
/// `stimeout` when pptpd.conf does not say (poptop's `STIMEOUT_DEFAULT`), in seconds.
pub const DEFAULT_STIMEOUT: u32 = 10;
/// The longest `stimeout` pptpd-rs accepts, in seconds.
pub const MAX_STIMEOUT: u32 = 3600;
/// How often the egress rules are checked when pptpd.conf does not say (`egress-check`), in
/// seconds.
pub const DEFAULT_EGRESS_CHECK: u32 = 30;
/// The longest `egress-check` pptpd-rs accepts, in seconds.
pub const MAX_EGRESS_CHECK: u32 = 86_400;
/// The most data-path `workers` pptpd-rs accepts.
pub const MAX_WORKERS: u32 = 1024;
/// The TUN device name when pptpd.conf does not say.
pub const DEFAULT_TUN: &str = "pptp0";
/// The secrets file when neither pptpd.conf, the options file nor the command line names one.
pub const DEFAULT_CHAP_SECRETS: &str = "/etc/ppp/chap-secrets";
/// The PID file when pptpd.conf does not say (poptop's `PIDFILE_DEFAULT`).
pub const DEFAULT_PIDFILE: &str = "/var/run/pptpd.pid";
/// poptop's `localip` when pptpd.conf has none (`DEFAULT_LOCAL_IP_LIST`).
pub const DEFAULT_LOCALIP: &str = "192.168.0.1-100";
/// poptop's `remoteip` when pptpd.conf has none (`DEFAULT_REMOTE_IP_LIST`).
pub const DEFAULT_REMOTEIP: &str = "192.168.1.1-100";

/// Our end of the PPP links (`localip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalIp {
    /// One address, used as the local address of every session.
    Shared(Ipv4Addr),
    /// One address per remote address: `Paired[i]` is the local address of the session that is
    /// given `remoteip[i]`. Always exactly as long as [`PptpdConf::remoteip`].
    Paired(Vec<Ipv4Addr>),
}

impl LocalIp {
    /// Every local address, in order.
    pub fn addresses(&self) -> &[Ipv4Addr] {
        match self {
            Self::Shared(address) => std::slice::from_ref(address),
            Self::Paired(addresses) => addresses,
        }
    }

    /// The local address of the session given `remoteip[index]` (the first local address when
    /// `index` is out of range, e.g. for a static address outside the pool).
    pub fn for_index(&self, index: usize) -> Ipv4Addr {
        match self {
            Self::Shared(address) => *address,
            Self::Paired(addresses) => addresses
                .get(index)
                .or(addresses.first())
                .copied()
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// Which firewall tool sets up forwarding and NAT (`firewall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirewallBackend {
    /// Use nftables when the `nft` tool and kernel support are there, else iptables.
    #[default]
    Auto,
    /// Always nftables.
    Nftables,
    /// Always iptables (e.g. CentOS 7).
    Iptables,
}

/// The settings of pptpd.conf, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PptpdConf {
    /// `option FILE`: the pppd options file, as written (relative paths are resolved by
    /// [`super::Config::load`]); `None` when absent.
    pub option: Option<PathBuf>,
    /// `localip LIST`: our end of each link.
    pub localip: LocalIp,
    /// `remoteip LIST`: the pool for clients, in order, already cut to `connections` addresses
    /// (and, for a paired `localip`, to the length of that list) as poptop does.
    pub remoteip: Vec<Ipv4Addr>,
    /// `listen IP`: the address to accept PPTP control connections on; `None` = all.
    pub listen: Option<Ipv4Addr>,
    /// `connections N`: the most simultaneous clients (default 100).
    pub connections: u32,
    /// `debug`: more logging from the PPTP side.
    pub debug: bool,
    /// `stimeout N`: seconds to wait for the first PPTP message of a new connection (default 10).
    pub stimeout: u32,
    /// `pidfile FILE`, as written; `None` = [`DEFAULT_PIDFILE`].
    pub pidfile: Option<PathBuf>,
    /// `chap-secrets FILE` (pptpd-rs), as written; `None` = the options file's `chap-secrets`,
    /// else [`DEFAULT_CHAP_SECRETS`].
    pub chap_secrets: Option<PathBuf>,
    /// `tun NAME` (pptpd-rs): the TUN device (default `pptp0`).
    pub tun: String,
    /// `nat yes|no` (pptpd-rs): masquerade or SNAT client traffic (default yes).
    pub nat: bool,
    /// `egress IFACE` (pptpd-rs): the interface client traffic leaves by; `None` = the interface
    /// of the default route, resolved by the daemon.
    pub egress: Option<String>,
    /// `snat-to IP` (pptpd-rs): SNAT to this address instead of masquerading (for hosts whose
    /// public address sits on the egress interface next to the private one).
    pub snat_to: Option<Ipv4Addr>,
    /// `firewall auto|nftables|iptables` (pptpd-rs).
    pub firewall: FirewallBackend,
    /// `workers N` (pptpd-rs): data-path threads; 0 (the default) = one per core.
    pub workers: u32,
    /// `tun-offload yes|no` (pptpd-rs): virtio-net headers with TSO/USO on the TUN device
    /// (default yes); `no` for kernels that mishandle large offloaded writes.
    pub tun_offload: bool,
    /// `gre-direct yes|no` (pptpd-rs): send downstream GRE data as finished Ethernet frames
    /// on a packet socket, past the host's IP output path (default yes); `no` sends every
    /// datagram through the kernel's IP stack.
    pub gre_direct: bool,
    /// `egress-check SECS` (pptpd-rs): how often to check that the egress rules and
    /// ip_forward are still in place and re-install them if not (default 30); 0 = never.
    pub egress_check: u32,
}

impl Default for PptpdConf {
    /// poptop's defaults, with its default address lists (not recommended: set them).
    fn default() -> Self {
        let local = AddressList::parse(DEFAULT_LOCALIP)
            .map(AddressList::into_vec)
            .unwrap_or_default();
        let remote = AddressList::parse(DEFAULT_REMOTEIP)
            .map(AddressList::into_vec)
            .unwrap_or_default();
        Self {
            option: None,
            localip: LocalIp::Paired(local),
            remoteip: remote,
            listen: None,
            connections: DEFAULT_CONNECTIONS,
            debug: false,
            stimeout: DEFAULT_STIMEOUT,
            pidfile: None,
            chap_secrets: None,
            tun: DEFAULT_TUN.to_owned(),
            nat: true,
            egress: None,
            snat_to: None,
            firewall: FirewallBackend::Auto,
            workers: 0,
            tun_offload: true,
            gre_direct: true,
            egress_check: DEFAULT_EGRESS_CHECK,
        }
    }
}

/// One `keyword value` line.
struct Line<'a> {
    number: u32,
    keyword: &'a str,
    value: Option<&'a str>,
}

/// Splits a line into keyword and value, dropping a trailing ` # comment`.
fn split_line(content: &str) -> (&str, Option<&str>) {
    let (keyword, rest) = match content.find(char::is_whitespace) {
        Some(at) => content.split_at(at),
        None => (content, ""),
    };
    let rest = rest.trim_start();
    let mut value_end = rest.len();
    let mut previous_is_space = true;
    for (at, c) in rest.char_indices() {
        if c == '#' && previous_is_space {
            value_end = at;
            break;
        }
        previous_is_space = c.is_whitespace();
    }
    let value = rest.get(..value_end).unwrap_or(rest).trim_end();
    (keyword, (!value.is_empty()).then_some(value))
}

impl Line<'_> {
    fn missing(&self) -> Problem {
        Problem::MissingValue {
            keyword: self.keyword.to_owned(),
        }
    }

    /// The value, which must be there (may contain spaces: a path).
    fn text(&self) -> Result<&str, Problem> {
        self.value.ok_or_else(|| self.missing())
    }

    /// The value, which must be one word.
    fn word(&self) -> Result<&str, Problem> {
        let value = self.text()?;
        match value.split_once(char::is_whitespace) {
            Some((_, rest)) => Err(Problem::UnexpectedValue {
                keyword: self.keyword.to_owned(),
                text: rest.trim().to_owned(),
            }),
            None => Ok(value),
        }
    }

    fn number(&self, min: u32, max: u32) -> Result<u32, Problem> {
        let word = self.word()?;
        let bad = || Problem::BadNumber {
            keyword: self.keyword.to_owned(),
            text: word.to_owned(),
        };
        if !word.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value: u64 = word.parse().map_err(|_| bad())?;
        if value < u64::from(min) || value > u64::from(max) {
            return Err(Problem::NumberOutOfRange {
                keyword: self.keyword.to_owned(),
                value,
                min: u64::from(min),
                max: u64::from(max),
            });
        }
        u32::try_from(value).map_err(|_| bad())
    }

    fn address(&self) -> Result<Ipv4Addr, Problem> {
        let word = self.word()?;
        word.parse().map_err(|_| Problem::BadAddress {
            keyword: self.keyword.to_owned(),
            text: word.to_owned(),
        })
    }

    fn address_list(&self) -> Result<Vec<Ipv4Addr>, Problem> {
        let word = self.word()?;
        parse_list(self.keyword, word)
    }

    fn interface(&self) -> Result<String, Problem> {
        let word = self.word()?;
        // Linux: at most IFNAMSIZ - 1 = 15 bytes, no '/', ':' or white space, not "." or "..".
        let valid = !word.is_empty()
            && word.len() <= 15
            && word != "."
            && word != ".."
            && word
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
        if valid {
            Ok(word.to_owned())
        } else {
            Err(Problem::BadInterfaceName {
                keyword: self.keyword.to_owned(),
                text: word.to_owned(),
            })
        }
    }

    fn choice<T: Copy>(&self, choices: &[(&str, T)], names: &'static str) -> Result<T, Problem> {
        let word = self.word()?;
        choices
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, value)| *value)
            .ok_or_else(|| Problem::BadChoice {
                keyword: self.keyword.to_owned(),
                text: word.to_owned(),
                choices: names,
            })
    }
}

/// Expands an address list, naming `keyword` in errors.
fn parse_list(keyword: &str, text: &str) -> Result<Vec<Ipv4Addr>, Problem> {
    let keyword = keyword.to_owned();
    AddressList::parse(text)
        .map(AddressList::into_vec)
        .map_err(|error| match error {
            AddressListError::BadAddress(text) => Problem::BadAddress { keyword, text },
            AddressListError::BadRange(text) => Problem::BadRange { keyword, text },
            AddressListError::RangeTooLarge(text, count) => Problem::RangeTooLarge {
                keyword,
                text,
                count,
                max: super::address_list::MAX_ADDRESSES,
            },
            AddressListError::ListTooLarge(count) => Problem::ListTooLarge {
                keyword,
                count,
                max: super::address_list::MAX_ADDRESSES,
            },
            AddressListError::Duplicate(address) => Problem::DuplicateAddress { keyword, address },
            AddressListError::NotUnicast(address) => Problem::NotUnicast { keyword, address },
        })
}

/// poptop keywords that mean nothing to pptpd-rs, and why.
const POPTOP_IGNORED: &[(&str, &str)] = &[
    (
        "logwtmp",
        "ignored: pptpd-rs does not write wtmp records; sessions are logged instead",
    ),
    ("bcrelay", "ignored: pptpd-rs does not relay broadcasts"),
    ("noipparam", "ignored: pptpd-rs runs no ip-up scripts"),
    (
        "delegate",
        "ignored: pptpd-rs always assigns addresses from remoteip; static addresses in chap-secrets are honoured without it",
    ),
    ("ppp", "ignored: pptpd-rs runs PPP itself, not pppd"),
    ("speed", "ignored: there is no tty to set a speed on"),
    ("vrf", "ignored: VRFs are not supported"),
];

impl PptpdConf {
    /// Reads pptpd.conf from `path`.
    pub fn load(path: &Path) -> Result<(Self, Vec<Warning>), ConfigError> {
        let text = super::read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a pptpd.conf; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<(Self, Vec<Warning>), ConfigError> {
        let mut conf = Self::default();
        let mut warnings = Vec::new();
        let mut first_seen: HashMap<String, u32> = HashMap::new();
        let mut localip: Option<(u32, Vec<Ipv4Addr>)> = None;
        let mut remoteip: Option<(u32, Vec<Ipv4Addr>)> = None;

        for (index, raw) in text.lines().enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let at = Location::line(file, number);
            let trimmed_end = raw.trim_end();
            let content = trimmed_end.trim_start();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if content.len() != trimmed_end.len() {
                warnings.push(Warning::new(
                    at.clone(),
                    "line starts with white space: poptop ignores such a line, pptpd-rs reads it",
                ));
            }
            let (keyword, value) = split_line(content);
            if let Some(first) = first_seen.get(keyword) {
                warnings.push(Warning::new(
                    at,
                    format!("{keyword} repeated: ignored, the first one (line {first}) is used, as poptop does"),
                ));
                continue;
            }
            first_seen.insert(keyword.to_owned(), number);
            let line = Line {
                number,
                keyword,
                value,
            };
            let invalid =
                |problem| ConfigError::invalid(Location::line(file, line.number), problem);
            match keyword {
                "option" => conf.option = Some(PathBuf::from(line.text().map_err(invalid)?)),
                "localip" => localip = Some((number, line.address_list().map_err(invalid)?)),
                "remoteip" => remoteip = Some((number, line.address_list().map_err(invalid)?)),
                "listen" => conf.listen = Some(line.address().map_err(invalid)?),
                "connections" => {
                    conf.connections = line.number(1, MAX_CONNECTIONS).map_err(invalid)?;
                }
                "debug" => {
                    conf.debug = true;
                    if let Some(value) = value {
                        warnings.push(Warning::new(
                            at,
                            format!("debug takes no value: \"{value}\" ignored"),
                        ));
                    }
                }
                "stimeout" => conf.stimeout = line.number(1, MAX_STIMEOUT).map_err(invalid)?,
                "pidfile" => conf.pidfile = Some(PathBuf::from(line.text().map_err(invalid)?)),
                "chap-secrets" => {
                    conf.chap_secrets = Some(PathBuf::from(line.text().map_err(invalid)?));
                }
                "tun" => conf.tun = line.interface().map_err(invalid)?,
                "nat" => {
                    conf.nat = line
                        .choice(&[("yes", true), ("no", false)], "yes, no")
                        .map_err(invalid)?;
                }
                "egress" => conf.egress = Some(line.interface().map_err(invalid)?),
                "egress-check" => {
                    conf.egress_check = line.number(0, MAX_EGRESS_CHECK).map_err(invalid)?;
                }
                "gre-direct" => {
                    conf.gre_direct = line
                        .choice(&[("yes", true), ("no", false)], "yes, no")
                        .map_err(invalid)?;
                }
                "tun-offload" => {
                    conf.tun_offload = line
                        .choice(&[("yes", true), ("no", false)], "yes, no")
                        .map_err(invalid)?;
                }
                "snat-to" => {
                    let address = line.address().map_err(invalid)?;
                    if !is_unicast_host(address) {
                        return Err(invalid(Problem::NotUnicast {
                            keyword: keyword.to_owned(),
                            address,
                        }));
                    }
                    conf.snat_to = Some(address);
                }
                "firewall" => {
                    conf.firewall = line
                        .choice(
                            &[
                                ("auto", FirewallBackend::Auto),
                                ("nftables", FirewallBackend::Nftables),
                                ("iptables", FirewallBackend::Iptables),
                            ],
                            "auto, nftables, iptables",
                        )
                        .map_err(invalid)?;
                }
                "workers" => conf.workers = line.number(0, MAX_WORKERS).map_err(invalid)?,
                _ => match POPTOP_IGNORED.iter().find(|(name, _)| *name == keyword) {
                    Some((_, why)) => warnings.push(Warning::new(at, format!("{keyword}: {why}"))),
                    None => warnings.push(Warning::new(
                        at,
                        format!("unknown keyword \"{keyword}\" ignored"),
                    )),
                },
            }
        }

        conf.assign_addresses(file, localip, remoteip, &mut warnings)?;
        if conf.snat_to.is_some() && !conf.nat {
            warnings.push(Warning::new(
                Location::file(file),
                "snat-to has no effect with nat no",
            ));
        }
        Ok((conf, warnings))
    }

    /// Applies poptop's defaults, limits and localip/remoteip pairing.
    fn assign_addresses(
        &mut self,
        file: &str,
        localip: Option<(u32, Vec<Ipv4Addr>)>,
        remoteip: Option<(u32, Vec<Ipv4Addr>)>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), ConfigError> {
        let (remote_at, mut remote) = match remoteip {
            Some((line, list)) => (Location::line(file, line), list),
            None => {
                warnings.push(Warning::new(
                    Location::file(file),
                    format!("no remoteip: using poptop's default {DEFAULT_REMOTEIP}"),
                ));
                let list = parse_list("remoteip", DEFAULT_REMOTEIP)
                    .map_err(|p| ConfigError::invalid(Location::file(file), p))?;
                (Location::file(file), list)
            }
        };
        let (local_at, mut local) = match localip {
            Some((line, list)) => (Location::line(file, line), list),
            None => {
                warnings.push(Warning::new(
                    Location::file(file),
                    format!("no localip: using poptop's default {DEFAULT_LOCALIP}"),
                ));
                let list = parse_list("localip", DEFAULT_LOCALIP)
                    .map_err(|p| ConfigError::invalid(Location::file(file), p))?;
                (Location::file(file), list)
            }
        };

        let remote_set: HashSet<Ipv4Addr> = remote.iter().copied().collect();
        if let Some(address) = local.iter().find(|a| remote_set.contains(a)) {
            return Err(ConfigError::invalid(
                local_at,
                Problem::LocalInRemote { address: *address },
            ));
        }

        let limit = usize::try_from(self.connections).unwrap_or(usize::MAX);
        if remote.len() > limit {
            warnings.push(Warning::new(
                remote_at.clone(),
                format!(
                    "remoteip: {} addresses but connections is {}: only the first {} are used, as poptop does",
                    remote.len(),
                    self.connections,
                    self.connections
                ),
            ));
            remote.truncate(limit);
        }

        self.localip = if let [single] = local.as_slice() {
            LocalIp::Shared(*single)
        } else {
            if local.len() < remote.len() {
                warnings.push(Warning::new(
                    local_at,
                    format!(
                        "localip: {} addresses for {} remote addresses: poptop pairs localip[i] with remoteip[i], so only the first {} remote addresses are used",
                        local.len(),
                        remote.len(),
                        local.len()
                    ),
                ));
                remote.truncate(local.len());
            } else if local.len() > remote.len() {
                warnings.push(Warning::new(
                    local_at,
                    format!(
                        "localip: {} addresses for {} remote addresses: the extra local addresses are not used",
                        local.len(),
                        remote.len()
                    ),
                ));
                local.truncate(remote.len());
            }
            LocalIp::Paired(local)
        };
        self.remoteip = remote;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (PptpdConf, Vec<String>) {
        let (conf, warnings) = PptpdConf::parse(text, "pptpd.conf").unwrap();
        (conf, warnings.iter().map(ToString::to_string).collect())
    }

    fn error(text: &str) -> String {
        PptpdConf::parse(text, "pptpd.conf")
            .unwrap_err()
            .to_string()
    }

    const ADDRESSES: &str = "localip 192.168.0.1\nremoteip 192.168.0.234-238,192.168.0.245\n";

    #[test]
    fn recommended_addresses() {
        let (conf, warnings) = parse(ADDRESSES);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(conf.localip, LocalIp::Shared(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(conf.remoteip.len(), 6);
        assert_eq!(conf.remoteip[5], Ipv4Addr::new(192, 168, 0, 245));
        assert_eq!(conf.localip.for_index(4), Ipv4Addr::new(192, 168, 0, 1));
    }

    #[test]
    fn defaults() {
        let (conf, _) = parse(ADDRESSES);
        assert_eq!(conf.connections, 100);
        assert_eq!(conf.stimeout, 10);
        assert!(!conf.debug);
        assert_eq!(conf.tun, "pptp0");
        assert!(conf.nat);
        assert_eq!(conf.egress, None);
        assert_eq!(conf.snat_to, None);
        assert_eq!(conf.firewall, FirewallBackend::Auto);
        assert_eq!(conf.workers, 0);
        assert_eq!(conf.option, None);
        assert_eq!(conf.pidfile, None);
        assert_eq!(conf.chap_secrets, None);
        assert_eq!(conf.listen, None);
    }

    #[test]
    fn every_keyword() {
        let (conf, warnings) = parse(
            "option /etc/ppp/pptpd-options\n\
             debug\n\
             stimeout 30\n\
             listen 10.1.2.3\n\
             connections 500\n\
             pidfile /run/pptpd-rs.pid\n\
             chap-secrets /etc/pptpd-rs/chap-secrets\n\
             tun vpn0\n\
             nat no\n\
             egress ens5\n\
             snat-to 203.0.113.7\n\
             firewall iptables\n\
             workers 4\n\
             tun-offload no\n\
             gre-direct no\n\
             egress-check 0\n\
             localip 10.9.0.1\n\
             remoteip 10.9.0.2-200\n",
        );
        assert_eq!(warnings, ["pptpd.conf: snat-to has no effect with nat no"]);
        assert_eq!(conf.option, Some(PathBuf::from("/etc/ppp/pptpd-options")));
        assert!(conf.debug);
        assert_eq!(conf.stimeout, 30);
        assert_eq!(conf.listen, Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(conf.connections, 500);
        assert_eq!(conf.pidfile, Some(PathBuf::from("/run/pptpd-rs.pid")));
        assert_eq!(
            conf.chap_secrets,
            Some(PathBuf::from("/etc/pptpd-rs/chap-secrets"))
        );
        assert_eq!(conf.tun, "vpn0");
        assert!(!conf.nat);
        assert_eq!(conf.egress.as_deref(), Some("ens5"));
        assert_eq!(conf.snat_to, Some(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!(conf.firewall, FirewallBackend::Iptables);
        assert!(!conf.tun_offload);
        assert!(!conf.gre_direct);
        assert_eq!(conf.egress_check, 0);
        assert_eq!(conf.workers, 4);
        assert_eq!(conf.remoteip.len(), 199);
    }

    #[test]
    fn poptop_keywords_warn_once_each() {
        let (_, warnings) = parse(&format!(
            "{ADDRESSES}logwtmp\nbcrelay eth1\nnoipparam\ndelegate\nppp /usr/sbin/pppd\nspeed 115200\n"
        ));
        assert_eq!(warnings.len(), 6, "{warnings:?}");
        assert!(warnings[0].starts_with("pptpd.conf:3: logwtmp: ignored"));
        assert!(warnings[3].starts_with("pptpd.conf:6: delegate: ignored"));
    }

    #[test]
    fn unknown_keyword_is_a_warning() {
        let (_, warnings) = parse(&format!("{ADDRESSES}frobnicate 3\n"));
        assert_eq!(
            warnings,
            ["pptpd.conf:3: unknown keyword \"frobnicate\" ignored"]
        );
    }

    #[test]
    fn comments_blank_lines_and_trailing_comments() {
        let (conf, warnings) =
            parse("# comment\n\n   \nlocalip 10.0.0.1 # ours\nremoteip 10.0.0.2-5\t# theirs\n");
        assert_eq!(conf.localip, LocalIp::Shared(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(conf.remoteip.len(), 4);
        assert!(warnings.is_empty());
        assert_eq!(
            error("localip 10.0.0.1\nremoteip 10.0.0.2-5\nstimeout 5#x\n"),
            "pptpd.conf:3: stimeout: \"5#x\" is not a number"
        );
    }

    #[test]
    fn leading_white_space_is_read_with_a_warning() {
        let (conf, warnings) = parse("  localip 10.0.0.1\nremoteip 10.0.0.2-5\n");
        assert_eq!(conf.localip, LocalIp::Shared(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("pptpd.conf:1: line starts with white space"));
    }

    #[test]
    fn first_occurrence_wins() {
        let (conf, warnings) = parse(&format!("{ADDRESSES}stimeout 5\nstimeout 7\n"));
        assert_eq!(conf.stimeout, 5);
        assert_eq!(
            warnings,
            [
                "pptpd.conf:4: stimeout repeated: ignored, the first one (line 3) is used, as poptop does"
            ]
        );
    }

    #[test]
    fn missing_lists_use_poptop_defaults() {
        let (conf, warnings) = parse("option /etc/ppp/pptpd-options\nlogwtmp\n");
        assert_eq!(conf.egress_check, DEFAULT_EGRESS_CHECK);
        assert!(conf.gre_direct);
        assert_eq!(conf.remoteip.len(), 100);
        assert_eq!(conf.remoteip[0], Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(conf.localip.addresses().len(), 100);
        assert_eq!(conf.localip.for_index(99), Ipv4Addr::new(192, 168, 0, 100));
        assert_eq!(
            warnings[1..],
            [
                "pptpd.conf: no remoteip: using poptop's default 192.168.1.1-100",
                "pptpd.conf: no localip: using poptop's default 192.168.0.1-100",
            ]
        );
    }

    #[test]
    fn paired_lists_as_poptop() {
        // Equal lengths: slot i pairs localip[i] and remoteip[i].
        let (conf, warnings) = parse(
            "localip 192.168.0.234-238,192.168.0.245\nremoteip 192.168.1.234-238,192.168.1.245\n",
        );
        assert!(warnings.is_empty());
        assert_eq!(conf.localip.for_index(5), Ipv4Addr::new(192, 168, 0, 245));
        assert_eq!(conf.remoteip[5], Ipv4Addr::new(192, 168, 1, 245));

        // Fewer local addresses: the remote pool shrinks to match.
        let (conf, warnings) = parse("localip 10.0.0.1-3\nremoteip 10.0.1.1-10\n");
        assert_eq!(conf.remoteip.len(), 3);
        assert_eq!(conf.localip.addresses().len(), 3);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("pptpd.conf:1: localip: 3 addresses for 10"));

        // More local addresses: the extra ones are dropped.
        let (conf, warnings) = parse("localip 10.0.0.1-9\nremoteip 10.0.1.1-2\n");
        assert_eq!(
            conf.localip,
            LocalIp::Paired(vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)])
        );
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn connections_cut_the_pool_before_pairing() {
        let (conf, warnings) = parse("connections 2\nlocalip 10.0.0.1-3\nremoteip 10.0.1.1-3\n");
        assert_eq!(conf.remoteip.len(), 2);
        assert_eq!(conf.localip.addresses().len(), 2);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("pptpd.conf:3: remoteip: 3 addresses but connections is 2")
        );
    }

    #[test]
    fn validation_errors_name_file_and_line() {
        let cases = [
            (
                "localip 192.168.0.1\n\n\nremoteip 192.168.0.240-230\n",
                "pptpd.conf:4: remoteip: bad range \"192.168.0.240-230\"",
            ),
            (
                "localip 192.168.0.300\n",
                "pptpd.conf:1: localip: bad address \"192.168.0.300\"",
            ),
            ("remoteip\n", "pptpd.conf:1: remoteip: missing value"),
            (
                "remoteip 10.0.0.2 - 10.0.0.9\n",
                "pptpd.conf:1: remoteip: unexpected \"- 10.0.0.9\" after the value",
            ),
            (
                "localip 10.0.0.5\nremoteip 10.0.0.1-10\n",
                "pptpd.conf:1: localip: 10.0.0.5 is also in the remoteip pool",
            ),
            (
                "remoteip 10.0.0.0-10.1.0.0\n",
                "pptpd.conf:1: remoteip: range \"10.0.0.0-10.1.0.0\" has 65537 addresses, more than 65536",
            ),
            (
                "connections 0\n",
                "pptpd.conf:1: connections: 0 is not between 1 and 65536",
            ),
            (
                "connections -3\n",
                "pptpd.conf:1: connections: \"-3\" is not a number",
            ),
            (
                "stimeout 0\n",
                "pptpd.conf:1: stimeout: 0 is not between 1 and 3600",
            ),
            (
                "listen eth0\n",
                "pptpd.conf:1: listen: bad address \"eth0\"",
            ),
            (
                "nat maybe\n",
                "pptpd.conf:1: nat: \"maybe\" is not one of yes, no",
            ),
            (
                "firewall pf\n",
                "pptpd.conf:1: firewall: \"pf\" is not one of auto, nftables, iptables",
            ),
            (
                "tun a-very-long-interface-name\n",
                "pptpd.conf:1: tun: \"a-very-long-interface-name\" is not a valid interface name",
            ),
            (
                "egress eth0/1\n",
                "pptpd.conf:1: egress: \"eth0/1\" is not a valid interface name",
            ),
            (
                "snat-to 224.1.1.1\n",
                "pptpd.conf:1: snat-to: 224.1.1.1 is not a unicast host address",
            ),
            (
                "workers 5000\n",
                "pptpd.conf:1: workers: 5000 is not between 0 and 1024",
            ),
            (
                "remoteip 10.0.0.1,10.0.0.1\n",
                "pptpd.conf:1: remoteip: 10.0.0.1 is listed twice",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn keywords_are_case_sensitive_as_in_poptop() {
        let (conf, warnings) = parse(&format!("{ADDRESSES}Debug\n"));
        assert!(!conf.debug);
        assert_eq!(
            warnings,
            ["pptpd.conf:3: unknown keyword \"Debug\" ignored"]
        );
    }

    #[test]
    fn paths_may_contain_spaces() {
        let (conf, _) = parse(&format!("{ADDRESSES}option /etc/ppp/my options # mine\n"));
        assert_eq!(conf.option, Some(PathBuf::from("/etc/ppp/my options")));
    }
}
