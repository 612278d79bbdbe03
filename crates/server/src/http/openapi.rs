//! The OpenAPI document, derived from the handlers and the request/response types.

use super::{handlers, openai};
use crate::config::ServerConfig;
use crate::error::{ErrorResponse, ErrorType};
use crate::http::handlers::MAX_CONCURRENT;
use crate::validate::{MAX_CHOICES, MAX_STOP, MAX_VARIANTS};
use serde_json::{Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Adds the bearer-token security scheme to the OpenAPI document.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of the server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vec2prompt",
        description = "Given a target embedding, write a prompt whose LLM answer lands near it (cosine). \
                       With an API key configured, every route but /health needs `Authorization: Bearer <key>`. \
                       Every error is JSON `{error, error_type}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        handlers::health,
        handlers::generate_prompt,
        handlers::generate_prompt_from_text,
        handlers::generate_prompts_batch,
        handlers::generate_prompts_parallel,
        handlers::metrics_text,
        openai::embeddings,
        openai::chat_completions,
        crate::walk::interpolate,
        crate::optimize::optimize,
        crate::optimize::feedback
    ),
    components(schemas(ErrorResponse, ErrorType)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "generate", description = "Prompt generation from target embeddings"),
        (name = "openai", description = "OpenAI-compatible endpoints over the server's models"),
        (name = "optimize", description = "The prompt optimizer: vague prompt → precise or structured prompt, and feedback"),
        (name = "status", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Dimension of the default embedder (all-MiniLM-L6-v2), stated by `print-schema`.
pub const DEFAULT_DIMENSION: usize = 384;

/// The facts the document states that depend on the server's models and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecFacts {
    /// Dimension of target embeddings (the embedder's).
    pub dimension: usize,
    /// The server's settings (list sizes, budgets, token limits).
    pub config: ServerConfig,
}

