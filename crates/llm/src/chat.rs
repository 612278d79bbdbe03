//! The model's chat template (`tokenizer.chat_template`), rendered with minijinja as
//! transformers renders it with Jinja2.

use crate::gguf::GgufFile;
use crate::tokenizer::GgufTokenizer;
use minijinja::{Environment, context};
use serde::Serialize;
use vec2prompt_core::{Error, Result};

/// One chat message.
#[derive(Debug, Clone, Serialize)]
pub struct Message<'a> {
    /// `system`, `user` or `assistant`.
    pub role: &'a str,
    /// The message text.
    pub content: &'a str,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

/// ChatML, used when a GGUF carries no template.
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

impl ChatTemplate {
    /// Compiles `source`; `bos_token`/`eos_token` are exposed to the template as in
    /// transformers.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| {
                Error::invalid("tokenizer.chat_template", format!("cannot compile: {e}"))
            })?;
        Ok(Self {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// The template of a GGUF model (`tokenizer.chat_template`, ChatML when absent), with
    /// the model's own BOS/EOS token texts.
    pub fn from_gguf(file: &GgufFile, tokenizer: &GgufTokenizer) -> Result<Self> {
        let source = file
            .content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| CHATML.to_string());
        let token_text = |id: Option<u32>| {
            id.and_then(|i| tokenizer.token(i))
                .unwrap_or_default()
                .to_string()
        };
        let bos = token_text(tokenizer.bos_id);
        let eos = token_text(tokenizer.eos_id.or(tokenizer.stop_ids.first().copied()));
        Self::new(&source, &bos, &eos).map_err(|e| {
            Error::model(
                &file.path,
                e.to_string(),
                "use a GGUF with a valid chat template",
            )
        })
    }

    /// Renders `messages`, ending with the assistant's turn opener.
    pub fn render(&self, messages: &[Message<'_>]) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::backend("chat template", e))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| Error::backend("chat template", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2_template_like_transformers() {
        let t = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let s = t
            .render(&[Message {
                role: "user",
                content: "Hi there",
            }])
            .unwrap();
        assert_eq!(
            s,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_work_and_bad_templates_error() {
        let t = ChatTemplate::new("{{ messages[0]['content'].strip() }}", "", "").unwrap();
        assert_eq!(
            t.render(&[Message {
                role: "user",
                content: "  x  "
            }])
            .unwrap(),
            "x"
        );
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
        let t = ChatTemplate::new("{{ raise_exception('no') }}", "", "").unwrap();
        assert!(t.render(&[]).is_err());
    }
}
