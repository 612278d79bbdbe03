//! The OpenAPI document, derived from the handlers and the request/response types.

use super::{handlers, openai};
use crate::error::{ErrorResponse, ErrorType};
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
        openai::chat_completions
    ),
    components(schemas(ErrorResponse, ErrorType)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "generate", description = "Prompt generation from target embeddings"),
        (name = "openai", description = "OpenAI-compatible endpoints over the server's models"),
        (name = "status", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (what `vec2prompt print-schema` prints and
/// `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

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
