//! Cutting a text into parts that each fit one RSA-OAEP message.

/// Splits `text` into the fewest parts for which `fits` holds, cutting at a space when
/// one is in the second half of a part. `None` if not even one character fits.
pub fn split_to_fit(text: &str, fits: impl Fn(&str) -> bool) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if fits(rest) {
            parts.push(rest);
            break;
        }
        let ends: Vec<usize> = rest.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
        // The longest prefix that fits: `fits` is monotonic in the prefix length.
        let count = ends.partition_point(|&end| fits(&rest[..end]));
        if count == 0 {
            return None;
        }
        let mut end = ends[count - 1];
        if let Some(space) = rest[..end].rfind(' ')
            && space > end / 2
        {
            end = space + 1;
        }
        parts.push(rest[..end].trim_end());
        rest = rest[end..].trim_start();
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(
            split_to_fit("hello", |s| s.len() <= 10),
            Some(vec!["hello"])
        );
    }

    #[test]
    fn long_text_cuts_at_spaces() {
        let parts = split_to_fit("aaaa bbbb cccc dddd", |s| s.len() <= 10).unwrap();
        assert_eq!(parts, vec!["aaaa bbbb", "cccc dddd"]);
    }

    #[test]
    fn multibyte_characters_are_never_cut() {
        let text = "é".repeat(10);
        let parts = split_to_fit(&text, |s| s.len() <= 5).unwrap();
        assert!(
            parts
                .iter()
                .all(|p| p.len() <= 5 && p.chars().all(|c| c == 'é'))
        );
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn nothing_fits() {
        assert_eq!(split_to_fit("abc", |_| false), None);
    }
}
