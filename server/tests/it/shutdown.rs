//! Shutdown: SIGTERM must stop the server promptly, even with a dashboard holding its live
//! channel open (a graceful shutdown otherwise waits for that response for ever).

use crate::common;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_promptly_with_a_live_channel_open() {
    let prefix = common::unique("shutdown");
    let _cleanup = common::Cleanup::new(&prefix);
    let config = common::config(&[
        ("WORKER_POOL_PREFIX", &prefix),
        ("WORKER_POOL_CELERY_QUEUE", &format!("{prefix}:celery")),
    ]);
    let pool = worker_pool::Pool::start(&config).expect("pool starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(worker_pool::serve(listener, pool.state.clone(), async {
        let _ = stopped.await;
    }));

    // A dashboard's live channel: open, and its first event read.
    let mut res = reqwest::get(format!("http://{addr}/api/events"))
        .await
        .expect("the live channel answers");
    assert_eq!(res.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("a first event")
        .unwrap()
        .unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&first).contains("event:"),
        "{first:?}"
    );

    let _ = stop.send(());
    let done = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert!(
        done.is_ok(),
        "serve did not return within 5 s of the shutdown signal with a live channel open"
    );
    done.unwrap().unwrap().unwrap();
    // The stream ended: the client sees its end rather than hanging.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = res.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream was closed");
    pool.stop().await;
}
