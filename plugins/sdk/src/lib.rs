//! The Casegrid plugin SDK: write a domain plugin as data plus a little Rust, without touching
//! bindings.
//!
//! A domain crate keeps its rules in four TOML files (`plugin.toml`, `forms.toml`, `checklist.toml`,
//! `golden.toml`), bakes them at build time with [`build::domain`] (feature `build`, from `build.rs`),
//! includes them with [`include_domain!`], implements [`Domain`] and exports it with
//! [`export_domain!`]. Everything the contract asks — manifest, categories, forms, checklist,
//! validation, assessment, classification, self-tests — then works; a domain overrides only what its
//! law needs beyond the standard behaviour. See `plugins/README.md`.

#![deny(unsafe_code)] // only the generated ABI glue in `bindings` is allowed it

pub mod assess;
#[cfg(feature = "build")]
pub mod build;
pub mod check;
pub mod classify;
pub mod common;
mod convert;
pub mod data;
pub mod facts;
pub mod ids;
pub mod pattern;
pub mod testing;
pub mod time;
pub mod validate;

/// The generated bindings of `casegrid:domain@1.0.0`. Domain crates use the re-exports below.
#[allow(unsafe_code)] // generated code: the canonical ABI glue
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/domain-v1",
        world: "casegrid:domain/domain-plugin@1.0.0",
        default_bindings_module: "casegrid_plugin_sdk::bindings",
        pub_export_macro: true,
        export_macro_name: "__export_domain_plugin",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::casegrid::domain::assessment::{AssessError, Assessment};
pub use bindings::exports::casegrid::domain::forms::FieldError;
pub use bindings::exports::casegrid::domain::plugin::{CategoryScore, ValidateError};
pub use bindings::exports::casegrid::domain::types::{FieldValue, Text, Value};
pub use facts::Facts;

/// A domain plugin. Only [`Domain::DATA`] is required; the rest has the standard behaviour that the
/// data describes, and a domain overrides a method where its law asks for more.
pub trait Domain {
    /// The domain's baked data, from [`include_domain!`].
    const DATA: &'static data::Domain;

    /// Checks beyond the declared field constraints (cross-field rules, check digits); push errors.
    /// The default runs the checks every domain shares ([`common::standard`]); a domain adding its
    /// own calls that first.
    fn check_form(form: &'static data::Form, values: &Facts, errors: &mut Vec<FieldError>) {
        common::standard(form, values, errors);
    }

    /// Assesses an item against facts already valid for the case-facts form; the standard
    /// assessment selects the first tier whose conditions hold.
    fn assess(item: &'static data::Item, facts: &Facts) -> Result<Assessment, AssessError> {
        assess::standard(Self::DATA, item, facts)
    }

    /// Scores a citizen's text against the categories; the standard is keyword scoring.
    fn classify(text: &str) -> Vec<CategoryScore> {
        classify::keywords(Self::DATA.categories, text)
    }
}

/// The contract's entry points for a domain `D`, called by the export glue and, natively, by tests
/// and benchmarks that measure the same logic outside the sandbox.
pub mod entry {
    use super::*;
    use crate::bindings::exports::casegrid::domain::{checklist, forms, plugin};

    pub fn manifest<D: Domain>() -> plugin::Manifest {
        convert::manifest(&D::DATA.manifest)
    }

    pub fn categories<D: Domain>() -> Vec<plugin::Category> {
        D::DATA.categories.iter().map(convert::category).collect()
    }

    pub fn forms<D: Domain>() -> Vec<forms::Form> {
        D::DATA.forms.iter().map(convert::form).collect()
    }

    pub fn checklist<D: Domain>() -> Vec<checklist::Item> {
        D::DATA.checklist.iter().map(convert::item).collect()
    }

    pub fn self_tests<D: Domain>() -> Vec<bindings::exports::casegrid::domain::assessment::SelfTest> {
        D::DATA.self_tests.iter().map(|t| convert::self_test(D::DATA, t)).collect()
    }

    pub fn validate<D: Domain>(form: &str, values: Vec<FieldValue>) -> Result<Vec<FieldError>, ValidateError> {
        let form = D::DATA.form(form).ok_or_else(|| ValidateError::UnknownForm(form.to_string()))?;
        let facts = Facts::new(values);
        let mut errors = validate::form(form, &facts);
        D::check_form(form, &facts, &mut errors);
        Ok(errors)
    }

