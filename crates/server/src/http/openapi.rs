//! The OpenAPI document, derived from the handlers and the request/response types.

use super::{handlers, openai};
use crate::config::ServerConfig;
use crate::error::{ErrorResponse, ErrorType};
use crate::http::handlers::MAX_CONCURRENT;
use crate::validate::{
    MAX_CENTROID_ITEMS, MAX_CHOICES, MAX_STOP, MAX_VARIANTS, MAX_WEIGHT, component_bound,
};
use serde_json::{Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use vec2prompt_optimizer::feedback::{MAX_COMMENT_CHARS, MAX_PROMPT_CHARS};
use vec2prompt_search::interpolation::MAX_STEPS;

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
        crate::http::interpolate::interpolate,
        crate::http::optimize::optimize,
        crate::http::optimize::feedback
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
    /// Whether a prompt optimizer is loaded: without one `/optimize` is not offered (404)
    /// and not documented.
    pub optimizer: bool,
}

/// The OpenAPI document as pretty JSON for the default embedder and settings (what
/// `vec2prompt print-schema` prints and `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    let doc = document_json(&SpecFacts {
        dimension: DEFAULT_DIMENSION,
        config: ServerConfig::default(),
        optimizer: true,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
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
    let vector = vector_schema(dim);
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
        (
            "GenerateOptions",
            "answer_weight",
            json!({"minimum": 0, "maximum": 1}),
        ),
        (
            "GenerateOptions",
            "content_margin",
            json!({"minimum": 0, "maximum": 2}),
        ),
        (
            "GeneratePromptRequest",
            "target_embedding",
            json!({"oneOf": [vector.clone(), {
                "type": "array", "minItems": 1, "maxItems": MAX_CENTROID_ITEMS,
                "items": vector.clone(),
            }]}),
        ),
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
        ("OptimizeBody", "raw_prompt", text.clone()),
        (
            "FeedbackBody",
            "raw_prompt",
            json!({"minLength": 1, "maxLength": MAX_PROMPT_CHARS, "pattern": visible}),
        ),
        (
            "FeedbackBody",
            "optimized_prompt",
            json!({"minLength": 1, "maxLength": MAX_PROMPT_CHARS, "pattern": visible}),
        ),
        (
            "FeedbackBody",
            "comment",
            json!({"maxLength": MAX_COMMENT_CHARS}),
        ),
    ];
    for (schema, field, patch) in patches {
        merge(&mut schemas[schema]["properties"][field], &patch);
    }
    // Feedback needs a verdict: a rating, `chosen`, or both (not null).
    merge(
        &mut schemas["FeedbackBody"],
        &json!({"anyOf": [
            {"required": ["rating"], "properties": {"rating": {"type": "integer"}}},
            {"required": ["chosen"], "properties": {"chosen": {"type": "boolean"}}},
        ]}),
    );
    // The batch is all or nothing, so each item must be valid; the parallel endpoint
    // checks each item on its own and reports an invalid one as a failed result (200), so
    // any array of numbers is an acceptable item there.
    merge(
        &mut schemas["GeneratePromptsBatchRequest"]["properties"]["embeddings"]["items"],
        &vector,
    );
    let target = &mut schemas["GeneratePromptRequest"]["properties"]["target_embedding"];
    if let Some(o) = target.as_object_mut() {
        for k in ["items", "type", "minItems", "maxItems"] {
            o.remove(k);
        }
    }
    schemas["GeneratePromptsParallelRequest"]["properties"]["embeddings"]["items"] = json!({
        "description": "A target embedding; an invalid one fails alone, as its result.",
    });
    let spec = target_spec_schema(schemas, &vector, &text, c.max_batch_items);
    schemas["TargetSpec"] = spec;
    let max_steps = MAX_STEPS.min(c.max_batch_items.max(2));
    merge(
        &mut schemas["InterpolateRequest"]["properties"]["steps"],
        &json!({"minimum": 2, "maximum": max_steps}),
    );
    patch_chat(schemas, &visible);
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
    if !facts.optimizer
        && let Some(paths) = doc["paths"].as_object_mut()
    {
        paths.remove("/optimize");
    }
    doc
}

/// A target embedding: `dim` numbers within the validator's bound (so the length fits a
/// 32-bit float), at least one of them non-zero (an all-zero vector has no direction).
fn vector_schema(dim: usize) -> Value {
    let bound = component_bound(dim);
    json!({
        "type": "array",
        "minItems": dim,
        "maxItems": dim,
        "items": {"type": "number", "minimum": -bound, "maximum": bound},
        "contains": {"type": "number", "not": {"const": 0}},
    })
}

