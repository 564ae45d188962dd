//! The example systemd units under `deploy/`: every flag their `ExecStart` passes exists on
//! that subcommand of the real binary (so the units cannot drift from the CLI), and, where
//! `systemd-analyze` is installed, `systemd-analyze verify` reports nothing about them (it
//! exits 0 even for unknown keys, so its output is what is checked).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agent-track-server");

fn units() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    assert!(
        units.len() >= 2,
        "deploy/ holds the proxy and collector units"
    );
    units
}

/// The `ExecStart` command line, continuation lines joined.
fn exec_start(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn every_flag_of_execstart_exists_on_its_subcommand() {
    for unit in units() {
        let text = std::fs::read_to_string(&unit).unwrap();
        let args = exec_start(&text);
        assert_eq!(args[0], "/usr/local/bin/agent-track-server", "{unit:?}");
        let sub = args
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-') && *a != "json")
            .expect("a subcommand")
            .clone();
        let help = Command::new(BIN)
            .args([sub.as_str(), "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout).to_string()
            + &String::from_utf8_lossy(&Command::new(BIN).arg("--help").output().unwrap().stdout);
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(flag.as_str()),
                "{unit:?}: {flag} is not an option of `{sub}`"
            );
        }
        // Secrets come as credentials, never on the command line or in the unit.
        let settings: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(!settings.iter().any(|l| l.contains("whsec_")), "{unit:?}");
        assert!(text.contains("LoadCredential=secret:"), "{unit:?}");
    }
}

#[test]
fn systemd_analyze_verify_finds_nothing() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: only the flag check above ran");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for unit in units() {
        // verify checks that the command exists: point it at the binary just built.
        let text = std::fs::read_to_string(&unit)
            .unwrap()
            .replace("/usr/local/bin/agent-track-server", BIN);
        let copy = dir.path().join(unit.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&copies)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let about_ours: Vec<&str> = said.lines().filter(|l| l.contains("agent-track")).collect();
    assert!(out.status.success() && about_ours.is_empty(), "{said}");
}
