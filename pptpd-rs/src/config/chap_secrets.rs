//! `/etc/ppp/chap-secrets`: who may log in, with which secret, and which addresses they may use.
//!
//! The format and meaning are pppd's (pppd(8), "AUTHENTICATION"; `scan_authfile` and
//! `set_allowed_addrs` in auth.c):
//! - "A secrets file is parsed into words as for a options file" ([`super::words`]): quotes,
//!   backslash escapes and `#` comments; an entry starts at the first word of a line and runs to
//!   the next word that starts a line (a quoted word may hold a newline).
//! - "each line in a secrets file has at least 3 fields: the name of the client, the name of the
//!   server, and the secret." "A "*" as the client or server name matches any name. When
//!   selecting a secret, pppd takes the best match, i.e. the match with the fewest wildcards."
//!   An exact client beats an exact server (pppd ranks `NONWILD_CLIENT` above
//!   `NONWILD_SERVER`), and among equal matches the first line wins. Names are compared byte for
//!   byte, case-sensitively. The server column is matched against `name` from the options file.
//! - "If the secret starts with an `@', what follows is assumed to be the name of a file from
//!   which to read the secret" (pppd only does so for `@/absolute/path`). [`ChapSecrets::load`]
//!   reads such files; an entry whose file cannot be read is skipped, as pppd skips it.
//! - "Any following words on the same line are taken to be a list of acceptable IP addresses for
//!   that client. If there are only 3 words on the line, or if the first word is "-", then all IP
//!   addresses are disallowed. To allow any address, use "*". A word starting with "!" indicates
//!   that the specified address is not acceptable. An address may be followed by "/" and a number
//!   n, to indicate a whole subnet". Words are tried in order and the first that matches decides;
//!   an address that matches none is refused; `-` and `*` end the list; words after `--` are
//!   per-client pppd options (ignored here, with a warning). See [`AddressPolicy`].
//!
//! Stricter than pppd, for a file pptpd-rs reads at every login: a line with fewer than three
//! words, an address word that is not an IPv4 address or subnet (pppd would resolve host names),
//! the `/n+` form, a secret that is not UTF-8 or longer than MS-CHAPv2's 256 characters, are
//! errors that name the line, instead of being skipped silently.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use super::address_list::is_unicast_host;
use super::error::{ConfigError, Location, Problem, Warning};
use super::words::{Word, split_words};

/// The longest secret MS-CHAPv2 can use, in characters (RFC 2759 §8.1: "Password ... 0 to 256
/// unicode characters").
pub const MAX_SECRET_CHARS: usize = 256;

/// One rule of an address list: addresses in `network` are permitted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRule {
    /// Whether matching addresses are acceptable (`!addr` refuses).
    pub permit: bool,
    /// The addresses the rule covers (a /32 for a single address, /0 for `*`).
    pub network: Ipv4Net,
}

/// Which IP addresses a client may use, from the fourth and later words of its entry.
///
/// Empty (the default) permits nothing: pppd then authenticates the client but refuses every
/// address in IPCP ("Peer is not authorized to use remote address"), because pptpd's stock
/// options require authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    rules: Vec<AddressRule>,
}

impl AddressPolicy {
    /// `*`: any address.
    pub fn any() -> Self {
        Self {
            rules: vec![AddressRule {
                permit: true,
                network: Ipv4Net::default(),
            }],
        }
    }

    /// A policy from rules, tried in order.
    pub fn from_rules(rules: Vec<AddressRule>) -> Self {
        Self { rules }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[AddressRule] {
        &self.rules
    }

    /// Whether the client may use `address` (pppd's `auth_ip_addr`): the first rule that covers
    /// it decides, and no rule means no. Loopback, multicast, class E and 0.0.0.0 are never
    /// permitted.
    pub fn permits(&self, address: Ipv4Addr) -> bool {
        if !is_unicast_host(address) {
            return false;
        }
        self.rules
            .iter()
            .find(|rule| rule.network.contains(&address))
            .is_some_and(|rule| rule.permit)
    }

    /// The address this client is pinned to: the first permitted single address (pppd's
    /// "suggested" address). pppd gives it to the client when the address pptpd offered from the
    /// pool is not permitted; see [`crate::pool::IpPool::allocate_for`]. (pppd would also take a
    /// `!address`; pptpd-rs does not.)
    pub fn static_address(&self) -> Option<Ipv4Addr> {
        self.rules
            .iter()
            .find(|rule| {
                rule.permit
                    && rule.network.prefix_len() == 32
                    && is_unicast_host(rule.network.addr())
            })
            .map(|rule| rule.network.addr())
    }

    /// Whether any address at all is permitted (pppd's `some_ip_ok`).
    pub fn allows_some(&self) -> bool {
        self.rules.iter().any(|rule| rule.permit)
    }
}

/// A client or server column.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NamePattern {
    /// `*`.
    Any,
    /// Exactly these bytes.
    Exact(Vec<u8>),
}

