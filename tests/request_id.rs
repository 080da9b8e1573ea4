//! Request ids: minted for every request (errors included) and returned in
//! `x-request-id`, or echoed when the client sends its own.

mod common;

use common::{TestEnv, demo_config, header, user_says};

#[actix_web::test]
async fn request_id_is_minted_or_echoed() {
    let env = TestEnv::start(demo_config()).await;
    let body = user_says("gpt-4o-mini", "Hello there");
    let (_, a, _) = common::send_json(env.chat_request(&body)).await;
    let (_, b, _) = common::send_json(env.chat_request(&body)).await;
    assert!(header(&a, "x-request-id").starts_with("req_"));
    assert_ne!(header(&a, "x-request-id"), header(&b, "x-request-id"));

    let (status, echoed, _) = common::send_json(
        env.chat_request(&body)
            .header("x-request-id", "trace-42-from-client"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&echoed, "x-request-id"), "trace-42-from-client");

    // Errors carry one too.
    let (status, err, _) =
        common::send_json(env.chat_request(&user_says("no-such-model", "Hello there"))).await;
    assert_eq!(status, 404);
    assert!(header(&err, "x-request-id").starts_with("req_"));
}
