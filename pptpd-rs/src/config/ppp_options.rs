//! The pppd options file named by `option` in pptpd.conf (stock: `/etc/ppp/pptpd-options`).
//!
//! pppd(8), "OPTIONS FILES": "the options file is parsed into a series of words, delimited by
//! whitespace" — so an option may share a line with others and takes its argument from the next
//! word, wherever that is (the words come from [`super::words`], pppd's `getword()`).
//!
//! pptpd-rs is not pppd: it runs MS-CHAPv2, MPPE and IPCP itself for one purpose. Every pppd
//! option falls in one of these classes:
//! - **used**: `name`, `ms-dns`, `ms-wins`, the MPPE options, `mtu`, `mru`, `lcp-echo-interval`,
//!   `lcp-echo-failure`, `idle`, `debug`, `chap-secrets`, `chapms-strip-domain`;
//! - **already so**: options that ask for what pptpd-rs does anyway (`require-mschap-v2`,
//!   `refuse-pap`, `novj`, `nobsdcomp`, `lock`, `nodefaultroute`, ...): accepted silently;
//! - **refused** (an error): options that would weaken authentication or need a method pptpd-rs
//!   does not have: `noauth`, `refuse-mschap-v2`, `require-pap`, `require-chap`,
//!   `require-mschap`, `require-eap` (and their `+`/`-` aliases);
//! - **ignored** (a warning): every other pppd option, e.g. `proxyarp`, `logfile`, `plugin`.
//!   Unknown words are warnings too, never errors, so that poptop's stock options file, and
//!   the ones operators grew from it, load.
//!
//! MPPE: pppd negotiates MPPE only when an option asks for it. pptpd-rs is stricter: **when the
//! file says nothing about MPPE, 128-bit stateless MPPE is required**. `nomppe` turns MPPE off
//! (with a loud warning); the other MPPE options have pppd's meaning (ccp.c): `require-mppe`
//! allows 40 and 128 bits, `require-mppe-40`/`-128` add one key length, `nomppe-40`/`-128`
//! remove one, later options override earlier ones, and `mppe-stateful` allows stateful mode
//! when the peer insists ("we always request stateless, but will we allow stateful?"). pppd has
//! no 56-bit MPPE, so neither does this file.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::address_list::is_unicast_host;
use super::error::{ConfigError, Location, Problem, Warning};
use super::words::{Word, split_words};

/// The authenticator name when the options file has no `name`.
pub const DEFAULT_NAME: &str = "pptpd";
/// Smallest `mtu`/`mru` pppd accepts (`MINMRU`).
pub const MIN_MRU: u16 = 128;
/// Largest `mtu`/`mru` pppd accepts (`MAXMRU`).
pub const MAX_MRU: u16 = 16384;

/// Which MPPE (RFC 3078) modes the server insists on or allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MppeSetting {
    /// MPPE must be negotiated; when false, MPPE is off altogether (`nomppe`), as in pppd.
    pub required: bool,
    /// 128-bit keys are allowed.
    pub allow_128: bool,
    /// 56-bit keys are allowed (never: pppd has no 56-bit MPPE).
    pub allow_56: bool,
    /// 40-bit keys are allowed.
    pub allow_40: bool,
    /// Stateful mode is accepted when the peer insists; stateless is always what we ask for.
    pub stateful: bool,
}

impl Default for MppeSetting {
    /// pptpd-rs's default, stricter than pppd's (no MPPE): 128-bit, stateless, required.
    fn default() -> Self {
        Self {
            required: true,
            allow_128: true,
            allow_56: false,
            allow_40: false,
            stateful: false,
        }
    }
}

impl std::fmt::Display for MppeSetting {
    /// `required, 128-bit, stateless only`, or `off (nomppe)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.required {
            return f.write_str("off (nomppe)");
        }
        let bits: Vec<&str> = [
            (self.allow_128, "128"),
            (self.allow_56, "56"),
            (self.allow_40, "40"),
        ]
        .iter()
        .filter_map(|&(allowed, bits)| allowed.then_some(bits))
        .collect();
        let mode = if self.stateful {
            "stateless, stateful if the client insists"
        } else {
            "stateless only"
        };
        write!(f, "required, {}-bit, {mode}", bits.join("/"))
    }
}

/// The settings of the pppd options file that pptpd-rs uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppOptions {
    /// `name`: our name in CHAP challenges, matched against the server column of chap-secrets
    /// (default `pptpd`).
    pub name: String,
    /// `ms-dns`: DNS servers for the client (RFC 1877), primary first. pppd keeps the last two
    /// given; when only one is given pppd also offers it as the secondary.
    pub ms_dns: Vec<Ipv4Addr>,
    /// `ms-wins`: NBNS servers for the client (RFC 1877), as `ms_dns`.
    pub ms_wins: Vec<Ipv4Addr>,
    /// The MPPE options.
    pub mppe: MppeSetting,
    /// `mtu`: the largest packet we send, unless the peer's MRU is smaller.
    pub mtu: Option<u16>,
    /// `mru`: the MRU we ask the peer for.
    pub mru: Option<u16>,
    /// `lcp-echo-interval`: seconds between LCP Echo-Requests.
    pub lcp_echo_interval: Option<u32>,
    /// `lcp-echo-failure`: unanswered Echo-Requests before the link is declared dead.
    pub lcp_echo_failure: Option<u32>,
    /// `idle`: seconds without data packets before the link is closed.
    pub idle: Option<u32>,
    /// `debug`: log PPP negotiation.
    pub debug: bool,
    /// `chap-secrets` (pppd ≥ 2.5): the secrets file, as written.
    pub chap_secrets: Option<PathBuf>,
    /// `chapms-strip-domain`: look a `DOMAIN\user` name up in chap-secrets as `user`.
    pub strip_domain: bool,
}