    /// Validates the facts as a case-facts form (the declared constraints and the domain's own
    /// checks), then assesses: [`Domain::assess`] only ever sees valid facts.
    pub fn assess<D: Domain>(item: &str, facts: Vec<FieldValue>) -> Result<Assessment, AssessError> {
        let it = D::DATA.item(item).ok_or_else(|| AssessError::UnknownItem(item.to_string()))?;
        let facts = Facts::new(facts);
        if let Some(form) = D::DATA.form("case-facts") {
            let mut errors = validate::form(form, &facts);
            D::check_form(form, &facts, &mut errors);
            if !errors.is_empty() {
                return Err(AssessError::InvalidFacts(errors));
            }
        }
        D::assess(it, &facts)
    }

    pub fn classify<D: Domain>(text: &str) -> Vec<CategoryScore> {
        D::classify(text)
    }
}

/// Includes the data baked by [`build::domain`] as `DOMAIN: casegrid_plugin_sdk::data::Domain`.
#[macro_export]
macro_rules! include_domain {
    () => {
        #[allow(clippy::all)]
        mod __casegrid_domain_data {
            use $crate::data::*;
            include!(concat!(env!("OUT_DIR"), "/domain.rs"));
        }
        pub use __casegrid_domain_data::DOMAIN;
    };
}

/// Exports a [`Domain`] as the component's `casegrid:domain/plugin` implementation. Compiled only
/// for WebAssembly, so the same crate also builds natively for its tests and benchmarks.
#[macro_export]
macro_rules! export_domain {
    ($domain:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::bindings::exports::casegrid::domain as __cg;
            struct __CasegridExport;
            impl __cg::plugin::Guest for __CasegridExport {
                fn describe() -> __cg::plugin::Manifest {
                    $crate::entry::manifest::<$domain>()
                }
                fn categories() -> ::std::vec::Vec<__cg::plugin::Category> {
                    $crate::entry::categories::<$domain>()
                }
                fn forms() -> ::std::vec::Vec<__cg::forms::Form> {
                    $crate::entry::forms::<$domain>()
                }
                fn checklist() -> ::std::vec::Vec<__cg::checklist::Item> {
                    $crate::entry::checklist::<$domain>()
                }
                fn self_tests() -> ::std::vec::Vec<__cg::assessment::SelfTest> {
                    $crate::entry::self_tests::<$domain>()
                }
                fn validate(
                    form: ::std::string::String,
                    values: ::std::vec::Vec<$crate::FieldValue>,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::FieldError>, $crate::ValidateError> {
                    $crate::entry::validate::<$domain>(&form, values)
                }
                fn assess(
                    item: ::std::string::String,
                    facts: ::std::vec::Vec<$crate::FieldValue>,
                ) -> ::std::result::Result<$crate::Assessment, $crate::AssessError> {
                    $crate::entry::assess::<$domain>(&item, facts)
                }
                fn classify(text: ::std::string::String) -> ::std::vec::Vec<$crate::CategoryScore> {
                    $crate::entry::classify::<$domain>(&text)
                }
            }
            $crate::bindings::__export_domain_plugin!(__CasegridExport);
        };
    };
}

/// The tests every domain crate runs: its data is sound, it has at least `min_penalty_items`
/// penalty items, and its golden vectors give the statute's ranges.
#[macro_export]
macro_rules! domain_tests {
    ($domain:ty, min_penalty_items = $n:expr) => {
        #[cfg(test)]
        mod casegrid_domain_tests {
            #[allow(unused_imports)]
            use super::*;
            use $crate::{Domain as _, testing};

            #[test]
            fn the_data_is_sound() {
                assert_eq!(testing::check_data::<$domain>(), Vec::<String>::new());
                let penalties =
                    <$domain>::DATA.checklist.iter().filter(|i| i.kind == $crate::data::ItemKind::Penalty).count();
                assert!(penalties >= $n, "{penalties} penalty items");
            }

            /// Golden vectors: facts in, the statute's range out, computed by hand in golden.toml.
            #[test]
            fn golden_vectors_give_the_statutes_ranges() {
                assert!(!<$domain>::DATA.self_tests.is_empty(), "golden.toml has no case");
                assert_eq!(testing::run_self_tests::<$domain>(), Vec::<String>::new());
            }
        }
    };
}

/// Both languages of a message.
pub fn text(zh: &str, en: &str) -> Text {
    Text { zh: zh.to_string(), en: en.to_string() }
}

/// A field error with a stable code and a message in both languages.
pub fn field_error(field: &str, code: &str, zh: &str, en: &str) -> FieldError {
    FieldError { field: field.to_string(), code: code.to_string(), message: text(zh, en) }
}