/// The OpenAPI document as pretty JSON for the default embedder and settings (what
/// `vec2prompt print-schema` prints and `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    let doc = document_json(&SpecFacts {
        dimension: DEFAULT_DIMENSION,
        config: ServerConfig::default(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The OpenAPI document a running server serves: the derived one, plus what the types
/// cannot say ([`document_json`]).
pub fn document(facts: &SpecFacts) -> utoipa::openapi::OpenApi {
    serde_json::from_value(document_json(facts)).unwrap_or_else(|_| ApiDoc::openapi())
}

/// A JSON Schema pattern (ECMA-262, `\uXXXX` escapes) matching text with at least one
/// visible character: the check of `vec2prompt_core::text::has_visible`. Code points
/// beyond the BMP cannot be written in a pattern without the `u` flag, so a text of only
/// invisible astral characters (tags) passes the pattern and still gets 422.
fn visible_pattern() -> String {
    let mut class = String::from("[^\\s\\u0000-\\u001f\\u007f-\\u009f");
    for &(lo, hi) in vec2prompt_core::text::DEFAULT_IGNORABLE {
        if hi > 0xFFFF {
            continue;
        }
        class.push_str(&format!("\\u{lo:04x}"));
        if hi > lo {
            class.push_str(&format!("-\\u{hi:04x}"));
        }
    }
    class.push(']');
    class
}

/// The derived document with the embedder's dimension, the list sizes, the ranges and
/// every status code each operation can answer added.
pub fn document_json(facts: &SpecFacts) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let c = &facts.config;
    let dim = facts.dimension;
    let visible = visible_pattern();
    let text = json!({"minLength": 1, "pattern": visible});
    let vector = json!({"minItems": dim, "maxItems": dim});
    let list = json!({"minItems": 1, "maxItems": c.max_batch_items});
    let int64 = json!({"minimum": i64::MIN, "maximum": i64::MAX});
    let schemas = &mut doc["components"]["schemas"];
    let patches = [
        (
            "GenerateOptions",
            "budget",
            json!({"minimum": 0, "maximum": c.max_budget}),
        ),
        (
            "GenerateOptions",
            "max_wall_ms",
            json!({"minimum": 1, "maximum": i64::MAX}),
        ),
        (
            "GenerateOptions",
            "variants",
            json!({"minimum": 1, "maximum": MAX_VARIANTS}),
        ),
        ("GenerateOptions", "seed", int64.clone()),
        ("GeneratePromptRequest", "target_embedding", vector.clone()),
        ("GeneratePromptFromTextRequest", "text", text.clone()),
        ("GeneratePromptsBatchRequest", "embeddings", list.clone()),
        ("GeneratePromptsParallelRequest", "embeddings", list.clone()),
        (
            "GeneratePromptsParallelRequest",
            "max_concurrent",
            json!({"minimum": 1, "maximum": MAX_CONCURRENT}),
        ),
        (
            "EmbeddingsRequest",
            "dimensions",
            json!({"minimum": dim, "maximum": dim}),
        ),
        (
            "EmbeddingsRequest",
            "encoding_format",
            json!({"enum": ["float", null]}),
        ),
        ("ChatCompletionRequest", "messages", json!({"minItems": 1})),
        (
            "ChatCompletionRequest",
            "max_tokens",
            json!({"minimum": 1, "maximum": c.max_tokens}),
        ),
        (
            "ChatCompletionRequest",
            "max_completion_tokens",
            json!({"minimum": 1, "maximum": c.max_tokens}),
        ),
        (
            "ChatCompletionRequest",
            "n",
            json!({"minimum": 1, "maximum": MAX_CHOICES}),
        ),
        (
            "ChatCompletionRequest",
            "temperature",
            json!({"minimum": 0, "maximum": 2}),
        ),
        (
            "ChatCompletionRequest",
            "top_p",
            json!({"exclusiveMinimum": 0, "maximum": 1}),
        ),
        ("ChatCompletionRequest", "seed", int64),
    ];
    for (schema, field, patch) in patches {
        merge(&mut schemas[schema]["properties"][field], &patch);
    }
    for schema in [
        "GeneratePromptsBatchRequest",
        "GeneratePromptsParallelRequest",
    ] {
        merge(
            &mut schemas[schema]["properties"]["embeddings"]["items"],
            &vector,
        );
    }
    // EmbeddingInput and StopSequences are `oneOf [string, array of strings]`.
    if let Some(alts) = schemas["EmbeddingInput"]["oneOf"].as_array_mut() {
        for alt in alts {
            if alt["type"] == "string" {
                merge(alt, &text);
            } else {
                merge(alt, &list);
                merge(&mut alt["items"], &text);
            }
        }
    }
    if let Some(alts) = schemas["StopSequences"]["oneOf"].as_array_mut() {
        for alt in alts {
            if alt["type"] == "string" {
                merge(alt, &json!({"minLength": 1}));
            } else {
                merge(alt, &json!({"maxItems": MAX_STOP}));
                merge(&mut alt["items"], &json!({"minLength": 1}));
            }
        }
    }
    let notes = [
        (
            "GeneratePromptFromTextRequest",
            "text",
            format!(
                " At most {} tokens of the embedder.",
                c.max_text_input_tokens
            ),
        ),
        (
            "ChatCompletionRequest",
            "messages",
            format!(
                " The user text may have at most {} tokens of the LLM.",
                c.max_chat_input_tokens
            ),
        ),
    ];
    for (schema, field, note) in notes {
        if let Some(d) = schemas[schema]["properties"][field]["description"].as_str() {
            let d = format!("{d}{note}");
            schemas[schema]["properties"][field]["description"] = Value::String(d);
        }
    }
    add_error_responses(&mut doc);
    doc
}

/// Merges the keys of `patch` into `target` (an object).
fn merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