impl NamePattern {
    fn from_word(word: &Word) -> Self {
        if word.bytes == b"*" {
            Self::Any
        } else {
            Self::Exact(word.bytes.clone())
        }
    }

    /// `None` when it does not match, else whether it matched without a wildcard.
    fn matches(&self, name: &[u8]) -> Option<bool> {
        match self {
            Self::Any => Some(false),
            Self::Exact(exact) => (exact == name).then_some(true),
        }
    }

    fn display(&self) -> String {
        match self {
            Self::Any => "*".to_owned(),
            Self::Exact(name) => String::from_utf8_lossy(name).into_owned(),
        }
    }
}

/// A secret, or where to read it.
#[derive(Clone, PartialEq, Eq)]
enum Secret {
    Inline(String),
    /// `@/path`, not read yet (or unreadable: the entry is skipped).
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(path) => write!(f, "File({})", path.display()),
        }
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    client: NamePattern,
    server: NamePattern,
    secret: Secret,
    addresses: AddressPolicy,
    line: u32,
}

/// What [`ChapSecrets::lookup`] found for a client.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretEntry {
    /// The secret (the MS-CHAPv2 password).
    pub secret: String,
    /// The addresses the client may use.
    pub addresses: AddressPolicy,
    /// The line of the entry, for logs.
    pub line: u32,
}

impl fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretEntry")
            .field("secret", &"<redacted>")
            .field("addresses", &self.addresses)
            .field("line", &self.line)
            .finish()
    }
}

/// A parsed chap-secrets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapSecrets {
    entries: Vec<Entry>,
    warnings: Vec<Warning>,
}

/// pppd's ranks of a match: an exact client counts more than an exact server.
const EXACT_SERVER: u8 = 1;
const EXACT_CLIENT: u8 = 2;