/// An end of `/interpolate`: exactly one of `text`, `texts`, `embedding` or `embeddings`
/// (the others absent or null), with `weights` only on a centroid and then one per item.
/// JSON Schema cannot tie two lengths together, so a weighted centroid is one variant per
/// length; the pieces are components, so each variant is a few references.
fn target_spec_schema(
    schemas: &mut Value,
    vector: &Value,
    text: &Value,
    max_items: usize,
) -> Value {
    schemas["TargetEmbedding"] = merge_into(
        vector.clone(),
        &json!({"description": "A target embedding (only its direction matters)."}),
    );
    schemas["VisibleText"] = merge_into(
        json!({"type": "string", "description": "A text with at least one visible character."}),
        text,
    );
    schemas["Weight"] = json!({
        "type": "number", "minimum": 0, "maximum": MAX_WEIGHT,
        "description": "A non-negative weight of one centroid item.",
    });
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let null = json!({"type": "null"});
    let list = |item: &str, lo: usize, hi: usize| json!({"type": "array", "minItems": lo, "maxItems": hi, "items": r(item)});
    let end = |given: &[(&str, Value)]| -> Value {
        let mut props = serde_json::Map::new();
        for f in ["text", "texts", "embedding", "embeddings", "weights"] {
            props.insert(f.to_string(), null.clone());
        }
        for (f, schema) in given {
            props.insert(f.to_string(), schema.clone());
        }
        let required: Vec<&str> = given
            .iter()
            .map(|(f, _)| *f)
            .filter(|f| *f != "weights")
            .collect();
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": props,
        })
    };
    let mut variants = vec![
        end(&[("text", r("VisibleText"))]),
        end(&[("embedding", r("TargetEmbedding"))]),
        end(&[("texts", list("VisibleText", 1, max_items))]),
        end(&[("embeddings", list("TargetEmbedding", 1, max_items))]),
    ];
    for (field, item) in [("texts", "VisibleText"), ("embeddings", "TargetEmbedding")] {
        for k in 1..=max_items {
            let mut weights = list("Weight", k, k);
            weights["contains"] = json!({"type": "number", "exclusiveMinimum": 0});
            let mut v = end(&[(field, list(item, k, k)), ("weights", weights)]);
            v["required"] = json!([field, "weights"]);
            variants.push(v);
        }
    }
    json!({
        "description": "A target: exactly one of a text, a vector, or several texts or \
                        vectors whose (weighted) centroid is the target. `weights`, on a \
                        centroid only, has one non-negative weight per item, not all zero.",
        "oneOf": variants,
    })
}

/// The chat request's rules that its types cannot say: known roles, text-only parts, no
/// streaming, and at least one user message with visible text (what the model answers).
fn patch_chat(schemas: &mut Value, visible: &str) {
    let roles = json!(["system", "developer", "user", "assistant", "tool"]);
    merge(
        &mut schemas["ChatMessage"]["properties"]["role"],
        &json!({"enum": roles}),
    );
    merge(
        &mut schemas["ContentPart"]["properties"]["type"],
        &json!({"enum": ["text"]}),
    );
    schemas["ContentPart"]["properties"]["text"] = json!({"type": "string"});
    schemas["ContentPart"]["required"] = json!(["type", "text"]);
    let chat = &mut schemas["ChatCompletionRequest"]["properties"];
    chat["stream"] = json!({
        "description": "Only `false` (or absent): streaming is not supported.",
        "enum": [false, null],
    });
    let shown = json!({"type": "string", "pattern": visible});
    merge(
        &mut chat["messages"],
        &json!({"contains": {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"const": "user"},
                "content": {"anyOf": [shown.clone(), {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": shown},
                    },
                }]},
            },
        }}),
    );
}

/// `target` with the keys of `patch` merged in.
fn merge_into(mut target: Value, patch: &Value) -> Value {
    merge(&mut target, patch);
    target
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
                        "The request queue is full, or requests_per_minute is reached; retry after Retry-After seconds",
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
            optimizer: true,
        });
        let s = &doc["components"]["schemas"];
        let target = &s["GeneratePromptRequest"]["properties"]["target_embedding"]["oneOf"][0];
        assert_eq!(
            (target["minItems"].as_u64(), target["maxItems"].as_u64()),
            (Some(768), Some(768))
        );
        assert!(target["contains"]["not"]["const"] == 0, "{target}");
        let steps = &s["InterpolateRequest"]["properties"]["steps"];
        assert_eq!(
            (steps["minimum"].as_u64(), steps["maximum"].as_u64()),
            (Some(2), Some(7))
        );
        // One variant per centroid length ties weights to items: 4 plain, 2 × 7 weighted.
        let ends = s["TargetSpec"]["oneOf"].as_array().unwrap();
        assert_eq!(ends.len(), 4 + 2 * 7);
        assert_eq!(
            ends[4 + 6]["properties"]["weights"]["maxItems"].as_u64(),
            Some(7)
        );
        let roles = &s["ChatMessage"]["properties"]["role"]["enum"];
        assert_eq!(roles.as_array().map(Vec::len), Some(5));
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
        let t = &s["GeneratePromptRequest"]["properties"]["target_embedding"]["oneOf"];
        assert_eq!(t[1]["items"]["maxItems"].as_u64(), Some(768));
        let bound = t[0]["items"]["maximum"].as_f64().unwrap();
        assert_eq!(bound, component_bound(768));
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
