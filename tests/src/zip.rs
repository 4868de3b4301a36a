//! Lambda zips of workspace binaries, built through `scripts/lambda-zip` (the same step a
//! person runs by hand), once per test process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::HarnessError;

/// Builds `bin` of `package` (dev profile) and returns the path of its Lambda zip.
///
/// Tests run in parallel and many use the same function; the first caller builds and the
/// others wait for it and reuse the zip.
///
/// # Errors
/// [`HarnessError::Zip`] when the script fails (compile errors are in its reason).
pub fn lambda_zip(package: &str, bin: &str) -> Result<PathBuf, HarnessError> {
    static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();
    // Holding the lock while building is deliberate: cargo would serialise the builds on its
    // own lock anyway, and a second caller must not start a duplicate build.
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let key = (package.to_owned(), bin.to_owned());
    if let Some(path) = built.get(&key) {
        return Ok(path.clone());
    }
    let path = build(package, bin)?;
    built.insert(key, path.clone());
    Ok(path)
}

fn build(package: &str, bin: &str) -> Result<PathBuf, HarnessError> {
    let fail = |reason: String| HarnessError::Zip {
        package: package.to_owned(),
        bin: bin.to_owned(),
        reason,
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lambda-zip");
    let output = Command::new(&script)
        .arg(package)
        .arg(bin)
        .output()
        .map_err(|err| fail(format!("cannot run {}: {err}", script.display())))?;
    if !output.status.success() {
        return Err(fail(format!(
            "{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = PathBuf::from(stdout.trim());
    if path.is_file() {
        Ok(path)
    } else {
        Err(fail(format!("it printed {stdout:?}, which is not a file")))
    }
}
