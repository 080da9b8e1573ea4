//! Requests actix-http rejects before any handler runs (too many headers, a header line
//! that does not parse) are answered like every other error: a 4xx with
//! `content-type: application/json` and an OpenAI error body. They are sent over a raw
//! TCP connection, since an HTTP client would refuse to write them.

mod common;

use std::time::Duration;

use common::{TestEnv, assert_error_shape, demo_config};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on an answer: actix answers these at once.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// What came back on a connection: status, head (lower case) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Writes `request` as it is and reads until the gateway closes the connection (it
/// closes after each of these errors).
async fn send_raw(env: &TestEnv, request: &[u8]) -> Answer {
    let addr = env.gateway_url.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).await.expect("gateway reachable");
    conn.write_all(request).await.expect("request written");
    let mut raw = Vec::new();
    tokio::time::timeout(ANSWER_WITHIN, conn.read_to_end(&mut raw))
        .await
        .expect("the gateway answers and closes the connection")
        .expect("answer read");
    let text = String::from_utf8(raw).expect("answer is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// Asserts a JSON OpenAI error with `status` and `code`.
fn assert_json_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}\n\n{}", answer.head, answer.body);
    assert!(
        answer.head.contains("\r\ncontent-type: application/json"),
        "no JSON content type: {}",
        answer.head
    );
    assert!(
        answer
            .head
            .contains(&format!("\r\ncontent-length: {}", answer.body.len())),
        "content-length does not match the body: {}",
        answer.head
    );
    let body: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", answer.body));
    let err = assert_error_shape(&body);
    assert_eq!(err["type"], "invalid_request_error", "{body}");
    assert_eq!(err["code"], code, "{body}");
    assert!(err["param"].is_null(), "{body}");
}

#[actix_web::test]
async fn too_many_headers_are_a_json_431() {
    let env = TestEnv::start(demo_config()).await;
    let mut request = b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n".to_vec();
    for i in 0..96 {
        request.extend_from_slice(format!("x-filler-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let answer = send_raw(&env, &request).await;
    assert_json_error(&answer, 431, "request_header_fields_too_large");
}

#[actix_web::test]
async fn a_malformed_header_line_is_a_json_400() {
    let env = TestEnv::start(demo_config()).await;
    let answer = send_raw(
        &env,
        b"GET /healthz HTTP/1.1\r\nhost: gateway\r\nthis is not a header\r\n\r\n",
    )
    .await;
    assert_json_error(&answer, 400, "invalid_http_request");
}

#[actix_web::test]
async fn a_malformed_request_after_a_good_one_is_a_json_400_too() {
    let env = TestEnv::start(demo_config()).await;
    // Pipelined: the first answer is the gateway's own, the second actix's.
    let answer = send_raw(
        &env,
        b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\nGET /healthz HTTP/1.1\r\nbad line\r\n\r\n",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.head);
    let (first, second) = answer
        .body
        .split_once("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("one answer only: {:?}", answer.body));
    assert_eq!(first, r#"{"status":"ok"}"#);
    let second = format!("HTTP/1.1 {second}");
    let (head, body) = second.split_once("\r\n\r\n").expect("second head");
    let answer = Answer {
        status: 400,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    };
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert_json_error(&answer, 400, "invalid_http_request");
}
