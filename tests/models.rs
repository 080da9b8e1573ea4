//! `GET /v1/models` and `GET /v1/models/{id}`: every name a client may send as `model`
//! — routes, model names and `provider/model` pins — in the OpenAI list shape.

mod common;

use common::{DEMO_KEY, TestEnv, demo_config, header, send_json, user_says};
use serde_json::Value;

async fn get(env: &TestEnv, path: &str) -> (u16, Value) {
    let (status, _, body) = send_json(env.client.get(env.url(path)).bearer_auth(DEMO_KEY)).await;
    (status.as_u16(), body)
}

#[actix_web::test]
async fn the_list_names_routes_models_and_provider_pins() {
    let env = TestEnv::start(demo_config()).await;
    let (status, list) = get(&env, "/v1/models").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().expect("data");
    let ids: Vec<&str> = data.iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"auto"), "{ids:?}");
    assert!(ids.contains(&"gpt-4o-mini"), "{ids:?}");
    assert!(ids.contains(&"openai/gpt-4o-mini"), "{ids:?}");
    // Each id once, each entry an OpenAI model object.
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    for m in data {
        assert_eq!(m["object"], "model", "{m}");
        assert!(m["owned_by"].is_string() && m["created"].is_u64(), "{m}");
    }
    // Every listed id is accepted as a request's `model`.
    for id in ["auto", "gpt-4o-mini", "openai/gpt-4o-mini"] {
        let (status, headers, body) = env.chat(user_says(id, "hello")).await;
        assert_eq!(status, 200, "{id}: {body}");
        if id == "openai/gpt-4o-mini" {
            assert_eq!(header(&headers, "x-switchyard-provider"), "openai");
        }
    }
}

#[actix_web::test]
async fn a_provider_pin_can_be_retrieved_by_id() {
    let env = TestEnv::start(demo_config()).await;
    let (status, m) = get(&env, "/v1/models/openai/gpt-4o-mini").await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["id"], "openai/gpt-4o-mini");
    assert_eq!(m["object"], "model");
    assert_eq!(m["owned_by"], "openai");
    let (status, m) = get(&env, "/v1/models/nobody/gpt-4o-mini").await;
    assert_eq!(status, 404, "{m}");
    assert_eq!(m["error"]["code"], "model_not_found");
}
