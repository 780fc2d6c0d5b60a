//! `fs`: a directory exists, is readable and (by default) writable, proven by creating and
//! removing a file in it rather than by reading permission bits, which ACLs, read-only mounts
//! and full disks all defeat.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use async_trait::async_trait;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct FsConfig {
    /// The directory to watch.
    pub path: PathBuf,
    /// Whether the directory must accept a new file.
    #[serde(default = "default_writable")]
    pub writable: bool,
}

fn default_writable() -> bool {
    true
}

impl CheckConfig for FsConfig {
    const KIND: &'static str = "fs";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        if !self.path.is_absolute() && self.path.components().next().is_none() {
            return Err(FieldError::new("path", "expected a directory path"));
        }
        Ok(Arc::new(FsCheck {
            path: self.path,
            writable: self.writable,
            name: ctx.name.to_string(),
        }))
    }
}

#[derive(Debug)]
pub struct FsCheck {
    path: PathBuf,
    writable: bool,
    name: String,
}

#[async_trait]
impl Check for FsCheck {
    async fn probe(&self) -> Outcome {
        let path = self.path.clone();
        let writable = self.writable;
        let probe_name = format!(".healthmon-{}-{}", self.name, std::process::id());
        match tokio::task::spawn_blocking(move || inspect(&path, writable, &probe_name)).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::unhealthy(format!("directory check failed: {e}")),
        }
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }
}

fn inspect(path: &Path, writable: bool, probe_name: &str) -> Outcome {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Outcome::unhealthy(format!("{shown}: {e}")),
    };
    if !meta.is_dir() {
        return Outcome::unhealthy(format!("{shown} is not a directory"));
    }
    if let Err(e) = std::fs::read_dir(path) {
        return Outcome::unhealthy(format!("{shown} is not readable: {e}"));
    }
    if !writable {
        return Outcome::healthy()
            .with_message(format!("{shown} is readable"))
            .observe("writable", false);
    }
    let probe = path.join(probe_name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"healthmon\n").and_then(|()| f.sync_all()));
    // Remove whatever was created, even if the write failed half way.
    let removed = std::fs::remove_file(&probe);
    match (written, removed) {
        (Ok(()), Ok(())) => Outcome::healthy()
            .with_message(format!("{shown} is writable"))
            .observe("writable", true),
        (Err(e), _) => {
            Outcome::unhealthy(format!("{shown} is not writable: {e}")).observe("writable", false)
        }
        (Ok(()), Err(e)) => Outcome::unhealthy(format!(
            "{shown}: wrote a file but could not remove it: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn a_writable_directory_is_healthy_and_left_clean() {
        let dir = tempfile::tempdir().unwrap();
        let out = inspect(dir.path(), true, ".probe");
        assert_eq!(out.status, Status::Healthy, "{:?}", out.message);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_or_a_file_is_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let missing = inspect(&dir.path().join("nope"), true, ".probe");
        assert_eq!(missing.status, Status::Unhealthy);
        assert!(missing.message.unwrap().contains("No such file"));
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(inspect(&file, true, ".probe")
            .message
            .unwrap()
            .contains("not a directory"));
    }

    #[test]
    fn a_directory_without_write_permission_is_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let out = inspect(&ro, true, ".probe");
        // root ignores permission bits; the check must then agree with reality.
        let root = rustix::process::geteuid().is_root();
        assert_eq!(
            out.status,
            if root {
                Status::Healthy
            } else {
                Status::Unhealthy
            }
        );
        assert_eq!(inspect(&ro, false, ".probe").status, Status::Healthy);
    }
}
