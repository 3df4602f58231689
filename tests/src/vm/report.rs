//! The client guest's console parsed: `GUEST-CHECK name ok|fail detail`,
//! `GUEST-INFO key value` and `GUEST-RESULT ok|fail` lines, and pppd's log.

use std::fmt;
use std::time::Duration;

/// One `GUEST-CHECK name ok|fail detail` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCheck {
    /// What was checked: `eth0`, `lan-ping`, `connect`, `mppe`, `peer-ping`,
    /// `egress-ping`, `big-ping`, `fetch`, `hangup`; with a rejected login
    /// `connect-refused`, `auth-failure`, `pppd-exited`; for the second login
    /// `connect2`, `distinct-addresses`, `peer-ping2`, `first-still-up`, `hangup2`
    /// (or `connect-refused2`, `auth-failure2`, `pppd-exited2`) and `first-survives`;
    /// logins after the first add `#n` (`connect#2`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// Free text, mostly `key=value` words (`addr=10.0.0.2 peer=10.0.0.1 secs=2.1`).
    pub detail: String,
}

impl GuestCheck {
    /// Parses a console line; `None` if it is not a check line. Anything before the
    /// marker (the serial console's escape sequences) is ignored.
    pub fn parse(line: &str) -> Option<GuestCheck> {
        let rest = &line[line.find("GUEST-CHECK ")? + "GUEST-CHECK ".len()..];
        let mut parts = rest.splitn(3, ' ');
        let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
        let ok = match parts.next()? {
            "ok" => true,
            "fail" => false,
            _ => return None,
        };
        let detail = parts.next().unwrap_or_default().trim().to_owned();
        Some(GuestCheck { name, ok, detail })
    }

    /// The value of `key=value` in the detail.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.detail
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }
}

/// The parsed console of one guest run.
#[derive(Debug, Clone, Default)]
pub struct GuestReport {
    /// The checks, in the order the guest ran them.
    pub checks: Vec<GuestCheck>,
    /// `GUEST-INFO key value` lines (`init-uptime`, `done-uptime`, `holding` ...).
    pub info: Vec<(String, String)>,
    /// `GUEST-RESULT`: Some(true) for ok, Some(false) for fail, None if absent.
    pub result: Option<bool>,
    /// Every console line (stderr of client-vm.sh last, prefixed `stderr: `).
    pub console: Vec<String>,
    /// From boot to power-off (or the kill).
    pub elapsed: Duration,
    /// Whether the run hit the configured timeout and qemu was killed.
    pub timed_out: bool,
    /// client-vm.sh's exit code (0 only with `GUEST-RESULT ok`).
    pub exit_code: Option<i32>,
}

impl GuestReport {
    /// Parses console lines (elapsed, timed_out and exit_code stay at their defaults).
    pub fn parse(console: &[String]) -> GuestReport {
        let mut report = GuestReport {
            console: console.to_vec(),
            ..GuestReport::default()
        };
        for line in console {
            if let Some(check) = GuestCheck::parse(line) {
                report.checks.push(check);
            } else if let Some(i) = line.find("GUEST-INFO ") {
                let rest = &line[i + "GUEST-INFO ".len()..];
                let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
                report.info.push((key.to_owned(), value.trim().to_owned()));
            } else if let Some(i) = line.find("GUEST-RESULT ") {
                report.result = match line[i + "GUEST-RESULT ".len()..].trim() {
                    "ok" => Some(true),
                    "fail" => Some(false),
                    _ => report.result,
                };
            }
        }
        report
    }

    /// The (last) check called `name`.
    pub fn check(&self, name: &str) -> Option<&GuestCheck> {
        self.checks.iter().rev().find(|c| c.name == name)
    }

    /// Whether the guest printed `GUEST-RESULT ok`.
    pub fn passed(&self) -> bool {
        self.result == Some(true)
    }

    /// Whether the guest's own network died under it: its kernel reported that its emulated
    /// NIC stopped sending (`NETDEV WATCHDOG: ... transmit queue 0 timed out`), or after a
    /// failed check it could not even ping the server on the LAN (which the server's kernel
    /// answers, not the PPTP server). qemu's virtio-net under software emulation does this
    /// now and then after heavy traffic; nothing a PPTP server can cause or mend.
    pub fn guest_nic_hung(&self) -> bool {
        self.info("lan-after-failure") == Some("dead")
            || self
                .console
                .iter()
                .any(|l| l.contains("NETDEV WATCHDOG") && l.contains("transmit queue"))
    }

