//! Harnesses for the readers of the operator's files: pptpd.conf (poptop's pptpd.conf(5)), the
//! pppd options file (pppd(8)), chap-secrets, and the address lists of `localip`/`remoteip`.
//! Each takes the input as text, invalid UTF-8 replaced by U+FFFD (the loaders refuse a
//! non-UTF-8 file before parsing, so the parsers only ever see valid text), and checks what the
//! parsed value promises.

use std::collections::HashSet;

use pptpd::config::{
    AddressList, ChapSecrets, LocalIp, MAX_ADDRESSES, MAX_CONNECTIONS, MAX_MRU, MAX_STIMEOUT,
    MAX_WORKERS, MIN_MRU, PppOptions, PptpdConf, is_unicast_host,
};

/// The file name the parsers put in their messages.
const FILE: &str = "fuzz.conf";

/// `config_pptpd_conf`: [`PptpdConf::parse`]. Errors and warnings render; limits hold; the
/// pool holds distinct unicast addresses, at most `connections` of them; a paired `localip` is
/// exactly as long as the pool.
pub fn pptpd_conf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(conf) = rendered(PptpdConf::parse(&text, FILE)) else {
        return;
    };
    assert!(conf.connections <= MAX_CONNECTIONS);
    assert!(conf.stimeout <= MAX_STIMEOUT);
    assert!(conf.workers <= MAX_WORKERS);
    assert!(
        conf.remoteip.len() <= conf.connections as usize,
        "pool longer than connections"
    );
    check_distinct_unicast(&conf.remoteip);
    match &conf.localip {
        LocalIp::Shared(address) => assert!(is_unicast_host(*address), "localip {address}"),
        LocalIp::Paired(addresses) => {
            assert_eq!(
                addresses.len(),
                conf.remoteip.len(),
                "paired localip length"
            );
            assert!(addresses.iter().all(|a| is_unicast_host(*a)));
        }
    }
    for index in 0..conf.remoteip.len().saturating_add(2).min(8) {
        let _ = conf.localip.for_index(index);
    }
}

/// What a loader returned, its error or warnings rendered (they must not panic): the value,
/// or `None` after an error.
fn rendered<T, W: std::fmt::Display, E: std::fmt::Display>(
    parsed: Result<(T, Vec<W>), E>,
) -> Option<T> {
    match parsed {
        Ok((value, warnings)) => {
            for warning in &warnings {
                let _ = warning.to_string();
            }
            Some(value)
        }
        Err(error) => {
            let _ = error.to_string();
            None
        }
    }
}

/// Asserts that every address is a unicast host address and appears once.
fn check_distinct_unicast(addresses: &[std::net::Ipv4Addr]) {
    let mut seen = HashSet::new();
    for address in addresses {
        assert!(is_unicast_host(*address), "{address} in a pool");
        assert!(seen.insert(*address), "{address} twice in a pool");
    }
}

/// `config_ppp_options`: [`PppOptions::parse`]. Errors and warnings render; MTU and MRU lie in
/// their bounds; the secrets lookup name derivation does not panic on any peer name.
pub fn ppp_options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(options) = rendered(PppOptions::parse(&text, FILE)) else {
        return;
    };
    for value in [options.mtu, options.mru].into_iter().flatten() {
        assert!((MIN_MRU..=MAX_MRU).contains(&value), "MTU/MRU {value}");
    }
    for peer in [&b"root"[..], b"DOMAIN\\root", b"\\", b"", data] {
        let name = options.secrets_name(peer);
        assert!(
            peer.ends_with(name),
            "secrets_name is not a tail of the peer name"
        );
    }
}

/// `config_chap_secrets`: [`ChapSecrets::parse`]. Errors and warnings render; lookups for a
/// few names (and for names taken from the input) do not panic, and what they find serves the
/// server name asked for; static addresses are sorted and distinct.
pub fn chap_secrets(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let secrets = match ChapSecrets::parse(&text, FILE) {
        Ok(secrets) => secrets,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    for warning in secrets.warnings() {
        let _ = warning.to_string();
    }
    let mut clients: Vec<&[u8]> = vec![b"root", b"", b"*", b"DOMAIN\\root"];
    clients.extend(text.split_whitespace().take(8).map(str::as_bytes));
    let servers: Vec<&str> = ["pptpd", "*", ""]
        .into_iter()
        .chain(text.split_whitespace().take(8))
        .collect();
    for client in &clients {
        for server in &servers {
            if secrets.lookup(client, server).is_some() {
                assert!(
                    secrets.serves(server),
                    "lookup found a secret for a server no entry serves"
                );
            }
        }
    }
    let statics = secrets.static_addresses();
    assert!(
        statics.windows(2).all(|pair| pair[0] < pair[1]),
        "static addresses not sorted and distinct"
    );
}

/// `config_address_list`: [`AddressList::parse`]. Errors render; an accepted list holds at
/// most [`MAX_ADDRESSES`] distinct unicast addresses.
pub fn address_list(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match AddressList::parse(&text) {
        Ok(list) => {
            assert!(list.addresses().len() as u64 <= MAX_ADDRESSES);
            check_distinct_unicast(list.addresses());
        }
        Err(error) => {
            let _ = format!("{error:?}");
        }
    }
}
