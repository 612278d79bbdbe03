//! Request validation: everything a client sends is checked here, before it reaches the
//! queue, so a bad request costs no model time and always gets a 4xx naming the field.

pub mod interpolate;

use crate::api::{
    ChatCompletionRequest, EmbeddingInput, GenerateOptions, MessageContent, StopSequences,
};
use crate::config::ServerConfig;
use crate::error::{ErrorType, ServerError};
use crate::jobs::Quality;
use serde_json::Value;
use std::time::Duration;
use vec2prompt_core::{Error, GenerationParams, Sampling, TargetVector};
use vec2prompt_search::{SearchBudget, SearchOptions};

/// Most variants a request may ask for.
pub const MAX_VARIANTS: usize = 32;
/// Most answers per chat completion.
pub const MAX_CHOICES: usize = 8;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Largest magnitude of one component of a target embedding of `dimension` numbers:
/// `f32::MAX / √dimension` rounded down to two significant digits, so the length of any
/// accepted vector fits a 32-bit float. The OpenAPI document states the same bound.
pub fn component_bound(dimension: usize) -> f64 {
    let b = f64::from(f32::MAX) / (dimension.max(1) as f64).sqrt();
    let scale = 10f64.powi(b.log10().floor() as i32 - 1);
    (b / scale).floor() * scale
}

/// Parses one target embedding from JSON. JSON has no NaN or infinity, so clients that
/// serialize them write strings (`"NaN"`) or `null`; both are rejected with the position
/// of the component, as are components beyond [`component_bound`] (so the vector's length
/// fits a 32-bit float). Only the direction matters: components are scaled by their
/// largest magnitude in f64 before they become 32-bit floats, so a vector of tiny numbers
/// keeps its direction instead of rounding to zero.
pub fn parse_embedding(
    argument: &str,
    value: &Value,
    dimension: usize,
) -> Result<TargetVector, Error> {
    let Value::Array(items) = value else {
        return Err(Error::invalid(
            argument,
            format!("expected an array of numbers, got {}", kind(value)),
        ));
    };
    if items.is_empty() {
        return Err(Error::invalid(
            argument,
            format!("the vector is empty; it needs {dimension} numbers"),
        ));
    }
    let bound = component_bound(dimension);
    let mut values = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        match v {
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if !(x.is_finite() && x.abs() <= bound) {
                    return Err(Error::invalid(
                        argument,
                        format!(
                            "component {i} is {n}, outside ±{bound:e} (the vector's length \
                             must fit a 32-bit float; only its direction matters)"
                        ),
                    ));
                }
                values.push(x);
            }
            Value::String(s) => {
                return Err(Error::invalid(
                    argument,
                    format!(
                        "component {i} is the string {s:?}, not a number (NaN and infinite \
                         values are not allowed)"
                    ),
                ));
            }
            other => {
                return Err(Error::invalid(
                    argument,
                    format!("component {i} is {}, not a number", kind(other)),
                ));
            }
        }
    }
    // Divided, not multiplied by the reciprocal: 1 / 5e-324 is infinite.
    let largest = values.iter().fold(0f64, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest } else { 1.0 };
    let values = values.iter().map(|&x| (x / scale) as f32).collect();
    TargetVector::new(argument, values, dimension)
}

/// Largest weight of one item of a weighted centroid (`/interpolate`'s `weights`): well
/// inside the 32-bit range, so a weight the document allows never rounds to infinity.
pub const MAX_WEIGHT: f64 = 1e38;

/// New tokens of a chat answer when the request sets no limit (capped by the server's).
pub const DEFAULT_CHAT_TOKENS: usize = 128;

/// Most vectors one centroid target may average.
pub const MAX_CENTROID_ITEMS: usize = 256;

/// Parses a target: one embedding, or a list of embeddings whose normalized mean (the
/// centroid of their directions) is the target.
pub fn parse_target(
    argument: &str,
    value: &Value,
    dimension: usize,
) -> Result<TargetVector, Error> {
    let Value::Array(items) = value else {
        return parse_embedding(argument, value, dimension);
    };
    if !items.first().is_some_and(Value::is_array) {
        return parse_embedding(argument, value, dimension);
    }
    if items.len() > MAX_CENTROID_ITEMS {
        return Err(Error::invalid(
            argument,
            format!(
                "a centroid of {} vectors is more than {MAX_CENTROID_ITEMS}",
                items.len()
            ),
        ));
    }
    let vectors = items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_embedding(&format!("{argument}[{i}]"), v, dimension).map(|t| t.values))
        .collect::<Result<Vec<_>, _>>()?;
    let c = vec2prompt_search::centroid(&vectors, None)
        .map_err(|e| Error::invalid(argument, e.to_string()))?;
    TargetVector::new(argument, c, dimension)
}

