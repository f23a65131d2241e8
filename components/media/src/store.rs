//! The media folder on disk (variable `media_dir`, `/media` by default): safe names, writes
//! that land whole (a hidden temporary file, then a rename), reads and removals.

use std::io::ErrorKind;
use std::path::PathBuf;

use jm_service::ApiError;

/// The folder when the `media_dir` variable is not set.
const DEFAULT_DIR: &str = "/media";
/// The longest cleaned file name, in bytes.
const MAX_FILE_NAME: usize = 100;
/// The longest stored name, in bytes.
const MAX_STORED_NAME: usize = 200;

/// The media folder.
pub struct Store {
    dir: PathBuf,
}

/// A file written under a temporary name, not yet visible under its stored name.
pub struct Staged {
    temp: PathBuf,
    /// The name it will be stored and served as.
    pub name: String,
}

impl Store {
    /// The folder named by the `media_dir` variable.
    pub async fn open() -> Self {
        let dir = spin_sdk::variables::get("media_dir")
            .await
            .ok()
            .filter(|dir| !dir.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DIR.to_string());
        Self {
            dir: PathBuf::from(dir),
        }
    }

    /// Writes `data` under a hidden temporary name; [`Store::publish`] makes it visible.
    pub fn stage(&self, name: String, data: &[u8]) -> Result<Staged, ApiError> {
        if !is_stored_name(&name) {
            return Err(ApiError::internal(format!(
                "refused to store the unsafe name `{name}`"
            )));
        }
        let temp = self.dir.join(format!(".{name}.{}.upload", nanos()));
        std::fs::write(&temp, data)
            .map_err(|e| ApiError::internal(format!("failed to write {}: {e}", temp.display())))?;
        Ok(Staged { temp, name })
    }

    /// Moves a staged file to its stored name, replacing any file of that name.
    pub fn publish(&self, staged: &Staged) -> Result<(), ApiError> {
        let path = self.dir.join(&staged.name);
        std::fs::rename(&staged.temp, &path)
            .map_err(|e| ApiError::internal(format!("failed to store {}: {e}", path.display())))
    }

    /// Removes a staged file that will not be published.
    pub fn discard(&self, staged: &Staged) {
        let _ = std::fs::remove_file(&staged.temp);
    }

    /// The bytes of the stored file `name`, or `None` when there is none.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        if !is_stored_name(name) {
            return Ok(None);
        }
        match std::fs::read(self.dir.join(name)) {
            Ok(data) => Ok(Some(data)),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory) => Ok(None),
            Err(e) => Err(ApiError::internal(format!(
                "failed to read media `{name}`: {e}"
            ))),
        }
    }

    /// Removes the stored file `name`; one already gone is not an error.
    pub fn remove(&self, name: &str) -> Result<(), ApiError> {
        if !is_stored_name(name) {
            return Ok(());
        }
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(ApiError::internal(format!(
                "failed to remove media `{name}`: {e}"
            ))),
            _ => Ok(()),
        }
    }

    /// The stored names starting with `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ApiError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| ApiError::internal(format!("failed to list the media folder: {e}")))?;
        Ok(entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(prefix) && is_stored_name(name))
            .collect())
    }
}

/// A client's file name made safe to store: its last path segment, with only ASCII letters,
/// digits, `-`, `_` and single dots, at most 100 bytes with its extension kept.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name = String::with_capacity(base.len());
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
            c
        } else {
            '_'
        };
        let repeated = (c == '.' || c == '_') && name.ends_with(c);
        if !repeated {
            name.push(c);
        }
    }
    let name = name.trim_matches(['.', '_', '-']);
    let name = shorten(name);
    if name.is_empty() {
        "file".to_string()
    } else {
        name
    }
}

/// `name` cut to [`MAX_FILE_NAME`] bytes, keeping a short extension.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_FILE_NAME {
        return name.to_string();
    }
    let extension = name
        .rfind('.')
        .map(|at| &name[at..])
        .filter(|ext| ext.len() <= 10);
    let extension = extension.unwrap_or_default();
    let stem = &name[..MAX_FILE_NAME - extension.len()];
    format!("{}{extension}", stem.trim_end_matches(['.', '_', '-']))
}

/// Whether `name` can only mean a file directly in the media folder: safe characters, no
/// leading dot, no `..`.
pub fn is_stored_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_STORED_NAME
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Nanoseconds of the wall clock, to keep temporary names of concurrent uploads apart.
fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_unsafe_characters() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\me\\My Logo.PNG"), "My_Logo.PNG");
        assert_eq!(clean_file_name("a..b...png"), "a.b.png");
        assert_eq!(clean_file_name(".hidden"), "hidden");
        assert_eq!(clean_file_name("ảnh đẹp.jpg"), "nh_p.jpg");
        assert_eq!(clean_file_name(".."), "file");
        assert_eq!(clean_file_name(""), "file");
    }

    #[test]
    fn long_names_keep_their_extension() {
        let name = clean_file_name(&format!("{}.webp", "x".repeat(300)));
        assert_eq!(name.len(), MAX_FILE_NAME);
        assert!(name.ends_with("x.webp"));
    }

    #[test]
    fn stored_names_cannot_leave_the_folder() {
        assert!(is_stored_name("0b7e-logo-a.png"));
        assert!(!is_stored_name("../secret"));
        assert!(!is_stored_name("a/b.png"));
        assert!(!is_stored_name(".a.png.1.upload"));
        assert!(!is_stored_name("a%2F..png"));
        assert!(!is_stored_name(""));
    }
}
