//! Clients that hold connections without finishing their request: a body that stalls
//! or trickles is answered 408 (`server.body_read_timeout_ms`,
//! `server.body_total_timeout_ms`) and its connection closed; `server.max_connections`
//! caps the connections open at once; and a normal client is still served while
//! thousands of slow bodies are open.

mod common;

use std::time::Duration;

use common::{DEMO_KEY, TestEnv, assert_error_shape, demo_config, edit_config, set, user_says};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on anything these tests wait for: far above the timeouts they set.
const WITHIN: Duration = Duration::from_secs(20);

/// The demo config with `[server]` settings.
fn config(server: &[(&str, i64)]) -> String {
    edit_config(demo_config(), |t| {
        for (key, value) in server {
            set(t, "server", key, *value);
        }
    })
}

fn gateway_addr(env: &TestEnv) -> String {
    env.gateway_url.trim_start_matches("http://").to_owned()
}

/// The head of a keyed chat request announcing `length` body bytes.
fn chat_head(length: usize) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n\
         authorization: Bearer {DEMO_KEY}\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
}

/// Reads one answer (head and its `content-length` body), then waits for the gateway
/// to close the connection (end of stream or a reset); the status and the JSON body.
async fn read_until_closed(conn: &mut (impl AsyncReadExt + Unpin)) -> (u16, Value) {
    let answer = tokio::time::timeout(WITHIN, read_answer(conn))
        .await
        .expect("the gateway answers in time");
    let mut rest = [0u8; 1024];
    let closed = tokio::time::timeout(WITHIN, async {
        loop {
            match conn.read(&mut rest).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection stayed open after the answer"
    );
    answer
}

/// Reads until a head and the body its `content-length` announces are in.
async fn read_answer(conn: &mut (impl AsyncReadExt + Unpin)) -> (u16, Value) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(answer) = complete_answer(&raw) {
            return answer;
        }
        let n = conn.read(&mut buf).await.unwrap_or(0);
        assert!(
            n > 0,
            "closed before a complete answer: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
}

/// The status and JSON body of `raw` once it holds a whole answer.
fn complete_answer(raw: &[u8]) -> Option<(u16, Value)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let head = head.to_ascii_lowercase();
    let length: usize = head
        .split("\r\n")
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    if body.len() < length {
        return None;
    }
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    Some((status, body))
}

fn assert_request_timeout(status: u16, body: &Value) {
    assert_eq!(status, 408, "{body}");
    let err = assert_error_shape(body);
    assert_eq!(err["type"], "invalid_request_error", "{body}");
    assert_eq!(err["code"], "request_timeout", "{body}");
    assert!(err["param"].is_null(), "{body}");
}

#[actix_web::test]
async fn a_stalled_body_is_answered_408_and_closed() {
    let env = TestEnv::start(&config(&[("body_read_timeout_ms", 500)])).await;
    let mut conn = TcpStream::connect(gateway_addr(&env))
        .await
        .expect("connect");
    conn.write_all(chat_head(1000).as_bytes())
        .await
        .expect("head written");
    conn.write_all(br#"{"model":"#)
        .await
        .expect("10 bytes written");
    // And nothing more: without a body timeout the connection would stay open forever.
    let (status, body) = read_until_closed(&mut conn).await;
    assert_request_timeout(status, &body);
}

#[actix_web::test]
async fn a_trickling_body_is_bounded_by_the_total_timeout() {
    let env = TestEnv::start(&config(&[
        ("body_read_timeout_ms", 60_000),
        ("body_total_timeout_ms", 1_000),
    ]))
    .await;
    let conn = TcpStream::connect(gateway_addr(&env))
        .await
        .expect("connect");
    let (mut read, mut write) = conn.into_split();
    write
        .write_all(chat_head(100_000).as_bytes())
        .await
        .expect("head written");
    // One byte every 50 ms: never stalled long enough for the per-chunk timeout.
    let trickle = actix_web::rt::spawn(async move {
        while write.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (status, body) = read_until_closed(&mut read).await;
    assert_request_timeout(status, &body);
    trickle.abort();
}

/// Writes a keep-alive `GET /healthz` and reads its answer (status), leaving the
/// connection open.
async fn healthz_keep_alive(conn: &mut TcpStream) -> u16 {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .expect("request written");
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    // `{"status":"ok"}` ends the answer.
    while !raw.ends_with(b"}") {
        let n = conn.read(&mut buf).await.expect("answer read");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text}"))
}

#[actix_web::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    // Two workers (the test harness), so one connection each.
    let env = TestEnv::start(&config(&[("max_connections", 2)])).await;
    let addr = gateway_addr(&env);
    let mut first = TcpStream::connect(&addr).await.expect("connect");
    let mut second = TcpStream::connect(&addr).await.expect("connect");
    // Answered, so both are accepted; keep-alive holds them open for 5 s.
    assert_eq!(healthz_keep_alive(&mut first).await, 200);
    assert_eq!(healthz_keep_alive(&mut second).await, 200);
    let mut third = TcpStream::connect(&addr)
        .await
        .expect("kernel backlog takes it");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .expect("request written");
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(1_000), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served while the limit of 2 was taken"
    );
    drop(first);
    let n = tokio::time::timeout(WITHIN, third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .expect("answer read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
}

/// Slow-body connections of the attack test.
const ATTACKERS: usize = 2_000;
/// Open files the attack test needs: both ends of every attacker's connection, the
/// normal client's and the simulated providers', and some room.
const NEEDED_FILES: u64 = 5_000;

#[actix_web::test]
async fn a_normal_client_is_served_while_slow_bodies_hold_thousands_of_connections() {
    let files = rlimit::increase_nofile_limit(20_000).unwrap_or(0);
    if files < NEEDED_FILES {
        eprintln!(
            "skipped: the open files limit reaches {files}, {NEEDED_FILES} are needed \
             for {ATTACKERS} connections (raise the hard limit: ulimit -Hn)"
        );
        return;
    }
    // The attackers stay within the body timeouts for the whole test, the worst
    // case; the limit is pinned because its default depends on this machine's.
    let env = TestEnv::start(&config(&[
        ("body_read_timeout_ms", 120_000),
        ("body_total_timeout_ms", 120_000),
        ("max_connections", 4_000),
    ]))
    .await;
    let addr = gateway_addr(&env);
    let head = chat_head(1000);
    let mut attackers = Vec::with_capacity(ATTACKERS);
    for _ in 0..ATTACKERS {
        let mut conn = TcpStream::connect(&addr).await.expect("attacker connects");
        conn.write_all(head.as_bytes()).await.expect("head written");
        conn.write_all(br#"{"model":"#)
            .await
            .expect("10 bytes written");
        attackers.push(conn);
    }
    let healthz = tokio::time::timeout(WITHIN, env.client.get(env.url("/healthz")).send())
        .await
        .expect("/healthz answered in time while under attack")
        .expect("/healthz reachable");
    assert_eq!(healthz.status(), 200);
    let (status, _, body) = tokio::time::timeout(WITHIN, env.chat(user_says("gpt-4o-mini", "hi")))
        .await
        .expect("a chat answered in time while under attack");
    assert_eq!(status, 200, "{body}");
    // Every attacker is still waiting: none was answered or closed.
    let mut buf = [0u8; 64];
    for conn in &mut attackers {
        match conn.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("an attacker's connection was answered or closed: {other:?}"),
        }
    }
}
