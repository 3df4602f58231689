//! Where the daemon keeps its egress state under /run: one directory per network namespace
//! (`/run/pptpd-rs/netns-<inode>`), since `ip_forward` belongs to the namespace while /run is
//! shared by all of them. The `nat` crate writes and deletes the files and the namespace's
//! directory; this module names the directory and, at exit, removes the shared parent once no
//! gateway in any namespace keeps anything in it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The state directory of the network namespace this process runs in, under `base`.
pub fn for_this_netns(base: &Path) -> PathBuf {
    match std::fs::read_link("/proc/self/ns/net") {
        Ok(link) => in_base(base, &link.to_string_lossy()),
        Err(_) => base.to_path_buf(),
    }
}

/// `base/netns-<inode>` for a namespace link such as `net:[4026531840]`; `base` itself when
/// the link names no inode.
fn in_base(base: &Path, netns_link: &str) -> PathBuf {
    let inode: String = netns_link.chars().filter(char::is_ascii_digit).collect();
    if inode.is_empty() {
        base.to_path_buf()
    } else {
        base.join(format!("netns-{inode}"))
    }
}

/// Removes `base` if it is empty: the last gateway to stop takes the shared directory with
/// it, while any other namespace's state (or anything else in it) keeps it. Never recursive.
pub fn remove_base_if_empty(base: &Path) {
    match std::fs::remove_dir(base) {
        Ok(()) => tracing::debug!("removed the empty state directory {}", base.display()),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::DirectoryNotEmpty) => {}
        Err(e) => tracing::debug!("kept the state directory {}: {e}", base.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_namespace_gets_its_own_directory() {
        let base = Path::new("/run/pptpd-rs");
        assert_eq!(
            in_base(base, "net:[4026531840]"),
            base.join("netns-4026531840")
        );
        assert_ne!(
            in_base(base, "net:[4026531840]"),
            in_base(base, "net:[4026532001]")
        );
        assert_eq!(in_base(base, "net:[]"), base);
    }

    #[test]
    fn the_base_goes_only_when_no_namespace_keeps_state_in_it() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("pptpd-rs");
        let ours = base.join("netns-1");
        let other = base.join("netns-2");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("ip_forward"), "0\n").unwrap();

        // Our namespace's directory is gone (the nat crate's doing); another gateway's stays.
        std::fs::remove_dir(&ours).unwrap();
        remove_base_if_empty(&base);
        assert!(other.join("ip_forward").exists());

        // The other gateway stops: the last one out takes the base with it.
        std::fs::remove_dir_all(&other).unwrap();
        remove_base_if_empty(&base);
        assert!(!base.exists());
        // Already gone: nothing to do, no panic.
        remove_base_if_empty(&base);
    }
}
