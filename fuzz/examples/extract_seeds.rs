//! Writes the seed corpora `seeds/<target>/` from real bytes: the poptop/pptp-linux capture
//! in `pptp-proto/tests/data/`, the config files in `pptpd-rs/tests/data/`, and an in-memory
//! PPP conversation (see `pptpd_fuzz::seeds`). Files of the same name are overwritten; other
//! files (regression seeds from crashes) are kept.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --example extract_seeds`.

use std::fs;
use std::path::{Path, PathBuf};

fn main() -> std::io::Result<()> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz_dir.parent().unwrap_or(fuzz_dir);
    let pcap =
        fs::read(repo.join("pptp-proto/tests/data/poptop-pptp-linux-mschapv2-mppe128.pcap"))?;
    let data_dir = repo.join("pptpd-rs/tests/data");
    let mut config_files = Vec::new();
    for path in files_under(&data_dir)? {
        let name = path
            .strip_prefix(&data_dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        if let Ok(text) = fs::read_to_string(&path) {
            config_files.push((name, text));
        }
    }
    config_files.sort();
    let seeds = pptpd_fuzz::seeds::all_seeds(&pcap, &config_files);
    for seed in &seeds {
        let dir = fuzz_dir.join("seeds").join(seed.target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(&seed.name), &seed.bytes)?;
    }
    for (target, _) in pptpd_fuzz::TARGETS {
        let count = seeds.iter().filter(|seed| seed.target == *target).count();
        println!("{target}: {count} seeds");
    }
    Ok(())
}

/// Every regular file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_under(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
