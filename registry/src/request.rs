//! The bodies clients send: [`SchemaRequest`], read by the subject and compatibility routes
//! (beside [`crate::error`], so that no route module reaches into another for it).

use contract::{SchemaReference, SchemaType};
use serde::Deserialize;

use crate::error::RegistryError;
use crate::service::Submitted;

/// The body of a registration, lookup or compatibility request.
#[derive(Debug, Deserialize)]
pub struct SchemaRequest {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<SchemaReference>>,
    #[serde(default)]
    id: Option<i32>,
    #[serde(default)]
    version: Option<i32>,
}

impl SchemaRequest {
    /// Validates the type and turns the body into a [`Submitted`] schema.
    pub fn submitted(self) -> Result<Submitted, RegistryError> {
        let schema_type = match self.schema_type.as_deref() {
            None | Some("") => SchemaType::Avro,
            Some(t) => t
                .parse()
                .map_err(|e: contract::SchemaError| RegistryError::InvalidSchema(e.to_string()))?,
        };
        Ok(Submitted {
            schema_type,
            schema: self.schema,
            references: self.references.unwrap_or_default(),
            id: self.id.filter(|&i| i > 0),
            version: self.version.filter(|&v| v > 0),
        })
    }
}
