//! Errors and warnings of the configuration readers.
//!
//! Every message names the file and, when it is about one line, the line, and prints the way
//! compilers do (`pptpd.conf:12: remoteip: bad range "192.168.0.240-230"`) so that an operator can
//! jump to it. An error stops the daemon (and `--check`); a [`Warning`] is logged and the daemon
//! carries on, the way poptop and pppd carry on over options they do not act upon.

use std::fmt;
use std::net::Ipv4Addr;

/// Where a message points: a file and, when the message is about one line, that line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as it was named (the path given to `load`, or the name given to `parse`).
    pub file: String,
    /// The line the message is about; `None` when it is about the whole file.
    pub line: Option<u32>,
}

impl Location {
    /// A location on one line of `file`.
    pub fn line(file: &str, line: u32) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(line),
        }
    }

    /// A location that is the whole of `file`.
    pub fn file(file: &str) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.file, line),
            None => f.write_str(&self.file),
        }
    }
}

/// Something in a configuration file that pptpd-rs accepts but does not act upon, or acts upon
/// differently from poptop/pppd; printed as `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the warning points.
    pub at: Location,
    /// What is wrong, for a human.
    pub message: String,
}

impl Warning {
    /// A warning about `at`.
    pub fn new(at: Location, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// A configuration that pptpd-rs refuses to run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read (missing, unreadable, not UTF-8 text is [`Problem::NotUtf8`]).
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file as it was named.
        file: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but a line in it is wrong.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where the problem is.
        at: Location,
        /// What the problem is.
        problem: Problem,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] at `at`.
    pub(crate) fn invalid(at: Location, problem: Problem) -> Self {
        Self::Invalid { at, problem }
    }

    /// The problem, when this is an [`ConfigError::Invalid`].
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Invalid { problem, .. } => Some(problem),
            Self::Read { .. } => None,
        }
    }

    /// Where the error points.
    pub fn location(&self) -> Location {
        match self {
            Self::Invalid { at, .. } => at.clone(),
            Self::Read { file, .. } => Location::file(file),
        }
    }
}

/// What is wrong with a line; the `keyword` fields name the option or keyword concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A word that should be one IPv4 address is not.
    #[error("{keyword}: bad address \"{text}\"")]
    BadAddress {
        /// The keyword whose value it is.
        keyword: String,
        /// The offending text.
        text: String,
    },
    /// An address range is malformed or runs backwards.
    #[error("{keyword}: bad range \"{text}\"")]
    BadRange {
        /// The keyword whose value it is.
        keyword: String,
        /// The offending range as written.
        text: String,
    },
    /// One range expands to more addresses than a pool may hold.
    #[error("{keyword}: range \"{text}\" has {count} addresses, more than {max}")]
    RangeTooLarge {
        /// The keyword whose value it is.
        keyword: String,
        /// The range as written.
        text: String,
        /// How many addresses it covers.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// The whole list expands to more addresses than a pool may hold.
    #[error("{keyword}: the list has {count} addresses, more than {max}")]
    ListTooLarge {
        /// The keyword whose value it is.
        keyword: String,
        /// How many addresses the list covers.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// An address appears twice in one list.
    #[error("{keyword}: {address} is listed twice")]
    DuplicateAddress {
        /// The keyword whose value it is.
        keyword: String,
        /// The repeated address.
        address: Ipv4Addr,
    },
    /// An address that cannot be given to a PPP peer (0.0.0.0, loopback, multicast, class E).
    #[error("{keyword}: {address} is not a unicast host address")]
    NotUnicast {
        /// The keyword whose value it is.
        keyword: String,
        /// The address.
        address: Ipv4Addr,
    },
    /// A `localip` address is also in the remote pool.
    #[error("localip: {address} is also in the remoteip pool")]
    LocalInRemote {
        /// The address in both lists.
        address: Ipv4Addr,
    },
    /// A keyword that needs a value has none.
    #[error("{keyword}: missing value")]
    MissingValue {
        /// The keyword.
        keyword: String,
    },
    /// A keyword has more text after its value.
    #[error("{keyword}: unexpected \"{text}\" after the value")]
    UnexpectedValue {
        /// The keyword.
        keyword: String,
        /// The extra text.
        text: String,
    },
    /// A value that should be a decimal number is not.
    #[error("{keyword}: \"{text}\" is not a number")]
    BadNumber {
        /// The keyword.
        keyword: String,
        /// The offending text.
        text: String,
    },
    /// A number outside the accepted bounds.
    #[error("{keyword}: {value} is not between {min} and {max}")]
    NumberOutOfRange {
        /// The keyword.
        keyword: String,
        /// The number given.
        value: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A value that must be one of a few words is not.
    #[error("{keyword}: \"{text}\" is not one of {choices}")]
    BadChoice {
        /// The keyword.
        keyword: String,
        /// The offending text.
        text: String,
        /// The accepted words, for the message.
        choices: &'static str,
    },
    /// A network interface name that Linux would not accept.
    #[error("{keyword}: \"{text}\" is not a valid interface name")]
    BadInterfaceName {
        /// The keyword.
        keyword: String,
        /// The offending text.
        text: String,
    },
    /// An option that would weaken security or asks for something pptpd-rs does not do.
    #[error("{option}: {reason}")]
    Refused {
        /// The option as written.
        option: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The MPPE options leave nothing to negotiate.
    #[error("{0}")]
    Mppe(&'static str),
    /// A quoted word runs to the end of the file.
    #[error("unterminated quote")]
    UnterminatedQuote,
    /// A word contains a NUL character (written as an escape), which pppd would cut the word at.
    #[error("a word contains a NUL character")]
    NulInWord,
    /// The file, or a word in it, is not UTF-8 text.
    #[error("{what} is not valid UTF-8")]
    NotUtf8 {
        /// What is not UTF-8 ("the file", "the secret", ...).
        what: &'static str,
    },
    /// A chap-secrets line with fewer than three words.
    #[error("an entry needs client, server and secret; this line has {words} word(s)")]
    ShortEntry {
        /// How many words the line has.
        words: usize,
    },
    /// A secret longer than MS-CHAPv2 allows.
    #[error("the secret is {chars} characters long; MS-CHAPv2 allows at most {max}")]
    SecretTooLong {
        /// Length of the secret in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A chap-secrets address word pptpd-rs cannot use.
    #[error("address \"{text}\": {reason}")]
    BadSecretAddress {
        /// The word as written.
        text: String,
        /// Why it is refused.
        reason: &'static str,
    },
}
