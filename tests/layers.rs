//! The crate's top-level modules in layers (docs/ARCHITECTURE.md "Layers"): a module
//! may use modules of lower layers only, never its own layer's neighbours or anything
//! above. This test reads every file under `src/` and fails naming each offending
//! `crate::` path with its file and line, so the order stays true as the code changes.

use std::path::{Path, PathBuf};

/// Lowest first. Modules that share a layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &["error", "logging", "heap"],
    &["canonical"],
    &["config"],
    &["metrics"],
    &["state"],
    &["usage"],
    &["adapters"],
    &["inbound"],
    &["upstream"],
    &["providers"],
    &["scheduler", "mock"],
    &["dispatch"],
    &["cache"],
    &["reload"],
    &["api"],
    &["app"],
];

/// Files outside the layers: the binary and the crate root see everything.
const UNLAYERED: &[&str] = &["main", "lib"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src/");
    let first = rel.components().next().expect("non-empty path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Every `crate::<module>` a line names, comments excluded.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `switchyard_crate::` or `$crate::` are not this crate's paths.
            let before = code[..*at].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
        .map(|(at, m)| {
            code[at + m.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn top_level_modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut offences = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if UNLAYERED.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            offences.push(format!(
                "{}: module `{module}` has no layer in tests/layers.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source is UTF-8");
        for (n, line) in text.lines().enumerate() {
            for used in crate_paths(line) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l < own => {}
                    Some(l) => offences.push(format!(
                        "{}:{}: `{module}` (layer {own}) uses `crate::{used}` (layer {l}): {}",
                        file.strip_prefix(&src).unwrap_or(file).display(),
                        n + 1,
                        line.trim()
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "modules must use only lower layers:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        let name = module_of(&src, &path);
        if path.extension().is_some_and(|e| e != "rs") {
            continue;
        }
        assert!(
            UNLAYERED.contains(&name.as_str()) || layer_of(&name).is_some(),
            "src/{name} is in no layer of tests/layers.rs"
        );
    }
}

#[test]
fn the_scanner_sees_paths_and_skips_comments() {
    assert_eq!(crate_paths("use crate::config::Config;"), ["config"]);
    assert_eq!(
        crate_paths("let x = crate::api::headers::name::CACHE; // crate::app"),
        ["api"]
    );
    assert!(crate_paths("/// see [`crate::dispatch`]").is_empty());
    assert!(crate_paths("$crate::foo!()").is_empty());
}
