//! What the client guest is told to do: the options of `tests/vm/client-vm.sh`,
//! which reach the guest's init (`tests/vm/guest-init.sh`) on its kernel command line.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::topology::{GW_LAN_IP, PREFIX_LEN, Topology, guest_ip};

/// What the first login should lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    /// The link comes up (default).
    #[default]
    Up,
    /// The gateway refuses the password: MS-CHAPv2 Failure `E=691`, no address,
    /// pppd gives up by itself.
    Reject,
}

impl Expect {
    fn as_arg(self) -> &'static str {
        match self {
            Expect::Up => "up",
            Expect::Reject => "reject",
        }
    }
}

/// Which MPPE the client requires (pptpsetup's `--encrypt` means 128-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MppeRequirement {
    /// `require-mppe-128` (default).
    #[default]
    Bits128,
    /// `require-mppe-40`.
    Bits40,
    /// No MPPE option in the peer file.
    None,
}

impl MppeRequirement {
    fn as_arg(self) -> &'static str {
        match self {
            MppeRequirement::Bits128 => "128",
            MppeRequirement::Bits40 => "40",
            MppeRequirement::None => "none",
        }
    }
}

/// How the guest's second, concurrent login reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecondConnection {
    /// Its own control connection from the same address (`pptp --localbind`), as a
    /// second client behind one NAT (default).
    #[default]
    Separate,
    /// A second call on the first control connection (pptp-linux's call manager
    /// shares it when nothing tells the two apart). poptop does not support this.
    Shared,
}

impl SecondConnection {
    fn as_arg(self) -> &'static str {
        match self {
            SecondConnection::Separate => "separate",
            SecondConnection::Shared => "shared",
        }
    }
}

/// A second login the guest starts while the first link is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondLogin {
    /// The user name.
    pub user: String,
    /// The password.
    pub pass: String,
    /// Whether it should come up or be refused.
    pub expect: Expect,
    /// Its own control connection or a second call on the first one.
    pub connection: SecondConnection,
}

/// Everything `client-vm.sh` takes. Values travel on the guest's kernel command
/// line, so they must not contain spaces.
#[derive(Debug, Clone)]
pub struct ClientVmConfig {
    /// The namespace qemu runs in (the one holding the TAP).
    pub netns: String,
    /// The TAP device.
    pub tap: String,
    /// The guest's eth0 address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The PPTP server.
    pub server: Ipv4Addr,
    /// The user name.
    pub user: String,
    /// The password.
    pub pass: String,
    /// Ping this through the tunnel (`egress-ping`).
    pub ping: Option<Ipv4Addr>,
    /// Ping with this payload size (`big-ping`; to `ping`, else the PPP peer).
    pub bigping: Option<u16>,
    /// Fetch this URL with busybox wget through the tunnel (`fetch`).
    pub fetch: Option<String>,
    /// The md5 the fetched file must have.
    pub md5: Option<String>,
    /// Which MPPE the client requires.
    pub mppe: MppeRequirement,
    /// What the login should lead to.
    pub expect: Expect,
    /// Keep the link up this many seconds before hanging up.
    pub hold: Option<u32>,
    /// Log in this many times one after the other (checks of login n > 1 are named
    /// `connect#n`, `hangup#n` ...).
    pub logins: u32,
    /// A concurrent second login.
    pub second: Option<SecondLogin>,
    /// Seconds the guest waits for ppp0 to get an address.
    pub connect_timeout: u32,
    /// Seconds the guest's wget may take.
    pub fetch_timeout: u32,
    /// The whole run's limit; qemu is killed after it.
    pub timeout: Duration,
    /// Record the guest's Ethernet traffic here (qemu filter-dump).
    pub pcap: Option<PathBuf>,
    /// The guest's MAC address (random if None).
    pub mac: Option<String>,
}

impl ClientVmConfig {
    /// A guest at `ip`/24 on `tap` in `netns` that logs in to `server` as `user`.
    pub fn new(
        netns: &Netns,
        tap: &str,
        ip: Ipv4Addr,
        server: Ipv4Addr,
        user: &str,
        pass: &str,
    ) -> ClientVmConfig {
        ClientVmConfig::in_netns_named(netns.name(), tap, ip, server, user, pass)
    }

    /// Like [`ClientVmConfig::new`], for a namespace known by name only.
    pub fn in_netns_named(
        netns: &str,
        tap: &str,
        ip: Ipv4Addr,
        server: Ipv4Addr,
        user: &str,
        pass: &str,
    ) -> ClientVmConfig {
        ClientVmConfig {
            netns: netns.to_owned(),
            tap: tap.to_owned(),
            ip,
            prefix_len: PREFIX_LEN,
            server,
            user: user.to_owned(),
            pass: pass.to_owned(),
            ping: None,
            bigping: None,
            fetch: None,
            md5: None,
            mppe: MppeRequirement::default(),
            expect: Expect::default(),
            hold: None,
            logins: 1,
            second: None,
            connect_timeout: 30,
            fetch_timeout: 120,
            timeout: Duration::from_secs(120),
            pcap: None,
            mac: None,
        }
    }

    /// The guest on TAP `index` of `topology` ([`guest_ip`]`(index)`), logging in to the
    /// gateway's LAN address.
    pub fn on_topology(topology: &Topology, index: u8, user: &str, pass: &str) -> ClientVmConfig {
        ClientVmConfig::new(
            topology.gw(),
            topology.tap(usize::from(index)),
            guest_ip(index),
            GW_LAN_IP,
            user,
            pass,
        )
    }

