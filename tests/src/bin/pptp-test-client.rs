//! Our userspace PPTP client (`pptp_client::cli::main`, the `pptp-client` crate's binary)
//! built inside this test package under its own name, so that integration tests can find it
//! with `CARGO_BIN_EXE_pptp-test-client`.

fn main() -> std::process::ExitCode {
    pptp_client::cli::main()
}