/// The work a generation request asks of the model worker: per target, its returned
/// variants, its LLM calls (the budget) and the answers measuring its quality (none, the
/// chosen prompt, or every variant).
pub fn request_work(targets: usize, options: &SearchOptions, quality: Quality) -> usize {
    let measured = match quality {
        Quality::Skip => 0,
        Quality::Best => 1,
        Quality::AllCandidates => options.variants,
    };
    targets.saturating_mul(
        options
            .variants
            .saturating_add(options.budget.max_llm_calls)
            .saturating_add(measured),
    )
}

/// Refuses (422) a request whose [`request_work`] is over the server's
/// `max_request_work`, naming what to lower.
pub fn check_work(
    targets: usize,
    options: &SearchOptions,
    quality: Quality,
    cap: usize,
) -> Result<(), ServerError> {
    let work = request_work(targets, options, quality);
    if work <= cap {
        return Ok(());
    }
    Err(ServerError::invalid(
        "options",
        format!(
            "{targets} target(s) × ({} variant(s) + budget {} + {} measured answer(s)) = \
             {work} units of work, more than this server's max_request_work ({cap}); \
             send fewer targets or steps, or lower options.variants or options.budget",
            options.variants,
            options.budget.max_llm_calls,
            work / targets.max(1) - options.variants - options.budget.max_llm_calls
        ),
    ))
}

/// Checks the number of items of a list field.
pub fn check_items(field: &str, count: usize, max: usize) -> Result<(), ServerError> {
    if count == 0 {
        return Err(ServerError::invalid(
            field,
            "the list is empty; send at least one item",
        ));
    }
    if count > max {
        return Err(ServerError::invalid(
            field,
            format!(
                "{count} items is more than this server's max_batch_items ({max}); split the \
                 request"
            ),
        ));
    }
    Ok(())
}