    /// Sets [`ClientVmConfig::ping`].
    pub fn ping(mut self, to: Ipv4Addr) -> Self {
        self.ping = Some(to);
        self
    }

    /// Sets [`ClientVmConfig::bigping`].
    pub fn bigping(mut self, size: u16) -> Self {
        self.bigping = Some(size);
        self
    }

    /// Sets [`ClientVmConfig::fetch`] and [`ClientVmConfig::md5`].
    pub fn fetch(mut self, url: &str, md5: Option<&str>) -> Self {
        self.fetch = Some(url.to_owned());
        self.md5 = md5.map(str::to_owned);
        self
    }

    /// Sets [`ClientVmConfig::mppe`].
    pub fn mppe(mut self, mppe: MppeRequirement) -> Self {
        self.mppe = mppe;
        self
    }

    /// Sets [`ClientVmConfig::expect`].
    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// Sets [`ClientVmConfig::hold`].
    pub fn hold(mut self, secs: u32) -> Self {
        self.hold = Some(secs);
        self
    }

    /// Sets [`ClientVmConfig::logins`].
    pub fn logins(mut self, n: u32) -> Self {
        self.logins = n.max(1);
        self
    }

    /// Sets [`ClientVmConfig::second`] (on a separate control connection; change
    /// [`SecondLogin::connection`] for a shared one).
    pub fn second_login(mut self, user: &str, pass: &str, expect: Expect) -> Self {
        self.second = Some(SecondLogin {
            user: user.to_owned(),
            pass: pass.to_owned(),
            expect,
            connection: SecondConnection::default(),
        });
        self
    }

    /// Sets [`ClientVmConfig::fetch_timeout`].
    pub fn fetch_timeout(mut self, secs: u32) -> Self {
        self.fetch_timeout = secs;
        self
    }

    /// Sets [`ClientVmConfig::connect_timeout`].
    pub fn connect_timeout(mut self, secs: u32) -> Self {
        self.connect_timeout = secs;
        self
    }

    /// Sets [`ClientVmConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ClientVmConfig::pcap`].
    pub fn pcap(mut self, path: impl Into<PathBuf>) -> Self {
        self.pcap = Some(path.into());
        self
    }

    /// The `client-vm.sh` arguments for this configuration (without `--guest`,
    /// `--pidfile` and `--timeout`, which [`ClientVm::boot`] adds).
    pub fn args(&self) -> Result<Vec<String>> {
        let mut args = Vec::new();
        let mut push = |key: &str, value: String| -> Result<()> {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                return Err(Error::InvalidArgument(format!(
                    "--{key} {value:?}: empty or has spaces (it goes on a kernel command line)"
                )));
            }
            args.push(format!("--{key}"));
            args.push(value);
            Ok(())
        };
        push("netns", self.netns.clone())?;
        push("tap", self.tap.clone())?;
        push("ip", format!("{}/{}", self.ip, self.prefix_len))?;
        push("server", self.server.to_string())?;
        push("user", self.user.clone())?;
        push("pass", self.pass.clone())?;
        push("mppe", self.mppe.as_arg().into())?;
        push("expect", self.expect.as_arg().into())?;
        push("logins", self.logins.to_string())?;
        push("connect-timeout", self.connect_timeout.to_string())?;
        push("fetch-timeout", self.fetch_timeout.to_string())?;
        if let Some(ping) = self.ping {
            push("ping", ping.to_string())?;
        }
        if let Some(size) = self.bigping {
            push("bigping", size.to_string())?;
        }
        if let Some(url) = &self.fetch {
            push("fetch", url.clone())?;
        }
        if let Some(md5) = &self.md5 {
            push("md5", md5.clone())?;
        }
        if let Some(hold) = self.hold {
            push("hold", hold.to_string())?;
        }
        if let Some(second) = &self.second {
            push("user2", second.user.clone())?;
            push("pass2", second.pass.clone())?;
            push("expect2", second.expect.as_arg().into())?;
            push("second-conn", second.connection.as_arg().into())?;
        }
        if let Some(pcap) = &self.pcap {
            push("pcap", pcap.to_string_lossy().into_owned())?;
        }
        if let Some(mac) = &self.mac {
            push("mac", mac.clone())?;
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_carry_every_option_and_refuse_spaces() {
        let mut config = ClientVmConfig::in_netns_named(
            "pptpdt-1-0-gw",
            "tap0",
            guest_ip(0),
            GW_LAN_IP,
            "root",
            "123456",
        )
        .ping(Ipv4Addr::new(198, 51, 100, 2))
        .bigping(1400)
        .fetch("http://198.51.100.2:8080/blob", Some("abc"))
        .expect(Expect::Reject)
        .mppe(MppeRequirement::Bits40)
        .logins(2)
        .second_login("u2", "p2", Expect::Up);
        let args = config.args().unwrap().join(" ");
        for want in [
            "--netns pptpdt-1-0-gw",
            "--tap tap0",
            "--ip 10.100.100.20/24",
            "--server 10.100.100.1",
            "--ping 198.51.100.2",
            "--bigping 1400",
            "--fetch http://198.51.100.2:8080/blob",
            "--md5 abc",
            "--expect reject",
            "--mppe 40",
            "--logins 2",
            "--user2 u2 --pass2 p2 --expect2 up --second-conn separate",
            "--fetch-timeout 120",
        ] {
            assert!(args.contains(want), "{want:?} missing from {args}");
        }
        config.pass = "two words".into();
        assert!(config.args().is_err());
    }
}