    /// The checks that failed.
    pub fn failed_checks(&self) -> Vec<&GuestCheck> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    /// The value of `GUEST-INFO key`.
    pub fn info(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// pppd's log lines for one login: `tag` is "pppd" (the first), "pppd2" (the
    /// concurrent second), "pppd#2" (the second in a row).
    pub fn pppd_log(&self, tag: &str) -> Vec<&str> {
        let prefix = format!("{tag}: ");
        self.console
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect()
    }

    /// Panics, printing the console, unless the guest reported `GUEST-RESULT ok`.
    pub fn assert_passed(&self) {
        assert!(self.passed(), "the guest failed:\n{self}");
    }

    /// Returns check `name`; panics, printing the console, if it is missing or failed.
    pub fn assert_ok(&self, name: &str) -> &GuestCheck {
        match self.check(name) {
            Some(check) if check.ok => check,
            Some(_) => panic!("guest check {name} failed:\n{self}"),
            None => panic!("guest check {name} is missing:\n{self}"),
        }
    }

    /// Returns check `name`; panics, printing the console, if it is missing or passed.
    pub fn assert_failed(&self, name: &str) -> &GuestCheck {
        match self.check(name) {
            Some(check) if !check.ok => check,
            Some(_) => panic!("guest check {name} passed, a failure was expected:\n{self}"),
            None => panic!("guest check {name} is missing:\n{self}"),
        }
    }
}

impl fmt::Display for GuestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "--- guest console ({:.1} s{}) ---",
            self.elapsed.as_secs_f64(),
            if self.timed_out { ", TIMED OUT" } else { "" }
        )?;
        for line in &self.console {
            writeln!(f, "{line}")?;
        }
        write!(f, "--- end of guest console ---")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn console_is_parsed_into_checks_info_and_result() {
        let console = lines(
            "SeaBIOS (version 1.16.2)\n\
             Booting from ROM..\x1bc\x1b[?7l\x1b[2JGUEST-INFO init-uptime 4.39\n\
             GUEST-CHECK eth0 ok addr=10.100.100.20/24\n\
             pppd: rcvd [CHAP Failure id=0x1 \"E=691 R=1 C=00 V=0 M=Access denied\"]\n\
             GUEST-CHECK auth-failure ok E=691 R=1 V=0 M=Access denied\n\
             GUEST-CHECK connect fail no-ppp0-address pppd-status=16\n\
             GUEST-CHECK bogus maybe x\n\
             GUEST-RESULT fail\n",
        );
        let report = GuestReport::parse(&console);
        assert_eq!(report.info("init-uptime"), Some("4.39"));
        assert_eq!(report.checks.len(), 3);
        assert_eq!(
            report.assert_ok("eth0").value("addr"),
            Some("10.100.100.20/24")
        );
        assert_eq!(
            report.check("auth-failure").unwrap().detail,
            "E=691 R=1 V=0 M=Access denied"
        );
        let connect = report.assert_failed("connect");
        assert_eq!(connect.value("pppd-status"), Some("16"));
        assert_eq!(report.result, Some(false));
        assert!(!report.passed());
        assert_eq!(report.failed_checks().len(), 1);
        assert_eq!(report.pppd_log("pppd").len(), 1);
        assert!(report.pppd_log("pppd2").is_empty());
        assert!(report.check("bogus").is_none());
    }

    #[test]
    fn a_guest_whose_nic_stopped_sending_is_told_from_other_failures() {
        let hung = lines(
            "GUEST-CHECK fetch#2 ok bytes=4000000\n\
             [  120.001183] virtio_net virtio0 eth0: NETDEV WATCHDOG: CPU: 0: transmit queue 0 timed out 5896 ms\n\
             GUEST-CHECK upload#2 fail wget-error-timeout-or-refused\n",
        );
        assert!(GuestReport::parse(&hung).guest_nic_hung());
        let failed = lines(
            "GUEST-CHECK upload#2 fail wget-error-timeout-or-refused\n\
             GUEST-INFO lan-after-failure alive\n",
        );
        assert!(!GuestReport::parse(&failed).guest_nic_hung());
        // No watchdog (the transmit ring never filled), but the LAN is dead too.
        let dead = lines(
            "GUEST-CHECK upload#2 fail wget-error-timeout-or-refused\n\
             GUEST-INFO lan-after-failure dead\n",
        );
        assert!(GuestReport::parse(&dead).guest_nic_hung());
    }

    #[test]
    fn a_console_without_result_has_none() {
        let report = GuestReport::parse(&lines("GUEST-CHECK eth0 ok\n"));
        assert_eq!(report.result, None);
        assert_eq!(report.check("eth0").unwrap().detail, "");
    }

    #[test]
    #[should_panic(expected = "guest check connect is missing")]
    fn asserting_a_missing_check_panics() {
        GuestReport::parse(&[]).assert_ok("connect");
    }
}
