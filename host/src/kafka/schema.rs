//! Avro schemas of the application's topics, and the single-object encoding on the wire.
//!
//! `avro/<TOPIC>.avsc` is a topic's current schema; `avro/<TOPIC>.v<N>.avsc` are earlier
//! versions still accepted from the wire. A value travels as `C3 01`, the writer schema's
//! CRC-64-AVRO fingerprint (little-endian), then the Avro binary datum. A consumer finds the
//! writer schema by fingerprint and resolves the datum to the current schema.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::{GenericSingleObjectReader, Schema};

/// The marker that opens every single-object encoded value.
const MARKER: [u8; 2] = [0xC3, 0x01];

/// One schema version of a topic.
#[derive(Clone)]
pub struct SchemaVersion {
    /// The file it came from, relative to the schema folder.
    pub file: String,
    /// The parsed schema.
    pub schema: Schema,
    /// CRC-64-AVRO fingerprint of its canonical form, as on the wire.
    pub fingerprint: [u8; 8],
    /// Decodes values written with it; its named types resolved once, not per value.
    reader: Arc<GenericSingleObjectReader>,
}

impl std::fmt::Debug for SchemaVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaVersion")
            .field("file", &self.file)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .finish_non_exhaustive()
    }
}

/// A topic's schemas: the current one and every version a writer may have used.
#[derive(Debug, Clone)]
pub struct TopicSchemas {
    /// The schema values are checked against and decoded into.
    pub current: SchemaVersion,
    /// Earlier versions, oldest first.
    pub earlier: Vec<SchemaVersion>,
}

/// Every topic's schemas.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    topics: BTreeMap<String, TopicSchemas>,
}

impl TopicSchemas {
    /// The version whose fingerprint is `print`, if the topic has one.
    fn version(&self, print: &[u8; 8]) -> Option<&SchemaVersion> {
        std::iter::once(&self.current)
            .chain(self.earlier.iter().rev())
            .find(|v| v.fingerprint == *print)
    }
}

/// Why a value could not be decoded: the reason goes into the dead-letter `error` header.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the single-object marker.
    #[error("value is not Avro single-object encoded (no C3 01 marker)")]
    NotSingleObject,
    /// No schema of the topic has this fingerprint.
    #[error("value was written with an unknown schema (fingerprint {0})")]
    UnknownSchema(String),
    /// The datum does not decode with its writer schema into the current one.
    #[error("value does not decode with its schema: {0}")]
    Invalid(String),
}

impl Schemas {
    /// Loads every `.avsc` in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut versions: BTreeMap<String, Vec<(u32, SchemaVersion)>> = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("failed to read the schema folder {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let Some(file) = path
                .file_name()
                .and_then(|f| f.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            let Some(stem) = file.strip_suffix(".avsc") else {
                continue;
            };
            let (topic, version) = match stem.rsplit_once(".v") {
                Some((topic, n)) if n.parse::<u32>().is_ok() => (topic, n.parse().unwrap_or(0)),
                _ => (stem, u32::MAX),
            };
            let text = std::fs::read_to_string(&path)?;
            let schema = Schema::parse_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: invalid Avro schema: {e}", path.display()))?;
            let fingerprint = fingerprint(&schema)?;
            let reader = GenericSingleObjectReader::new(schema.clone())
                .map_err(|e| anyhow::anyhow!("{}: invalid Avro schema: {e}", path.display()))?;
            versions.entry(topic.to_string()).or_default().push((
                version,
                SchemaVersion {
                    file,
                    schema,
                    fingerprint,
                    reader: Arc::new(reader),
                },
            ));
        }
        let mut schemas = Self::default();
        for (topic, mut list) in versions {
            list.sort_by_key(|(n, _)| *n);
            let Some((n, current)) = list.pop() else {
                continue;
            };
            if n != u32::MAX {
                bail!("topic `{topic}` has versioned schemas but no current {topic}.avsc");
            }
            let earlier: Vec<SchemaVersion> = list.into_iter().map(|(_, v)| v).collect();
            schemas
                .topics
                .insert(topic, TopicSchemas { current, earlier });
        }
        Ok(schemas)
    }

    /// The topics that have a schema.
    pub fn topics(&self) -> impl Iterator<Item = (&String, &TopicSchemas)> {
        self.topics.iter()
    }

    /// Whether `topic` has a schema.
    pub fn contains(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// Checks a JSON value against the topic's current schema and encodes it for the wire.
    pub fn encode(&self, topic: &str, json: &str) -> Result<Vec<u8>, String> {
        let schemas = self
            .topics
            .get(topic)
            .ok_or_else(|| format!("topic `{topic}` has no schema"))?;
        let json: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("value is not JSON: {e}"))?;
        let current = &schemas.current;
        check_fields(&current.schema, &json)?;
        let value = Value::from(json)
            .resolve(&current.schema)
            .map_err(|e| format!("value does not match schema {}: {e}", current.file))?;
        let datum = apache_avro::to_avro_datum(&current.schema, value)
            .map_err(|e| format!("value does not match schema {}: {e}", current.file))?;
        let mut bytes = Vec::with_capacity(10 + datum.len());
        bytes.extend_from_slice(&MARKER);
        bytes.extend_from_slice(&current.fingerprint);
        bytes.extend_from_slice(&datum);
        Ok(bytes)
    }

    /// Decodes a value from the wire into JSON shaped by the topic's current schema.
    pub fn decode(&self, topic: &str, bytes: &[u8]) -> Result<String, DecodeError> {
        let schemas = self
            .topics
            .get(topic)
            .ok_or_else(|| DecodeError::Invalid(format!("topic `{topic}` has no schema")))?;
        if bytes.len() < 10 || bytes[..2] != MARKER {
            return Err(DecodeError::NotSingleObject);
        }
        let mut print = [0u8; 8];
        print.copy_from_slice(&bytes[2..10]);
        let writer = schemas
            .version(&print)
            .ok_or_else(|| DecodeError::UnknownSchema(hex::encode(print)))?;
        let invalid = |e: apache_avro::Error| DecodeError::Invalid(e.to_string());
        let mut datum = bytes;
        let mut value = writer.reader.read_value(&mut datum).map_err(invalid)?;
        // A value written with the current schema needs no resolution, only decoding.
        if writer.fingerprint != schemas.current.fingerprint {
            value = value.resolve(&schemas.current.schema).map_err(invalid)?;
        }
        if !datum.is_empty() {
            return Err(DecodeError::Invalid(format!(
                "{} bytes left after the datum",
                datum.len()
            )));
        }
        let json =
            serde_json::Value::try_from(value).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        Ok(json.to_string())
    }
}

