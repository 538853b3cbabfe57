//! The host side of `casegrid:domain@1.0.0`. A later contract version gets a module beside this one
//! and the host keeps serving plugins built against this one.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit/domain-v1",
    world: "casegrid:domain/domain-plugin@1.0.0",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

pub use exports::casegrid::domain::assessment::{AssessError, Assessment, SelfTest};
pub use exports::casegrid::domain::checklist::{
    FenRange, FineRule, Item, ItemKind, LegalRef, Penalty, PenaltyKind, Tier,
};
pub use exports::casegrid::domain::forms::{Constraint, Field, FieldError, FieldKind, Form};
pub use exports::casegrid::domain::plugin::{Category, CategoryScore, LimitsRequest, Manifest, ValidateError};
pub use exports::casegrid::domain::types::{
    Attachment, Date, DateRange, Datetime, FieldValue, GeoPoint, Text, TimeLimit, TimeUnit, Value,
};

/// The contract version this module serves.
pub const CONTRACT: &str = "1.0.0";
