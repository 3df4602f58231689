//! Runs fuzz inputs through a target's harness without libFuzzer, for debugging a crash with
//! a normal build (backtraces, `dbg!`, a debugger):
//! `cargo run --manifest-path fuzz/Cargo.toml --example replay -- <target> <input>...`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(target) = args.next() else {
        eprintln!("usage: replay <target> <input>...");
        return ExitCode::from(2);
    };
    let Some(harness) = pptpd_fuzz::harness(&target) else {
        let names: Vec<&str> = pptpd_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
        eprintln!("unknown target {target}; targets: {}", names.join(" "));
        return ExitCode::from(2);
    };
    for path in args {
        match std::fs::read(&path) {
            Ok(data) => {
                eprintln!("{target}: {path} ({} bytes)", data.len());
                harness(&data);
            }
            Err(error) => {
                eprintln!("{path}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
