//! The `pptpd-rs` binary: see [`pptpd::gateway`].

fn main() -> std::process::ExitCode {
    pptpd::gateway::main()
}
