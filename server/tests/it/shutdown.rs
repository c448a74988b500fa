//! Shutdown: SIGTERM must stop the server promptly, even with a dashboard holding its live
//! channel open (a graceful shutdown otherwise waits for that response for ever).

use crate::common::{self, TestServer};
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

/// A client that sends its headers one byte a second is cut off after the header-read
/// timeout, instead of holding its connection for ever.
#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(&[]).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = false;
    for b in request {
        if conn.write_all(&[*b]).await.is_err() {
            cut_off = true;
            break;
        }
        // Closed by the server? A read returns 0 (or an error) once it is.
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(1), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Ok(Ok(n)) => panic!(
                "answered a request whose headers never ended: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(cut_off, "the connection was still open after {took:?}");
    assert!(
        took >= worker_pool::HEADER_READ_TIMEOUT && took < worker_pool::HEADER_READ_TIMEOUT * 2,
        "cut off after {took:?}"
    );
    s.stop(&[]).await;
}
