//! The subcommands of `nacre-server` that do not serve: [`tool`] runs them.
//!
//! - `nacre-server hash-password` reads a password from standard input (one line; the line
//!   break is not part of it) and prints its bcrypt hash for a users file's
//!   `password_bcrypt` (cost 10, the `$2b$` form; Nacos' `$2a$` hashes are read too). The
//!   password never appears in the command line, so it is not in `ps` or a shell history.
//! - `nacre-server issue-token --user NAME --ttl DURATION --token-secret-file PATH` prints a
//!   token for `NAME` valid for `DURATION`, signed with the key a server reads from the same
//!   file: for a client that cannot log in, such as a Prometheus scraper of `/metrics`
//!   (`authorization: { credentials_file: ... }`). The server still checks the user exists
//!   and what it may do on every request; taking the user out of the users file revokes it.

use crate::auth::{hash_password, TokenKey};
use std::io::BufRead;
use std::path::PathBuf;

/// What a subcommand did: its output, or why it failed.
pub type ToolResult = Result<String, String>;

/// Runs the subcommand `args` (without the program name) names, if the first is one:
/// `None` when it is not a subcommand (the server is to start).
pub fn tool(args: &[String], stdin: &mut dyn BufRead) -> Option<ToolResult> {
    match args.first().map(String::as_str) {
        Some("hash-password") => Some(hash(&args[1..], stdin)),
        Some("issue-token") => Some(issue(&args[1..])),
        _ => None,
    }
}

fn hash(args: &[String], stdin: &mut dyn BufRead) -> ToolResult {
    if let Some(extra) = args.first() {
        return Err(format!(
            "hash-password takes no arguments (got `{extra}`): it reads the password from standard input, e.g. `read -rs PW; echo \"$PW\" | nacre-server hash-password`"
        ));
    }
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("the password on standard input is empty".to_owned());
    }
    hash_password(password).map_err(|e| e.to_string())
}

fn issue(args: &[String]) -> ToolResult {
    let usage =
        "usage: nacre-server issue-token --user NAME --ttl DURATION --token-secret-file PATH";
    let (mut user, mut ttl, mut key) = (None, None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag.as_str(), None),
        };
        let value = match inline.or_else(|| rest.next().cloned()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value; {usage}")),
        };
        match name {
            "--user" => user = Some(value),
            "--ttl" => {
                ttl = Some(
                    super::settings::parse_duration("--ttl", &value).map_err(|e| e.to_string())?,
                )
            }
            "--token-secret-file" => key = Some(PathBuf::from(value)),
            other => return Err(format!("unknown flag `{other}`; {usage}")),
        }
    }
    let (Some(user), Some(ttl), Some(key)) = (user, ttl, key) else {
        return Err(usage.to_owned());
    };
    if user.trim().is_empty() {
        return Err(format!("--user is empty; {usage}"));
    }
    let key = TokenKey::from_file(&key).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(key.issue(user.trim(), now.saturating_add(ttl.as_secs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], input: &str) -> Option<ToolResult> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tool(&args, &mut input.as_bytes())
    }

    #[test]
    fn hash_password_prints_a_hash_of_the_line_without_its_break() {
        let hash = run(&["hash-password"], "s3cret\n").unwrap().unwrap();
        assert!(hash.starts_with("$2b$10$"), "{hash}");
        assert!(bcrypt::verify("s3cret", &hash).unwrap());
        assert!(run(&["hash-password"], "\n").unwrap().is_err());
        assert!(run(&["hash-password", "s3cret"], "").unwrap().is_err());
        assert!(run(&["--port", "1"], "").is_none());
    }

    #[test]
    fn issue_token_signs_with_the_file_key_for_the_ttl() {
        let path = std::env::temp_dir().join(format!("nacre-key-{}", std::process::id()));
        std::fs::write(
            &path,
            "bmFjcmUtdGVzdC1rZXktYXQtbGVhc3QtMzItYnl0ZXMtbG9uZw==\n",
        )
        .unwrap();
        let file = path.display().to_string();
        let token = run(
            &[
                "issue-token",
                "--user",
                "prom",
                "--ttl",
                "2h",
                "--token-secret-file",
                &file,
            ],
            "",
        )
        .unwrap()
        .unwrap();
        let key = TokenKey::from_file(&path).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(key.verify(&token, now + 7_000).unwrap(), "prom");
        assert!(
            key.verify(&token, now + 7_300).is_err(),
            "expired after two hours"
        );
        for bad in [
            vec!["issue-token", "--user", "prom"],
            vec![
                "issue-token",
                "--user",
                "prom",
                "--ttl",
                "soon",
                "--token-secret-file",
                &file,
            ],
            vec![
                "issue-token",
                "--user",
                "prom",
                "--ttl",
                "1h",
                "--token-secret-file",
                "/nonexistent",
            ],
            vec!["issue-token", "--who", "prom"],
        ] {
            assert!(run(&bad, "").unwrap().is_err(), "{bad:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
