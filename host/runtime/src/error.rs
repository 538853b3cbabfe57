//! The ways loading or calling a plugin fails, each named so callers can act on it.

use super::bindings::FieldError;

/// Why a component was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LoadError {
    #[error("cannot read the component: {0}")]
    Io(String),
    #[error("the component is {size} bytes, over the cap of {cap}")]
    ComponentTooLarge { size: u64, cap: u64 },
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error("the component imports `{0}`, which is not standard WASI; plugins get no other capability")]
    ForbiddenImport(String),
    #[error("the component's imports cannot be linked: {0}")]
    Link(String),
    #[error("the component does not export the casegrid:domain/domain-plugin@1.0.0 world: {0}")]
    WrongWorld(String),
    #[error("reading the plugin's static data failed: {0}")]
    StaticData(String),
    #[error("the plugin's data breaks the contract: {}", .0.join("; "))]
    Contract(Vec<String>),
}

impl LoadError {
    /// A stable code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Io(_) => "io",
            LoadError::ComponentTooLarge { .. } => "component-too-large",
            LoadError::Invalid(_) => "invalid-component",
            LoadError::ForbiddenImport(_) => "forbidden-import",
            LoadError::Link(_) => "link",
            LoadError::WrongWorld(_) => "wrong-world",
            LoadError::StaticData(_) => "static-data",
            LoadError::Contract(_) => "contract-violation",
        }
    }
}

/// Why a call did not give an answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PluginError {
    #[error("the plugin did not answer within {millis} ms")]
    Timeout { millis: u32 },
    #[error("the plugin ran out of its {cap} bytes of memory")]
    OutOfMemory { cap: u64 },
    #[error("the plugin crashed: {trap}")]
    Crash { trap: String, message: String },
    #[error("the plugin broke the contract: {0}")]
    ContractViolation(String),
    #[error("the input is {size} bytes, over the cap of {cap}")]
    InputTooLarge { size: usize, cap: usize },
    #[error("the plugin's answer is over the cap of {cap} bytes")]
    OutputTooLarge { cap: usize },
    #[error("no {what} `{code}` in this plugin")]
    NotFound { what: &'static str, code: String },
    #[error("the facts are incomplete or invalid for this item")]
    InvalidFacts(Vec<FieldError>),
    #[error("item {0} is not in force at the reference date")]
    NotInForce(String),
    #[error("the host is shutting down")]
    ShuttingDown,
    #[error("the host has no free plugin slot; try again")]
    Busy,
    /// The deadline passed while the host was saturated: the call got too little of a core to
    /// finish (see `sandbox::Deadline`). The host's fault, not the plugin's.
    #[error(
        "the host was too loaded to finish the call within {millis} ms (it got {cpu_percent}% of a core); try again"
    )]
    Overloaded { millis: u32, cpu_percent: u32 },
    #[error("the plugin holds more than {cap} host resources at once")]
    TooManyResources { cap: usize },
}

impl PluginError {
    /// A stable code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "plugin-timeout",
            PluginError::OutOfMemory { .. } => "plugin-out-of-memory",
            PluginError::Crash { .. } => "plugin-crash",
            PluginError::ContractViolation(_) => "plugin-contract-violation",
            PluginError::InputTooLarge { .. } => "input-too-large",
            PluginError::OutputTooLarge { .. } => "plugin-output-too-large",
            PluginError::NotFound { .. } => "not-found",
            PluginError::InvalidFacts(_) => "invalid-facts",
            PluginError::NotInForce(_) => "not-in-force",
            PluginError::ShuttingDown => "shutting-down",
            PluginError::Busy => "host-busy",
            PluginError::Overloaded { .. } => "host-overloaded",
            PluginError::TooManyResources { .. } => "plugin-resource-limit",
        }
    }

    /// Whether the plugin itself misbehaved; these are what a fault policy counts. What the caller
    /// or the host caused is not: input the plugin rejected or that was too large, no free slot, a
    /// deadline missed while the host was saturated ([`PluginError::Overloaded`]), shutting down.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. }
                | PluginError::OutOfMemory { .. }
                | PluginError::Crash { .. }
                | PluginError::ContractViolation(_)
                | PluginError::OutputTooLarge { .. }
                | PluginError::TooManyResources { .. }
        )
    }
}