/// Turns request options into search options, with the server's defaults and limits.
pub fn search_options(
    options: Option<&GenerateOptions>,
    config: &ServerConfig,
    default_variants: usize,
) -> Result<SearchOptions, ServerError> {
    let o = options.cloned().unwrap_or_default();
    let budget = o.budget.unwrap_or(config.default_budget);
    if budget > config.max_budget {
        return Err(ServerError::invalid(
            "options.budget",
            format!(
                "{budget} LLM calls is more than this server allows per target ({})",
                config.max_budget
            ),
        ));
    }
    let variants = o.variants.unwrap_or(default_variants);
    if !(1..=MAX_VARIANTS).contains(&variants) {
        return Err(ServerError::invalid(
            "options.variants",
            format!("must be between 1 and {MAX_VARIANTS}, got {variants}"),
        ));
    }
    let max_wall = match o.max_wall_ms.or(config.default_max_wall_ms) {
        Some(0) => {
            return Err(ServerError::invalid(
                "options.max_wall_ms",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        Some(ms) => Some(Duration::from_millis(ms)),
        None => None,
    };
    let answer_weight = match o.answer_weight {
        Some(w) if !(0.0..=1.0).contains(&w) => {
            return Err(ServerError::invalid(
                "options.answer_weight",
                format!("must lie in [0, 1], got {w}"),
            ));
        }
        Some(w) => w,
        None => SearchOptions::default().answer_weight,
    };
    let defaults = SearchOptions::default();
    let content_margin = match o.content_margin {
        Some(m) if !(0.0..=2.0).contains(&m) => {
            return Err(ServerError::invalid(
                "options.content_margin",
                format!("must lie in [0, 2], got {m}"),
            ));
        }
        Some(m) => m,
        None => defaults.content_margin,
    };
    Ok(SearchOptions {
        budget: SearchBudget {
            max_llm_calls: budget,
            max_wall,
        },
        candidates: defaults.candidates.max(variants),
        variants,
        seed: o.seed.unwrap_or(defaults.seed),
        keep_vectors: o.return_vectors.unwrap_or(false),
        rounds: defaults.rounds,
        answer_weight,
        content_margin,
    })
}

/// The texts of `/v1/embeddings`.
pub fn embedding_texts(
    input: EmbeddingInput,
    max_items: usize,
) -> Result<Vec<String>, ServerError> {
    let texts = match input {
        EmbeddingInput::One(t) => vec![t],
        EmbeddingInput::Many(ts) => ts,
    };
    check_items("input", texts.len(), max_items)?;
    for (i, t) in texts.iter().enumerate() {
        vec2prompt_core::text::require_non_empty(&format!("input[{i}]"), t)?;
    }
    Ok(texts)
}

/// The texts of a text target: one, or several for their centroid.
pub fn target_texts(input: EmbeddingInput, max_items: usize) -> Result<Vec<String>, ServerError> {
    match input {
        EmbeddingInput::One(t) => {
            vec2prompt_core::text::require_non_empty("text", &t)?;
            Ok(vec![t])
        }
        EmbeddingInput::Many(ts) => {
            check_items("text", ts.len(), max_items)?;
            for (i, t) in ts.iter().enumerate() {
                vec2prompt_core::text::require_non_empty(&format!("text[{i}]"), t)?;
            }
            Ok(ts)
        }
    }
}

/// Most stop strings of a chat completion (as OpenAI).
pub const MAX_STOP: usize = 4;

/// A validated chat completion: what to generate and where to cut the answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    /// The user turns, joined.
    pub prompt: String,
    /// Generation parameters.
    pub params: GenerationParams,
    /// Stop strings: each answer is cut before the first occurrence of any.
    pub stop: Vec<String>,
}

/// Cuts `text` before the first occurrence of any of `stop`; returns whether it did.
pub fn apply_stop(text: &mut String, stop: &[String]) -> bool {
    match stop.iter().filter_map(|s| text.find(s.as_str())).min() {
        Some(at) => {
            text.truncate(at);
            true
        }
        None => false,
    }
}

/// The prompt, generation parameters and stop strings of a chat completion.
pub fn chat(req: &ChatCompletionRequest, config: &ServerConfig) -> Result<ChatPlan, ServerError> {
    if req.stream == Some(true) {
        return Err(ServerError::new(
            ErrorType::InvalidRequest,
            "stream: true is not supported; leave `stream` out",
        ));
    }
    if req.messages.is_empty() {
        return Err(ServerError::invalid("messages", "the list is empty"));
    }
    let mut user_turns = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let text = match &m.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => {
                let mut s = Vec::new();
                for (j, p) in parts.iter().enumerate() {
                    match (p.kind.as_str(), &p.text) {
                        ("text", Some(t)) => s.push(t.as_str()),
                        _ => {
                            return Err(ServerError::invalid(
                                &format!("messages[{i}].content[{j}]"),
                                "only parts of type `text` with a `text` field are supported",
                            ));
                        }
                    }
                }
                s.join("\n")
            }
        };
        match m.role.as_str() {
            "user" => user_turns.push(text),
            "system" | "developer" | "assistant" | "tool" => {}
            other => {
                return Err(ServerError::invalid(
                    &format!("messages[{i}].role"),
                    format!("unknown role {other:?}: use system, user, assistant or tool"),
                ));
            }
        }
    }
    let prompt = user_turns.join("\n\n");
    if !vec2prompt_core::text::has_visible(&prompt) {
        return Err(ServerError::invalid(
            "messages",
            "no user message with visible text; the model answers the user turn",
        ));
    }
    let stop = match &req.stop {
        None => Vec::new(),
        Some(StopSequences::One(s)) => vec![s.clone()],
        Some(StopSequences::Many(v)) => v.clone(),
    };
    if stop.len() > MAX_STOP {
        return Err(ServerError::invalid(
            "stop",
            format!("at most {MAX_STOP} strings, got {}", stop.len()),
        ));
    }
    if stop.iter().any(|s| s.is_empty()) {
        return Err(ServerError::invalid("stop", "a stop string is empty"));
    }
    for (field, v) in [
        ("max_tokens", req.max_tokens),
        ("max_completion_tokens", req.max_completion_tokens),
    ] {
        if let Some(v) = v
            && !(1..=config.max_tokens).contains(&v)
        {
            return Err(ServerError::invalid(
                field,
                format!("must be between 1 and {}, got {v}", config.max_tokens),
            ));
        }
    }
    // Without a limit in the request: 128 tokens, or the server's limit if lower.
    let max_new_tokens = req
        .max_tokens
        .or(req.max_completion_tokens)
        .unwrap_or(DEFAULT_CHAT_TOKENS.min(config.max_tokens));
    let n = req.n.unwrap_or(1);
    if !(1..=MAX_CHOICES).contains(&n) {
        return Err(ServerError::invalid(
            "n",
            format!("must be between 1 and {MAX_CHOICES}, got {n}"),
        ));
    }
    let temperature = req.temperature.unwrap_or(0.0);
    if !(temperature.is_finite() && (0.0..=2.0).contains(&temperature)) {
        return Err(ServerError::invalid(
            "temperature",
            "must be between 0 and 2",
        ));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ServerError::invalid("top_p", "must be in (0, 1]"));
    }
    let sampling = if temperature == 0.0 {
        Sampling::Greedy
    } else {
        Sampling::Sample {
            temperature,
            top_p,
            seed: req.seed.unwrap_or_else(clock_seed),
        }
    };
    Ok(ChatPlan {
        prompt,
        params: GenerationParams {
            max_new_tokens,
            sampling,
            n,
        },
        stop,
    })
}

