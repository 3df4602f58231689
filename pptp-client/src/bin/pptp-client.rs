//! The `pptp-client` binary: see [`pptp_client::cli`].

fn main() -> std::process::ExitCode {
    pptp_client::cli::main()
}