impl ChapSecrets {
    /// Reads the file at `path` again (call it at every authentication so that edits apply at
    /// once), reads `@/file` secrets, and warns when a secrets file is open to group or others.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = super::read_text(path)?;
        let mut secrets = Self::parse(&text, &file)?;
        if let Some(warning) = loose_permissions(path) {
            secrets.warnings.push(warning);
        }
        let mut warnings = Vec::new();
        for entry in &mut secrets.entries {
            if let Secret::File(secret_path) = &entry.secret {
                match read_indirect_secret(secret_path) {
                    Ok((secret, warning)) => {
                        warnings.extend(warning);
                        entry.secret = Secret::Inline(secret);
                    }
                    Err(message) => warnings.push(Warning::new(
                        Location::line(&file, entry.line),
                        format!("{message}: entry skipped, as pppd skips it"),
                    )),
                }
            }
        }
        secrets.warnings.extend(warnings);
        Ok(secrets)
    }

    /// Parses the text of a chap-secrets file; `file` names it in messages. `@/file` secrets are
    /// left unread (and their entries skipped by [`ChapSecrets::lookup`]) until
    /// [`ChapSecrets::load`].
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let words = split_words(text)
            .map_err(|e| ConfigError::invalid(Location::line(file, e.line), e.problem))?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut warnings = Vec::new();
        let mut rest = words.as_slice();
        while let Some(first) = rest.first() {
            let length = rest
                .iter()
                .skip(1)
                .position(|word| word.first_on_line)
                .map_or(rest.len(), |at| at + 1);
            let (line_words, next) = rest.split_at(length);
            rest = next;
            let entry = parse_entry(line_words, file, &mut warnings).map_err(|problem| {
                ConfigError::invalid(Location::line(file, first.line), problem)
            })?;
            if let Some(earlier) = entries
                .iter()
                .find(|e| e.client == entry.client && e.server == entry.server)
            {
                warnings.push(Warning::new(
                    Location::line(file, entry.line),
                    format!(
                        "another entry for client \"{}\" and server \"{}\": the first one (line {}) is used, as pppd does",
                        entry.client.display(),
                        entry.server.display(),
                        earlier.line
                    ),
                ));
            }
            entries.push(entry);
        }
        Ok(Self { entries, warnings })
    }

    /// The secret for `client` authenticating to us as `server_name`, by pppd's rules: the entry
    /// with the fewest wildcards, an exact client before an exact server, the first line among
    /// equals.
    pub fn lookup(&self, client: &[u8], server_name: &str) -> Option<SecretEntry> {
        let mut best: Option<(u8, &Entry, &str)> = None;
        for entry in &self.entries {
            let (Some(exact_client), Some(exact_server)) = (
                entry.client.matches(client),
                entry.server.matches(server_name.as_bytes()),
            ) else {
                continue;
            };
            let Secret::Inline(secret) = &entry.secret else {
                continue;
            };
            let rank = if exact_client { EXACT_CLIENT } else { 0 }
                | if exact_server { EXACT_SERVER } else { 0 };
            if best.is_none_or(|(best_rank, _, _)| rank > best_rank) {
                best = Some((rank, entry, secret));
            }
        }
        best.map(|(_, entry, secret)| SecretEntry {
            secret: secret.to_owned(),
            addresses: entry.addresses.clone(),
            line: entry.line,
        })
    }

    /// Warnings found while reading (duplicates, missing address fields, file permissions...).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// How many entries the file has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The addresses entries are pinned to ([`AddressPolicy::static_address`]), sorted, without
    /// repeats: the pool keeps them out of dynamic allocation
    /// ([`crate::pool::IpPool::set_reserved`]).
    pub fn static_addresses(&self) -> Vec<Ipv4Addr> {
        let set: BTreeSet<Ipv4Addr> = self
            .entries
            .iter()
            .filter_map(|entry| entry.addresses.static_address())
            .collect();
        set.into_iter().collect()
    }

    /// Whether some entry can authenticate a client to us as `server_name`.
    pub fn serves(&self, server_name: &str) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.server.matches(server_name.as_bytes()).is_some())
    }

    /// Each static address with the line that pins it (for cross-checks against the config).
    pub(crate) fn static_address_lines(&self) -> Vec<(Ipv4Addr, u32)> {
        self.entries
            .iter()
            .filter_map(|entry| entry.addresses.static_address().map(|a| (a, entry.line)))
            .collect()
    }
}

/// Parses the words of one entry.
fn parse_entry(words: &[Word], file: &str, warnings: &mut Vec<Warning>) -> Result<Entry, Problem> {
    let [client, server, secret, rest @ ..] = words else {
        return Err(Problem::ShortEntry { words: words.len() });
    };
    let line = client.line;
    let secret = parse_secret(&secret.bytes)?;
    let (address_words, options) = match rest.iter().position(|w| w.bytes == b"--") {
        Some(at) => (
            rest.get(..at).unwrap_or_default(),
            rest.get(at + 1..).unwrap_or_default(),
        ),
        None => (rest, &[][..]),
    };
    if !options.is_empty() {
        warnings.push(Warning::new(
            Location::line(file, line),
            "per-client pppd options after \"--\" are ignored",
        ));
    }
    if address_words.is_empty() {
        warnings.push(Warning::new(
            Location::line(file, line),
            "no address field: as with pppd, this client can log in but is refused every IP address; write * to allow any",
        ));
    }
    Ok(Entry {
        client: NamePattern::from_word(client),
        server: NamePattern::from_word(server),
        secret,
        addresses: parse_addresses(address_words)?,
        line,
    })
}

fn parse_secret(bytes: &[u8]) -> Result<Secret, Problem> {
    if let Some(path) = bytes.strip_prefix(b"@").filter(|p| p.starts_with(b"/")) {
        return Ok(Secret::File(PathBuf::from(std::ffi::OsStr::from_bytes(
            path,
        ))));
    }
    let secret =
        String::from_utf8(bytes.to_vec()).map_err(|_| Problem::NotUtf8 { what: "the secret" })?;
    check_secret_length(&secret)?;
    Ok(Secret::Inline(secret))
}

