//! The `worker-pool` management commands: the seed's `manage_worker_pool` verbs, talking to a
//! running server over its JSON API. They hold no pool logic: each is one or two API calls and
//! some formatting.
//!
//! - [`args`]: the command line (clap);
//! - `client`: the JSON API over HTTP;
//! - `commands`: what each command does;
//! - `output`: tables, colours and durations.
//!
//! Exit codes: 0 success; 1 the server refused (its message on stderr); 2 wrong usage (clap);
//! 3 the server cannot be reached.

pub mod args;
mod client;
mod commands;
mod output;

pub use args::{Command, Options};

use client::Failure;
use serde_json::Value;
use std::process::ExitCode;

/// Runs a management command and returns the process exit code.
pub fn run(command: Command, opts: Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("worker-pool: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = opts.json;
    match runtime.block_on(commands::execute(command, &opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused { status, body }) => {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| format!("the server answered HTTP {status}"));
            if json {
                // What the API returned, exactly; the sentence goes to stderr.
                println!("{body}");
            }
            eprintln!("worker-pool: {message}");
            if let Some(fields) = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("fields").cloned())
            {
                for f in fields.as_array().into_iter().flatten() {
                    if let (Some(field), Some(msg)) = (f["field"].as_str(), f["message"].as_str()) {
                        if !message.contains(msg) {
                            eprintln!("  {field}: {msg}");
                        }
                    }
                }
            }
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("worker-pool: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(message)) => {
            eprintln!("worker-pool: {message}");
            ExitCode::from(3)
        }
        Err(Failure::Found(message)) => {
            eprintln!("worker-pool: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Other(e)) => {
            eprintln!("worker-pool: {e:#}");
            ExitCode::from(1)
        }
    }
}