impl Default for PppOptions {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.to_owned(),
            ms_dns: Vec::new(),
            ms_wins: Vec::new(),
            mppe: MppeSetting::default(),
            mtu: None,
            mru: None,
            lcp_echo_interval: None,
            lcp_echo_failure: None,
            idle: None,
            debug: false,
            chap_secrets: None,
            strip_domain: false,
        }
    }
}

/// An MPPE option's effect on pppd's key-length bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MppeOp {
    /// `require-mppe`: both lengths.
    RequireAny,
    /// `nomppe`: no MPPE.
    Off,
    /// `require-mppe-40`/`-128`: add a length.
    Add(u8),
    /// `nomppe-40`/`-128`: remove a length.
    Remove(u8),
}

const BITS_40: u8 = 1;
const BITS_128: u8 = 2;

/// What an option does in pptpd-rs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Name,
    MsDns,
    MsWins,
    Mtu,
    Mru,
    LcpEchoInterval,
    LcpEchoFailure,
    Idle,
    Debug,
    ChapSecrets,
    StripDomain,
    Mppe(MppeOp),
    Stateful(bool),
    /// pptpd-rs behaves so already.
    AlreadySo,
    /// An error, with the reason.
    Refused(&'static str),
    /// A warning, with the reason.
    Ignored(&'static str),
}

const NO_MSCHAP_V2: &str =
    "refused: MS-CHAPv2 is the only authentication pptpd-rs offers, it cannot be refused";
const NO_PAP: &str = "refused: PAP is not supported (pptpd-rs authenticates with MS-CHAPv2 only)";
const NO_CHAP_MD5: &str =
    "refused: CHAP-MD5 is not supported (pptpd-rs authenticates with MS-CHAPv2 only)";
const NO_MSCHAP_V1: &str =
    "refused: MS-CHAP (v1) is not supported (pptpd-rs authenticates with MS-CHAPv2 only)";
const NO_ROUTE: &str = "ignored: pptpd-rs never changes the default route";

/// The options pptpd-rs treats specially: (name, number of arguments, effect).
const SPECIFIC: &[(&str, u8, Effect)] = &[
    ("name", 1, Effect::Name),
    ("ms-dns", 1, Effect::MsDns),
    ("ms-wins", 1, Effect::MsWins),
    ("mtu", 1, Effect::Mtu),
    ("mru", 1, Effect::Mru),
    ("lcp-echo-interval", 1, Effect::LcpEchoInterval),
    ("lcp-echo-failure", 1, Effect::LcpEchoFailure),
    ("idle", 1, Effect::Idle),
    ("debug", 0, Effect::Debug),
    ("-d", 0, Effect::Debug),
    ("chap-secrets", 1, Effect::ChapSecrets),
    ("chapms-strip-domain", 0, Effect::StripDomain),
    ("require-mppe", 0, Effect::Mppe(MppeOp::RequireAny)),
    ("+mppe", 0, Effect::Mppe(MppeOp::RequireAny)),
    ("nomppe", 0, Effect::Mppe(MppeOp::Off)),
    ("-mppe", 0, Effect::Mppe(MppeOp::Off)),
    ("require-mppe-40", 0, Effect::Mppe(MppeOp::Add(BITS_40))),
    ("+mppe-40", 0, Effect::Mppe(MppeOp::Add(BITS_40))),
    ("nomppe-40", 0, Effect::Mppe(MppeOp::Remove(BITS_40))),
    ("-mppe-40", 0, Effect::Mppe(MppeOp::Remove(BITS_40))),
    ("require-mppe-128", 0, Effect::Mppe(MppeOp::Add(BITS_128))),
    ("+mppe-128", 0, Effect::Mppe(MppeOp::Add(BITS_128))),
    ("nomppe-128", 0, Effect::Mppe(MppeOp::Remove(BITS_128))),
    ("-mppe-128", 0, Effect::Mppe(MppeOp::Remove(BITS_128))),
    ("mppe-stateful", 0, Effect::Stateful(true)),
    ("nomppe-stateful", 0, Effect::Stateful(false)),
    ("require-mschap-v2", 0, Effect::AlreadySo),
    ("+mschap-v2", 0, Effect::AlreadySo),
    ("auth", 0, Effect::AlreadySo),
    ("refuse-pap", 0, Effect::AlreadySo),
    ("-pap", 0, Effect::AlreadySo),
    ("refuse-chap", 0, Effect::AlreadySo),
    ("-chap", 0, Effect::AlreadySo),
    ("refuse-mschap", 0, Effect::AlreadySo),
    ("-mschap", 0, Effect::AlreadySo),
    ("refuse-eap", 0, Effect::AlreadySo),
    ("novj", 0, Effect::AlreadySo),
    ("-vj", 0, Effect::AlreadySo),
    ("novjccomp", 0, Effect::AlreadySo),
    ("-vjccomp", 0, Effect::AlreadySo),
    ("nobsdcomp", 0, Effect::AlreadySo),
    ("-bsdcomp", 0, Effect::AlreadySo),
    ("nodeflate", 0, Effect::AlreadySo),
    ("-deflate", 0, Effect::AlreadySo),
    ("nodeflatedraft", 0, Effect::AlreadySo),
    ("nopredictor1", 0, Effect::AlreadySo),
    ("-predictor1", 0, Effect::AlreadySo),
    ("lock", 0, Effect::AlreadySo),
    ("nolock", 0, Effect::AlreadySo),
    ("nodefaultroute", 0, Effect::AlreadySo),
    ("-defaultroute", 0, Effect::AlreadySo),
    ("nodefaultroute6", 0, Effect::AlreadySo),
    ("noreplacedefaultroute", 0, Effect::AlreadySo),
    ("noproxyarp", 0, Effect::AlreadySo),
    ("-proxyarp", 0, Effect::AlreadySo),
    ("nologfd", 0, Effect::AlreadySo),
    ("dump", 0, Effect::AlreadySo),
    ("noipx", 0, Effect::AlreadySo),
    ("noipdefault", 0, Effect::AlreadySo),
    ("nodetach", 0, Effect::AlreadySo),
    ("-detach", 0, Effect::AlreadySo),
    ("nomultilink", 0, Effect::AlreadySo),
    ("nomp", 0, Effect::AlreadySo),
    ("noipv6", 0, Effect::AlreadySo),
    ("-ipv6", 0, Effect::AlreadySo),
    ("noendpoint", 0, Effect::AlreadySo),
    ("hide-password", 0, Effect::AlreadySo),
    (
        "noauth",
        0,
        Effect::Refused("refused: pptpd-rs never runs without authentication"),
    ),
    ("refuse-mschap-v2", 0, Effect::Refused(NO_MSCHAP_V2)),
    ("-mschap-v2", 0, Effect::Refused(NO_MSCHAP_V2)),
    ("require-pap", 0, Effect::Refused(NO_PAP)),
    ("+pap", 0, Effect::Refused(NO_PAP)),
    ("require-chap", 0, Effect::Refused(NO_CHAP_MD5)),
    ("+chap", 0, Effect::Refused(NO_CHAP_MD5)),
    ("require-mschap", 0, Effect::Refused(NO_MSCHAP_V1)),
    ("+mschap", 0, Effect::Refused(NO_MSCHAP_V1)),
    (
        "require-eap",
        0,
        Effect::Refused(
            "refused: EAP is not supported (pptpd-rs authenticates with MS-CHAPv2 only)",
        ),
    ),
    (
        "proxyarp",
        0,
        Effect::Ignored(
            "ignored: pptpd-rs publishes no proxy ARP entries; clients reach the network through NAT (nat yes) or a route to the remoteip subnet",
        ),
    ),
    ("defaultroute", 0, Effect::Ignored(NO_ROUTE)),
    ("defaultroute6", 0, Effect::Ignored(NO_ROUTE)),
    ("replacedefaultroute", 0, Effect::Ignored(NO_ROUTE)),
    (
        "logfile",
        1,
        Effect::Ignored("ignored: pptpd-rs logs through its own logger (stderr or the journal)"),
    ),
    (
        "logfd",
        1,
        Effect::Ignored("ignored: pptpd-rs logs through its own logger (stderr or the journal)"),
    ),
    (
        "ifname",
        1,
        Effect::Ignored("ignored: the TUN device is named by `tun` in pptpd.conf"),
    ),
    (
        "ipparam",
        1,
        Effect::Ignored("ignored: pptpd-rs runs no ip-up scripts"),
    ),
    (
        "plugin",
        1,
        Effect::Ignored(
            "ignored: pppd plugins are not supported; secrets come from chap-secrets only",
        ),
    ),
    (
        "file",
        1,
        Effect::Ignored("ignored: pptpd-rs does not read further options files"),
    ),
    (
        "call",
        1,
        Effect::Ignored("ignored: pptpd-rs does not read further options files"),
    ),
    (
        "domain",
        1,
        Effect::Ignored("ignored: the authenticator name is `name` alone"),
    ),
    (
        "usehostname",
        0,
        Effect::Ignored("ignored: the authenticator name is `name` (default pptpd)"),
    ),
    (
        "remotename",
        1,
        Effect::Ignored("ignored: pptpd-rs does not authenticate itself to clients"),
    ),
    (
        "user",
        1,
        Effect::Ignored("ignored: pptpd-rs does not authenticate itself to clients"),
    ),
    (
        "password",
        1,
        Effect::Ignored("ignored: pptpd-rs does not authenticate itself to clients"),
    ),
    (
        "noccp",
        0,
        Effect::Ignored("ignored: MPPE is negotiated through CCP, which stays on"),
    ),
    (
        "-ccp",
        0,
        Effect::Ignored("ignored: MPPE is negotiated through CCP, which stays on"),
    ),
    (
        "ipv6",
        1,
        Effect::Ignored("ignored: IPv6 is not supported (IPV6CP is rejected)"),
    ),
    (
        "+ipv6",
        0,
        Effect::Ignored("ignored: IPv6 is not supported (IPV6CP is rejected)"),
    ),
];

/// Every other pppd 2.4/2.5 option, with its number of arguments, so that their arguments are
/// not mistaken for options: all ignored with a warning.
const OTHER_PPPD_OPTIONS: &[(&str, u8)] = &[
    ("+ua", 1),
    ("-ac", 0),
    ("-all", 0),
    ("-am", 0),
    ("-as", 1),
    ("-crtscts", 0),
    ("-d", 0),
    ("-defaultroute6", 0),
    ("-h", 0),
    ("-ip", 0),
    ("-mn", 0),
    ("-mru", 0),
    ("-p", 0),
    ("-pc", 0),
    ("-v", 0),
    ("active-filter", 1),
    ("allow-ip", 1),
    ("allow-number", 1),
    ("asyncmap", 1),
    ("auth-down-script", 1),
    ("auth-up-script", 1),
    ("bsdcomp", 1),
    ("bundle", 1),
    ("ca", 1),
    ("callback", 1),
    ("capath", 1),
    ("cdtrcts", 0),
    ("cert", 1),
    ("chap-interval", 1),
    ("chap-max-challenge", 1),
    ("chap-restart", 1),
    ("chap-timeout", 1),
    ("chapms-strip-domain", 0),
    ("child-timeout", 1),
    ("connect", 1),
    ("connect-delay", 1),
    ("crl", 1),
    ("crl-dir", 1),
    ("crtscts", 0),
    ("datarate", 1),
    ("default-asyncmap", 0),
    ("default-mru", 0),
    ("defaultroute-metric", 1),
    ("defaultroute6-metric", 1),
    ("deflate", 1),
    ("demand", 0),
    ("device", 0),
    ("disconnect", 1),
    ("dryrun", 0),
    ("eap-interval", 1),
    ("eap-max-rreq", 1),
    ("eap-max-sreq", 1),
    ("eap-restart", 1),
    ("eap-timeout", 1),
    ("enable-session", 0),
    ("endpoint", 1),
    ("escape", 1),
    ("holdoff", 1),
    ("init", 1),
    ("ip-down-script", 1),
    ("ip-pre-up-script", 1),
    ("ip-up-script", 1),
    ("ipcp-accept-local", 0),
    ("ipcp-accept-remote", 0),
    ("ipcp-max-configure", 1),
    ("ipcp-max-failure", 1),
    ("ipcp-max-terminate", 1),
    ("ipcp-no-address", 0),
    ("ipcp-no-addresses", 0),
    ("ipcp-restart", 1),
    ("ipv6-down-script", 1),
    ("ipv6-up-script", 1),
    ("ipv6cp-accept-local", 0),
    ("ipv6cp-accept-remote", 0),
    ("ipv6cp-max-configure", 1),
    ("ipv6cp-max-failure", 1),
    ("ipv6cp-max-terminate", 1),
    ("ipv6cp-noremote", 0),
    ("ipv6cp-nosend", 0),
    ("ipv6cp-restart", 1),
    ("ipv6cp-use-ipaddr", 0),
    ("ipv6cp-use-persistent", 0),
    ("ipv6cp-use-remotenumber", 0),
    ("kdebug", 1),
    ("key", 1),
    ("ktune", 0),
    ("lcp-echo-adaptive", 0),
    ("lcp-max-configure", 1),
    ("lcp-max-failure", 1),
    ("lcp-max-terminate", 1),
    ("lcp-restart", 1),
    ("lcp-rtt-file", 1),
    ("linkname", 1),
    ("local", 0),
    ("login", 0),
    ("master_detach", 0),
    ("max-tls-version", 1),
    ("maxconnect", 1),
    ("maxfail", 1),
    ("maxoctets", 1),
    ("mo", 1),
    ("mo-direction", 1),
    ("mo-timeout", 1),
    ("modem", 0),
    ("mp", 0),
    ("mpshortseq", 0),
    ("mrru", 1),
    ("multilink", 0),
    ("need-peer-eap", 0),
    ("net-down-script", 1),
    ("net-init-script", 1),
    ("net-pre-up-script", 1),
    ("netmask", 1),
    ("noaccomp", 0),
    ("nocdtrcts", 0),
    ("nocrtscts", 0),
    ("noip", 0),
    ("noktune", 0),
    ("nolog", 0),
    ("nomagic", 0),
    ("nompshortseq", 0),
    ("nopcomp", 0),
    ("nopersist", 0),
    ("noremoteip", 0),
    ("noresolvconf", 0),
    ("nosendip", 0),
    ("notty", 0),
    ("pap-max-authreq", 1),
    ("pap-restart", 1),
    ("pap-secrets", 1),
    ("pap-timeout", 1),
    ("papcrypt", 0),
    ("pass-filter", 1),
    ("passive", 0),
    ("persist", 0),
    ("pkcs12", 1),
    ("predictor1", 0),
    ("privgroup", 1),
    ("pty", 1),
    ("receive-all", 0),
    ("record", 1),
    ("remotenumber", 1),
    ("set", 1),
    ("show-options", 0),
    ("show-password", 0),
    ("silent", 0),
    ("socket", 1),
    ("stop-bits", 1),
    ("sync", 0),
    ("tls-verify-key-usage", 0),
    ("tls-verify-method", 1),
    ("tty", 0),
    ("unit", 1),
    ("unset", 1),
    ("up_sdnotify", 0),
    ("updetach", 0),
    ("usepeerdns", 0),
    ("usepeerwins", 0),
    ("vj-max-slots", 1),
    ("vrf", 1),
    ("welcome", 1),
    ("xonxoff", 0),
];

/// Finds what `name` does and how many arguments it takes.
fn lookup(name: &str) -> Option<(u8, Effect)> {
    if let Some((_, args, effect)) = SPECIFIC.iter().find(|(n, _, _)| *n == name) {
        return Some((*args, *effect));
    }
    OTHER_PPPD_OPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, args)| {
            (
                *args,
                Effect::Ignored("ignored: a pppd option pptpd-rs does not use"),
            )
        })
}