/// The CRC-64-AVRO (Rabin) fingerprint of a schema's canonical form, as written on the wire.
fn fingerprint(schema: &Schema) -> Result<[u8; 8]> {
    let print = schema.fingerprint::<Rabin>();
    print
        .bytes
        .as_slice()
        .try_into()
        .context("a Rabin fingerprint has 8 bytes")
}

/// Refuses top-level fields the record schema does not declare, which Avro would drop.
fn check_fields(schema: &Schema, json: &serde_json::Value) -> Result<(), String> {
    let (Schema::Record(record), serde_json::Value::Object(object)) = (schema, json) else {
        return Ok(());
    };
    for key in object.keys() {
        if !record.lookup.contains_key(key) {
            return Err(format!(
                "field `{key}` is not in the schema of {}",
                record.name.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"Greeting","namespace":"jm.test",
        "doc":"A greeting","fields":[{"name":"id","type":"string"}]}"#;
    const V2: &str = r#"{"type":"record","name":"Greeting","namespace":"jm.test",
        "doc":"A greeting","fields":[{"name":"id","type":"string"},
        {"name":"count","type":"int","default":0},
        {"name":"note","type":["null","string"],"default":null}]}"#;

    fn schemas(files: &[(&str, &str)]) -> Schemas {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        Schemas::load(dir.path()).expect("load")
    }

    #[test]
    fn encoding_is_single_object_with_the_rabin_fingerprint() {
        let s = schemas(&[("T.avsc", V1)]);
        let bytes = s.encode("T", r#"{"id":"a"}"#).expect("encode");
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        let expected = Schema::parse_str(V1)
            .expect("parse")
            .fingerprint::<Rabin>()
            .bytes;
        assert_eq!(&bytes[2..10], expected.as_slice());
        assert_eq!(&bytes[10..], &[2, b'a']);
        assert_eq!(s.decode("T", &bytes).expect("decode"), r#"{"id":"a"}"#);
    }

    #[test]
    fn old_writer_resolves_to_current_reader() {
        let old = schemas(&[("T.avsc", V1)])
            .encode("T", r#"{"id":"a"}"#)
            .expect("encode");
        let s = schemas(&[("T.v1.avsc", V1), ("T.avsc", V2)]);
        assert_eq!(
            s.decode("T", &old).expect("decode"),
            r#"{"count":0,"id":"a","note":null}"#
        );
    }

    #[test]
    fn bad_values_are_refused_with_reasons() {
        let s = schemas(&[("T.avsc", V2)]);
        assert!(
            s.encode("T", r#"{"count":1}"#)
                .is_err_and(|e| e.contains("id"))
        );
        assert_eq!(
            s.encode("T", r#"{"id":"a","colour":"red"}"#),
            Err("field `colour` is not in the schema of Greeting".to_string())
        );
        assert!(
            s.encode("T", "not json")
                .is_err_and(|e| e.starts_with("value is not JSON"))
        );
        assert!(matches!(
            s.decode("T", b"plain text value"),
            Err(DecodeError::NotSingleObject)
        ));
        let foreign = [0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        assert!(matches!(
            s.decode("T", &foreign),
            Err(DecodeError::UnknownSchema(_))
        ));
    }
}
