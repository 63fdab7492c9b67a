//! The binary as a user runs it: `token` prints one token and nothing else; mistakes are usage
//! errors; `serve` reports a taken port and stops on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_retail-local");

/// A copy of the fixture template with the shared test key beside it, so no key is generated.
fn workdir(name: &str) -> PathBuf {
    let dir = common::temp_dir(name);
    std::fs::copy(common::fixture_template(), dir.join("template.yaml")).unwrap();
    std::fs::create_dir_all(dir.join(".retail-local")).unwrap();
    std::fs::copy(common::key_file(), dir.join(".retail-local/dev-signing-key.pem")).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).current_dir(dir).output().unwrap()
}

#[test]
fn token_prints_exactly_one_jwt_with_the_asked_claims() {
    let dir = workdir("token");
    let out = run(&dir, &["token", "--scope", "pos store", "--store", "S001", "--ttl", "120"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').unwrap();
    assert!(!token.contains(['\n', ' ']));
    assert_eq!(token.split('.').count(), 3);
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token).unwrap().claims;
    assert_eq!(claims["scope"], "pos store");
    assert_eq!(claims["store_id"], "S001");
    assert_eq!(claims["iss"], "https://auth.retail.local");
    assert_eq!(claims["aud"], "retail-api");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 120);
    assert!(claims["jti"].is_string() && claims["sub"].is_string());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_store_bound_scope_without_a_store_is_a_usage_error() {
    let dir = workdir("token-no-store");
    for scope in ["pos", "store"] {
        let out = run(&dir, &["token", "--scope", scope]);
        assert_eq!(out.status.code(), Some(2), "{scope}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--store"), "{scope}");
    }
    let out = run(&dir, &["token", "--scope", "headoffice"]);
    assert!(out.status.success());
    let out = run(&dir, &["token", "--scope", "admin"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn serve_reports_a_taken_port_and_stops_on_sigterm() {
    let dir = workdir("serve");
    let mut child = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--no-seed", "--template", "template.yaml"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    assert!(banner.starts_with("retail-local serving http://127.0.0.1:"), "{banner}");
    assert!(banner.contains("not seeded"), "{banner}");
    let addr = banner.split("http://").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();

    let out = run(&dir, &["--addr", &addr, "--no-seed"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on") && stderr.contains(&addr), "{stderr}");

    #[cfg(unix)]
    {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    #[cfg(not(unix))]
    child.kill().unwrap();
    drop(stdout);
    std::fs::remove_dir_all(dir).unwrap();
}
