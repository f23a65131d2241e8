//! What a file is, told by its first bytes rather than by its name: PNG, JPEG, GIF, WebP and
//! SVG images, MP4 and WebM videos.

/// How many leading bytes an SVG may spend on its prologue (XML declaration, comments,
/// doctype) before `<svg`.
const SVG_PROLOGUE: usize = 16 * 1024;

/// A media type the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/gif`.
    Gif,
    /// `image/webp`.
    Webp,
    /// `image/svg+xml`.
    Svg,
    /// `video/mp4`.
    Mp4,
    /// `video/webm`.
    Webm,
}

/// Whether a stored file is an image or a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A still image.
    Image,
    /// A video.
    Video,
}

impl Media {
    /// The media type of `data`, if it is one the service knows.
    pub fn sniff(data: &[u8]) -> Option<Self> {
        let at =
            |offset: usize, magic: &[u8]| data.get(offset..).is_some_and(|d| d.starts_with(magic));
        if at(0, b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if at(0, b"\xff\xd8\xff") {
            Some(Self::Jpeg)
        } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
            Some(Self::Gif)
        } else if at(0, b"RIFF") && at(8, b"WEBP") {
            Some(Self::Webp)
        } else if at(4, b"ftyp") {
            Some(Self::Mp4)
        } else if at(0, b"\x1a\x45\xdf\xa3") {
            Some(Self::Webm)
        } else if is_svg(data) {
            Some(Self::Svg)
        } else {
            None
        }
    }

    /// The `Content-Type` of this media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Svg => "image/svg+xml",
            Self::Mp4 => "video/mp4",
            Self::Webm => "video/webm",
        }
    }

    /// Whether it is an image or a video.
    pub fn kind(self) -> Kind {
        match self {
            Self::Mp4 | Self::Webm => Kind::Video,
            _ => Kind::Image,
        }
    }
}

impl Kind {
    /// The kind as stored and shown: `image` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

/// Whether `data` is text that, after an optional XML prologue, opens an `<svg` element.
fn is_svg(data: &[u8]) -> bool {
    let head = &data[..data.len().min(SVG_PROLOGUE)];
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return false;
    };
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        let skipped = if rest.starts_with("<?") {
            skip_past(rest, "?>")
        } else if rest.starts_with("<!--") {
            skip_past(rest, "-->")
        } else if rest
            .get(..9)
            .is_some_and(|d| d.eq_ignore_ascii_case("<!doctype"))
        {
            skip_doctype(rest)
        } else {
            return opens_svg(rest);
        };
        match skipped {
            Some(after) => rest = after,
            None => return false,
        }
    }
}

/// The text after the first `end`.
fn skip_past<'a>(text: &'a str, end: &str) -> Option<&'a str> {
    text.find(end).map(|at| &text[at + end.len()..])
}

/// The text after a doctype, which may carry an internal subset in `[...]`.
fn skip_doctype(text: &str) -> Option<&str> {
    let close = text.find('>')?;
    match text.find('[') {
        Some(open) if open < close => skip_past(text, "]>"),
        _ => Some(&text[close + 1..]),
    }
}

/// Whether `text` starts with the `<svg` tag itself.
fn opens_svg(text: &str) -> bool {
    text.strip_prefix("<svg")
        .and_then(|after| after.chars().next())
        .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_videos_are_told_by_their_magic_bytes() {
        assert_eq!(Media::sniff(b"\x89PNG\r\n\x1a\n...."), Some(Media::Png));
        assert_eq!(Media::sniff(b"\xff\xd8\xff\xe0"), Some(Media::Jpeg));
        assert_eq!(Media::sniff(b"GIF89a.."), Some(Media::Gif));
        assert_eq!(Media::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(Media::Webp));
        assert_eq!(Media::sniff(b"\0\0\0\x18ftypmp42"), Some(Media::Mp4));
        assert_eq!(Media::sniff(b"\x1a\x45\xdf\xa3\x01"), Some(Media::Webm));
        assert_eq!(Media::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(Media::sniff(b"just text"), None);
        assert_eq!(Media::sniff(b""), None);
    }

    #[test]
    fn svg_may_follow_a_prologue() {
        let svg = concat!(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- logo -->\n",
            "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        );
        assert_eq!(Media::sniff(svg.as_bytes()), Some(Media::Svg));
        assert_eq!(Media::sniff(b"<svg>"), Some(Media::Svg));
        assert_eq!(
            Media::sniff(b"<!DOCTYPE svg [<!ENTITY a \"b\">]><svg/>"),
            Some(Media::Svg)
        );
    }

    #[test]
    fn other_markup_is_not_svg() {
        assert_eq!(Media::sniff(b"<html><svg></svg></html>"), None);
        assert_eq!(Media::sniff(b"<svgx>"), None);
        assert_eq!(Media::sniff(b"<!-- never closed <svg>"), None);
    }

    #[test]
    fn videos_and_images_have_their_kind() {
        assert_eq!(Media::Mp4.kind().as_str(), "video");
        assert_eq!(Media::Svg.kind().as_str(), "image");
    }
}
