//! Column adapters for row structs derived with `sqlx::FromRow` over the Any driver, which
//! decodes neither `bool` from the BIGINT 0/1 both databases keep flags in, nor JSON from TEXT.

use serde_json::Value;
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type};

/// A yes/no column. Both databases keep flags as BIGINT 0/1 (SQLite has no boolean), and the Any
/// driver decodes `bool` only from a boolean column; a row struct reads the integer through this,
/// `#[sqlx(try_from = "Flag")]`.
pub struct Flag(bool);

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
    }
}

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

/// JSON kept in a TEXT column, read leniently: NULL, or text that does not parse,
/// reads as nothing rather than failing the whole list the row is in. A row struct reads it
/// through this, `#[sqlx(try_from = "JsonText")]`.
pub struct JsonText(Option<Value>);

impl Type<Any> for JsonText {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for JsonText {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(JsonText(<Option<String> as Decode<Any>>::decode(value)?.and_then(|s| serde_json::from_str(&s).ok())))
    }
}

impl From<JsonText> for Option<Value> {
    fn from(j: JsonText) -> Self {
        j.0
    }
}

/// A column that always holds JSON: unreadable text reads as `null`.
impl From<JsonText> for Value {
    fn from(j: JsonText) -> Self {
        j.0.unwrap_or(Value::Null)
    }
}