/// pppd's MPPE key-length bits as the options leave them.
#[derive(Debug, Default)]
struct MppeState {
    bits: u8,
    /// Whether any option said whether to use MPPE (all but `nomppe-40/-128` and stateful).
    explicit: bool,
    /// Whether a `nomppe-40/-128` appeared before any such option.
    removed: u8,
    stateful: bool,
    /// Line of the last option that turned MPPE off.
    off_line: Option<u32>,
}

impl MppeState {
    fn apply(&mut self, op: MppeOp, line: u32) {
        match op {
            MppeOp::RequireAny => {
                self.explicit = true;
                self.bits = BITS_40 | BITS_128;
            }
            MppeOp::Off => {
                self.explicit = true;
                self.bits = 0;
                self.off_line = Some(line);
            }
            MppeOp::Add(bits) => {
                self.explicit = true;
                self.bits |= bits;
            }
            MppeOp::Remove(bits) => {
                self.bits &= !bits;
                if !self.explicit {
                    self.removed |= bits;
                }
            }
        }
    }

    /// The resulting setting (pptpd-rs's default when nothing explicit was said).
    fn finish(self, file: &str, warnings: &mut Vec<Warning>) -> Result<MppeSetting, ConfigError> {
        let bits = if self.explicit {
            self.bits
        } else {
            BITS_128 & !self.removed
        };
        if bits == 0 {
            if !self.explicit {
                return Err(ConfigError::invalid(
                    Location::file(file),
                    Problem::Mppe(
                        "nomppe-128 leaves no MPPE key length: add require-mppe-40 to allow 40-bit keys, or nomppe to turn MPPE off",
                    ),
                ));
            }
            let at = match self.off_line {
                Some(line) => Location::line(file, line),
                None => Location::file(file),
            };
            warnings.push(Warning::new(
                at,
                "MPPE IS OFF: client traffic crosses the network in cleartext",
            ));
            return Ok(MppeSetting {
                required: false,
                allow_128: false,
                allow_56: false,
                allow_40: false,
                stateful: self.stateful,
            });
        }
        if bits == BITS_40 {
            warnings.push(Warning::new(
                Location::file(file),
                "only 40-bit MPPE is allowed: 40-bit keys are weak, prefer require-mppe-128",
            ));
        }
        Ok(MppeSetting {
            required: true,
            allow_128: bits & BITS_128 != 0,
            allow_56: false,
            allow_40: bits & BITS_40 != 0,
            stateful: self.stateful,
        })
    }
}