fn check_secret_length(secret: &str) -> Result<(), Problem> {
    let chars = secret.chars().count();
    if chars > MAX_SECRET_CHARS {
        return Err(Problem::SecretTooLong {
            chars,
            max: MAX_SECRET_CHARS,
        });
    }
    Ok(())
}

/// pppd's `set_allowed_addrs` over the address words.
fn parse_addresses(words: &[Word]) -> Result<AddressPolicy, Problem> {
    let mut rules = Vec::new();
    for word in words {
        let text = word.text();
        if text == "-" {
            break;
        }
        if text == "*" {
            rules.push(AddressRule {
                permit: true,
                network: Ipv4Net::default(),
            });
            break;
        }
        let (permit, spec) = match text.strip_prefix('!') {
            Some(spec) => (false, spec),
            None => (true, text.as_str()),
        };
        let bad = |reason| Problem::BadSecretAddress {
            text: text.clone(),
            reason,
        };
        let (address, prefix) = match spec.split_once('/') {
            Some((address, bits)) => {
                if bits.ends_with('+') {
                    return Err(bad(
                        "the /n+ form (an address from the ppp unit number) is not supported",
                    ));
                }
                let prefix = bits
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=32).contains(p) && bits.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("the length after / must be 1 to 32"))?;
                (address, prefix)
            }
            None => (spec, 32),
        };
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| bad("not an IPv4 address (host names are not supported)"))?;
        let network = Ipv4Net::new(address, prefix)
            .map_err(|_| bad("the length after / must be 1 to 32"))?
            .trunc();
        rules.push(AddressRule { permit, network });
    }
    Ok(AddressPolicy { rules })
}

/// pppd's `check_access`: a warning when group or others have any access to a secrets file.
fn loose_permissions(path: &Path) -> Option<Warning> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        Warning::new(
            Location::file(&path.display().to_string()),
            format!(
                "secrets file is open to group and/or others (mode {:03o}): chmod 600 it",
                mode & 0o777
            ),
        )
    })
}

