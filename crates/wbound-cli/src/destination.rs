//! Output files checked before any work: the folder they go to exists, and an existing file is
//! overwritten only with `--force`. Every command that writes a file (`score --out`, `top-k
//! --grid`, `report --out`, `merge --out`, `bench --plot/--json`) calls [`check`] first, so a
//! typo in a folder name costs nothing.

use std::path::Path;

use anyhow::Result;

use crate::usage;

/// Checks that `path` (given to `flag`) can be written: its folder exists, and the file does not
/// unless `force`. Usage errors (exit code 2) naming the flag, the path and what to do.
pub fn check(path: &Path, flag: &str, force: bool) -> Result<()> {
    check_folder(path, flag)?;
    if path.exists() && !force {
        return Err(usage(format!("{flag} {}: the file exists; pass --force to overwrite it", path.display())));
    }
    Ok(())
}

/// Checks only that the folder `path` goes into exists (for outputs whose existing file is
/// handled otherwise, such as `score --out` with `--resume`).
pub fn check_folder(path: &Path, flag: &str) -> Result<()> {
    if path.is_dir() {
        return Err(usage(format!("{flag} {}: that is a folder; give a file name", path.display())));
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(usage(format!(
            "{flag} {}: the folder {} does not exist; create it first (mkdir -p {})",
            path.display(),
            folder.display(),
            folder.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_folders_existing_files_and_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope/out.csv");
        let err = check(&missing, "--out", false).unwrap_err().to_string();
        assert!(err.contains("--out") && err.contains("nope") && err.contains("mkdir -p"), "{err}");
        let file = dir.path().join("out.csv");
        assert!(check(&file, "--out", false).is_ok());
        std::fs::write(&file, "x").unwrap();
        let err = check(&file, "--grid", false).unwrap_err().to_string();
        assert!(err.contains("--grid") && err.contains("--force"), "{err}");
        assert!(check(&file, "--grid", true).is_ok());
        assert!(check(dir.path(), "--out", true).unwrap_err().to_string().contains("folder"));
        assert!(check(Path::new("plain.csv"), "--out", false).is_ok());
    }
}
