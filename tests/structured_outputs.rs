//! The demo behaves like the real models for structured outputs: every simulated
//! provider answers `json_object` with a JSON object and `json_schema` with an instance
//! of the schema, streamed or not, so the SDKs' `.parse()` helpers work against
//! `switchyard demo`.

mod common;

use common::{TestEnv, demo_config, user_says};
use serde_json::{Value, json};

const MODELS: &[&str] = &[
    "gpt-4o-mini",
    "claude-haiku-4-5",
    "gemini-2.5-flash",
    "deepseek-chat",
    "qwen-plus",
    "mistral-small-latest",
];

fn city_schema() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "city",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "population": {"type": "integer"},
                    "coastal": {"type": "boolean"},
                    "districts": {"type": "array", "items": {"type": "string"}},
                    "climate": {"type": "string", "enum": ["temperate", "arid", "tropical"]}
                },
                "required": ["city", "population", "coastal", "districts", "climate"],
                "additionalProperties": false
            }
        }
    })
}

/// Panics unless `text` is an instance of [`city_schema`].
fn assert_city(model: &str, text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{model}: {e}: {text}"));
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("{model}: not an object: {text}"));
    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["city", "climate", "coastal", "districts", "population"],
        "{model}: {text}"
    );
    assert!(o["city"].is_string(), "{model}: {text}");
    assert!(o["population"].is_i64(), "{model}: {text}");
    assert!(o["coastal"].is_boolean(), "{model}: {text}");
    assert!(
        o["districts"]
            .as_array()
            .is_some_and(|d| d.iter().all(Value::is_string)),
        "{model}: {text}"
    );
    assert_eq!(o["climate"], "temperate", "{model}: {text}");
}

#[actix_web::test]
async fn every_simulated_model_answers_json_schema_with_an_instance() {
    let env = TestEnv::start(demo_config()).await;
    for model in MODELS {
        let mut body = user_says(model, "Describe a city");
        body["response_format"] = city_schema();
        let (status, _, answer) = env.chat(body.clone()).await;
        assert_eq!(status, 200, "{model}: {answer}");
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        assert_city(model, text);

        body["stream"] = json!(true);
        body["messages"][0]["content"] = json!("Describe a city, streamed");
        let s = env.chat_stream(body).await;
        assert_eq!(s.status, 200, "{model}: {}", s.raw);
        assert_city(model, &s.text());
    }
}

#[actix_web::test]
async fn every_simulated_model_answers_json_object_with_an_object() {
    let env = TestEnv::start(demo_config()).await;
    for model in MODELS {
        let mut body = user_says(model, "Answer in JSON");
        body["response_format"] = json!({"type": "json_object"});
        let (status, _, answer) = env.chat(body).await;
        assert_eq!(status, 200, "{model}: {answer}");
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        let v: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{model}: {e}: {text}"));
        assert!(v.is_object(), "{model}: {text}");
    }
}