/// The arguments of one option and where they are.
struct Invocation<'a> {
    option: &'a str,
    args: &'a [Word],
    file: &'a str,
    line: u32,
}

impl Invocation<'_> {
    fn invalid(&self, problem: Problem) -> ConfigError {
        ConfigError::invalid(Location::line(self.file, self.line), problem)
    }

    fn arg(&self) -> Result<&Word, ConfigError> {
        self.args.first().ok_or_else(|| {
            self.invalid(Problem::MissingValue {
                keyword: self.option.to_owned(),
            })
        })
    }

    fn text(&self) -> Result<String, ConfigError> {
        let word = self.arg()?;
        String::from_utf8(word.bytes.clone())
            .map_err(|_| self.invalid(Problem::NotUtf8 { what: "the value" }))
    }

    fn number(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        let text = self.text()?;
        let bad = || {
            self.invalid(Problem::BadNumber {
                keyword: self.option.to_owned(),
                text: text.clone(),
            })
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value: u64 = text.parse().map_err(|_| bad())?;
        if value < min || value > max {
            return Err(self.invalid(Problem::NumberOutOfRange {
                keyword: self.option.to_owned(),
                value,
                min,
                max,
            }));
        }
        Ok(value)
    }

    fn u32(&self) -> Result<u32, ConfigError> {
        let value = self.number(0, u64::from(u32::MAX))?;
        Ok(u32::try_from(value).unwrap_or(u32::MAX))
    }

    fn mru(&self) -> Result<u16, ConfigError> {
        let value = self.number(u64::from(MIN_MRU), u64::from(MAX_MRU))?;
        Ok(u16::try_from(value).unwrap_or(MAX_MRU))
    }

    fn address(&self) -> Result<Ipv4Addr, ConfigError> {
        let text = self.text()?;
        let address: Ipv4Addr = text.parse().map_err(|_| {
            self.invalid(Problem::BadAddress {
                keyword: self.option.to_owned(),
                text: text.clone(),
            })
        })?;
        if !is_unicast_host(address) {
            return Err(self.invalid(Problem::NotUnicast {
                keyword: self.option.to_owned(),
                address,
            }));
        }
        Ok(address)
    }
}

