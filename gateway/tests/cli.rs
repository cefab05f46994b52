//! The command line as a newcomer meets it: `--config` wherever they put
//! it, help text on every admin command, and logs without terminal colours
//! when they go to a file or journald.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &Path, level: &str) -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "https://portal.localhost:{port}"
[store]
data_dir = "data"
[passwords]
argon2_memory_kib = 8192
argon2_iterations = 1
[log]
level = "{level}"
"#
        ),
    )
    .unwrap();
    path
}

fn portcullis(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "portcullis {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn config_is_taken_before_or_after_the_admin_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "warn");
    let path = path.to_str().unwrap();
    portcullis(&[
        "admin",
        "users",
        "add",
        "--email",
        "ada@example.com",
        "--first-name",
        "Ada",
        "--last-name",
        "Lovelace",
        "--config",
        path,
    ]);
    let after = portcullis(&["admin", "users", "list", "--json", "--config", path]);
    let before = portcullis(&["admin", "--config", path, "users", "list", "--json"]);
    let listed = String::from_utf8(after.stdout).unwrap();
    assert!(listed.contains("ada@example.com"), "{listed}");
    assert_eq!(listed, String::from_utf8(before.stdout).unwrap());
}

/// The commands listed under "Commands:" in a help text, with their
/// descriptions (empty when the command has none).
fn commands(help: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            let l = l.trim_start();
            let (name, rest) = l.split_once(' ').unwrap_or((l, ""));
            (name != "help").then(|| (name.to_string(), rest.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_admin_command_says_what_it_does() {
    let help = |args: &[&str]| String::from_utf8(portcullis(args).stdout).unwrap();
    let groups = commands(&help(&["admin", "--help"]));
    assert!(groups.len() >= 8, "{groups:?}");
    let mut missing = Vec::new();
    for (group, text) in &groups {
        if text.is_empty() {
            missing.push(group.clone());
        }
        for (cmd, text) in commands(&help(&["admin", group, "--help"])) {
            if text.is_empty() {
                missing.push(format!("{group} {cmd}"));
            }
        }
    }
    assert!(missing.is_empty(), "no help text: {missing:?}");
    let set = help(&["admin", "settings", "set", "--help"]);
    for key in ["password.min_length", "lockout.mode", "mfa.policy"] {
        assert!(
            set.contains(key),
            "`settings set --help` names {key}:\n{set}"
        );
    }
}

#[test]
fn logs_have_no_colours_when_not_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "info");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Read lines until the server says it is ready (or the stream ends).
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let done = line.contains("is ready") || line.contains("ERROR");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = reader.join().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("INFO")),
        "the server logged at info: {lines:?}"
    );
    for l in &lines {
        assert!(!l.contains('\u{1b}'), "a terminal colour code in {l:?}");
    }
}
