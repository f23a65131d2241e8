//! What a tag name and a tag id may be: names are trimmed, inner runs of white space become
//! one space, and they hold 1 to 50 characters; ids are UUIDs in their text form.

/// The longest tag name, in characters.
pub const MAX_CHARS: usize = 50;

/// The name as it is stored, or why it cannot be one.
pub fn normalise(raw: &str) -> Result<String, &'static str> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err("is required");
    }
    if name.chars().count() > MAX_CHARS {
        return Err("must be at most 50 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(name)
}

/// Whether `id` is a UUID as `8-4-4-4-12` hexadecimal digits.
pub fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_inner_space_collapsed() {
        assert_eq!(normalise("  Spring \t Boot ").as_deref(), Ok("Spring Boot"));
    }

    #[test]
    fn blank_long_and_control_names_are_refused() {
        assert_eq!(normalise("   "), Err("is required"));
        assert!(normalise(&"x".repeat(50)).is_ok());
        assert!(normalise(&"é".repeat(51)).is_err());
        assert!(normalise("a\u{7}b").is_err());
    }

    #[test]
    fn uuids_have_five_hex_groups() {
        assert!(is_uuid("7a600000-0000-4000-8000-000000000001"));
        assert!(!is_uuid("7a600000-0000-4000-8000-00000000000g"));
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("7a6000000000400080000000000000001"));
    }
}
