//! Property tests of the config readers: they never panic on any text, address ranges expand to
//! exactly the addresses they name, and any secret survives pppd quoting.

use std::net::Ipv4Addr;

use pptpd::config::{AddressList, ChapSecrets, PppOptions, PptpdConf};
use proptest::prelude::*;

/// Text built from the readers' own vocabulary, so that random input reaches deep code paths.
fn config_like_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("localip".to_owned()),
        Just("remoteip".to_owned()),
        Just("connections".to_owned()),
        Just("option".to_owned()),
        Just("name".to_owned()),
        Just("ms-dns".to_owned()),
        Just("require-mppe-40".to_owned()),
        Just("nomppe-128".to_owned()),
        Just("nomppe".to_owned()),
        Just("mtu".to_owned()),
        Just("*".to_owned()),
        Just("-".to_owned()),
        Just("--".to_owned()),
        Just("#".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\\".to_owned()),
        Just("\n".to_owned()),
        Just(",".to_owned()),
        "[0-9]{1,4}",
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,4}(-[0-9.]{1,15})?(/[0-9]{1,2}\\+?)?",
        "!?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "\\PC{0,6}",
    ];
    proptest::collection::vec(
        (
            token,
            prop_oneof![Just(" "), Just("\t"), Just("\n"), Just("")],
        ),
        0..40,
    )
    .prop_map(|parts| parts.into_iter().map(|(t, s)| t + s).collect())
}

proptest! {
    #[test]
    fn pptpd_conf_never_panics(text in "\\PC*") {
        let _ = PptpdConf::parse(&text, "pptpd.conf");
    }

    #[test]
    fn pptpd_conf_never_panics_on_config_like_text(text in config_like_text()) {
        let _ = PptpdConf::parse(&text, "pptpd.conf");
    }

    #[test]
    fn ppp_options_never_panic(text in "\\PC*") {
        let _ = PppOptions::parse(&text, "pptpd-options");
    }

    #[test]
    fn ppp_options_never_panic_on_config_like_text(text in config_like_text()) {
        let _ = PppOptions::parse(&text, "pptpd-options");
    }

    #[test]
    fn chap_secrets_never_panic(text in "\\PC*", client in "\\PC{0,8}", server in "\\PC{0,8}") {
        if let Ok(secrets) = ChapSecrets::parse(&text, "chap-secrets") {
            let _ = secrets.lookup(client.as_bytes(), &server);
            let _ = secrets.static_addresses();
        }
    }

    #[test]
    fn chap_secrets_never_panic_on_config_like_text(text in config_like_text(), address: u32) {
        if let Ok(secrets) = ChapSecrets::parse(&text, "chap-secrets") {
            for entry in [secrets.lookup(b"*", "*"), secrets.lookup(b"name", "pptpd")].into_iter().flatten() {
                let _ = entry.addresses.permits(Ipv4Addr::from(address));
                let _ = entry.addresses.static_address();
            }
        }
    }

    #[test]
    fn address_lists_never_panic(text in "[0-9.,\\-]{0,40}") {
        let _ = AddressList::parse(&text);
    }

    /// `a.b.c.low-high` is exactly low..=high in the last octet.
    #[test]
    fn last_octet_range_expands(a in 1u8..224, b: u8, c: u8, low: u8, high: u8) {
        prop_assume!(a != 127);
        let text = format!("{a}.{b}.{c}.{low}-{high}");
        let parsed = AddressList::parse(&text);
        if low > high {
            prop_assert!(parsed.is_err());
        } else {
            let expected: Vec<Ipv4Addr> = (low..=high).map(|d| Ipv4Addr::new(a, b, c, d)).collect();
            prop_assert_eq!(parsed.unwrap().into_vec(), expected);
        }
    }

    /// A range in any inner octet varies that octet only.
    #[test]
    fn inner_octet_range_expands(position in 1usize..3, base: [u8; 4], low: u8, span in 0u8..16) {
        let high = low.saturating_add(span);
        let mut base = base;
        base[0] = base[0] % 200 + 1; // unicast, not loopback: 1..=200 but 127
        if base[0] == 127 {
            base[0] = 10;
        }
        let fields: Vec<String> = (0..4)
            .map(|i| if i == position { format!("{low}-{high}") } else { base[i].to_string() })
            .collect();
        let text = fields.join(".");
        let expected: Vec<Ipv4Addr> = (low..=high)
            .map(|v| {
                let mut octets = base;
                octets[position] = v;
                Ipv4Addr::from(octets)
            })
            .collect();
        prop_assert_eq!(AddressList::parse(&text).unwrap().into_vec(), expected);
    }

    /// `start-end` of whole addresses is every address between them, in order.
    #[test]
    fn whole_address_range_expands(start in 0x0a00_0000u32..0x0aff_0000, count in 1u32..3000) {
        let end = start + count - 1;
        let text = format!("{}-{}", Ipv4Addr::from(start), Ipv4Addr::from(end));
        let list = AddressList::parse(&text).unwrap().into_vec();
        prop_assert_eq!(list.len() as u32, count);
        prop_assert_eq!(list.first().copied(), Some(Ipv4Addr::from(start)));
        prop_assert_eq!(list.last().copied(), Some(Ipv4Addr::from(end)));
        prop_assert!(list.windows(2).all(|w| u32::from(w[0]) + 1 == u32::from(w[1])));
    }

    /// Any secret, written with pppd quoting and escapes, reads back unchanged.
    #[test]
    fn quoted_secrets_round_trip(secret in "\\PC{0,40}", client in "[a-z][a-z0-9 ]{0,10}") {
        // `@/path` names a file holding the secret, as in pppd: not a secret.
        prop_assume!(!secret.starts_with("@/"));
        let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let text = format!("# header\n{} pptpd {} *\n", quote(&client), quote(&secret));
        let secrets = ChapSecrets::parse(&text, "chap-secrets").unwrap();
        let entry = secrets.lookup(client.as_bytes(), "pptpd").unwrap();
        prop_assert_eq!(entry.secret, secret);
        prop_assert_eq!(entry.line, 2);
    }

    /// Secrets escaped character by character (no quotes at all) read back unchanged.
    #[test]
    // Printable ASCII but the octal digits and `x`, which start numeric escapes (drawn
    // without them: rejecting them would discard most cases).
    fn escaped_secrets_round_trip(secret in "[ -/8-wy-~]{1,30}") {
        // `@/path` (after escapes) names a file holding the secret, as in pppd: not a secret.
        prop_assume!(!secret.starts_with("@/"));
        let escaped: String = secret.chars().flat_map(|c| ['\\', c]).collect();
        let text = format!("alice * {escaped} *\n");
        let secrets = ChapSecrets::parse(&text, "chap-secrets").unwrap();
        let read_back = secrets.lookup(b"alice", "pptpd").unwrap().secret;
        // Escapes for letters are C escapes (\n, \t, \s ...) or octal/hex: compare with pppd's
        // reading of each pair.
        let expected: String = secret
            .chars()
            .map(|c| match c {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                's' => ' ',
                't' => '\t',
                other => other,
            })
            .collect();
        prop_assert_eq!(read_back, expected);
    }
}
