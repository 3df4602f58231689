//! `Config::load` over whole config sets: the sample set the README runs, poptop's stock Debian
//! files, and sets written to a temporary directory to check path resolution, overrides,
//! permission warnings and errors.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pptpd::config::{
    ChapSecrets, Config, ConfigError, LocalIp, MppeSetting, Overrides, PppOptions, PptpdConf,
    Warning,
};
use pptpd::pool::IpPool;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn messages(warnings: &[Warning]) -> Vec<String> {
    warnings.iter().map(ToString::to_string).collect()
}

/// Writes `files` into a fresh directory; chap-secrets files get mode 600.
fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        if name.contains("secret") {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    dir
}

const SECRETS: &str = "# client server secret addresses\nroot pptpd 123456 *\n";

#[test]
fn sample_config_loads_from_another_directory() {
    // The test runs in the package directory, where no `pptpd-options` exists: the relative
    // `option` line must resolve against the directory of pptpd.conf.
    let conf = data("sample/pptpd.conf");
    let (config, warnings) = Config::load(&conf, &Overrides::default()).unwrap();

    // chap-secrets cannot be mode 600 in git; that is the only acceptable warning.
    for warning in messages(&warnings) {
        assert!(warning.contains("open to group and/or others"), "{warning}");
    }
    assert_eq!(
        config.pptpd.localip,
        LocalIp::Shared(Ipv4Addr::new(192, 168, 0, 1))
    );
    let remote: Vec<String> = config
        .pptpd
        .remoteip
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        remote,
        [
            "192.168.0.234",
            "192.168.0.235",
            "192.168.0.236",
            "192.168.0.237",
            "192.168.0.238",
            "192.168.0.245"
        ]
    );
    assert_eq!(config.options_file, Some(data("sample/pptpd-options")));
    assert_eq!(config.chap_secrets, data("sample/chap-secrets"));
    assert_eq!(config.pidfile, PathBuf::from("/var/run/pptpd.pid"));
    assert_eq!(config.ppp.name, "pptpd");
    assert_eq!(config.ppp.mppe, MppeSetting::default());
    assert_eq!(
        config.ppp.ms_dns,
        [Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)]
    );
    assert_eq!(config.ppp.lcp_echo_interval, Some(30));
    assert_eq!(config.ppp.lcp_echo_failure, Some(4));
    assert!(!config.debug);

    let secrets = ChapSecrets::load(&config.chap_secrets).unwrap();
    let root = secrets.lookup(b"root", &config.ppp.name).unwrap();
    assert_eq!(root.secret, "123456");

    let mut pool = IpPool::from_config(&config.pptpd);
    assert_eq!(pool.capacity(), 6);
    let address = pool.allocate_for(&root.addresses).unwrap();
    assert_eq!(address, Ipv4Addr::new(192, 168, 0, 234));
    assert_eq!(pool.local_for(address), Ipv4Addr::new(192, 168, 0, 1));
}

#[test]
fn stock_debian_files_parse() {
    let text = fs::read_to_string(data("poptop-debian/pptpd.conf")).unwrap();
    let (conf, warnings) = PptpdConf::parse(&text, "pptpd.conf").unwrap();
    assert_eq!(conf.option, Some(PathBuf::from("/etc/ppp/pptpd-options")));
    assert_eq!(conf.remoteip.first(), Some(&Ipv4Addr::new(192, 168, 1, 1)));
    assert_eq!(
        messages(&warnings),
        [
            "pptpd.conf:21: logwtmp: ignored: pptpd-rs does not write wtmp records; sessions are logged instead",
            "pptpd.conf: no remoteip: using poptop's default 192.168.1.1-100",
            "pptpd.conf: no localip: using poptop's default 192.168.0.1-100",
        ]
    );

    let (options, warnings) = PppOptions::load(&data("poptop-debian/pptpd-options")).unwrap();
    assert_eq!(options.name, "pptpd");
    assert_eq!(options.mppe, MppeSetting::default());
    assert!(options.ms_dns.is_empty());
    assert!(!options.debug);
    let file = data("poptop-debian/pptpd-options").display().to_string();
    assert_eq!(
        messages(&warnings),
        [format!(
            "{file}:37: proxyarp: ignored: pptpd-rs publishes no proxy ARP entries; clients reach the network through NAT (nat yes) or a route to the remoteip subnet"
        )]
    );

    let (options, warnings) = PppOptions::load(&data("poptop-debian/options.pptpd")).unwrap();
    assert_eq!(options.mppe, MppeSetting::default());
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    let secrets = ChapSecrets::load(&data("poptop-debian/chap-secrets")).unwrap();
    assert!(secrets.is_empty());
}

