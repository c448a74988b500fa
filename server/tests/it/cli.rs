//! The `worker-pool` management commands, run as a real process against a real server.

use crate::common::TestServer;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_worker-pool");

/// Runs the binary with `args` against `url`; returns (exit code, stdout, stderr).
async fn run(url: &str, args: &[&str]) -> (i32, String, String) {
    let (url, args): (String, Vec<String>) = (
        url.to_string(),
        args.iter().map(|s| s.to_string()).collect(),
    );
    let out: Output = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env("WORKER_POOL_URL", &url)
            .env_remove("WORKER_POOL_API_TOKEN")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {stdout:?}"))
}

#[tokio::test]
async fn status_and_config_human_and_json() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let (code, out, err) = run(&s.base, &["status"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Max workers: 1"), "{out}");
    assert!(out.contains("Available"), "{out}");
    assert!(out.contains("[------------------------------] 0%"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when NO_COLOR is set");
    assert_eq!(err, "");

    let (code, out, err) = run(&s.base, &["status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["max_workers"], 1);
    assert_eq!(v["state"], "available");

    let (code, out, _) = run(&s.base, &["config", "--max-workers", "3"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("max_workers set to 3"), "{out}");
    let (code, out, _) = run(&s.base, &["config", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["max_workers"], 3);

    // Refused: exit 1, the server's sentence on stderr, nothing on stdout.
    let (code, out, err) = run(&s.base, &["config", "--max-workers", "0"]).await;
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(
        err.contains("max_workers must be a whole number from 1 to 64"),
        "{err}"
    );
    // With --json, stdout is exactly the API's answer.
    let (code, out, _) = run(&s.base, &["config", "--max-workers", "65", "--json"]).await;
    assert_eq!(code, 1);
    assert!(json(&out)["error"]
        .as_str()
        .unwrap()
        .contains("from 1 to 64"));
    s.stop(&[]).await;
}

#[tokio::test]
async fn submit_list_task_cancel_and_process() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let (code, out, err) = run(
        &s.base,
        &[
            "submit",
            "--crm-source",
            "five9",
            "--sync-type",
            "contacts",
            "--param",
            "batch_size=500",
            "--param",
            "full=true",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let first = json(&out);
    assert_eq!(first["status"], "running");
    assert_eq!(first["parameters"]["batch_size"], 500);
    assert_eq!(first["parameters"]["full"], true);

    let (code, out, _) = run(
        &s.base,
        &[
            "submit",
            "--crm-source",
            "hubspot",
            "--sync-type",
            "all",
            "--priority",
            "-5",
        ],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("Queued ") && out.contains("at position 1"),
        "{out}"
    );
    let queued_id = out.split_whitespace().nth(1).unwrap().to_string();

    let (code, out, _) = run(&s.base, &["list-tasks", "--verbose"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TASK ID") && lines[0].contains("PRIORITY"),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "header + 2 tasks:\n{out}");
    assert!(
        lines[1].contains("running") && lines[2].contains("queued"),
        "{out}"
    );
    // Aligned: every row's STATUS column starts at the same offset as the header's.
    let col = lines[0].find("STATUS").unwrap();
    assert!(lines[1][col..].starts_with("running"), "{out}");

    let (code, out, _) = run(&s.base, &["list-tasks", "--status", "queued", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["tasks"][0]["task_id"], queued_id.as_str());

    let (code, out, _) = run(&s.base, &["task", &queued_id]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&queued_id) && out.contains("hubspot.all"),
        "{out}"
    );

    let (code, out, _) = run(&s.base, &["cancel", "--task-id", &queued_id]).await;
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("Cancelled {queued_id}."));
    let (code, out, err) = run(&s.base, &["cancel", "--task-id", &queued_id]).await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("already cancelled"), "{err}");

    let (code, out, _) = run(&s.base, &["process-queue", "--json"]).await;
    assert_eq!(code, 0);
    let report = json(&out);
    assert!(report["dispatched"].as_array().unwrap().is_empty());
    assert_eq!(report["available_workers"], 0);
    let (code, out, _) = run(&s.base, &["process-queue"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("Processed the queue"), "{out}");

    let ids = [first["task_id"].as_str().unwrap().to_string(), queued_id];
    s.stop(&ids).await;
}

#[tokio::test]
async fn refusals_usage_errors_and_unreachable() {
    let s = TestServer::start(&[]).await;
    let (code, out, err) = run(
        &s.base,
        &["submit", "--crm-source", "five9", "--sync-type", "nope"],
    )
    .await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("unknown task type five9.nope"), "{err}");
    let (code, _, err) = run(
        &s.base,
        &[
            "submit",
            "--crm-source",
            "five9",
            "--sync-type",
            "contacts",
            "--param",
            "colour=blue",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown parameter"), "{err}");
    let (code, _, err) = run(
        &s.base,
        &[
            "submit",
            "--crm-source",
            "five9",
            "--sync-type",
            "contacts",
            "--param",
            "oops",
        ],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&s.base, &["list-tasks", "--status", "done"]).await;
    assert_eq!(code, 1);
    let (code, _, err) = run(&s.base, &["task", "00000000-0000-4000-8000-000000000000"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("No task with id"), "{err}");
    let (code, _, _) = run(&s.base, &["cancel"]).await;
    assert_eq!(code, 2, "a missing --task-id is a usage error");
    let (code, _, _) = run(&s.base, &["status", "--bogus"]).await;
    assert_eq!(code, 2);
    let (code, _, _) = run(&s.base, &["monitor", "--interval", "0"]).await;
    assert_eq!(code, 2);
    s.stop(&[]).await;

    // Nothing listens there: exit 3, and the message names the URL.
    let dead = "http://127.0.0.1:9";
    let (code, out, err) = run(dead, &["status"]).await;
    assert_eq!((code, out.as_str()), (3, ""));
    assert!(err.contains("http://127.0.0.1:9"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
}

#[tokio::test]
async fn monitor_snapshot_and_continuous_json_lines() {
    let s = TestServer::start(&[]).await;
    let (code, out, _) = run(&s.base, &["monitor"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Utilization") && out.contains("Running (0)"),
        "{out}"
    );
    assert!(
        !out.contains("\x1b[2J"),
        "no redraw codes when stdout is not a terminal"
    );

    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(["monitor", "--continuous", "--interval", "0.2", "--json"])
            .env("WORKER_POOL_URL", base)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        child.kill().unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "one object per interval: {text:?}");
    for l in lines {
        assert_eq!(json(l)["max_workers"], 1);
    }
    s.stop(&[]).await;
}

#[tokio::test]
async fn every_command_has_help_with_an_example() {
    for cmd in [
        "serve",
        "status",
        "config",
        "monitor",
        "process-queue",
        "cancel",
        "list-tasks",
        "submit",
        "task",
        "retry",
        "limits",
        "pause",
        "resume",
        "cooldown",
        "workers",
        "forget-worker",
        "audit",
    ] {
        let (code, out, _) = run("http://127.0.0.1:9", &[cmd, "--help"]).await;
        assert_eq!(code, 0, "{cmd}");
        assert!(
            out.contains("Example"),
            "{cmd} --help has an example:\n{out}"
        );
    }
}

#[tokio::test]
async fn limits_pause_resume_and_cooldown() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "2")]).await;
    let (code, out, err) = run(
        &s.base,
        &[
            "limits",
            "--max-workers",
            "4",
            "--source",
            "five9=1",
            "--tenant-limit",
            "hubspot=1",
            "--rate",
            "arrivy=10/1m",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("max_workers 4"), "{out}");
    assert!(out.contains("10/1m"), "{out}");
    let (_, out, _) = run(&s.base, &["limits", "--json"]).await;
    let v = json(&out);
    assert_eq!(v["sources"]["five9"]["limit"], 1);
    assert_eq!(v["sources"]["hubspot"]["tenant_limit"], 1);
    assert_eq!(v["sources"]["arrivy"]["rate"]["per_seconds"], 60);
    // none removes a rule; a malformed one is a usage error, refused before anything is sent.
    let (code, _, _) = run(&s.base, &["limits", "--source", "five9=none"]).await;
    assert_eq!(code, 0);
    let (_, out, _) = run(&s.base, &["limits", "--json"]).await;
    assert!(json(&out)["sources"]["five9"]["limit"].is_null());
    let (code, _, err) = run(&s.base, &["limits", "--rate", "arrivy=10/0s"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("per_seconds"), "{err}");
    let (code, _, err) = run(&s.base, &["limits", "--source", "nosuch=1"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown source"), "{err}");

    let (code, out, err) = run(&s.base, &["pause", "--source", "hubspot"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Paused hubspot"), "{out}");
    assert!(out.contains("paused"), "{out}");
    let (code, out, _) = run(&s.base, &["pause", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["paused"], true);
    let (code, _, _) = run(&s.base, &["resume"]).await;
    assert_eq!(code, 0);
    let (code, _, _) = run(&s.base, &["resume", "--source", "hubspot"]).await;
    assert_eq!(code, 0);
    let (code, out, err) = run(&s.base, &["cooldown", "arrivy", "--seconds", "120"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("arrivy cools down for 120 s"), "{out}");
    assert!(out.contains("cooling down until"), "{out}");
    let (code, _, err) = run(&s.base, &["cooldown", "arrivy", "--seconds", "90000"]).await;
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = run(&s.base, &["cooldown", "arrivy", "--seconds", "0"]).await;
    assert_eq!(code, 0);
    let (_, out, _) = run(&s.base, &["status", "--json"]).await;
    let st = json(&out);
    assert_eq!(st["paused"], false);
    assert!(st["sources"]["arrivy"]["cooldown_until"].is_null());
    s.stop(&[]).await;
}

#[tokio::test]
async fn submit_with_dedupe_and_tenant_then_retry() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let celery = crate::fake_celery::FakeCelery::new(&s.queue);
    let submit = [
        "submit",
        "--crm-source",
        "hubspot",
        "--sync-type",
        "all",
        "--tenant",
        "acme",
    ];
    let (code, out, err) = run(&s.base, &submit).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("running"), "{out}");
    let (_, out, _) = run(
        &s.base,
        &[&submit[..], &["--dedupe", "queued", "--json"]].concat(),
    )
    .await;
    let queued = json(&out);
    assert_eq!(
        (queued["status"].as_str(), queued["tenant"].as_str()),
        (Some("queued"), Some("acme"))
    );
    let (code, out, _) = run(&s.base, &[&submit[..], &["--dedupe", "active"]].concat()).await;
    assert_eq!(code, 0);
    assert!(out.contains("exists"), "{out}");
    assert!(out.contains(queued["task_id"].as_str().unwrap()), "{out}");
    let (code, _, err) = run(&s.base, &[&submit[..], &["--dedupe", "sometimes"]].concat()).await;
    assert_ne!(code, 0);
    assert!(err.contains("dedupe must be"), "{err}");

    // The running one fails; retry it by id, then in bulk (nothing left to retry).
    let taken = celery.take(5.0).await.unwrap();
    celery.fail(&taken.id, "SyncError", "refused").await;
    s.wait_status(&taken.id, "failed", 10).await;
    let (code, out, err) = run(&s.base, &["retry", &taken.id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("Retried {} as", taken.id)),
        "{out}"
    );
    let (code, out, _) = run(&s.base, &["retry", "--crm-source", "hubspot", "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(json(&out)["already_retried"][0], taken.id.as_str());
    let (code, _, err) = run(&s.base, &["retry", &taken.id]).await;
    assert_ne!(code, 0, "retried once");
    assert!(err.contains("already retried"), "{err}");
    let (code, out, _) = run(&s.base, &["task", &taken.id]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Retried by"), "{out}");
    s.stop(std::slice::from_ref(&taken.id)).await;
}

#[tokio::test]
async fn workers_and_forget_worker() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    // (Real Celery workers of other tests may be heard from too: Celery's events reach every
    // pool on the same Redis, so only this test's worker is looked for.)
    let (code, out, err) = run(&s.base, &["workers"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("celery@cli-test"), "{out}");
    s.scheduler()
        .store()
        .worker_event(
            "worker-online",
            "celery@cli-test",
            Some(77),
            Duration::from_secs(2),
            None,
        )
        .await
        .unwrap();
    let (code, out, err) = run(&s.base, &["workers"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("celery@cli-test"), "{out}");
    assert!(out.contains("online"), "{out}");
    assert!(out.contains("77"), "{out}");
    let (code, out, _) = run(&s.base, &["workers", "--json"]).await;
    assert_eq!(code, 0);
    let listed = json(&out);
    let mine = listed["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["hostname"] == "celery@cli-test")
        .expect("listed")
        .clone();
    assert_eq!(mine["state"], "online");

    // Refused while online (exit 1, the server's sentence on stderr).
    let (code, _, err) = run(&s.base, &["forget-worker", "celery@cli-test"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("is online"), "{err}");
    s.scheduler()
        .store()
        .worker_event(
            "worker-offline",
            "celery@cli-test",
            Some(77),
            Duration::from_secs(2),
            Some(0),
        )
        .await
        .unwrap();
    let (code, out, err) = run(&s.base, &["forget-worker", "celery@cli-test"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Forgot celery@cli-test; it ran none of the pool's tasks."),
        "{out}"
    );
    let (code, out, _) = run(&s.base, &["workers"]).await;
    assert_eq!(code, 0);
    assert!(!out.contains("celery@cli-test"), "{out}");
    s.stop(&[]).await;
}

#[tokio::test]
async fn audit_shows_who_changed_what() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "1")]).await;
    let (code, out, err) = run(&s.base, &["audit"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No change recorded."), "{out}");
    let (code, _, err) = run(&s.base, &["config", "--max-workers", "2"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&s.base, &["audit"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("anonymous"), "{out}");
    assert!(out.contains("config"), "{out}");
    assert!(
        out.contains(r#"{"max_workers":1} → {"max_workers":2}"#),
        "{out}"
    );
    let (code, out, _) = run(&s.base, &["audit", "--json", "--limit", "1"]).await;
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["entries"][0]["action"], "config");
    assert!(v["next_before"].is_string());
    let (code, _, err) = run(&s.base, &["audit", "--before", "nonsense"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("audit entry's id"), "{err}");
    s.stop(&[]).await;
}

/// A TLS front on a free port for `backend` (`127.0.0.1:<port>`), with a certificate for
/// `localhost` issued by a private CA; returns the front's port and the CA's PEM.
async fn tls_front(backend: String) -> (u16, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use tokio_rustls::rustls;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Worker Pool test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                // A handshake the client refuses ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, ca.pem())
}

/// The CLI speaks HTTPS (rustls): through a TLS front whose certificate a private CA issued,
/// it works with `--ca-cert` and refuses the connection, saying why, without it.
#[tokio::test]
async fn the_cli_speaks_https_and_checks_the_certificate() {
    let s = TestServer::start(&[("MAX_SYNC_WORKERS", "2")]).await;
    let backend = s.base.trim_start_matches("http://").to_string();
    let (port, ca_pem) = tls_front(backend).await;
    let url = format!("https://localhost:{port}");
    let ca = std::env::temp_dir().join(format!("{}.pem", crate::common::unique("ca")));
    std::fs::write(&ca, &ca_pem).unwrap();
    let ca_arg = ca.to_str().unwrap().to_string();

    let (code, out, err) = run(&url, &["status", "--json", "--ca-cert", &ca_arg]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["max_workers"], 2);
    // A write over TLS too.
    let (code, out, err) = run(
        &url,
        &["config", "--max-workers", "3", "--ca-cert", &ca_arg],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("max_workers set to 3"), "{out}");

    // Without the CA the certificate is not trusted: refused, with the reason.
    let (code, out, err) = run(&url, &["status"]).await;
    assert_ne!(code, 0);
    assert_eq!(out, "");
    assert!(err.contains("TLS certificate is not trusted"), "{err}");

    // A CA file that is not PEM is a clear error, before anything is sent.
    std::fs::write(&ca, "not a certificate").unwrap();
    let (code, _, err) = run(&url, &["status", "--ca-cert", &ca_arg]).await;
    assert_ne!(code, 0);
    assert!(err.contains("holds no PEM certificate"), "{err}");
    let _ = std::fs::remove_file(&ca);
    s.stop(&[]).await;
}