/// Keeps the last two addresses given, as pppd's `setdnsaddr` does, warning from the third.
fn push_server(
    list: &mut Vec<Ipv4Addr>,
    address: Ipv4Addr,
    at: Location,
    option: &str,
    warnings: &mut Vec<Warning>,
) {
    list.push(address);
    if list.len() > 2 {
        list.remove(0);
        let [primary, secondary] = [list.first(), list.get(1)];
        if let (Some(primary), Some(secondary)) = (primary, secondary) {
            warnings.push(Warning::new(
                at,
                format!("{option} given more than twice: as pppd, the last two are used ({primary} primary, {secondary} secondary)"),
            ));
        }
    }
}

/// Why a word that is not a known option is ignored.
fn unknown_word_warning(word: &str) -> String {
    if word.contains(':') {
        format!("\"{word}\": ignored: addresses come from localip/remoteip in pptpd.conf")
    } else if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        format!("\"{word}\": ignored: there is no tty to set a speed on")
    } else if word.starts_with('/') {
        format!("\"{word}\": ignored: there is no tty device")
    } else {
        format!("unknown option \"{word}\" ignored")
    }
}

impl PppOptions {
    /// The name to look up in chap-secrets for a peer that sent `peer_name` in its CHAP
    /// Response: with `chapms-strip-domain`, what follows the last `\` (pppd's chap.c, "strip
    /// the MS domain name"); else `peer_name` unchanged.
    pub fn secrets_name<'a>(&self, peer_name: &'a [u8]) -> &'a [u8] {
        if !self.strip_domain {
            return peer_name;
        }
        match peer_name.iter().rposition(|&b| b == b'\\') {
            Some(at) => peer_name.get(at + 1..).unwrap_or_default(),
            None => peer_name,
        }
    }

    /// Reads the options file at `path`.
    pub fn load(path: &Path) -> Result<(Self, Vec<Warning>), ConfigError> {
        let text = super::read_text(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of a pppd options file; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<(Self, Vec<Warning>), ConfigError> {
        let words = split_words(text)
            .map_err(|e| ConfigError::invalid(Location::line(file, e.line), e.problem))?;
        let mut options = Self::default();
        let mut warnings = Vec::new();
        let mut mppe = MppeState::default();

        let mut rest = words.as_slice();
        while let Some((word, after)) = rest.split_first() {
            let option = word.text();
            let at = Location::line(file, word.line);
            let Some((arg_count, effect)) = lookup(&option) else {
                warnings.push(Warning::new(at, unknown_word_warning(&option)));
                rest = after;
                continue;
            };
            let arg_count = usize::from(arg_count);
            let (args, next) = after.split_at(arg_count.min(after.len()));
            rest = next;
            let call = Invocation {
                option: &option,
                args,
                file,
                line: word.line,
            };
            if args.len() < arg_count {
                call.arg()?;
            }
            match effect {
                Effect::Name => {
                    let name = call.text()?;
                    if name.is_empty() {
                        return Err(call.invalid(Problem::MissingValue {
                            keyword: option.clone(),
                        }));
                    }
                    options.name = name;
                }
                Effect::MsDns => {
                    let address = call.address()?;
                    push_server(&mut options.ms_dns, address, at, &option, &mut warnings);
                }
                Effect::MsWins => {
                    let address = call.address()?;
                    push_server(&mut options.ms_wins, address, at, &option, &mut warnings);
                }
                Effect::Mtu => options.mtu = Some(call.mru()?),
                Effect::Mru => options.mru = Some(call.mru()?),
                Effect::LcpEchoInterval => options.lcp_echo_interval = Some(call.u32()?),
                Effect::LcpEchoFailure => options.lcp_echo_failure = Some(call.u32()?),
                Effect::Idle => options.idle = Some(call.u32()?),
                Effect::Debug => options.debug = true,
                Effect::ChapSecrets => options.chap_secrets = Some(PathBuf::from(call.text()?)),
                Effect::StripDomain => options.strip_domain = true,
                Effect::Mppe(op) => mppe.apply(op, word.line),
                Effect::Stateful(allowed) => mppe.stateful = allowed,
                Effect::AlreadySo => {}
                Effect::Refused(reason) => {
                    return Err(call.invalid(Problem::Refused {
                        option: option.clone(),
                        reason,
                    }));
                }
                Effect::Ignored(reason) => {
                    warnings.push(Warning::new(at, format!("{option}: {reason}")));
                }
            }
        }
        options.mppe = mppe.finish(file, &mut warnings)?;
        Ok((options, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (PppOptions, Vec<String>) {
        let (options, warnings) = PppOptions::parse(text, "pptpd-options").unwrap();
        (options, warnings.iter().map(ToString::to_string).collect())
    }

    fn error(text: &str) -> String {
        PppOptions::parse(text, "pptpd-options")
            .unwrap_err()
            .to_string()
    }

    const MPPE_128: MppeSetting = MppeSetting {
        required: true,
        allow_128: true,
        allow_56: false,
        allow_40: false,
        stateful: false,
    };

    #[test]
    fn mppe_settings_read_as_words() {
        assert_eq!(MPPE_128.to_string(), "required, 128-bit, stateless only");
        let wide = MppeSetting {
            allow_40: true,
            stateful: true,
            ..MPPE_128
        };
        assert_eq!(
            wide.to_string(),
            "required, 128/40-bit, stateless, stateful if the client insists"
        );
        let off = MppeSetting {
            required: false,
            ..MPPE_128
        };
        assert_eq!(off.to_string(), "off (nomppe)");
    }

    #[test]
    fn empty_file_gives_the_safe_defaults() {
        let (options, warnings) = parse("# nothing\n");
        assert!(warnings.is_empty());
        assert_eq!(options, PppOptions::default());
        assert_eq!(options.name, "pptpd");
        assert_eq!(options.mppe, MPPE_128);
    }

    #[test]
    fn used_options() {
        let (options, warnings) = parse(
            "name vpn-gw\nms-dns 10.0.0.53\nms-dns 10.0.1.53\nms-wins 10.0.0.137\n\
             mtu 1400\nmru 1400\nlcp-echo-interval 30\nlcp-echo-failure 4\nidle 600\ndebug\n\
             chap-secrets /etc/pptpd-rs/secrets\nchapms-strip-domain\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(options.name, "vpn-gw");
        assert_eq!(
            options.ms_dns,
            [Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 1, 53)]
        );
        assert_eq!(options.ms_wins, [Ipv4Addr::new(10, 0, 0, 137)]);
        assert_eq!(options.mtu, Some(1400));
        assert_eq!(options.mru, Some(1400));
        assert_eq!(options.lcp_echo_interval, Some(30));
        assert_eq!(options.lcp_echo_failure, Some(4));
        assert_eq!(options.idle, Some(600));
        assert!(options.debug);
        assert_eq!(
            options.chap_secrets,
            Some(PathBuf::from("/etc/pptpd-rs/secrets"))
        );
        assert!(options.strip_domain);
    }

    #[test]
    fn strip_domain_as_pppd() {
        let mut options = PppOptions::default();
        assert_eq!(options.secrets_name(b"CORP\\alice"), b"CORP\\alice");
        options.strip_domain = true;
        assert_eq!(options.secrets_name(b"CORP\\alice"), b"alice");
        assert_eq!(options.secrets_name(b"a\\b\\carol"), b"carol");
        assert_eq!(options.secrets_name(b"dave"), b"dave");
        assert_eq!(options.secrets_name(b"trailing\\"), b"");
    }

    #[test]
    fn options_are_words_not_lines() {
        // Several per line, and an argument on the next line, as pppd reads them.
        let (options, warnings) =
            parse("refuse-pap refuse-chap name\n  \"my gateway\" ms-dns\n8.8.8.8\n");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(options.name, "my gateway");
        assert_eq!(options.ms_dns, [Ipv4Addr::new(8, 8, 8, 8)]);
    }

    #[test]
    fn third_dns_keeps_the_last_two_as_pppd() {
        let (options, warnings) = parse("ms-dns 1.1.1.1\nms-dns 8.8.8.8\nms-dns 9.9.9.9\n");
        assert_eq!(
            options.ms_dns,
            [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(9, 9, 9, 9)]
        );
        assert_eq!(
            warnings,
            [
                "pptpd-options:3: ms-dns given more than twice: as pppd, the last two are used (8.8.8.8 primary, 9.9.9.9 secondary)"
            ]
        );
    }

    fn mppe(text: &str) -> (MppeSetting, Vec<String>) {
        let (options, warnings) = parse(text);
        (options.mppe, warnings)
    }

    #[test]
    fn mppe_options_follow_pppd() {
        let both = MppeSetting {
            allow_40: true,
            ..MPPE_128
        };
        assert_eq!(mppe("require-mppe-128").0, MPPE_128);
        assert_eq!(mppe("+mppe-128").0, MPPE_128);
        assert_eq!(mppe("require-mppe").0, both);
        assert_eq!(mppe("require-mppe nomppe-40").0, MPPE_128);
        assert_eq!(mppe("require-mppe-40 require-mppe-128").0, both);
        // Later options override earlier ones.
        assert_eq!(mppe("nomppe require-mppe-128").0, MPPE_128);
        assert!(!mppe("require-mppe-128 nomppe").0.required);
        // nomppe-40 alone does not turn the default off.
        assert_eq!(mppe("nomppe-40").0, MPPE_128);
        let (setting, warnings) = mppe("require-mppe-128 mppe-stateful");
        assert_eq!(
            setting,
            MppeSetting {
                stateful: true,
                ..MPPE_128
            }
        );
        assert!(warnings.is_empty());
        assert_eq!(mppe("mppe-stateful nomppe-stateful").0, MPPE_128);
    }

    #[test]
    fn forty_bit_only_warns() {
        let (setting, warnings) = mppe("require-mppe-40\n");
        assert!(setting.required && setting.allow_40 && !setting.allow_128);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("40-bit keys are weak"));
    }

    #[test]
    fn nomppe_turns_mppe_off_loudly() {
        let (setting, warnings) = mppe("name pptpd\nnomppe\n");
        assert_eq!(
            setting,
            MppeSetting {
                required: false,
                allow_128: false,
                allow_56: false,
                allow_40: false,
                stateful: false
            }
        );
        assert_eq!(
            warnings,
            ["pptpd-options:2: MPPE IS OFF: client traffic crosses the network in cleartext"]
        );
    }

    #[test]
    fn no_key_length_left_is_an_error() {
        assert_eq!(
            error("nomppe-128\n"),
            "pptpd-options: nomppe-128 leaves no MPPE key length: add require-mppe-40 to allow 40-bit keys, or nomppe to turn MPPE off"
        );
    }

    #[test]
    fn dangerous_options_are_errors() {
        let cases = [
            (
                "name pptpd\n\nnoauth\n",
                "pptpd-options:3: noauth: refused: pptpd-rs never runs without authentication",
            ),
            (
                "refuse-mschap-v2\n",
                "pptpd-options:1: refuse-mschap-v2: refused: MS-CHAPv2 is the only authentication pptpd-rs offers, it cannot be refused",
            ),
            (
                "require-pap\n",
                "pptpd-options:1: require-pap: refused: PAP is not supported (pptpd-rs authenticates with MS-CHAPv2 only)",
            ),
            (
                "require-chap\n",
                "pptpd-options:1: require-chap: refused: CHAP-MD5 is not supported (pptpd-rs authenticates with MS-CHAPv2 only)",
            ),
            (
                "require-mschap\n",
                "pptpd-options:1: require-mschap: refused: MS-CHAP (v1) is not supported (pptpd-rs authenticates with MS-CHAPv2 only)",
            ),
            (
                "-mschap-v2\n",
                "pptpd-options:1: -mschap-v2: refused: MS-CHAPv2 is the only authentication pptpd-rs offers, it cannot be refused",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn bad_values() {
        let cases = [
            (
                "mtu 64\n",
                "pptpd-options:1: mtu: 64 is not between 128 and 16384",
            ),
            (
                "mru 20000\n",
                "pptpd-options:1: mru: 20000 is not between 128 and 16384",
            ),
            (
                "mtu 0x500\n",
                "pptpd-options:1: mtu: \"0x500\" is not a number",
            ),
            (
                "lcp-echo-interval -1\n",
                "pptpd-options:1: lcp-echo-interval: \"-1\" is not a number",
            ),
            (
                "ms-dns dns.example\n",
                "pptpd-options:1: ms-dns: bad address \"dns.example\"",
            ),
            (
                "ms-wins 127.0.0.1\n",
                "pptpd-options:1: ms-wins: 127.0.0.1 is not a unicast host address",
            ),
            ("debug\nname\n", "pptpd-options:2: name: missing value"),
            ("name \"\"\n", "pptpd-options:1: name: missing value"),
            ("name \"pptpd\n", "pptpd-options:1: unterminated quote"),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn ignored_options_consume_their_arguments() {
        let (options, warnings) = parse("logfile /var/log/pptpd.log\nipparam x name gw\n");
        assert_eq!(options.name, "gw");
        assert_eq!(
            warnings,
            [
                "pptpd-options:1: logfile: ignored: pptpd-rs logs through its own logger (stderr or the journal)",
                "pptpd-options:2: ipparam: ignored: pptpd-rs runs no ip-up scripts",
            ]
        );
        let (_, warnings) = parse("lcp-max-configure 10\n");
        assert_eq!(
            warnings,
            ["pptpd-options:1: lcp-max-configure: ignored: a pppd option pptpd-rs does not use"]
        );
    }

    #[test]
    fn unknown_words_are_warnings() {
        let (_, warnings) = parse("frobnicate\n10.0.0.1:10.0.0.2\n115200\n/dev/ttyS0\n");
        assert_eq!(
            warnings,
            [
                "pptpd-options:1: unknown option \"frobnicate\" ignored",
                "pptpd-options:2: \"10.0.0.1:10.0.0.2\": ignored: addresses come from localip/remoteip in pptpd.conf",
                "pptpd-options:3: \"115200\": ignored: there is no tty to set a speed on",
                "pptpd-options:4: \"/dev/ttyS0\": ignored: there is no tty device",
            ]
        );
    }

    #[test]
    fn already_so_options_are_silent() {
        let (options, warnings) = parse(
            "auth require-mschap-v2 +mschap-v2 refuse-pap refuse-chap refuse-mschap refuse-eap \
             novj novjccomp nobsdcomp nodeflate lock nodefaultroute nologfd dump noipx noipdefault",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(options.mppe, MPPE_128);
    }
}