/// A seed for requests that give none (as OpenAI: unseeded sampling is not reproducible).
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A feedback rating: 1 (bad) to 5 (good), or none.
pub fn rating(rating: Option<usize>) -> Result<Option<u8>, ServerError> {
    match rating {
        Some(r) if !(1..=5).contains(&r) => Err(ServerError::invalid(
            "rating",
            format!("is {r}; give 1 (bad) to 5 (good)"),
        )),
        r => Ok(r.map(|r| r as u8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ChatMessage, ContentPart};
    use serde_json::json;

    fn err(r: Result<TargetVector, Error>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn request_work_counts_variants_budget_and_measured_answers_per_target() {
        let config = ServerConfig::default();
        let asked = |budget: usize, variants: usize| {
            let o = GenerateOptions {
                budget: Some(budget),
                variants: Some(variants),
                ..Default::default()
            };
            search_options(Some(&o), &config, 1).unwrap()
        };
        let cap = config.max_request_work;
        // What the server promises to admit: 20 interpolation steps × 4 variants at
        // budget 16 with quality, and a full batch at budget 4.
        let steps = asked(16, 4);
        assert_eq!(request_work(20, &steps, Quality::Best), 20 * (4 + 16 + 1));
        assert!(check_work(20, &steps, Quality::Best, cap).is_ok());
        let batch = asked(4, 1);
        assert!(check_work(config.max_batch_items, &batch, Quality::Skip, cap).is_ok());
        // Every variant measured counts once more.
        assert_eq!(
            request_work(3, &steps, Quality::AllCandidates),
            3 * (4 + 16 + 4)
        );
        // 52 steps × 18 variants is refused, and the message says what to lower.
        let wide = asked(0, 18);
        let e = check_work(52, &wide, Quality::Best, cap).unwrap_err();
        assert_eq!(e.error_type, ErrorType::InvalidInput);
        assert!(e.message.contains("988") && e.message.contains("max_request_work"));
        assert!(e.message.contains("1 measured"), "{}", e.message);
    }

    #[test]
    fn embeddings_are_parsed_and_checked() {
        let v = parse_embedding("e", &json!([2, 1, -2]), 3).unwrap();
        assert_eq!(v.values, vec![2.0 / 3.0, 1.0 / 3.0, -2.0 / 3.0]);
        assert!(err(parse_embedding("e", &json!([1, 2]), 3)).contains("2 dimensions"));
        assert!(err(parse_embedding("e", &json!([]), 3)).contains("empty"));
        assert!(err(parse_embedding("e", &json!([0, 0, 0]), 3)).contains("all zeros"));
        let e = err(parse_embedding("e", &json!([1, "NaN", 2]), 3));
        assert!(e.contains("component 1") && e.contains("NaN"), "{e}");
        let e = err(parse_embedding("e", &json!([1, 2, "Infinity"]), 3));
        assert!(e.contains("component 2"), "{e}");
        let e = err(parse_embedding("e", &json!([null, 2, 3]), 3));
        assert!(e.contains("component 0 is null"), "{e}");
        let e = err(parse_embedding("e", &json!([1, [2], 3]), 3));
        assert!(e.contains("an array, not a number"), "{e}");
        let e = err(parse_embedding("e", &json!([1e300, 2, 3]), 3));
        assert!(e.contains("32-bit"), "{e}");
        let c = parse_target("e", &json!([[1, 0, 0], [0, 2, 0]]), 3).unwrap();
        assert!((c.values[0] - c.values[1]).abs() < 1e-6 && c.values[2] == 0.0);
        assert_eq!(
            parse_target("e", &json!([2, 1, -2]), 3).unwrap().values,
            v.values
        );
        let e = err(parse_target("e", &json!([[1, 0, 0], [1, 0]]), 3));
        assert!(e.contains("e[1]") && e.contains("2 dimensions"), "{e}");
        assert!(err(parse_target("e", &json!([[1, 0, 0], [-1, 0, 0]]), 3)).contains("cancel"));
        let e = err(parse_embedding("embeddings[4]", &json!("x"), 3));
        assert!(e.contains("embeddings[4]") && e.contains("a string"), "{e}");
    }

    #[test]
    fn stop_strings_cut_at_the_first_occurrence() {
        let mut t = "one, two. three. four".to_string();
        assert!(apply_stop(&mut t, &[". ".into(), "four".into()]));
        assert_eq!(t, "one, two");
        let mut t = "no stop here".to_string();
        assert!(!apply_stop(&mut t, &["xyz".into()]));
        assert_eq!(t, "no stop here");
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction_and_seeds_are_int64() {
        let o: GenerateOptions =
            serde_json::from_value(json!({"budget": 2.0, "variants": 16.0, "seed": -1})).unwrap();
        assert_eq!(
            (o.budget, o.variants, o.seed),
            (Some(2), Some(16), Some(u64::MAX))
        );
        for bad in [
            json!({"variants": 1.5}),
            json!({"budget": -1}),
            json!({"seed": 9223372036854775808u64}),
            json!({"seed": 1e30}),
            json!({"max_wall_ms": "5"}),
        ] {
            assert!(
                serde_json::from_value::<GenerateOptions>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn targets_are_normalized_and_overflowing_lengths_refused() {
        let v = parse_embedding("e", &json!([0, 3e20, 4e20]), 3).unwrap();
        assert_eq!(v.values, vec![0.0, 0.6, 0.8]);
        let e = err(parse_embedding("e", &json!([3e38, 3e38, 3e38]), 3));
        assert!(
            e.contains("component 0") && e.contains("32-bit float"),
            "{e}"
        );
        // The bound keeps every accepted length finite, and sits just below the limit.
        let b = component_bound(384);
        assert!((1.7e37..=1.74e37).contains(&b), "{b}");
        assert!((b * b * 384.0).sqrt() <= f64::from(f32::MAX));
        let v = parse_embedding("e", &json!([b, b, -b]), 3).unwrap();
        assert!((v.values[0] - 1.0 / 3f32.sqrt()).abs() < 1e-6);
        // Numbers below the 32-bit range keep their direction instead of becoming zeros.
        let v = parse_embedding("e", &json!([0, 3e-300, 4e-300]), 3).unwrap();
        assert_eq!(v.values, vec![0.0, 0.6, 0.8]);
        let v = parse_embedding("e", &json!([0, 5e-324, 0]), 3).unwrap();
        assert_eq!(v.values, vec![0.0, 1.0, 0.0]);
        assert!(err(parse_embedding("e", &json!([0, 0.0, -0.0]), 3)).contains("all zeros"));
    }

    #[test]
    fn item_counts_are_bounded() {
        assert!(check_items("embeddings", 1, 2).is_ok());
        assert_eq!(
            check_items("embeddings", 0, 2).unwrap_err().error_type,
            ErrorType::InvalidInput
        );
        let e = check_items("embeddings", 3, 2).unwrap_err();
        assert!(e.message.contains("max_batch_items (2)"), "{}", e.message);
    }

    #[test]
    fn options_take_defaults_and_limits() {
        let config = ServerConfig::default();
        let o = search_options(None, &config, 1).unwrap();
        assert_eq!(o.budget.max_llm_calls, config.default_budget);
        assert_eq!(o.variants, 1);
        let o = search_options(
            Some(&GenerateOptions {
                budget: Some(2),
                max_wall_ms: Some(500),
                variants: Some(4),
                seed: Some(9),
                return_vectors: None,
                answer_weight: Some(0.5),
                content_margin: Some(0.1),
            }),
            &config,
            1,
        )
        .unwrap();
        assert_eq!(o.budget.max_llm_calls, 2);
        assert_eq!(o.budget.max_wall, Some(Duration::from_millis(500)));
        assert_eq!((o.variants, o.seed), (4, 9));
        assert_eq!(o.answer_weight, 0.5);
        assert_eq!(o.content_margin, 0.1);
        for bad in [
            GenerateOptions {
                content_margin: Some(2.5),
                ..Default::default()
            },
            GenerateOptions {
                content_margin: Some(-0.5),
                ..Default::default()
            },
            GenerateOptions {
                answer_weight: Some(1.5),
                ..Default::default()
            },
            GenerateOptions {
                answer_weight: Some(-0.1),
                ..Default::default()
            },
            GenerateOptions {
                budget: Some(config.max_budget + 1),
                ..Default::default()
            },
            GenerateOptions {
                variants: Some(0),
                ..Default::default()
            },
            GenerateOptions {
                variants: Some(MAX_VARIANTS + 1),
                ..Default::default()
            },
            GenerateOptions {
                max_wall_ms: Some(0),
                ..Default::default()
            },
        ] {
            let e = search_options(Some(&bad), &config, 1).unwrap_err();
            assert_eq!(e.error_type, ErrorType::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn embedding_inputs_are_checked() {
        assert_eq!(
            embedding_texts(EmbeddingInput::One("a".into()), 4).unwrap(),
            vec!["a"]
        );
        assert!(embedding_texts(EmbeddingInput::Many(vec![]), 4).is_err());
        assert!(embedding_texts(EmbeddingInput::Many(vec!["a".into(), " ".into()]), 4).is_err());
        assert!(embedding_texts(EmbeddingInput::One("\0\u{200B}".into()), 4).is_err());
        assert!(embedding_texts(EmbeddingInput::Many(vec!["a".into(); 5]), 4).is_err());
    }

    fn msg(role: &str, text: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: Some(MessageContent::Text(text.into())),
        }
    }

    fn chat_req(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
        ChatCompletionRequest {
            model: None,
            messages,
            max_tokens: None,
            max_completion_tokens: None,
            temperature: None,
            top_p: None,
            seed: None,
            n: None,
            stream: None,
            stop: None,
        }
    }

    #[test]
    fn chat_requests_become_user_prompt_and_params() {
        let config = ServerConfig::default();
        let ChatPlan {
            prompt: p, params, ..
        } = chat(
            &chat_req(vec![
                msg("system", "be brief"),
                msg("user", "Hi"),
                msg("assistant", "Hello"),
                ChatMessage {
                    role: "user".into(),
                    content: Some(MessageContent::Parts(vec![ContentPart {
                        kind: "text".into(),
                        text: Some("Name a colour.".into()),
                    }])),
                },
            ]),
            &config,
        )
        .unwrap();
        assert_eq!(p, "Hi\n\nName a colour.");
        assert_eq!(params.sampling, Sampling::Greedy);
        assert_eq!((params.max_new_tokens, params.n), (128, 1));

        let mut r = chat_req(vec![msg("user", "x")]);
        r.temperature = Some(0.7);
        r.seed = Some(3);
        r.max_tokens = Some(8);
        let params = chat(&r, &config).unwrap().params;
        assert_eq!(
            params.sampling,
            Sampling::Sample {
                temperature: 0.7,
                top_p: 1.0,
                seed: 3
            }
        );
        assert_eq!(params.max_new_tokens, 8);

        let bad = [
            chat_req(vec![]),
            chat_req(vec![msg("system", "only system")]),
            chat_req(vec![msg("wizard", "x")]),
            chat_req(vec![msg("user", "\u{200B}\0 \u{FEFF}")]),
            {
                let mut r = chat_req(vec![msg("user", "x")]);
                r.stop = Some(StopSequences::Many(vec!["a".into(); 5]));
                r
            },
            {
                let mut r = chat_req(vec![msg("user", "x")]);
                r.stop = Some(StopSequences::One(String::new()));
                r
            },
            {
                let mut r = chat_req(vec![msg("user", "x")]);
                r.max_tokens = Some(0);
                r
            },
            {
                let mut r = chat_req(vec![msg("user", "x")]);
                r.n = Some(99);
                r
            },
            {
                let mut r = chat_req(vec![msg("user", "x")]);
                r.temperature = Some(f64::NAN);
                r
            },
        ];
        for r in bad {
            assert_eq!(
                chat(&r, &config).unwrap_err().error_type,
                ErrorType::InvalidInput,
                "{r:?}"
            );
        }
        let mut r = chat_req(vec![msg("user", "x")]);
        r.stream = Some(true);
        assert_eq!(
            chat(&r, &config).unwrap_err().error_type,
            ErrorType::InvalidRequest
        );
    }
}