/// Reads the secret of an `@/file` entry: the first word of that file.
fn read_indirect_secret(path: &Path) -> Result<(String, Option<Warning>), String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
    let words = split_words(&text).map_err(|e| format!("{shown}:{}: {}", e.line, e.problem))?;
    let word = words
        .first()
        .ok_or_else(|| format!("no secret in secret file {shown}"))?;
    let secret = match parse_secret(&word.bytes) {
        Ok(Secret::Inline(secret)) => secret,
        Ok(Secret::File(_)) => return Err(format!("secret file {shown} points to another file")),
        Err(problem) => return Err(format!("secret file {shown}: {problem}")),
    };
    Ok((secret, loose_permissions(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ChapSecrets {
        ChapSecrets::parse(text, "chap-secrets").unwrap()
    }

    fn error(text: &str) -> String {
        ChapSecrets::parse(text, "chap-secrets")
            .unwrap_err()
            .to_string()
    }

    fn warnings(secrets: &ChapSecrets) -> Vec<String> {
        secrets.warnings().iter().map(ToString::to_string).collect()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn debian_header_and_one_user() {
        let secrets = parse(
            "# Secrets for authentication using CHAP\n\
             # client\tserver\tsecret\t\t\tIP addresses\n\
             root\tpptpd\t123456\t*\n",
        );
        assert_eq!(secrets.len(), 1);
        assert!(warnings(&secrets).is_empty());
        let entry = secrets.lookup(b"root", "pptpd").unwrap();
        assert_eq!(entry.secret, "123456");
        assert_eq!(entry.addresses, AddressPolicy::any());
        assert_eq!(entry.line, 3);
        assert!(secrets.lookup(b"root", "other").is_none());
        assert!(secrets.lookup(b"Root", "pptpd").is_none());
    }

    #[test]
    fn quoted_secrets() {
        let secrets = parse(
            "alice pptpd \"correct horse battery\" *\n\
             bob pptpd 'pa#ss w\"rd' *\n\
             carol pptpd pass\\ word\\#1 *\n\
             \"dave smith\" pptpd \"\" *\n",
        );
        assert_eq!(
            secrets.lookup(b"alice", "pptpd").unwrap().secret,
            "correct horse battery"
        );
        assert_eq!(
            secrets.lookup(b"bob", "pptpd").unwrap().secret,
            "pa#ss w\"rd"
        );
        assert_eq!(
            secrets.lookup(b"carol", "pptpd").unwrap().secret,
            "pass word#1"
        );
        assert_eq!(secrets.lookup(b"dave smith", "pptpd").unwrap().secret, "");
    }

    #[test]
    fn unquoted_hash_starts_a_comment() {
        let secrets = parse("eve pptpd secret#1 *\n");
        let entry = secrets.lookup(b"eve", "pptpd").unwrap();
        assert_eq!(entry.secret, "secret");
        // The `*` was inside the comment: no address field.
        assert_eq!(entry.addresses, AddressPolicy::default());
        assert_eq!(warnings(&secrets).len(), 1);
    }

    #[test]
    fn wildcard_precedence_as_pppd() {
        let secrets = parse(
            "*     *     any-any   *\n\
             *     pptpd any-exact *\n\
             alice *     exact-any *\n\
             alice pptpd exact-exact *\n\
             alice pptpd second *\n",
        );
        assert_eq!(
            secrets.lookup(b"alice", "pptpd").unwrap().secret,
            "exact-exact"
        );
        assert_eq!(
            secrets.lookup(b"alice", "other").unwrap().secret,
            "exact-any"
        );
        assert_eq!(secrets.lookup(b"bob", "pptpd").unwrap().secret, "any-exact");
        assert_eq!(secrets.lookup(b"bob", "other").unwrap().secret, "any-any");
        // An exact client with a wildcard server beats a wildcard client with an exact server.
        let secrets = parse("* pptpd server-exact *\nalice * client-exact *\n");
        assert_eq!(
            secrets.lookup(b"alice", "pptpd").unwrap().secret,
            "client-exact"
        );
        // Equal ranks: the first line wins.
        assert_eq!(
            warnings(&parse("a b one *\na b two *\n")),
            [
                "chap-secrets:2: another entry for client \"a\" and server \"b\": the first one (line 1) is used, as pppd does"
            ]
        );
        assert_eq!(
            parse("a b one *\na b two *\n")
                .lookup(b"a", "b")
                .unwrap()
                .secret,
            "one"
        );
    }

    #[test]
    fn address_fields() {
        let secrets = parse(
            "fixed   pptpd pw 192.168.0.240\n\
             any     pptpd pw *\n\
             none    pptpd pw -\n\
             bare    pptpd pw\n\
             subnet  pptpd pw 10.1.0.0/16\n\
             except  pptpd pw !10.1.2.3 10.1.0.0/16\n\
             pinned  pptpd pw 10.9.9.9 *\n\
             stop    pptpd pw 10.0.0.1 - 10.0.0.2\n",
        );
        let policy = |name: &[u8]| secrets.lookup(name, "pptpd").unwrap().addresses;

        let fixed = policy(b"fixed");
        assert!(fixed.permits(ip("192.168.0.240")));
        assert!(!fixed.permits(ip("192.168.0.241")));
        assert_eq!(fixed.static_address(), Some(ip("192.168.0.240")));

        let any = policy(b"any");
        assert!(any.permits(ip("8.8.8.8")));
        assert!(!any.permits(ip("127.0.0.1")));
        assert!(!any.permits(ip("224.0.0.5")));
        assert_eq!(any.static_address(), None);

        for name in [&b"none"[..], b"bare"] {
            let nothing = policy(name);
            assert!(!nothing.allows_some());
            assert!(!nothing.permits(ip("192.168.0.240")));
        }

        let subnet = policy(b"subnet");
        assert!(subnet.permits(ip("10.1.200.3")));
        assert!(!subnet.permits(ip("10.2.0.1")));
        assert_eq!(subnet.static_address(), None);

        let except = policy(b"except");
        assert!(!except.permits(ip("10.1.2.3")));
        assert!(except.permits(ip("10.1.2.4")));
        assert_eq!(except.static_address(), None);

        let pinned = policy(b"pinned");
        assert_eq!(pinned.static_address(), Some(ip("10.9.9.9")));
        assert!(pinned.permits(ip("172.16.0.1")));

        let stop = policy(b"stop");
        assert!(stop.permits(ip("10.0.0.1")));
        assert!(!stop.permits(ip("10.0.0.2")));

        assert_eq!(
            secrets.static_addresses(),
            [ip("10.0.0.1"), ip("10.9.9.9"), ip("192.168.0.240")]
        );
        // Only the 3-word line warns; "-" says "no address" on purpose.
        assert_eq!(
            warnings(&secrets),
            [
                "chap-secrets:4: no address field: as with pppd, this client can log in but is refused every IP address; write * to allow any"
            ]
        );
    }

    #[test]
    fn subnet_base_is_masked_as_pppd() {
        let secrets = parse("a * pw 10.1.2.3/24\n");
        let policy = secrets.lookup(b"a", "x").unwrap().addresses;
        assert_eq!(
            policy.rules()[0].network,
            "10.1.2.0/24".parse::<Ipv4Net>().unwrap()
        );
        assert!(policy.permits(ip("10.1.2.200")));
    }

    #[test]
    fn options_after_double_dash_are_ignored() {
        let secrets = parse("a * pw 10.0.0.5 -- mtu 1400\n");
        let policy = secrets.lookup(b"a", "x").unwrap().addresses;
        assert_eq!(policy.static_address(), Some(ip("10.0.0.5")));
        assert_eq!(
            warnings(&secrets),
            ["chap-secrets:1: per-client pppd options after \"--\" are ignored"]
        );
    }

    #[test]
    fn entries_span_quoted_newlines_and_continuations() {
        let secrets = parse("a * \"two\nlines\" *\nb * pw \\\n 10.0.0.9\n");
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets.lookup(b"a", "x").unwrap().secret, "two\nlines");
        assert_eq!(
            secrets
                .lookup(b"b", "x")
                .unwrap()
                .addresses
                .static_address(),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn bad_lines() {
        let long = "x".repeat(257);
        let cases = [
            ("# c\nalice pptpd\n", "chap-secrets:2: an entry needs client, server and secret; this line has 2 word(s)".to_owned()),
            ("alice\n", "chap-secrets:1: an entry needs client, server and secret; this line has 1 word(s)".to_owned()),
            (
                "alice pptpd pw vpn.example.com\n",
                "chap-secrets:1: address \"vpn.example.com\": not an IPv4 address (host names are not supported)".to_owned(),
            ),
            (
                "a b c\nalice pptpd pw 10.0.0.0/33\n",
                "chap-secrets:2: address \"10.0.0.0/33\": the length after / must be 1 to 32".to_owned(),
            ),
            (
                "alice pptpd pw 0.0.0.0/0\n",
                "chap-secrets:1: address \"0.0.0.0/0\": the length after / must be 1 to 32".to_owned(),
            ),
            (
                "alice pptpd pw 10.0.0.0/24+\n",
                "chap-secrets:1: address \"10.0.0.0/24+\": the /n+ form (an address from the ppp unit number) is not supported".to_owned(),
            ),
            ("alice pptpd \"open *\n", "chap-secrets:1: unterminated quote".to_owned()),
            ("alice pptpd \\xff *\n", "chap-secrets:1: the secret is not valid UTF-8".to_owned()),
            (
                &*format!("alice pptpd {long} *\n"),
                "chap-secrets:1: the secret is 257 characters long; MS-CHAPv2 allows at most 256".to_owned(),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
        // 256 characters (not bytes) is fine.
        let ok = "é".repeat(256);
        assert_eq!(
            parse(&format!("a b {ok} *"))
                .lookup(b"a", "b")
                .unwrap()
                .secret,
            ok
        );
    }

    #[test]
    fn indirect_secret_is_skipped_until_loaded() {
        let secrets = parse("alice pptpd @/etc/ppp/alice.secret *\n* pptpd fallback *\n");
        assert_eq!(
            secrets.lookup(b"alice", "pptpd").unwrap().secret,
            "fallback"
        );
    }

    #[test]
    fn serves_checks_the_server_column() {
        let secrets = parse("alice other pw *\n");
        assert!(!secrets.serves("pptpd"));
        assert!(parse("alice * pw *\n").serves("pptpd"));
        assert!(ChapSecrets::parse("", "x").unwrap().is_empty());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let secrets = parse("alice pptpd hunter2 *\n");
        assert!(!format!("{secrets:?}").contains("hunter2"));
        let entry = secrets.lookup(b"alice", "pptpd").unwrap();
        assert!(!format!("{entry:?}").contains("hunter2"));
    }
}