#[test]
fn stock_debian_set_loads_with_warnings_only() {
    let conf = fs::read_to_string(data("poptop-debian/pptpd.conf"))
        .unwrap()
        .replace("option /etc/ppp/pptpd-options", "option pptpd-options");
    let options = fs::read_to_string(data("poptop-debian/pptpd-options")).unwrap();
    let secrets = fs::read_to_string(data("poptop-debian/chap-secrets")).unwrap();
    let dir = config_dir(&[
        ("pptpd.conf", &conf),
        ("pptpd-options", &options),
        ("chap-secrets", &secrets),
    ]);
    let overrides = Overrides {
        chap_secrets: Some(dir.path().join("chap-secrets")),
        debug: false,
    };
    let (config, warnings) = Config::load(&dir.path().join("pptpd.conf"), &overrides).unwrap();
    assert_eq!(config.pptpd.remoteip.len(), 100);
    let warnings = messages(&warnings);
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
    assert!(warnings[4].ends_with(
        "chap-secrets: no entry has \"pptpd\" (the options file's name) or * in the server column: no client can log in"
    ));
}

#[test]
fn overrides_win() {
    let dir = config_dir(&[
        (
            "pptpd.conf",
            "option opts\nchap-secrets conf-secrets\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("opts", "name gw\n"),
        ("conf-secrets", "a gw pw *\n"),
        ("cli-secrets", "b gw pw *\n"),
    ]);
    let conf = dir.path().join("pptpd.conf");

    let (config, warnings) = Config::load(&conf, &Overrides::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.chap_secrets, dir.path().join("conf-secrets"));
    assert!(!config.debug);

    let overrides = Overrides {
        chap_secrets: Some(dir.path().join("cli-secrets")),
        debug: true,
    };
    let (config, _) = Config::load(&conf, &overrides).unwrap();
    assert_eq!(config.chap_secrets, dir.path().join("cli-secrets"));
    assert!(config.debug);
}

#[test]
fn chap_secrets_named_by_the_options_file_resolves_there() {
    let dir = config_dir(&[
        (
            "pptpd.conf",
            "option ppp/options\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("pptpd-secrets", SECRETS),
    ]);
    fs::create_dir(dir.path().join("ppp")).unwrap();
    fs::write(
        dir.path().join("ppp/options"),
        "chap-secrets ../pptpd-secrets\n",
    )
    .unwrap();
    let (config, _) = Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap();
    assert_eq!(config.chap_secrets, dir.path().join("ppp/../pptpd-secrets"));
}

#[test]
fn no_option_line_uses_defaults_with_a_warning() {
    let dir = config_dir(&[
        (
            "pptpd.conf",
            "chap-secrets secrets\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("secrets", SECRETS),
    ]);
    let conf = dir.path().join("pptpd.conf");
    let (config, warnings) = Config::load(&conf, &Overrides::default()).unwrap();
    assert_eq!(config.ppp, PppOptions::default());
    assert_eq!(config.options_file, None);
    assert_eq!(
        messages(&warnings),
        [format!(
            "{}: no option line: pptpd-rs does not read /etc/ppp/options; using built-in PPP defaults (name pptpd, 128-bit MPPE required)",
            conf.display()
        )]
    );
}

#[test]
fn missing_files_are_errors() {
    let dir = config_dir(&[(
        "pptpd.conf",
        "option nowhere\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
    )]);
    let error = Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    let nowhere = dir.path().join("nowhere").display().to_string();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{nowhere}: cannot read: ")),
        "{error}"
    );

    let dir = config_dir(&[
        (
            "pptpd.conf",
            "option opts\nchap-secrets nowhere\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("opts", ""),
    ]);
    let error = Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap_err();
    assert_eq!(
        error.location().file,
        dir.path().join("nowhere").display().to_string()
    );

    let error = Config::load(&dir.path().join("absent.conf"), &Overrides::default()).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
}

#[test]
fn errors_in_each_file_name_that_file() {
    let dir = config_dir(&[
        (
            "pptpd.conf",
            "option opts\nchap-secrets secrets\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("opts", "name pptpd\nnoauth\n"),
        ("secrets", SECRETS),
    ]);
    let error = Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap_err();
    let opts = dir.path().join("opts").display().to_string();
    assert_eq!(
        error.to_string(),
        format!("{opts}:2: noauth: refused: pptpd-rs never runs without authentication")
    );

    fs::write(dir.path().join("opts"), "name pptpd\n").unwrap();
    fs::write(dir.path().join("secrets"), "root pptpd 123456 *\nbroken\n").unwrap();
    let error = Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap_err();
    let secrets = dir.path().join("secrets").display().to_string();
    assert_eq!(
        error.to_string(),
        format!("{secrets}:2: an entry needs client, server and secret; this line has 1 word(s)")
    );
}

#[test]
fn secrets_permissions_warn_like_pppd() {
    let dir = config_dir(&[("chap-secrets", SECRETS)]);
    let path = dir.path().join("chap-secrets");
    assert!(ChapSecrets::load(&path).unwrap().warnings().is_empty());

    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let secrets = ChapSecrets::load(&path).unwrap();
    assert_eq!(
        messages(secrets.warnings()),
        [format!(
            "{}: secrets file is open to group and/or others (mode 640): chmod 600 it",
            path.display()
        )]
    );
}

#[test]
fn secrets_are_read_again_at_each_load() {
    let dir = config_dir(&[("chap-secrets", SECRETS)]);
    let path = dir.path().join("chap-secrets");
    let before = ChapSecrets::load(&path).unwrap();
    assert_eq!(before.lookup(b"root", "pptpd").unwrap().secret, "123456");
    fs::write(&path, "root pptpd changed *\n").unwrap();
    let after = ChapSecrets::load(&path).unwrap();
    assert_eq!(after.lookup(b"root", "pptpd").unwrap().secret, "changed");
}

#[test]
fn indirect_secrets_are_read_by_load() {
    let dir = config_dir(&[("alice-secret", "\"s3cret with spaces\"\n")]);
    let secret_file = dir.path().join("alice-secret");
    let text = format!(
        "alice pptpd @{} *\nbob pptpd @{}/missing *\n* pptpd fallback *\n",
        secret_file.display(),
        dir.path().display()
    );
    let path = dir.path().join("chap-secrets");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

    let secrets = ChapSecrets::load(&path).unwrap();
    assert_eq!(
        secrets.lookup(b"alice", "pptpd").unwrap().secret,
        "s3cret with spaces"
    );
    // An unreadable secret file skips the entry, as pppd does.
    assert_eq!(secrets.lookup(b"bob", "pptpd").unwrap().secret, "fallback");
    let warnings = messages(secrets.warnings());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with(&format!("{}:2: cannot read secret file", path.display())));
}

#[test]
fn static_address_on_localip_warns() {
    let dir = config_dir(&[
        (
            "pptpd.conf",
            "option opts\nchap-secrets secrets\nlocalip 10.0.0.1\nremoteip 10.0.0.2-9\n",
        ),
        ("opts", ""),
        ("secrets", "root pptpd pw *\nbad pptpd pw 10.0.0.1\n"),
    ]);
    let (_, warnings) =
        Config::load(&dir.path().join("pptpd.conf"), &Overrides::default()).unwrap();
    let secrets = dir.path().join("secrets").display().to_string();
    assert_eq!(
        messages(&warnings),
        [format!(
            "{secrets}:2: 10.0.0.1 is a localip address: a client pinned to it cannot get it"
        )]
    );
}

#[test]
fn text_that_is_not_utf8_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chap-secrets");
    fs::write(&path, b"root pptpd 123456 *\nlatin pptpd p\xe4ss *\n").unwrap();
    let error = ChapSecrets::load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:2: the file is not valid UTF-8", path.display())
    );
}
