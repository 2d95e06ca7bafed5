//! What the tests that run Node.js tools share (`official_sdk.rs`, `typescript_dev.rs`):
//! finding a project of the repository, checking that node and npm are there, and `npm ci`
//! once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// A directory of the repository, from its root (`crates/trigr` is two levels down).
pub fn repo_dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("repository root above crates/trigr")
        .join(relative)
}

/// A finished command's status and output, for a failure message.
pub fn show(output: &Output) -> String {
    format!(
        "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Panics, saying what is missing, unless `name --version` works.
pub fn require_tool(name: &str) {
    match Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`{name} --version` failed ({s}); this test needs a working {name}"),
        Err(e) => panic!(
            "`{name}` is not installed or not on the PATH ({e}); this test needs Node.js 20 or \
             newer with npm"
        ),
    }
}

/// `npm ci` in `dir`, unless each of `packages` is installed there already (they stay in its
/// `node_modules`, which git ignores).
pub fn npm_ci(dir: &Path, packages: &[&str]) {
    let installed = |name: &str| {
        dir.join("node_modules")
            .join(name)
            .join("package.json")
            .exists()
    };
    if packages.iter().all(|p| installed(p)) {
        return;
    }
    require_tool("npm");
    let started = Instant::now();
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("spawn npm ci");
    assert!(
        output.status.success(),
        "npm ci in {} failed\n{}",
        dir.display(),
        show(&output)
    );
    println!("npm ci took {:.1} s", started.elapsed().as_secs_f64());
}
