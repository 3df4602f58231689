//! pptpd-rs, built inside this test package so that integration tests can find it
//! with `CARGO_BIN_EXE_gateway` (it is the same `pptpd::gateway::main`).

fn main() -> std::process::ExitCode {
    pptpd::gateway::main()
}
