//! Stamps the binary with the git commit it was built from, for
//! `switchyard_build_info{commit}`; `unknown` when built outside a git checkout.

use std::path::Path;
use std::process::Command;

/// `git ARGS` trimmed, if git runs and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|t| out.status.success() && !t.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SWITCHYARD_COMMIT={commit}");
    // Rebuilt when HEAD moves or the branch it names does (worktrees and packed refs
    // included): watch only files that exist, as a missing one reruns every build.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if commit == "unknown" {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