/// Adds to every operation each error status it can answer that its handler does not
/// already document: those of the HTTP layer (malformed requests, limits, timeouts,
/// auth, connection cap) and, for POST routes, those of the body and the queue.
fn add_error_responses(doc: &mut Value) {
    let retry = json!({"Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0}
    }});
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let post = method == "post";
            let open = path == "/health";
            let mut codes = vec![
                (400, "The request is malformed or its body is not JSON"),
                (405, "The route exists but not with this method"),
                (408, "The request body did not arrive in time"),
                (414, "The request URI is too long"),
                (431, "The request headers are too large"),
                (
                    503,
                    "The model worker is not running, or too many connections are open",
                ),
            ];
            if !open {
                codes.push((401, "Missing or wrong API key"));
            }
            if post {
                codes.extend([
                    (413, "The body is larger than max_body_bytes"),
                    (415, "The body is not declared as application/json"),
                    (
                        422,
                        "A field is missing, has the wrong type or an invalid value",
                    ),
                    (
                        429,
                        "The request queue is full; retry after Retry-After seconds",
                    ),
                    (502, "A model backend failed"),
                ]);
            }
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            for (code, description) in codes {
                let entry = responses.entry(code.to_string()).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/ErrorResponse"
                        }}}
                    })
                });
                if code == 429 || code == 503 {
                    merge(entry, &json!({"headers": retry}));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_dimension_sizes_ranges_and_statuses() {
        let config = ServerConfig {
            max_batch_items: 7,
            ..ServerConfig::default()
        };
        let doc = document_json(&SpecFacts {
            dimension: 768,
            config,
        });
        let s = &doc["components"]["schemas"];
        let target = &s["GeneratePromptRequest"]["properties"]["target_embedding"];
        assert_eq!(
            (target["minItems"].as_u64(), target["maxItems"].as_u64()),
            (Some(768), Some(768))
        );
        let e = &s["GeneratePromptsBatchRequest"]["properties"]["embeddings"];
        assert_eq!(
            (e["minItems"].as_u64(), e["maxItems"].as_u64()),
            (Some(1), Some(7))
        );
        assert_eq!(e["items"]["maxItems"].as_u64(), Some(768));
        assert_eq!(
            s["GenerateOptions"]["properties"]["variants"]["maximum"].as_u64(),
            Some(32)
        );
        assert_eq!(
            s["ChatCompletionRequest"]["properties"]["seed"]["maximum"].as_i64(),
            Some(i64::MAX)
        );
        let post = &doc["paths"]["/generate_prompt"]["post"]["responses"];
        for code in [
            "400", "401", "408", "413", "414", "415", "422", "429", "431", "502", "503",
        ] {
            assert!(post.get(code).is_some(), "/generate_prompt lacks {code}");
        }
        assert!(post["429"]["headers"].get("Retry-After").is_some());
        let health = &doc["paths"]["/health"]["get"]["responses"];
        assert!(health.get("401").is_none() && health.get("503").is_some());
        // The served document is the same one.
        let served = serde_json::to_value(document(&SpecFacts {
            dimension: 768,
            config: ServerConfig::default(),
        }))
        .unwrap();
        let t = &served["components"]["schemas"]["GeneratePromptRequest"]["properties"]["target_embedding"];
        assert_eq!(t["maxItems"].as_u64(), Some(768));
    }

    #[test]
    fn the_text_pattern_is_the_visibility_check() {
        let p = visible_pattern();
        assert!(
            p.starts_with("[^\\s") && p.contains("\\u200b-\\u200f"),
            "{p}"
        );
    }

    #[test]
    fn openapi_names_every_route_and_the_bearer_scheme() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        for path in [
            "/health",
            "/generate_prompt",
            "/generate_prompt_from_text",
            "/generate_prompts_batch",
            "/generate_prompts_parallel",
            "/metrics",
            "/v1/embeddings",
            "/v1/chat/completions",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["api_key"]["scheme"],
            "bearer"
        );
    }
}
