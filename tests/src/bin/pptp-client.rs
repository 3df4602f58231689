//! Our userspace PPTP client, built inside this test package so that integration
//! tests can find it with `CARGO_BIN_EXE_pptp-client` (it is `pptp_client::cli::main`).

fn main() -> std::process::ExitCode {
    pptp_client::cli::main()
}
